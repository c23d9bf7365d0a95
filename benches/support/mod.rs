//! What the benchmarks share: the release binary, the PostgreSQL server to
//! measure on, and a tenant seeded through the library's own functions.
//! Each benchmark uses part of it.
#![allow(dead_code)]

use std::path::PathBuf;

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
    };
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
        };
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
