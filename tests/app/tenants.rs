//! The way into a tenant: the switcher, creating one, settings, and what a
//! user (or a job) without a tenant gets.

use app::db::Backend;
use app::db::Db;
use app::error::AppError;
use app::http::routes::{Access, Routes, get};
use app::ids::UserId;
use app::tenancy::{Intent, ScopeError, for_tenant};
use axum::extract::State;
use serde_json::{Value, json};

use crate::fixtures::{TenantFixture, user};
use crate::support::{Options, TestApp, backend_test, run_on, run_on_with};

/// Stands for any code path that asks for a scope without a tenant.
pub async fn needs_a_tenant(State(db): State<Db>) -> Result<&'static str, AppError> {
    for_tenant(&db, None, Intent::Read).await?;
    Ok("unreachable")
}

fn probes() -> Routes {
    Routes::new()
        .add("/probe/no-tenant", Access::Public, get(needs_a_tenant))
        .add("/api/probe/no-tenant", Access::Public, get(needs_a_tenant))
}

backend_test!(without_a_tenant_scopes_give_a_typed_error_never_rows);
async fn without_a_tenant_scopes_give_a_typed_error_never_rows(backend: Backend) {
    run_on_with(
        backend,
        || Options {
            extra_routes: Some(probes),
            ..Options::default()
        },
        |app| async move {
            TenantFixture::create(&app.db, "alpha").await;
            let error = for_tenant(&app.db, None, Intent::Read).await.err();
            assert!(matches!(error, Some(ScopeError::NoTenant)), "{error:?}");

            let page = app.get("/probe/no-tenant").await;
            assert_eq!(
                page.status(),
                303,
                "a browser is sent to pick or create a tenant"
            );
            assert_eq!(page.headers()["location"], "/tenants");
            let api = app.get("/api/probe/no-tenant").await;
            assert_eq!(api.status(), 400);
            let body: Value = api.json().await.unwrap();
            assert_eq!(body["error"]["code"], "no_tenant");
            assert!(
                body["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("/api/v1/t/{slug}/")
            );
        },
    )
    .await;
}

backend_test!(background_work_without_a_tenant_gets_the_typed_error);
async fn background_work_without_a_tenant_gets_the_typed_error(backend: Backend) {
    run_on(backend, |app| async move {
        TenantFixture::create(&app.db, "alpha").await;
        let run = app::jobs::Job::Scheduled {
            name: app::invitations::PURGE_EXPIRED.name.to_owned(),
            period: "2026-11-23".to_owned(),
        };
        app::jobs::enqueue(&app.db, None, &run).await.unwrap();
        app.run_jobs().await;
        let [(_, _, last_error, _)] = &crate::jobs_and_mail::job_state(&app, "scheduled").await[..]
        else {
            panic!("one scheduled run in the queue");
        };
        assert_eq!(
            last_error.as_deref(),
            Some(&*ScopeError::NoTenant.to_string())
        );
    })
    .await;
}

backend_test!(a_user_without_a_tenant_is_sent_to_create_one_and_public_pages_still_work);
async fn a_user_without_a_tenant_is_sent_to_create_one_and_public_pages_still_work(
    backend: Backend,
) {
    run_on(backend, |app| async move {
        let newcomer = user(&app.db, "new@example.test").await;
        let client = app.client_for(newcomer).await;
        let enter = client.get(app.url("/app")).send().await.unwrap();
        assert_eq!(enter.status(), 303);
        assert_eq!(enter.headers()["location"], "/tenants");
        let switcher = client.get(app.url("/tenants")).send().await.unwrap();
        assert_eq!(switcher.status(), 200);
        assert!(
            switcher
                .text()
                .await
                .unwrap()
                .contains("You don't belong to an organisation yet")
        );
        for path in ["/", "/healthz", "/api/openapi.json"] {
            let response = client.get(app.url(path)).send().await.unwrap();
            assert_eq!(response.status(), 200, "{path}");
        }
        // Signed in already: the sign-in and signup pages send them on, to
        // the same place as /app, not to an error.
        for path in ["/login", "/signup"] {
            let response = client.get(app.url(path)).send().await.unwrap();
            assert_eq!(response.status(), 303, "{path}");
            assert_eq!(response.headers()["location"], "/app", "{path}");
        }
        let me = client.get(app.url("/api/v1/me")).send().await.unwrap();
        assert_eq!(me.status(), 200, "the account API needs no tenant");

        let created = app
            .post_form(
                &client,
                "/tenants",
                &[("name", "Acme Cafés"), ("time_zone", "Europe/Madrid")],
            )
            .await;
        assert_eq!(created.status(), 303);
        assert_eq!(created.headers()["location"], "/t/acme-caf-s/locations");
        let html = client
            .get(app.url("/t/acme-caf-s/locations"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(html.contains("Created Acme Cafés."));
        assert!(
            html.contains(">Acme Cafés</a>"),
            "the first location is named after the tenant"
        );
        let enter = client.get(app.url("/app")).send().await.unwrap();
        assert_eq!(enter.headers()["location"], "/t/acme-caf-s/locations");

        // The same name again gets its own slug.
        let second: Value = client
            .post(app.url("/api/v1/tenants"))
            .json(&json!({"name": "Acme Cafés", "time_zone": "UTC"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let slug = second["slug"].as_str().unwrap();
        assert!(
            slug.starts_with("acme-caf-s-") && slug.len() == "acme-caf-s-".len() + 4,
            "{slug}"
        );
        let mine: Vec<Value> = client
            .get(app.url("/api/v1/tenants"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(mine.len(), 2);
        assert!(mine.iter().all(|t| t["role"] == "owner"));
        let enter = client.get(app.url("/app")).send().await.unwrap();
        assert_eq!(enter.headers()["location"], "/tenants");

        let invalid = app
            .post_form(
                &client,
                "/tenants",
                &[("name", " "), ("time_zone", "Nowhere")],
            )
            .await;
        assert_eq!(invalid.status(), 422);
    })
    .await;
}

backend_test!(owners_and_admins_change_settings_others_get_403);
async fn owners_and_admins_change_settings_others_get_403(backend: Backend) {
    run_on(backend, |app| async move {
        let a = TenantFixture::create(&app.db, "alpha").await;
        let owner = app.client_for(a.owner).await;
        let saved = app
            .post_form(
                &owner,
                "/t/alpha/settings",
                &[("name", "Alpha Group"), ("time_zone", "Atlantic/Canary")],
            )
            .await;
        assert_eq!(saved.status(), 303);
        let settings: Value = owner
            .get(app.url("/api/v1/t/alpha/settings"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(settings["name"], "Alpha Group");
        assert_eq!(settings["time_zone"], "Atlantic/Canary");
        assert_eq!(settings["slug"], "alpha");

        let patched: Value = owner
            .patch(app.url("/api/v1/t/alpha/settings"))
            .json(&json!({"time_zone": "Europe/Madrid"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(patched["name"], "Alpha Group");
        assert_eq!(patched["time_zone"], "Europe/Madrid");

        let manager = app.client_for(a.manager).await;
        let page = manager
            .get(app.url("/t/alpha/settings"))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 403);
        let api = manager
            .patch(app.url("/api/v1/t/alpha/settings"))
            .json(&json!({"name": "Mine"}))
            .send()
            .await
            .unwrap();
        assert_eq!(api.status(), 403);
    })
    .await;
}

backend_test!(super_admins_see_every_tenant_and_each_look_is_audited);
async fn super_admins_see_every_tenant_and_each_look_is_audited(backend: Backend) {
    run_on(backend, |app| async move {
        let a = TenantFixture::create(&app.db, "alpha").await;
        TenantFixture::create(&app.db, "bravo").await;
        let operator = user(&app.db, "ops@example.test").await;
        app::on_backend!(&app.db, |pool| sqlx::query(
            "UPDATE users SET is_super_admin = true WHERE id = $1"
        )
        .bind(operator)
        .execute(pool)
        .await
        .map(drop))
        .unwrap();

        let owner = app.client_for(a.owner).await;
        assert_eq!(
            owner
                .get(app.url("/admin/tenants"))
                .send()
                .await
                .unwrap()
                .status(),
            404
        );
        assert_eq!(
            app.get("/admin/tenants").await.status(),
            404,
            "signed out: no panel either"
        );

        let admin = app.client_for(operator).await;
        let without = admin.get(app.url("/admin/tenants")).send().await.unwrap();
        assert_eq!(
            without.status(),
            403,
            "not before two-factor authentication"
        );
        app.enrol_two_factor(&admin).await;
        crate::admin::open_panel(&app, &admin).await;
        let (status, html) = app.page(&admin, "/admin/tenants").await;
        assert_eq!(status, 200);
        assert!(html.contains("alpha Ltd") && html.contains("bravo Ltd"));
        let audit: Vec<(String, String)> = app::on_backend!(&app.db, |pool| sqlx::query_as(
            "SELECT actor, reason FROM super_admin_audit"
        )
        .fetch_all(pool)
        .await)
        .unwrap();
        assert_eq!(
            audit,
            [(
                "user:ops@example.test".to_owned(),
                "viewed the tenant list in the admin panel".to_owned()
            )]
        );
    })
    .await;
}

backend_test!(a_slug_reused_after_its_tenant_is_deleted_leads_to_the_new_tenant);
async fn a_slug_reused_after_its_tenant_is_deleted_leads_to_the_new_tenant(backend: Backend) {
    run_on(backend, |app| async move {
        let old = TenantFixture::create(&app.db, "alpha").await;
        let old_owner = app.client_for(old.owner).await;
        let url = app.url("/t/alpha/locations");
        assert_eq!(old_owner.get(&url).send().await.unwrap().status(), 200);

        app::on_backend!(&app.db, |pool| sqlx::query(
            "DELETE FROM tenants WHERE id = $1"
        )
        .bind(old.id)
        .execute(pool)
        .await
        .map(drop))
        .unwrap();
        let new_tenant = crate::fixtures::tenant(&app.db, "New Alpha", "alpha").await;
        let newcomer = user(&app.db, "new@alpha.test").await;
        crate::fixtures::membership(&app.db, new_tenant, newcomer, app::tenancy::Role::Owner).await;
        crate::fixtures::location(&app.db, new_tenant, "Fresh Start").await;

        let page = app
            .client_for(newcomer)
            .await
            .get(&url)
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200);
        assert!(page.text().await.unwrap().contains("Fresh Start"));
        assert_eq!(old_owner.get(&url).send().await.unwrap().status(), 404);
    })
    .await;
}

/// The session of `user` (test sign-ins make one each) as the door sees it:
/// its idle expiry, or `None` once it is gone.
async fn session_expiry(app: &TestApp, user: UserId) -> Option<i64> {
    app::on_backend!(&app.db, |pool| sqlx::query_scalar(
        "SELECT expires_at FROM sessions WHERE user_id = $1"
    )
    .bind(user)
    .fetch_optional(pool)
    .await)
    .expect("the session row")
}

async fn set_session(app: &TestApp, user: UserId, column: &str, value: i64) {
    app.execute(&format!(
        "UPDATE sessions SET {column} = {value} WHERE user_id = '{user}'"
    ))
    .await;
}

// The door reads a person's session in the tenant scope's own query, with
// the membership (crates/kernel/src/access/mod.rs): what it reads must be the session's
// whole truth, as when the session was loaded on its own.
backend_test!(a_tenant_request_answers_to_the_session_as_it_stands_in_the_database);
async fn a_tenant_request_answers_to_the_session_as_it_stands_in_the_database(backend: Backend) {
    run_on(backend, |app| async move {
        let alpha = TenantFixture::create(&app.db, "alpha").await;
        TenantFixture::create(&app.db, "beta").await;
        let status = |client: &reqwest::Client, path: &'static str| {
            let request = client.get(app.url(path)).send();
            async move { request.await.expect("GET").status() }
        };
        let owner = app.client_for(alpha.owner).await;
        assert_eq!(status(&owner, "/api/v1/t/alpha/locations").await, 200);
        assert_eq!(status(&owner, "/t/alpha/locations").await, 200);
        let beta = "/api/v1/t/beta/locations";
        assert_eq!(status(&owner, beta).await, 404, "not a member");

        // Past the absolute lifetime: gone, on every tenant URL alike, so a
        // stale cookie can't tell which organisations exist (the unknown
        // slug last: the answer to it also drops the cookie).
        set_session(&app, alpha.owner, "created_at", 0).await;
        for path in [
            "/api/v1/t/alpha/locations",
            beta,
            "/api/v1/t/no-such-tenant/locations",
        ] {
            assert_eq!(status(&owner, path).await, 401, "{path}, expired");
        }
        let owner = app.client_for(alpha.owner).await;
        set_session(&app, alpha.owner, "created_at", 0).await;
        assert_eq!(
            status(&owner, "/t/alpha/locations").await,
            303,
            "to sign in"
        );

        // Idle for too long.
        let owner = app.client_for(alpha.owner).await;
        assert_eq!(status(&owner, "/api/v1/t/alpha/locations").await, 200);
        set_session(&app, alpha.owner, "expires_at", 1).await;
        assert_eq!(status(&owner, "/api/v1/t/alpha/locations").await, 401);

        // A visitor's session (a CSRF token, no sign-in) is no one.
        let (visitor, _) = app.visitor().await;
        for path in [
            "/api/v1/t/alpha/locations",
            "/api/v1/t/no-such-tenant/locations",
        ] {
            let response = visitor.get(app.url(path)).send().await.expect("GET");
            assert_eq!(response.status(), 401, "{path} for a visitor");
        }
    })
    .await;
}

backend_test!(a_session_used_only_inside_a_tenant_is_kept_alive_at_most_hourly);
async fn a_session_used_only_inside_a_tenant_is_kept_alive_at_most_hourly(backend: Backend) {
    run_on(backend, |app| async move {
        let alpha = TenantFixture::create(&app.db, "alpha").await;
        let owner = app.client_for(alpha.owner).await;
        let list = || owner.get(app.url("/api/v1/t/alpha/locations")).send();
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let idle = app::sessions::IDLE_LIFETIME.whole_seconds();
        let hour = app::sessions::REFRESH_EVERY.whole_seconds();

        // Last saved over an hour ago, a minute left: pushed back in full.
        set_session(&app, alpha.owner, "expires_at", now + 60).await;
        assert_eq!(list().await.expect("GET").status(), 200);
        let pushed = session_expiry(&app, alpha.owner).await.expect("a session");
        assert!(
            pushed >= now + idle,
            "pushed back: {pushed} < {}",
            now + idle
        );

        // Saved a minute ago: no write.
        let recent = now + idle - 60;
        set_session(&app, alpha.owner, "expires_at", recent).await;
        assert_eq!(list().await.expect("GET").status(), 200);
        assert_eq!(session_expiry(&app, alpha.owner).await, Some(recent));

        // Saved just over an hour ago: written again.
        let stale = now + idle - hour - 5;
        set_session(&app, alpha.owner, "expires_at", stale).await;
        assert_eq!(list().await.expect("GET").status(), 200);
        let pushed = session_expiry(&app, alpha.owner).await.expect("a session");
        assert!(pushed >= now + idle, "pushed back after an hour");
    })
    .await;
}
