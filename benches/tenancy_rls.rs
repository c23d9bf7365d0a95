//! What tenant isolation costs on PostgreSQL. Run with
//!
//! ```sh
//! cargo bench --bench tenancy_rls
//! ```
//!
//! It needs a PostgreSQL superuser at BENCH_DATABASE_URL (default: the tests'
//! TEST_DATABASE_URL, postgres://app_test:app_test@127.0.0.1:5432/postgres)
//! and `pgbench` and `wrk` on PATH (Debian: `apt-get install wrk`). It
//! builds two databases holding 1,000 tenants × 1,000 locations each, and
//! the tenant whose list is read, tenant-500, with 5,000: the largest
//! tenant, whose rows a query plan made for the average one would filter
//! and sort (until migration 0023, RLS made PostgreSQL's generic plans do
//! so):
//!
//! * "RLS on": the app as it ships, connected as the superuser, so every
//!   scope switches to app_tenant under the policies;
//! * "RLS off": a copy owned by an ordinary role with Row-Level Security
//!   disabled on every table, so scopes switch no role and no policy runs
//!   (the app's own tenant filters still do);
//!
//! starts the release binary on each, and drives (with wrk) an authenticated
//! `GET /api/v1/t/{slug}/locations?limit=50` (50 rows of one tenant) with the
//! same number of concurrent clients. A third contender is the same SELECT
//! behind a bare axum handler on a sqlx pool in this process (no session,
//! scope, middleware or RLS): the most any app can serve over HTTP on this
//! machine, so the app's own cost reads apart from the machine's. The three
//! take turns, round after round. Then pgbench runs the same SELECT with the
//! same parameters and number of clients, as the superuser (raw PostgreSQL,
//! no HTTP, no scope). It prints requests per second, p50 and p99 latency,
//! and the ratios. Targets: RLS on ≥ 0.90 × RLS off; the app ≥ 0.6 × the
//! bare handler; HTTP with RLS ≥ 0.35 × raw pgbench (stretch 0.5).
//!
//! BENCH_CLIENTS (default 16) and BENCH_SECONDS (per round, default 10) tune
//! the run. Everything shares this machine's cores: wrk, the app, PostgreSQL
//! and pgbench.

use std::process::Command;
use std::str::FromStr;
use std::time::Duration;

use app::locations::Location;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

mod support;

use support::{ListFixture, Server, connect, execute};

const TENANTS: u32 = 1_000;
const LOCATIONS_PER_TENANT: u32 = 1_000;
const LOCATIONS_OF_THE_LARGEST: u32 = 5_000;
const OWNER_ROLE: &str = "bench_owner";

fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(run());
}

struct Settings {
    admin_url: String,
    clients: usize,
    round: Duration,
}

fn settings() -> Settings {
    let admin_url = support::admin_url();
    Settings {
        admin_url,
        clients: support::number("BENCH_CLIENTS", 16),
        round: Duration::from_secs(support::number("BENCH_SECONDS", 10)),
    }
}

/// `url` pointed at another database, optionally as another user.
fn url_for(admin_url: &str, database: &str, user: Option<&str>) -> String {
    let options = PgConnectOptions::from_str(admin_url).expect("a PostgreSQL URL");
    let (user, password) = match user {
        Some(user) => (user.to_owned(), user.to_owned()),
        None => (
            options.get_username().to_owned(),
            url_password(admin_url).unwrap_or_default(),
        ),
    };
    format!(
        "postgres://{user}:{password}@{}:{}/{database}",
        options.get_host(),
        options.get_port()
    )
}

fn url_password(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let credentials = rest.split_once('@')?.0;
    Some(credentials.split_once(':')?.1.to_owned())
}

async fn seed(url: &str) -> ListFixture {
    support::run_command("migrate", url);
    support::list_fixture(
        &mut connect(url).await,
        TENANTS,
        LOCATIONS_PER_TENANT,
        LOCATIONS_OF_THE_LARGEST,
    )
    .await
}

/// The copy without the RLS layer: owned by an ordinary role (so scopes
/// switch no role) with Row-Level Security disabled on every table.
async fn without_rls(admin_url: &str, source: &str, copy: &str) {
    let mut admin = connect(admin_url).await;
    execute(
        &mut admin,
        &format!(
            "DO $$ BEGIN CREATE ROLE {OWNER_ROLE} LOGIN PASSWORD '{OWNER_ROLE}' NOSUPERUSER NOBYPASSRLS; \
             EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
        ),
    )
    .await;
    execute(
        &mut admin,
        &format!("CREATE DATABASE {copy} TEMPLATE {source} OWNER {OWNER_ROLE}"),
    )
    .await;
    let mut copy_connection = connect(&url_for(admin_url, copy, None)).await;
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'")
            .fetch_all(&mut copy_connection)
            .await
            .expect("tables");
    for table in tables {
        execute(
            &mut copy_connection,
            &format!(
                "ALTER TABLE {table} OWNER TO {OWNER_ROLE}; \
                 ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY; \
                 ALTER TABLE {table} DISABLE ROW LEVEL SECURITY"
            ),
        )
        .await;
    }
    // The views and functions too (the door's session view is granted to
    // no one else), as if the owner had run the migrations.
    for (kind, names) in [
        (
            "VIEW",
            "SELECT viewname::text FROM pg_views WHERE schemaname = 'public'",
        ),
        (
            "FUNCTION",
            "SELECT p.oid::regprocedure::text FROM pg_proc p \
             JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public'",
        ),
    ] {
        let names: Vec<String> = sqlx::query_scalar(names)
            .fetch_all(&mut copy_connection)
            .await
            .expect("names");
        for name in names {
            execute(
                &mut copy_connection,
                &format!("ALTER {kind} {name} OWNER TO {OWNER_ROLE}"),
            )
            .await;
        }
    }
}

struct Figures {
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
}

/// wrk (a C load generator, like pgbench on the other side) with `clients`
/// connections for `round` on `url`, after checking that the request works.
async fn load(url: &str, cookie: &str, clients: usize, round: Duration) -> Figures {
    let response = reqwest::Client::new()
        .get(url)
        .header("cookie", cookie)
        .send()
        .await
        .expect("request");
    let status = response.status();
    let body = response.text().await.expect("a body");
    let first: Vec<serde_json::Value> =
        serde_json::from_str(&body).unwrap_or_else(|_| panic!("a JSON list, got {status}: {body}"));
    assert_eq!(first.len(), 50);
    let mut wrk = Command::new("wrk");
    wrk.args(["--latency", "-t", "2"])
        .args(["-c", &clients.to_string()])
        .args(["-d", &format!("{}s", round.as_secs())])
        .args(["-H", &format!("Cookie: {cookie}")])
        .arg(url);
    // Waited for off the runtime's workers: they serve the bare handler.
    let output = tokio::task::spawn_blocking(move || wrk.output())
        .await
        .expect("the wait for wrk")
        .expect("run wrk (is it on PATH? apt-get install wrk)");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "wrk failed: {text}");
    assert!(!text.contains("Non-2xx"), "some requests failed: {text}");
    let field = |label: &str| {
        text.lines()
            .find_map(|line| line.trim().strip_prefix(label))
            .map(str::trim)
            .unwrap_or_else(|| panic!("wrk output has no {label:?}: {text}"))
    };
    Figures {
        per_second: field("Requests/sec:").parse().expect("a rate"),
        p50_ms: milliseconds(field("50%")),
        p99_ms: milliseconds(field("99%")),
    }
}

/// wrk's durations: "812.00us", "1.23ms", "1.01s".
fn milliseconds(text: &str) -> f64 {
    let split = text
        .find(|c: char| c.is_ascii_alphabetic())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .unwrap_or_else(|_| panic!("a duration: {text}"));
    match unit {
        "us" => number / 1000.0,
        "ms" => number,
        "s" => number * 1000.0,
        "m" => number * 60_000.0,
        _ => panic!("unknown unit in {text}"),
    }
}

/// The endpoint's SELECT, as `locations::list` sends it; $1 is the tenant, $2
/// "sees every location", $3 the membership (for grants), $4 and $5 the page.
const LIST_SQL: &str = "SELECT id, name, address, time_zone, archived_at, created_at FROM locations l \
     WHERE tenant_id = $1 AND ($2 OR EXISTS (SELECT 1 FROM location_grants g \
         WHERE g.tenant_id = l.tenant_id AND g.location_id = l.id AND g.membership_id = $3)) \
     ORDER BY archived_at IS NOT NULL, lower(name), id LIMIT $4 OFFSET $5";

/// pgbench with the endpoint's SELECT and parameters, prepared, as the
/// superuser (no RLS, no scope).
fn pgbench(url: &str, fixture: &ListFixture, clients: usize, round: Duration) -> (f64, f64) {
    let script = std::env::temp_dir().join(format!("tenancy_rls_{}.sql", std::process::id()));
    let sql = ["tenant", "all", "membership", "limit", "offset"]
        .iter()
        .enumerate()
        .fold(LIST_SQL.to_owned(), |sql, (i, name)| {
            sql.replace(&format!("${}", i + 1), &format!(":{name}"))
        });
    std::fs::write(&script, format!("{sql};\n")).expect("write the pgbench script");
    let output = Command::new("pgbench")
        .args(["-n", "-M", "prepared", "-j", "2"])
        .args([
            "-D",
            &format!("tenant={}", fixture.tenant_id),
            "-D",
            "all=true",
        ])
        .args(["-D", &format!("membership={}", uuid::Uuid::nil())])
        .args(["-D", "limit=50", "-D", "offset=0"])
        .args([
            "-c",
            &clients.to_string(),
            "-T",
            &round.as_secs().to_string(),
        ])
        .arg("-f")
        .arg(&script)
        .arg(url)
        .output()
        .expect("run pgbench (is it on PATH?)");
    let _ = std::fs::remove_file(&script);
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "pgbench failed: {text}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let number_after = |label: &str| {
        text.lines()
            .find_map(|line| line.trim().strip_prefix(label))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse::<f64>().ok())
            .unwrap_or_else(|| panic!("pgbench output has no {label:?}: {text}"))
    };
    (number_after("tps ="), number_after("latency average ="))
}

/// The ceiling for any app on this machine: the endpoint's SELECT behind a
/// bare axum handler on a sqlx pool (no session, scope, middleware or RLS),
/// served by this process. Returns its URL.
async fn bare_axum(url: &str, fixture: &ListFixture, clients: usize) -> String {
    let pool = PgPoolOptions::new()
        .max_connections(u32::try_from(clients).unwrap_or(u32::MAX))
        .test_before_acquire(false)
        .connect(url)
        .await
        .expect("a pool");
    let tenant: uuid::Uuid = fixture.tenant_id.parse().expect("a tenant id");
    let list = move || async move {
        let locations: Vec<Location> = sqlx::query_as(LIST_SQL)
            .bind(tenant)
            .bind(true)
            .bind(uuid::Uuid::nil())
            .bind(50_i64)
            .bind(0_i64)
            .fetch_all(&pool)
            .await
            .expect("the locations");
        axum::Json(locations)
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port");
    let address = listener.local_addr().expect("its address");
    let router = axum::Router::new().route("/locations", axum::routing::get(list));
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{address}/locations")
}

async fn run() {
    let settings = settings();
    let suffix = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let rls_db = format!("bench_rls_{suffix}");
    let plain_db = format!("bench_plain_{suffix}");
    let mut admin = connect(&settings.admin_url).await;
    execute(&mut admin, &format!("CREATE DATABASE {rls_db}")).await;
    let rls_url = url_for(&settings.admin_url, &rls_db, None);

    eprintln!("seeding {TENANTS} tenants × {LOCATIONS_PER_TENANT} locations…");
    let fixture = seed(&rls_url).await;
    without_rls(&settings.admin_url, &rls_db, &plain_db).await;
    let plain_url = url_for(&settings.admin_url, &plain_db, Some(OWNER_ROLE));

    let folder = tempfile::tempdir().expect("a folder");
    let serve = |url: &str| {
        vec![
            ("DATABASE_URL", url.to_owned()),
            ("DATABASE_POOL_SIZE", settings.clients.to_string()),
        ]
    };
    let with_rls = Server::start(folder.path(), &serve(&rls_url)).await;
    let without = Server::start(folder.path(), &serve(&plain_url)).await;
    let endpoint = |server: &Server| {
        format!(
            "{}/api/v1/t/{}/locations?limit=50",
            server.address, fixture.slug
        )
    };
    let (on_url, off_url) = (endpoint(&with_rls), endpoint(&without));
    let clients = settings.clients;
    let bare_url = bare_axum(&rls_url, &fixture, clients).await;
    let cookie = format!("session={}", fixture.session_id);
    eprintln!(
        "{clients} clients, {} s rounds: warming up, then RLS on / off / bare alternately…",
        settings.round.as_secs()
    );
    // The three take turns, so that the machine's drift (this one is
    // noisy) weighs on each alike and the ratios compare like with like.
    let contenders = [on_url.as_str(), off_url.as_str(), bare_url.as_str()];
    for url in contenders {
        load(url, &cookie, clients, Duration::from_secs(2)).await;
    }
    let mut rounds: [Vec<Figures>; 3] = Default::default();
    for _ in 0..2 {
        for (url, figures) in contenders.iter().zip(&mut rounds) {
            figures.push(load(url, &cookie, clients, settings.round).await);
        }
    }
    drop(with_rls);
    drop(without);
    let [on, off, bare] = rounds;
    let (raw_tps, raw_latency) = pgbench(&rls_url, &fixture, clients, settings.round);

    let mean = |rounds: &[Figures], f: fn(&Figures) -> f64| {
        rounds.iter().map(f).sum::<f64>() / rounds.len() as f64
    };
    let on_rps = mean(&on, |f| f.per_second);
    let off_rps = mean(&off, |f| f.per_second);
    let bare_rps = mean(&bare, |f| f.per_second);
    println!();
    println!(
        "GET /api/v1/t/{{slug}}/locations?limit=50 — 50 of the largest tenant's 5,000 rows (1,004,000 in all), {clients} clients"
    );
    println!(
        "{:<36} {:>10} {:>10} {:>10}",
        "", "req/s", "p50 ms", "p99 ms"
    );
    for (label, rounds) in [
        ("HTTP, RLS on", on.as_slice()),
        ("HTTP, RLS off", off.as_slice()),
        ("bare axum + sqlx, same SELECT", bare.as_slice()),
    ] {
        println!(
            "{label:<36} {:>10.0} {:>10.2} {:>10.2}",
            mean(rounds, |f| f.per_second),
            mean(rounds, |f| f.p50_ms),
            mean(rounds, |f| f.p99_ms)
        );
    }
    println!(
        "{:<36} {:>10.0} {:>10.2} {:>10}",
        "pgbench, same SELECT", raw_tps, raw_latency, "(avg)"
    );
    println!();
    println!("RLS on / RLS off: {:.2} (target ≥ 0.90)", on_rps / off_rps);
    println!(
        "HTTP with RLS / raw PostgreSQL: {:.2} (target ≥ 0.35, stretch 0.50)",
        on_rps / raw_tps
    );
    println!(
        "bare axum + sqlx / raw PostgreSQL: {:.2} (what HTTP itself leaves on this machine)",
        bare_rps / raw_tps
    );
    println!(
        "HTTP with RLS / bare axum + sqlx: {:.2} (target ≥ 0.6; what sessions, tenancy and the middleware cost)",
        on_rps / bare_rps
    );

    for database in [&rls_db, &plain_db] {
        execute(
            &mut admin,
            &format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"),
        )
        .await;
    }
}
