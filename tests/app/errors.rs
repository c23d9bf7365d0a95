//! Every error has the app's format: an HTML page in the layout for browsers,
//! `{"error": {"code", "message"}}` under /api/. Bad input is never a 500.

use app::db::Backend;
use app::http::extract::{Form, Json, Query};
use app::http::routes::{Access, Routes, get, post};
use serde::Deserialize;
use serde_json::Value;

use crate::support::{Options, backend_test, run_on_with};

#[derive(Deserialize, serde::Serialize)]
struct Payload {
    name: String,
    count: u32,
}

async fn echo_json(Json(payload): Json<Payload>) -> Json<Payload> {
    Json(payload)
}

async fn echo_form(Form(payload): Form<Payload>) -> String {
    payload.name
}

async fn echo_any(Json(payload): Json<Value>) -> Json<Value> {
    Json(payload)
}

async fn echo_query(Query(payload): Query<Payload>) -> String {
    payload.name
}

async fn panics() -> &'static str {
    panic!("a bug in a handler")
}

fn probes() -> Routes {
    Routes::new()
        .add("/api/v1/probe", Access::Public, post(echo_json))
        .add("/api/v1/probe/any", Access::Public, post(echo_any))
        .add("/probe/form", Access::Public, post(echo_form))
        .add("/probe/query", Access::Public, get(echo_query))
        .add("/probe/panic", Access::Public, get(panics))
}

fn options() -> Options {
    Options {
        vars: vec![("MAX_BODY_BYTES", "1024".to_owned())],
        extra_routes: Some(probes),
    }
}

async fn json_error(response: reqwest::Response) -> (u16, String, String) {
    let status = response.status().as_u16();
    let content_type = response.headers()["content-type"]
        .to_str()
        .expect("ASCII")
        .to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    let body: Value = response.json().await.expect("JSON body");
    let code = body["error"]["code"]
        .as_str()
        .expect("error.code")
        .to_owned();
    let message = body["error"]["message"]
        .as_str()
        .expect("error.message")
        .to_owned();
    (status, code, message)
}

backend_test!(an_unknown_page_is_a_404_page_in_the_layout);
async fn an_unknown_page_is_a_404_page_in_the_layout(backend: Backend) {
    run_on_with(backend, options, |app| async move {
        let response = app.get("/no/such/page").await;
        assert_eq!(response.status(), 404);
        assert!(
            response.headers()["content-type"]
                .to_str()
                .expect("ASCII")
                .starts_with("text/html")
        );
        let html = response.text().await.expect("body");
        assert!(html.contains("Page not found"), "{html}");
        assert!(html.contains(app::brand::APP_NAME), "uses the layout");
        assert!(html.contains("/static/app."), "links the stylesheet");
    })
    .await;
}

backend_test!(an_unknown_api_route_is_a_json_404);
async fn an_unknown_api_route_is_a_json_404(backend: Backend) {
    run_on_with(backend, options, |app| async move {
        let (status, code, _) = json_error(app.get("/api/v1/no-such-thing").await).await;
        assert_eq!((status, code.as_str()), (404, "not_found"));
    })
    .await;
}

backend_test!(a_wrong_method_is_a_405_that_says_which_are_allowed);
async fn a_wrong_method_is_a_405_that_says_which_are_allowed(backend: Backend) {
    run_on_with(backend, options, |app| async move {
        let response = app
            .client
            .delete(app.url("/"))
            .send()
            .await
            .expect("DELETE");
        assert_eq!(response.status(), 405);
        assert!(response.headers().contains_key("allow"));
        assert!(
            response
                .text()
                .await
                .expect("body")
                .contains("Method not allowed")
        );

        let (status, code, _) = json_error(
            app.client
                .get(app.url("/api/v1/probe"))
                .send()
                .await
                .expect("GET"),
        )
        .await;
        assert_eq!((status, code.as_str()), (405, "method_not_allowed"));
    })
    .await;
}

backend_test!(an_oversized_body_is_a_413);
async fn an_oversized_body_is_a_413(backend: Backend) {
    run_on_with(backend, options, |app| async move {
        let big = format!(r#"{{"name": "{}", "count": 1}}"#, "x".repeat(4096));
        let response = app
            .client
            .post(app.url("/api/v1/probe"))
            .header("content-type", "application/json")
            .body(big.clone())
            .send()
            .await
            .expect("POST");
        let (status, code, _) = json_error(response).await;
        assert_eq!((status, code.as_str()), (413, "payload_too_large"));

        let page = app
            .client
            .post(app.url("/probe/form"))
            .body(big)
            .send()
            .await
            .expect("POST");
        assert_eq!(page.status(), 413);
        assert!(page.text().await.expect("body").contains("Too large"));
    })
    .await;
}

backend_test!(malformed_json_is_a_400_or_422_naming_the_problem);
async fn malformed_json_is_a_400_or_422_naming_the_problem(backend: Backend) {
    run_on_with(backend, options, |app| async move {
        let post = |body: &'static str| {
            app.client
                .post(app.url("/api/v1/probe"))
                .header("content-type", "application/json")
                .body(body)
                .send()
        };

        let (status, code, message) = json_error(post(r#"{"name": "#).await.expect("POST")).await;
        assert_eq!((status, code.as_str()), (400, "bad_request"));
        assert!(
            message.contains("EOF") || message.contains("parse"),
            "{message}"
        );

        let (status, code, message) =
            json_error(post(r#"{"name": 5, "count": 1}"#).await.expect("POST")).await;
        assert_eq!((status, code.as_str()), (422, "invalid"));
        assert!(message.contains("name"), "names the field: {message}");

        let (status, _, message) = json_error(post(r#"{"name": "a"}"#).await.expect("POST")).await;
        assert_eq!(status, 422);
        assert!(
            message.contains("count"),
            "names the missing field: {message}"
        );

        let response = app
            .client
            .post(app.url("/api/v1/probe"))
            .body(r#"{"name": "a", "count": 1}"#)
            .send()
            .await;
        let (status, _, message) = json_error(response.expect("POST")).await;
        assert_eq!(status, 415);
        assert!(message.contains("application/json"), "{message}");

        let ok = post(r#"{"name": "a", "count": 1}"#).await.expect("POST");
        assert_eq!(ok.status(), 200, "a good body still works");
    })
    .await;
}

backend_test!(control_characters_in_any_text_are_a_422_naming_the_field);
/// Control characters are refused where every body and query string is
/// read, naming the field (however deep in the JSON); tabs and line breaks
/// pass there (single-line fields refuse them in `validation::text`).
async fn control_characters_in_any_text_are_a_422_naming_the_field(backend: Backend) {
    run_on_with(backend, options, |app| async move {
        let post = |path: &'static str, body: &'static [u8]| {
            app.client
                .post(app.url(path))
                .header("content-type", "application/json")
                .body(body)
                .send()
        };
        let refused = [
            (
                "/api/v1/probe",
                &br#"{"name": "a\u0000", "count": 1}"#[..],
                "name",
            ),
            (
                "/api/v1/probe",
                br#"{"name": "\u001b[31mred", "count": 1}"#,
                "name",
            ),
            // U+0085 (a C1 control) sent raw, as UTF-8.
            (
                "/api/v1/probe",
                b"{\"name\": \"a\xc2\x85\", \"count\": 1}",
                "name",
            ),
            (
                "/api/v1/probe/any",
                br#"{"punches": [{"note": "ok"}, {"note": "\u0007"}]}"#,
                "punches[1].note",
            ),
            ("/api/v1/probe/any", br#"{"a\u0000b": 1}"#, "a\u{0}b"),
        ];
        for (path, body, field) in refused {
            let (status, code, message) = json_error(post(path, body).await.expect("POST")).await;
            assert_eq!((status, code.as_str()), (422, "invalid"), "{message}");
            assert!(
                message.starts_with(&format!("{field}: must not contain control characters")),
                "names {field}: {message}"
            );
        }
        let multi_line = post(
            "/api/v1/probe",
            br#"{"name": "two\nlines\tand a tab", "count": 1}"#,
        )
        .await
        .expect("POST");
        assert_eq!(multi_line.status(), 200, "line breaks and tabs pass here");

        let (client, token) = app.visitor().await;
        let form = client
            .post(app.url("/probe/form"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("csrf_token={token}&name=a%00&count=1"))
            .send()
            .await
            .expect("POST");
        assert_eq!(form.status(), 422);
        assert!(
            form.text()
                .await
                .expect("body")
                .contains("name: must not contain control characters")
        );

        let query = app.get("/probe/query?name=%07&count=1").await;
        assert_eq!(query.status(), 422);
        let fine = app.get("/probe/query?name=plain&count=1").await;
        assert_eq!(fine.status(), 200);
    })
    .await;
}

backend_test!(a_bad_form_is_a_422_page);
async fn a_bad_form_is_a_422_page(backend: Backend) {
    run_on_with(backend, options, |app| async move {
        let (client, token) = app.visitor().await;
        let response = client
            .post(app.url("/probe/form"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("csrf_token={token}&name=a&count=many"))
            .send()
            .await
            .expect("POST");
        assert_eq!(response.status(), 422);
        assert!(
            response.headers()["content-type"]
                .to_str()
                .expect("ASCII")
                .starts_with("text/html")
        );
    })
    .await;
}

backend_test!(a_panicking_handler_is_a_500_page_without_internals);
async fn a_panicking_handler_is_a_500_page_without_internals(backend: Backend) {
    run_on_with(backend, options, |app| async move {
        let response = app.get("/probe/panic").await;
        assert_eq!(response.status(), 500);
        let html = response.text().await.expect("body");
        assert!(html.contains("Something went wrong"), "{html}");
        assert!(
            !html.contains("a bug in a handler"),
            "no internals in the page"
        );
    })
    .await;
}
