//! What Citus costs the tenant-scoped list, beside plain PostgreSQL. Run with
//!
//! ```sh
//! bash ../shared/citus/cluster up   # or a cluster of your own
//! BENCH_CITUS_URL=postgres://postgres@127.0.0.1:5440/postgres cargo bench --bench scale_out
//! ```
//!
//! BENCH_CITUS_URL is a superuser's URL of a Citus coordinator's database
//! that lists the workers; BENCH_DATABASE_URL (default: the tests'
//! TEST_DATABASE_URL) a plain PostgreSQL superuser's. On each it makes a new
//! database (on Citus: on every node, migrated and sharded by the app's own
//! `migrate` and `citus-distribute`, 32 shards per table, Citus' default),
//! seeds 200 tenants × 200 locations and one tenant with 5,000, serves it
//! with the release binary, and has BENCH_CLIENTS clients (default 16)
//! read that tenant's first page, `GET /api/v1/t/{slug}/locations?limit=50`,
//! as its signed-in owner. The two take turns, BENCH_SECONDS per round
//! (default 10), twice each after a warm-up. It prints requests per second
//! and p50 and p99 latency, and Citus as a share of PostgreSQL.
//!
//! On one machine this measures Citus' overhead, not its scale: the
//! coordinator, both workers, the app and the load share the same cores, and
//! every request crosses from the coordinator to a worker. A cluster earns
//! its keep when tenants outgrow one server's memory, disk or cores.

use std::time::{Duration, Instant};

use tokio::task::JoinSet;

mod support;

use support::{Citus, Figures, ListFixture, Server};

const TENANTS: u32 = 200;
const LOCATIONS_PER_TENANT: u32 = 200;
const LOCATIONS_OF_THE_LARGEST: u32 = 5_000;

fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(run());
}

/// A contender: the app serving one database, and the request to send it.
struct Contender {
    name: &'static str,
    _server: Server,
    url: String,
    cookie: String,
}

impl Contender {
    async fn start(
        name: &'static str,
        database_url: &str,
        clients: usize,
        folder: &std::path::Path,
    ) -> Self {
        let fixture: ListFixture = support::list_fixture(
            &mut support::connect(database_url).await,
            TENANTS,
            LOCATIONS_PER_TENANT,
            LOCATIONS_OF_THE_LARGEST,
        )
        .await;
        let server = Server::start(
            folder,
            &[
                ("DATABASE_URL", database_url.to_owned()),
                ("DATABASE_POOL_SIZE", clients.to_string()),
            ],
        )
        .await;
        Self {
            name,
            url: format!(
                "{}/api/v1/t/{}/locations?limit=50",
                server.address, fixture.slug
            ),
            cookie: format!("session={}", fixture.session_id),
            _server: server,
        }
    }

    /// `clients` clients, each sending the request again as soon as it is
    /// answered, for `round`; every answer must be the page of 50.
    async fn load(&self, clients: usize, round: Duration) -> Figures {
        let client = reqwest::Client::new();
        let started = Instant::now();
        let mut tasks = JoinSet::new();
        for _ in 0..clients {
            let (client, url, cookie) = (client.clone(), self.url.clone(), self.cookie.clone());
            tasks.spawn(async move {
                let mut latencies = Vec::new();
                while started.elapsed() < round {
                    let sent = Instant::now();
                    let response = client
                        .get(&url)
                        .header("cookie", &cookie)
                        .send()
                        .await
                        .expect("an answer");
                    let status = response.status();
                    let body = response.text().await.expect("a body");
                    let page: Vec<serde_json::Value> = serde_json::from_str(&body)
                        .unwrap_or_else(|_| panic!("not a list of locations: {status} {body}"));
                    assert_eq!(page.len(), 50, "{status}");
                    latencies.push(sent.elapsed());
                }
                latencies
            });
        }
        let mut latencies = Vec::new();
        while let Some(some) = tasks.join_next().await {
            latencies.extend(some.expect("a client"));
        }
        Figures::new(latencies.len(), started.elapsed().as_secs_f64(), latencies)
    }
}

async fn run() {
    let clients = support::number("BENCH_CLIENTS", 16);
    let round = Duration::from_secs(support::number("BENCH_SECONDS", 10));
    let citus = Citus::from_env().await.expect(
        "BENCH_CITUS_URL: a Citus coordinator's database with the workers added \
         (bash ../shared/citus/cluster up makes one at postgres://postgres@127.0.0.1:5440/postgres)",
    );
    let admin_url = support::admin_url();
    let database = format!(
        "bench_scale_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    eprintln!("making {database} on PostgreSQL and on every Citus node, seeding…");
    let postgres_url = support::postgres_database(&admin_url, &database).await;
    support::run_command("migrate", &postgres_url);
    let citus_database = format!("{database}_citus");
    let citus_url = citus.database(&citus_database).await;
    let folder = tempfile::tempdir().expect("a folder");
    let contenders = [
        Contender::start("PostgreSQL", &postgres_url, clients, folder.path()).await,
        Contender::start("Citus, 2 workers", &citus_url, clients, folder.path()).await,
    ];

    eprintln!(
        "{clients} clients, {} s rounds: warming up, then PostgreSQL and Citus in turn…",
        round.as_secs()
    );
    for contender in &contenders {
        contender.load(clients, Duration::from_secs(2)).await;
    }
    // In turn, so that the machine's drift weighs on each alike.
    let mut rounds: [Vec<Figures>; 2] = Default::default();
    for _ in 0..2 {
        for (contender, figures) in contenders.iter().zip(&mut rounds) {
            figures.push(contender.load(clients, round).await);
        }
    }
    let mean = |rounds: &[Figures], f: fn(&Figures) -> f64| {
        rounds.iter().map(f).sum::<f64>() / rounds.len() as f64
    };
    println!();
    println!(
        "GET /api/v1/t/{{slug}}/locations?limit=50: 50 of one tenant's {LOCATIONS_OF_THE_LARGEST} locations \
         ({} in all), {clients} clients",
        TENANTS * LOCATIONS_PER_TENANT + LOCATIONS_OF_THE_LARGEST - LOCATIONS_PER_TENANT
    );
    println!(
        "{:<20} {:>10} {:>10} {:>10}",
        "", "req/s", "p50 ms", "p99 ms"
    );
    for (contender, rounds) in contenders.iter().zip(&rounds) {
        println!(
            "{:<20} {:>10.0} {:>10.2} {:>10.2}",
            contender.name,
            mean(rounds, Figures::per_second),
            mean(rounds, |f| f.p50_ms),
            mean(rounds, |f| f.p99_ms)
        );
    }
    println!(
        "Citus / PostgreSQL: {:.2} of the requests per second",
        mean(&rounds[1], Figures::per_second) / mean(&rounds[0], Figures::per_second)
    );

    drop(contenders);
    citus.drop(&citus_database).await;
    support::execute(
        &mut support::connect(&admin_url).await,
        &format!("DROP DATABASE {database} WITH (FORCE)"),
    )
    .await;
}
