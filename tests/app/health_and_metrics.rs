use serde_json::Value;

use crate::support::{Options, each_backend, each_backend_with};

#[tokio::test]
async fn healthz_answers_200_with_the_database_check() {
    each_backend(|app| async move {
        let response = app.get("/healthz").await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.expect("JSON");
        assert_eq!(body["status"], "ok");
        assert_eq!(body["database"]["status"], "ok");
        assert_eq!(body["database"]["backend"], app.backend().name());
    })
    .await;
}

#[tokio::test]
async fn healthz_answers_503_when_the_database_is_down() {
    each_backend(|app| async move {
        app.db.close().await;
        let response = app.get("/healthz").await;
        assert_eq!(response.status(), 503);
        let body: Value = response.json().await.expect("JSON");
        assert_eq!(body["status"], "unavailable");
        assert_eq!(body["database"]["status"], "unreachable");
    })
    .await;
}

#[tokio::test]
async fn metrics_do_not_exist_without_a_token() {
    each_backend(|app| async move {
        assert_eq!(app.get("/metrics").await.status(), 404);
    })
    .await;
}

#[tokio::test]
async fn metrics_need_the_configured_bearer_token() {
    let options = || Options {
        vars: vec![("METRICS_TOKEN", "scrape-me".to_owned())],
        ..Options::default()
    };
    each_backend_with(options, |app| async move {
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
