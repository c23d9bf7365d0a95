use serde_json::Value;

use crate::support::{Options, backend_test, run_on, run_on_with};
use app::db::Backend;

backend_test!(healthz_answers_200_with_the_database_check);
async fn healthz_answers_200_with_the_database_check(backend: Backend) {
    run_on(backend, |app| async move {
        let response = app.get("/healthz").await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.expect("JSON");
        assert_eq!(body["status"], "ok");
        assert_eq!(body["database"]["status"], "ok");
        assert_eq!(body["database"]["backend"], app.backend().name());
    })
    .await;
}

backend_test!(healthz_answers_503_when_the_database_is_down);
async fn healthz_answers_503_when_the_database_is_down(backend: Backend) {
    run_on(backend, |app| async move {
        app.db.close().await;
        let response = app.get("/healthz").await;
        assert_eq!(response.status(), 503);
        let body: Value = response.json().await.expect("JSON");
        assert_eq!(body["status"], "unavailable");
        assert_eq!(body["database"]["status"], "unreachable");
    })
    .await;
}

backend_test!(metrics_do_not_exist_without_a_token);
async fn metrics_do_not_exist_without_a_token(backend: Backend) {
    run_on(backend, |app| async move {
        assert_eq!(app.get("/metrics").await.status(), 404);
    })
    .await;
}

backend_test!(metrics_need_the_configured_bearer_token);
async fn metrics_need_the_configured_bearer_token(backend: Backend) {
    let options = || Options {
        vars: vec![("METRICS_TOKEN", "scrape-me".to_owned())],
        ..Options::default()
    };
    run_on_with(backend, options, |app| async move {
        assert_eq!(app.get("/").await.status(), 200);
        assert_eq!(app.get("/metrics").await.status(), 404, "no token");
        let wrong = app
            .client
            .get(app.url("/metrics"))
            .bearer_auth("nope")
            .send()
            .await
            .expect("GET");
        assert_eq!(wrong.status(), 404, "wrong token");

        let response = app
            .client
            .get(app.url("/metrics"))
            .bearer_auth("scrape-me")
            .send()
            .await
            .expect("GET");
        assert_eq!(response.status(), 200);
        let text = response.text().await.expect("text");
        assert!(
            text.contains(r#"http_requests_total{method="GET",route="/",status="200"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(
                r#"http_request_duration_seconds_count{method="GET",route="/",status="200"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"db_pool_connections{state="open"}"#),
            "{text}"
        );
        assert!(!text.contains("/nope"), "raw paths never become labels");
    })
    .await;
}

backend_test!(a_pooled_connection_the_server_closed_is_replaced_before_a_request_uses_it);
async fn a_pooled_connection_the_server_closed_is_replaced_before_a_request_uses_it(
    backend: Backend,
) {
    run_on_with(
        backend,
        || Options {
            vars: vec![("DATABASE_POOL_SIZE", "1".to_owned())],
            ..Options::default()
        },
        |app| async move {
            let app::db::Db::Postgres(postgres) = &app.db else {
                return; // SQLite: no server to close it
            };
            assert_eq!(app.get("/healthz").await.status(), 200);
            // The server ends the pool's one connection, idle now, as a
            // restart or a proxy's idle timeout would.
            let database = postgres
                .pool
                .connect_options()
                .get_database()
                .expect("a database name")
                .to_owned();
            let ended: Vec<bool> = sqlx::query_scalar(
                // Not Citus' own (its maintenance daemon, and its
                // connections to this node, named citus_internal).
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = $1 AND backend_type = 'client backend' \
                   AND application_name NOT LIKE 'citus%'",
            )
            .bind(&database)
            .fetch_all(&mut crate::support::admin().await)
            .await
            .expect("terminate");
            assert_eq!(ended, [true]);
            tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;
            assert_eq!(
                app.get("/healthz").await.status(),
                200,
                "the dead connection was found out and replaced"
            );
        },
    )
    .await;
}
