//! What the benchmarks share: the release binary (and serving it, or the
//! router in this process), the configuration from variables, the
//! PostgreSQL server (and the Citus cluster) to measure on, tenants seeded
//! through the library's own functions or in bulk, and the figures a run of
//! requests prints. Each benchmark uses part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::time::Duration;

use app::db::Db;
use app::ids::UserId;
use app::locations::Location;
use app::tenancy::permissions::LocationVisibility;
use app::tenancy::{Intent, Tenant, TenantScope, for_tenant};
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{AssertSqlSafe, Connection};

/// The app's binary, built by `cargo bench` beside the benchmark.
pub fn binary() -> PathBuf {
    let deps = std::env::current_exe().expect("bench executable");
    let profile = deps
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>");
    profile.join(format!(
        "{}{}",
        env!("CARGO_PKG_NAME"),
        std::env::consts::EXE_SUFFIX
    ))
}

/// The app's configuration from these variables alone, as `serve` would
/// read them.
pub fn config(vars: &[(&str, String)]) -> app::config::Config {
    app::config::Config::from_lookup(|name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    })
    .expect("a valid configuration")
}

/// The release binary serving on a free local port; dropping it (even in
/// a panic) stops the process.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub address: String,
}

impl Server {
    /// Starts `serve` in `folder` with `vars` (and quiet logs), once it
    /// answers `/healthz`.
    pub async fn start(folder: &Path, vars: &[(&str, String)]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(binary())
            .arg("serve")
            .envs(vars.iter().map(|(k, v)| (k, v)))
            .env("PORT", port.to_string())
            .env("RUST_LOG", "warn")
            .current_dir(folder)
            // Its warnings and errors beside the benchmark's progress.
            .stdout(std::io::stderr())
            .spawn()
            .expect("start the app");
        let server = Self {
            child,
            address: format!("http://127.0.0.1:{port}"),
        };
        let client = reqwest::Client::new();
        for _ in 0..100 {
            if client
                .get(format!("{}/healthz", server.address))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
            {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the app at {} did not become healthy", server.address);
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The app's router serving `db` on a free local port in this process, as
/// `serve` does; dropping it stops it.
pub struct InProcess {
    /// `http://127.0.0.1:<port>`.
    pub address: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl InProcess {
    pub async fn start(config: app::config::Config, db: Db) -> Self {
        let state = app::state(db, config.clone()).expect("the plans");
        let server = app::http::Server::bind(&config, app::router(state))
            .await
            .expect("bind a local port");
        let address = format!("http://{}", server.local_addr().expect("an address"));
        let (stop, stopped) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            server
                .run_until(async {
                    let _ = stopped.await;
                })
                .await
                .expect("the server runs");
        });
        Self {
            address,
            stop: Some(stop),
        }
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// What a run of requests did: how many things (requests, or punches) in
/// how long, and the requests' latency.
pub struct Figures {
    pub done: usize,
    pub seconds: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

impl Figures {
    /// From each request's latency; `done` things in `seconds`.
    pub fn new(done: usize, seconds: f64, mut latencies: Vec<Duration>) -> Self {
        assert!(!latencies.is_empty(), "no request was answered");
        latencies.sort();
        let at = |share: f64| {
            let index =
                ((latencies.len() as f64 * share).ceil() as usize).clamp(1, latencies.len()) - 1;
            latencies[index].as_secs_f64() * 1000.0
        };
        Self {
            done,
            seconds,
            p50_ms: at(0.50),
            p99_ms: at(0.99),
        }
    }

    pub fn per_second(&self) -> f64 {
        self.done as f64 / self.seconds
    }
}

/// A superuser connection to `url`.
pub async fn connect(url: &str) -> PgConnection {
    PgConnection::connect_with(&PgConnectOptions::from_str(url).expect("URL"))
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {url}: {e}"))
}

pub async fn execute(connection: &mut PgConnection, sql: &str) {
    sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
        .execute(connection)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// Runs the release binary's `command` (`migrate`, `citus-distribute`) on
/// `url`, as a founder would.
pub fn run_command(command: &str, url: &str) {
    let status = Command::new(binary())
        .arg(command)
        .env("DATABASE_URL", url)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .status()
        .unwrap_or_else(|e| panic!("run {command}: {e}"));
    assert!(status.success(), "{command} failed");
}

/// A Citus cluster to measure on: BENCH_CITUS_URL, a superuser's URL of
/// the coordinator's database that lists the workers (`bash
/// ../shared/citus/cluster up` makes such a cluster, at
/// postgres://postgres@127.0.0.1:5440/postgres), if set.
pub struct Citus {
    url: String,
    /// (host, port) of the coordinator, then the workers.
    nodes: Vec<(String, u16)>,
}

impl Citus {
    pub async fn from_env() -> Option<Self> {
        let url = std::env::var("BENCH_CITUS_URL").ok()?;
        let workers: Vec<(String, i32)> = sqlx::query_as(
            "SELECT nodename::text, nodeport FROM pg_dist_node \
             WHERE groupid <> 0 AND isactive AND noderole = 'primary' ORDER BY nodeport",
        )
        .fetch_all(&mut connect(&url).await)
        .await
        .expect("BENCH_CITUS_URL: a Citus coordinator's database with the workers added");
        assert!(
            !workers.is_empty(),
            "BENCH_CITUS_URL's coordinator has no workers"
        );
        let options = PgConnectOptions::from_str(&url).expect("a URL");
        let coordinator = (options.get_host().to_owned(), options.get_port());
        let workers = workers
            .into_iter()
            .map(|(host, port)| (host, u16::try_from(port).expect("a port")));
        Some(Self {
            nodes: std::iter::once(coordinator).chain(workers).collect(),
            url,
        })
    }

    async fn connect(&self, (host, port): &(String, u16), database: &str) -> PgConnection {
        let options = PgConnectOptions::from_str(&self.url)
            .expect("a URL")
            .host(host)
            .port(*port)
            .database(database);
        PgConnection::connect_with(&options)
            .await
            .unwrap_or_else(|e| panic!("connect to {host}:{port}: {e}"))
    }

    /// A new database `name` on every node, set up as docs/scaling-out.md
    /// says for an app connecting as a superuser: the nodes in its metadata,
    /// migrated and distributed by the app's own commands, the scope role
    /// able to log in to the workers and take Citus' locks. Returns its URL.
    /// The last two are the cluster's, and stay: measure on a test cluster
    /// (see "Roles" there for what a log-in for `app_tenant` opens).
    pub async fn database(&self, name: &str) -> String {
        for node in &self.nodes {
            execute(
                &mut self.connect(node, "postgres").await,
                &format!("CREATE DATABASE {name}"),
            )
            .await;
            execute(
                &mut self.connect(node, name).await,
                "CREATE EXTENSION citus",
            )
            .await;
        }
        let mut coordinator = self.connect(&self.nodes[0], name).await;
        for (i, (host, port)) in self.nodes.iter().enumerate() {
            let add = if i == 0 {
                "citus_set_coordinator_host"
            } else {
                "citus_add_node"
            };
            execute(&mut coordinator, &format!("SELECT {add}('{host}', {port})")).await;
        }
        let (base, _) = self.url.rsplit_once('/').expect("a database in the URL");
        let url = format!("{base}/{name}");
        run_command("migrate", &url);
        run_command("citus-distribute", &url);
        execute(
            &mut coordinator,
            "ALTER ROLE app_tenant LOGIN; \
             SELECT run_command_on_all_nodes('ALTER SYSTEM SET citus.skip_advisory_lock_permission_checks = on'); \
             SELECT run_command_on_all_nodes('SELECT pg_reload_conf()')",
        )
        .await;
        url
    }

    /// Drops database `name` on every node.
    pub async fn drop(&self, name: &str) {
        for node in &self.nodes {
            let mut admin = self.connect(node, "postgres").await;
            // Citus' maintenance daemon may hold the database a moment
            // longer than FORCE's reach.
            for attempt in 0.. {
                let dropped = sqlx::raw_sql(AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&mut admin)
                .await;
                match dropped {
                    Ok(_) => break,
                    Err(_) if attempt < 20 => tokio::time::sleep(Duration::from_millis(200)).await,
                    Err(e) => panic!("drop {name}: {e}"),
                }
            }
        }
    }
}

/// A new database `name` on the PostgreSQL server of `admin_url`; returns
/// its URL.
pub async fn postgres_database(admin_url: &str, name: &str) -> String {
    execute(
        &mut connect(admin_url).await,
        &format!("CREATE DATABASE {name}"),
    )
    .await;
    let (base, _) = admin_url.rsplit_once('/').expect("a database in the URL");
    format!("{base}/{name}")
}

/// What a request for one tenant's locations needs: the tenant's slug, its
/// id, a signed-in owner's session cookie.
pub struct ListFixture {
    pub slug: String,
    pub tenant_id: String,
    pub session_id: String,
}

/// `tenants` tenants with `per_tenant` locations each, and the one whose
/// list is read, tenant-{tenants / 2}, with `largest` (the tenant whose rows
/// a query plan made for the average one would filter and sort), inserted
/// in bulk into a migrated database; its owner signed in.
pub async fn list_fixture(
    connection: &mut PgConnection,
    tenants: u32,
    per_tenant: u32,
    largest: u32,
) -> ListFixture {
    let slug = format!("tenant-{}", tenants / 2);
    // One statement at a time: Citus refuses a transaction that writes a
    // reference table's copy on the coordinator and then the shards.
    let statements = [
        format!(
            "INSERT INTO tenants (id, name, slug, time_zone, created_at) \
             SELECT gen_random_uuid(), 'Tenant ' || i, 'tenant-' || i, 'UTC', now() \
             FROM generate_series(1, {tenants}) i"
        ),
        format!(
            "INSERT INTO locations (tenant_id, id, name, address, time_zone, created_at) \
             SELECT t.id, gen_random_uuid(), 'Location ' || lpad(j::text, 4, '0'), j || ' High Street', 'UTC', now() \
             FROM tenants t, generate_series(1, {per_tenant}) j"
        ),
        format!(
            "INSERT INTO locations (tenant_id, id, name, address, time_zone, created_at) \
             SELECT t.id, gen_random_uuid(), 'Location ' || lpad(j::text, 4, '0'), j || ' High Street', 'UTC', now() \
             FROM tenants t, generate_series({per_tenant} + 1, {largest}) j WHERE t.slug = '{slug}'"
        ),
        "INSERT INTO users (id, email, created_at) VALUES (gen_random_uuid(), 'owner@bench.test', now())"
            .to_owned(),
        format!(
            "INSERT INTO memberships (tenant_id, id, user_id, role, created_at) \
             SELECT t.id, gen_random_uuid(), u.id, 'owner', now() FROM tenants t, users u WHERE t.slug = '{slug}'"
        ),
        "ANALYZE tenants, locations, users, memberships".to_owned(),
    ];
    for statement in &statements {
        execute(connection, statement).await;
    }
    let (tenant_id, user_id): (String, String) =
        sqlx::query_as("SELECT t.id::text, u.id::text FROM tenants t, users u WHERE t.slug = $1")
            .bind(&slug)
            .fetch_one(&mut *connection)
            .await
            .expect("fixture ids");
    // A signed-in session, as tower-sessions stores it: the cookie value is
    // 16 bytes, base64url without padding (22 characters, the last one
    // carrying 2 bits, hence the "A").
    let session_id = format!("{}A", &uuid::Uuid::new_v4().simple().to_string()[..21]);
    let data = format!(r#"{{"user_id":"{user_id}","refreshed_at":{}}}"#, unix_now());
    sqlx::query(
        "INSERT INTO sessions (id, user_id, data, created_at, expires_at) VALUES ($1, $2::uuid, $3, $4, $5)",
    )
    .bind(&session_id)
    .bind(&user_id)
    .bind(data)
    .bind(unix_now())
    .bind(unix_now() + 86_400)
    .execute(connection)
    .await
    .expect("session");
    ListFixture {
        slug,
        tenant_id,
        session_id,
    }
}

fn unix_now() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_secs(),
    )
    .expect("fits")
}

/// The whole number in variable `name`, else `default`.
pub fn number<T: FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A PostgreSQL superuser's URL: BENCH_DATABASE_URL, else the tests'
/// TEST_DATABASE_URL, else the tests' default.
pub fn admin_url() -> String {
    std::env::var("BENCH_DATABASE_URL")
        .or_else(|_| std::env::var("TEST_DATABASE_URL"))
        .unwrap_or_else(|_| "postgres://app_test:app_test@127.0.0.1:5432/postgres".to_owned())
}

/// A new tenant named `name` in `time_zone`, owned by a new user with
/// `email`, with `locations` locations (the first made by the tenant's
/// creation), and its scope open for writing.
pub async fn tenant(
    db: &Db,
    email: &str,
    name: &str,
    time_zone: &str,
    locations: usize,
) -> (UserId, Tenant, Vec<Location>, TenantScope) {
    let owner = UserId::new();
    app::on_backend!(db, |pool| sqlx::query(
        "INSERT INTO users (id, email, created_at) VALUES ($1, $2, $3)"
    )
    .bind(owner)
    .bind(email)
    .bind(time::OffsetDateTime::now_utc())
    .execute(pool)
    .await
    .map(drop))
    .expect("the owner");
    let input = app::tenants::TenantInput {
        name: name.to_owned(),
        time_zone: time_zone.to_owned(),
    }
    .validate()
    .expect("a valid tenant");
    let tenant = app::tenants::create(db, owner, &input)
        .await
        .expect("tenant");
    let mut scope = for_tenant(db, tenant.id, Intent::Write)
        .await
        .expect("scope");
    for l in 1..locations {
        let input = app::locations::LocationInput {
            name: format!("Site {l:02}"),
            address: String::new(),
            time_zone: time_zone.to_owned(),
        }
        .validate()
        .expect("a valid location");
        assert!(app::locations::create(&mut scope, &input).await.is_ok());
    }
    let all = app::locations::list(
        &mut scope,
        LocationVisibility::every_location(),
        app::locations::Page::ALL,
    )
    .await
    .expect("locations");
    (owner, tenant, all, scope)
}
