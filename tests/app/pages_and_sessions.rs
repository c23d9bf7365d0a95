use std::time::Duration;

use app::db::Backend;
use app::http::routes::{Access, Routes, get, post};
use app::on_backend;
use app::sessions::flash::{self, Flash};
use axum::response::Redirect;
use tower_sessions::Session;

use crate::support::{Options, backend_test, run_on, run_on_with};

backend_test!(the_landing_page_renders_in_the_layout);
async fn the_landing_page_renders_in_the_layout(backend: Backend) {
    run_on(backend, |app| async move {
        let response = app.get("/").await;
        assert_eq!(response.status(), 200);
        let html = response.text().await.expect("body");
        assert!(html.contains("<title>"), "{html}");
        assert!(html.contains(app::brand::APP_NAME));
        // The product module's pitch, or the starter's own without one.
        assert!(html.contains(app::pitch().headline), "{html}");
        assert!(html.contains(r#"name="viewport""#), "responsive");
        assert!(html.contains("<footer"), "footer");
        assert!(html.contains(r#"aria-label="Main""#), "navigation");
    })
    .await;
}

backend_test!(every_response_carries_a_request_id_and_security_headers);
async fn every_response_carries_a_request_id_and_security_headers(backend: Backend) {
    run_on(backend, |app| async move {
        for path in ["/", "/no/such/page", "/healthz"] {
            let response = app.get(path).await;
            let headers = response.headers();
            let id = headers
                .get("x-request-id")
                .expect("x-request-id")
                .to_str()
                .expect("ASCII");
            assert!(uuid::Uuid::parse_str(id).is_ok(), "{path}: {id}");
            let csp = headers["content-security-policy"].to_str().expect("ASCII");
            assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
            assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
            assert_eq!(
                headers["referrer-policy"], "strict-origin-when-cross-origin",
                "{path}"
            );
        }
        let response = app
            .client
            .get(app.url("/"))
            .header("x-request-id", "from-the-proxy")
            .send()
            .await
            .expect("GET");
        assert_eq!(
            response.headers()["x-request-id"],
            "from-the-proxy",
            "a proxy's id is kept"
        );
    })
    .await;
}

backend_test!(pages_are_compressed_for_clients_that_accept_it);
async fn pages_are_compressed_for_clients_that_accept_it(backend: Backend) {
    run_on(backend, |app| async move {
        let response = app
            .client
            .get(app.url("/"))
            .header("accept-encoding", "gzip")
            .send()
            .await
            .expect("GET");
        assert_eq!(response.headers()["content-encoding"], "gzip");
    })
    .await;
}

async fn set_flash(session: Session) -> Result<Redirect, app::error::AppError> {
    flash::push(&session, Flash::success("Saved the thing.")).await?;
    Ok(Redirect::to("/"))
}

async fn slow() -> &'static str {
    tokio::time::sleep(Duration::from_millis(300)).await;
    "finished"
}

fn probes() -> Routes {
    Routes::new()
        .add("/probe/flash", Access::Public, post(set_flash))
        .add("/probe/slow", Access::Public, get(slow))
}

fn options() -> Options {
    Options {
        extra_routes: Some(probes),
        ..Options::default()
    }
}

backend_test!(a_flash_message_survives_the_redirect_and_shows_once);
async fn a_flash_message_survives_the_redirect_and_shows_once(backend: Backend) {
    run_on_with(backend, options, |app| async move {
        let response = app
            .client
            .post(app.url("/probe/flash"))
            .send()
            .await
            .expect("POST");
        assert_eq!(response.status(), 303);
        let cookie = response.headers()["set-cookie"]
            .to_str()
            .expect("ASCII")
            .to_owned();
        assert!(cookie.starts_with("session="), "{cookie}");
        assert!(cookie.contains("HttpOnly"), "{cookie}");
        assert!(cookie.contains("SameSite=Lax"), "{cookie}");
        assert!(
            !cookie.contains("Secure"),
            "not Secure in development: {cookie}"
        );

        assert!(
            app.get("/")
                .await
                .text()
                .await
                .expect("body")
                .contains("Saved the thing.")
        );
        assert!(
            !app.get("/")
                .await
                .text()
                .await
                .expect("body")
                .contains("Saved the thing."),
            "shown once"
        );
    })
    .await;
}

backend_test!(sessions_live_in_the_database_and_end_at_their_absolute_expiry);
async fn sessions_live_in_the_database_and_end_at_their_absolute_expiry(backend: Backend) {
    run_on_with(backend, options, |app| async move {
        app.client
            .post(app.url("/probe/flash"))
            .send()
            .await
            .expect("POST");
        let rows: i64 = on_backend!(&app.db, |pool| sqlx::query_scalar(
            "SELECT COUNT(*) FROM sessions"
        )
        .fetch_one(pool)
        .await
        .expect("count sessions"));
        assert_eq!(rows, 1);

        let long_ago = (time::OffsetDateTime::now_utc() - app::sessions::ABSOLUTE_LIFETIME)
            .unix_timestamp()
            - 1;
        on_backend!(&app.db, |pool| sqlx::query(
            "UPDATE sessions SET created_at = $1"
        )
        .bind(long_ago)
        .execute(pool)
        .await
        .map(drop)
        .expect("age the session"));
        let html = app.get("/").await.text().await.expect("body");
        assert!(
            !html.contains("Saved the thing."),
            "an expired session is not loaded"
        );
    })
    .await;
}

backend_test!(a_session_in_use_has_its_idle_expiry_pushed_back_at_most_hourly);
async fn a_session_in_use_has_its_idle_expiry_pushed_back_at_most_hourly(backend: Backend) {
    run_on_with(backend, options, |app| async move {
        let read = || async {
            let row: (String, i64) = on_backend!(&app.db, |pool| sqlx::query_as(
                "SELECT data, expires_at FROM sessions"
            )
            .fetch_one(pool)
            .await
            .expect("the session row"));
            row
        };
        app.client
            .post(app.url("/probe/flash"))
            .send()
            .await
            .expect("POST");
        let (data, first_expiry) = read().await;
        let soon = time::OffsetDateTime::now_utc().unix_timestamp() + 60;
        // As if the last refresh was two hours ago, with a minute left.
        let mut record: serde_json::Value = serde_json::from_str(&data).unwrap();
        record["refreshed_at"] = serde_json::json!(soon - 60 - 7200);
        on_backend!(&app.db, |pool| sqlx::query(
            "UPDATE sessions SET data = $1, expires_at = $2"
        )
        .bind(record.to_string())
        .bind(soon)
        .execute(pool)
        .await
        .map(drop))
        .expect("age the refresh");
        app.get("/").await;
        let (_, pushed) = read().await;
        assert!(
            pushed >= first_expiry,
            "pushed back to a full idle lifetime"
        );
        // Within the hour, requests don't write.
        on_backend!(&app.db, |pool| sqlx::query(
            "UPDATE sessions SET expires_at = $1"
        )
        .bind(soon)
        .execute(pool)
        .await
        .map(drop))
        .expect("mark");
        app.get("/").await;
        assert_eq!(read().await.1, soon, "no write within REFRESH_EVERY");
    })
    .await;
}

backend_test!(session_cookies_are_secure_in_production);
async fn session_cookies_are_secure_in_production(backend: Backend) {
    let options = || Options {
        extra_routes: Some(probes),
        ..Options::production()
    };
    run_on_with(backend, options, |app| async move {
        let response = app
            .client
            .post(app.url("/probe/flash"))
            .send()
            .await
            .expect("POST");
        let cookie = response.headers()["set-cookie"]
            .to_str()
            .expect("ASCII")
            .to_owned();
        assert!(cookie.contains("Secure"), "{cookie}");
        assert!(
            response.headers()["strict-transport-security"]
                .to_str()
                .expect("ASCII")
                .contains("max-age=63072000")
        );
    })
    .await;
}

backend_test!(shutdown_lets_in_flight_requests_finish);
async fn shutdown_lets_in_flight_requests_finish(backend: Backend) {
    run_on_with(backend, options, |app| async move {
        let in_flight = tokio::spawn({
            let app = app.clone();
            async move { app.get("/probe/slow").await }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        app.clone().stop().await;
        let response = in_flight.await.expect("request task");
        assert_eq!(response.status(), 200);
        assert_eq!(response.text().await.expect("body"), "finished");
        assert!(
            app.client.get(app.url("/")).send().await.is_err(),
            "no new connections after shutdown"
        );
    })
    .await;
}
