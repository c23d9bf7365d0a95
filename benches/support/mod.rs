//! What the benchmarks share: the release binary (and serving it), the
//! configuration from variables, the PostgreSQL server to measure on, and a
//! tenant seeded through the library's own functions. Each benchmark uses
//! part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use app::db::Db;
use app::ids::UserId;
use app::locations::Location;
use app::tenancy::permissions::LocationVisibility;
use app::tenancy::{Intent, Tenant, TenantScope, for_tenant};

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
            .stdout(Stdio::null())
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
