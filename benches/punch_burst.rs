//! A shift-change burst at the kiosks, through the real HTTP API. Run with
//!
//! ```sh
//! cargo bench --bench punch_burst
//! ```
//!
//! For each backend (PostgreSQL at BENCH_DATABASE_URL, default the tests'
//! TEST_DATABASE_URL, a SQLite file, and a Citus cluster when
//! BENCH_CITUS_URL names its coordinator: see docs/scaling-out.md) it seeds 50 tenants × 5 locations ×
//! 20 employees (5,000 employees with PINs, a paired kiosk per location)
//! through the library's own functions, serves the app's router on a local
//! port as `serve` does, and from the same process (so the load generator
//! shares the machine's cores with the app and the database):
//!
//! 1. every employee clocks in, one `POST /api/v1/kiosk/punches` each, from
//!    all 250 kiosks at once;
//! 2. every employee clocks out, one `POST /api/v1/kiosk/punches/batch` of
//!    20 per kiosk (an offline queue draining);
//! 3. both bursts are sent again, unchanged (replays).
//!
//! It prints punches per second and the p50 and p99 latency of the
//! requests, then counts in the database: after the replays every punch is
//! there once (0 lost, 0 duplicated). Target on PostgreSQL: ≥ 1,000
//! punches/s with p99 ≤ 100 ms. With Citus, it prints each burst's rate on
//! Citus as a share of PostgreSQL's. BENCH_CLIENTS (requests in flight,
//! default 32) tunes the load.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use app::config::Config;
use app::crypto::{Keys, LookupKey};
use app::db::Db;
use app::modules::time_tracking::{devices, employees};
use app::tenancy::permissions::LocationVisibility;
use base64::Engine;
use serde_json::{Value, json};
use sqlx::{AssertSqlSafe, Connection};
use tokio::sync::Semaphore;

mod support;

use support::{Figures, InProcess};

const TENANTS: usize = 50;
const LOCATIONS: usize = 5;
const EMPLOYEES_PER_LOCATION: usize = 20;
const KEY: [u8; 32] = [7; 32];

fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(run());
}

/// A paired kiosk and the PINs of the employees at its location.
struct Kiosk {
    token: String,
    pins: Vec<String>,
}

async fn seed(db: &Db) -> Vec<Kiosk> {
    let key = LookupKey::new(&KEY);
    let keys = Keys::new(&[KEY]);
    let everyone = LocationVisibility::every_location();
    let today = time::OffsetDateTime::now_utc().date();
    let mut kiosks = Vec::new();
    for t in 0..TENANTS {
        let (_, _, locations, mut scope) = support::tenant(
            db,
            &format!("owner{t}@bench.test"),
            &format!("Bench café {t}"),
            "Europe/Madrid",
            LOCATIONS,
        )
        .await;
        let locations: Vec<_> = locations.into_iter().map(|l| l.id).collect();
        for (l, location) in locations.iter().enumerate() {
            let mut pins = Vec::new();
            for e in 0..EMPLOYEES_PER_LOCATION {
                let valid = employees::EmployeeInput {
                    name: format!("Employee {l}-{e}"),
                    employee_number: format!("{l}-{e}"),
                    location_ids: vec![*location],
                    ..Default::default()
                }
                .validate(today)
                .expect("valid employee");
                let (_, pin) = employees::create(&mut scope, &keys, everyone, &key, &valid)
                    .await
                    .expect("employee");
                pins.push(pin.as_str().to_owned());
            }
            let (_, code) = devices::create(&mut scope, *location, "Bench tablet")
                .await
                .expect("device");
            let token = devices::pair(&mut scope, &code)
                .await
                .expect("pair")
                .expect("a token");
            kiosks.push(Kiosk { token, pins });
        }
        scope.commit().await.expect("commit");
    }
    kiosks
}

/// The configuration `serve` would read from these variables.
fn config(url: &str, clients: usize) -> Config {
    support::config(&[
        ("DATABASE_URL", url.to_owned()),
        ("PORT", "0".to_owned()),
        ("DATABASE_POOL_SIZE", clients.min(32).to_string()),
        (
            "LOOKUP_KEY",
            base64::engine::general_purpose::STANDARD.encode(KEY),
        ),
    ])
}

/// One request of a burst: the kiosk's token, the path, the body, and how
/// many punches it carries.
struct Request {
    token: String,
    path: &'static str,
    body: Value,
    punches: usize,
}

/// Sends every request, `clients` at a time; each must be answered 201 (a
/// single punch) or 200 (a batch, every item 201).
async fn burst(server: &InProcess, requests: &[Request], clients: usize) -> Figures {
    let client = reqwest::Client::new();
    let gate = Arc::new(Semaphore::new(clients));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for request in requests {
        let (client, gate) = (client.clone(), gate.clone());
        let url = format!("{}{}", server.address, request.path);
        let (token, body) = (request.token.clone(), request.body.clone());
        tasks.spawn(async move {
            let _permit = gate.acquire_owned().await.expect("the gate");
            let sent = Instant::now();
            let response = client
                .post(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .expect("an answer");
            let status = response.status().as_u16();
            let answer: Value = response.json().await.expect("a JSON answer");
            let took = sent.elapsed();
            match status {
                201 => {}
                200 => assert!(
                    answer["results"]
                        .as_array()
                        .expect("results")
                        .iter()
                        .all(|r| r["status"] == 201),
                    "a batch item failed: {answer}"
                ),
                _ => panic!("{status}: {answer}"),
            }
            took
        });
    }
    let mut latencies = Vec::new();
    while let Some(took) = tasks.join_next().await {
        latencies.push(took.expect("a request task"));
    }
    Figures::new(
        requests.iter().map(|r| r.punches).sum(),
        started.elapsed().as_secs_f64(),
        latencies,
    )
}

/// A punch as a kiosk sends it, made `ago`.
fn punch(pin: &str, kind: &str, ago: time::Duration) -> Value {
    let at = (time::OffsetDateTime::now_utc() - ago)
        .format(&time::format_description::well_known::Rfc3339)
        .expect("a time");
    json!({"client_id": uuid::Uuid::now_v7(), "pin": pin, "kind": kind, "at": at})
}

/// (punches, distinct client ids) recorded in the database.
async fn counted(url: &str) -> (i64, i64) {
    let sql = "SELECT count(*), count(DISTINCT client_id) FROM punches WHERE outcome = 'recorded'";
    if url.starts_with("postgres") {
        let mut connection = sqlx::PgConnection::connect(url).await.expect("connect");
        sqlx::query_as(AssertSqlSafe(sql))
            .fetch_one(&mut connection)
            .await
            .expect("count")
    } else {
        let mut connection = sqlx::SqliteConnection::connect(url).await.expect("connect");
        sqlx::query_as(AssertSqlSafe(sql))
            .fetch_one(&mut connection)
            .await
            .expect("count")
    }
}

fn print(backend: &str, what: &str, figures: &Figures) {
    println!(
        "{backend:<10} {what:<26} {:>6} punches in {:>6.2} s: {:>7.0} punches/s, p50 {:>7.1} ms, p99 {:>7.1} ms",
        figures.done,
        figures.seconds,
        figures.per_second(),
        figures.p50_ms,
        figures.p99_ms
    );
}

/// Seeds `url`'s database (a new one: migrated here, or already migrated
/// and distributed), serves it, sends the bursts, prints each one's figures
/// and what the database holds after them, and returns the figures.
async fn measure(backend: &str, url: &str, clients: usize) -> Vec<(&'static str, Figures)> {
    eprintln!(
        "{backend}: seeding {TENANTS} tenants × {LOCATIONS} locations × {EMPLOYEES_PER_LOCATION} employees…"
    );
    let config = config(url, clients);
    let db = app::cli::connect_and_migrate(&config)
        .await
        .expect("connect and migrate");
    let kiosks = seed(&db).await;
    let server = InProcess::start(config, db.clone()).await;
    // As a shift change brings them: every tenant's kiosks at once, not one
    // tenant after another.
    let interleaved: Vec<&Kiosk> = (0..LOCATIONS)
        .flat_map(|l| (0..TENANTS).map(move |t| t * LOCATIONS + l))
        .map(|k| &kiosks[k])
        .collect();
    let singles: Vec<Request> = (0..EMPLOYEES_PER_LOCATION)
        .flat_map(|e| {
            interleaved.iter().map(move |kiosk| Request {
                token: kiosk.token.clone(),
                path: "/api/v1/kiosk/punches",
                body: punch(&kiosk.pins[e], "in", time::Duration::hours(8)),
                punches: 1,
            })
        })
        .collect();
    let batches: Vec<Request> = interleaved
        .iter()
        .map(|kiosk| Request {
            token: kiosk.token.clone(),
            path: "/api/v1/kiosk/punches/batch",
            body: json!({"punches": kiosk.pins.iter().map(|pin| punch(pin, "out", time::Duration::minutes(1))).collect::<Vec<_>>()}),
            punches: kiosk.pins.len(),
        })
        .collect();
    let sent: HashSet<String> = singles
        .iter()
        .map(|r| r.body["client_id"].to_string())
        .chain(batches.iter().flat_map(|r| {
            r.body["punches"]
                .as_array()
                .expect("punches")
                .iter()
                .map(|p| p["client_id"].to_string())
                .collect::<Vec<_>>()
        }))
        .collect();

    let mut figures = Vec::new();
    for (what, requests) in [
        ("clock-in, single punches", &singles),
        ("clock-out, batches of 20", &batches),
        ("replay, single punches", &singles),
        ("replay, batches of 20", &batches),
    ] {
        let run = burst(&server, requests, clients).await;
        print(backend, what, &run);
        figures.push((what, run));
    }
    let (recorded, distinct) = counted(url).await;
    let expected = i64::try_from(sent.len()).expect("fits");
    println!(
        "{backend:<10} in the database: {recorded} punches for {expected} sent: {} lost, {} duplicated",
        expected - distinct,
        recorded - distinct
    );
    assert_eq!(
        (recorded, distinct),
        (expected, expected),
        "every punch once"
    );
    drop(server);
    db.close().await;
    figures
}

async fn run() {
    let clients = support::number("BENCH_CLIENTS", 32);
    let citus = support::Citus::from_env().await;
    let admin_url = support::admin_url();
    let database = format!(
        "bench_punch_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let postgres = support::postgres_database(&admin_url, &database).await;
    let on_postgres = measure("PostgreSQL", &postgres, clients).await;

    let folder = tempfile::tempdir().expect("folder");
    let sqlite = format!("sqlite://{}", folder.path().join("bench.db").display());
    measure("SQLite", &sqlite, clients).await;

    if let Some(citus) = citus {
        let database = format!("{database}_citus");
        eprintln!("Citus: making, migrating and distributing {database} on every node…");
        let url = citus.database(&database).await;
        let on_citus = measure("Citus", &url, clients).await;
        for ((what, plain), (_, distributed)) in on_postgres.iter().zip(&on_citus) {
            println!(
                "Citus / PostgreSQL, {what}: {:.2} of the punches per second",
                distributed.per_second() / plain.per_second()
            );
        }
        citus.drop(&database).await;
    }

    support::execute(
        &mut support::connect(&admin_url).await,
        &format!("DROP DATABASE {database} WITH (FORCE)"),
    )
    .await;
}
