//! Tenant scopes under load and over a shared pool: no request ever sees
//! another tenant's rows, and nothing a request set is left on a pooled
//! connection for the next one.

use app::db::Backend;
use std::collections::HashSet;

use app::access::InTenant;
use app::error::AppError;
use app::http::routes::{Access, Routes, get};
use app::on_tx;
use serde_json::Value;
use tokio::task::JoinSet;

use crate::fixtures::TenantFixture;
use crate::support::{Options, TestApp, backend_test, run_on_with};

/// Location names a client sees in a tenant, through the API.
async fn names(app: &TestApp, client: &reqwest::Client, slug: &str) -> HashSet<String> {
    let response = client
        .get(app.url(&format!("/api/v1/t/{slug}/locations")))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    let locations: Vec<Value> = response.json().await.expect("JSON");
    locations
        .iter()
        .map(|l| l["name"].as_str().expect("name").to_owned())
        .collect()
}

fn own(slug: &str) -> HashSet<String> {
    HashSet::from([format!("{slug} Centre"), format!("{slug} Harbour")])
}

backend_test!(two_tenants_interleaved_over_the_shared_pool_never_see_each_other);
async fn two_tenants_interleaved_over_the_shared_pool_never_see_each_other(backend: Backend) {
    run_on_with(backend, Options::default, |app| async move {
        let a = TenantFixture::create(&app.db, "alpha").await;
        let b = TenantFixture::create(&app.db, "bravo").await;
        let clients = [
            ("alpha", app.client_for(a.owner).await),
            ("bravo", app.client_for(b.owner).await),
        ];
        let mut requests = JoinSet::new();
        for i in 0..400 {
            let (slug, client) = clients[i % 2].clone();
            let app = app.clone();
            requests.spawn(async move { (slug, names(&app, &client, slug).await) });
        }
        let mut answered = 0;
        while let Some(result) = requests.join_next().await {
            let (slug, seen) = result.expect("request task");
            assert_eq!(seen, own(slug), "{slug} sees only its own locations");
            answered += 1;
        }
        assert_eq!(answered, 400);
    })
    .await;
}

/// Opens the request's scope, then fails mid-transaction.
async fn fail_mid_transaction(mut t: InTenant) -> Result<&'static str, AppError> {
    on_tx!(t.scope.tx(), |conn| sqlx::query(
        "SELECT * FROM no_such_table"
    )
    .execute(conn)
    .await
    .map(drop))?;
    Ok("unreachable")
}

fn probes() -> Routes {
    Routes::new()
        .add(
            "/t/{slug}/probe/fail",
            Access::Tenant,
            get(fail_mid_transaction),
        )
        .add(
            "/api/probe/no-tenant",
            Access::Public,
            get(crate::tenants::needs_a_tenant),
        )
}

backend_test!(on_a_pool_of_one_connection_nothing_carries_over_between_requests);
async fn on_a_pool_of_one_connection_nothing_carries_over_between_requests(backend: Backend) {
    run_on_with(
        backend,
        || Options {
            vars: vec![("DATABASE_POOL_SIZE", "1".to_owned())],
            extra_routes: Some(probes),
        },
        |app| async move {
            let a = TenantFixture::create(&app.db, "alpha").await;
            let b = TenantFixture::create(&app.db, "bravo").await;
            let alpha = app.client_for(a.owner).await;
            let bravo = app.client_for(b.owner).await;
            for _ in 0..3 {
                assert_eq!(names(&app, &alpha, "alpha").await, own("alpha"));
                assert_eq!(names(&app, &bravo, "bravo").await, own("bravo"));
                let none = alpha
                    .get(app.url("/api/probe/no-tenant"))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(none.status(), 400);
                let failed = alpha
                    .get(app.url("/t/alpha/probe/fail"))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(failed.status(), 500);
                assert_eq!(names(&app, &bravo, "bravo").await, own("bravo"));
                assert_eq!(names(&app, &alpha, "alpha").await, own("alpha"));
            }
            // The one connection is back to the app's own user, with no tenant.
            if let app::db::Db::Postgres(postgres) = &app.db {
                let (user, tenant): (String, Option<String>) = sqlx::query_as(
                    "SELECT current_user::text, nullif(current_setting('app.tenant_id', true), '')",
                )
                .fetch_one(&postgres.pool)
                .await
                .unwrap();
                assert_ne!(user, "app_tenant");
                assert_eq!(tenant, None);
            }
        },
    )
    .await;
}

backend_test!(a_scope_abandoned_while_opening_leaves_nothing_on_the_pooled_connection);
async fn a_scope_abandoned_while_opening_leaves_nothing_on_the_pooled_connection(backend: Backend) {
    run_on_with(
        backend,
        || Options {
            vars: vec![("DATABASE_POOL_SIZE", "1".to_owned())],
            ..Options::default()
        },
        |app| async move {
            let a = TenantFixture::create(&app.db, "alpha").await;
            let app::db::Db::Postgres(postgres) = &app.db else {
                return; // SQLite has no role or tenant setting to leave behind
            };
            // Give up on opening a scope after polling it 0, 1, 2, … times, so
            // some attempts stop while BEGIN is in flight; the next user of
            // the one connection must find it back in its plain state.
            for wait in 0..400 {
                let mut opening = Box::pin(app::tenancy::for_tenant(
                    &app.db,
                    a.id,
                    app::tenancy::Intent::Read,
                ));
                for _ in 0..wait {
                    let polled = std::future::poll_fn(|cx| {
                        std::task::Poll::Ready(opening.as_mut().poll(cx).is_ready())
                    })
                    .await;
                    if polled {
                        break;
                    }
                    tokio::task::yield_now().await;
                }
                drop(opening);
                let (user, tenant): (String, Option<String>) = sqlx::query_as(
                    "SELECT current_user::text, nullif(current_setting('app.tenant_id', true), '')",
                )
                .fetch_one(&postgres.pool)
                .await
                .unwrap_or_else(|e| panic!("after giving up at poll {wait}: {e}"));
                assert_ne!(user, "app_tenant", "after giving up at poll {wait}");
                assert_eq!(tenant, None, "after giving up at poll {wait}");
            }
        },
    )
    .await;
}
