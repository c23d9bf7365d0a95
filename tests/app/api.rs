//! The JSON API and its OpenAPI document.

use app::db::Backend;
use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::fixtures::TenantFixture;
use crate::support::{backend_test, run_on};

backend_test!(the_openapi_document_lists_exactly_the_registered_api_routes);
async fn the_openapi_document_lists_exactly_the_registered_api_routes(backend: Backend) {
    run_on(backend, |app| async move {
        let response = app.get("/api/openapi.json").await;
        assert_eq!(response.status(), 200);
        let document: Value = response.json().await.unwrap();
        assert_eq!(document["openapi"], "3.1.0");
        let mut documented = BTreeSet::new();
        for (path, item) in document["paths"].as_object().expect("paths") {
            for method in item.as_object().unwrap().keys() {
                documented.insert(format!("{} {path}", method.to_uppercase()));
            }
        }
        let registered: BTreeSet<String> = app::routes()
            .infos()
            .iter()
            .filter(|route| route.path.starts_with("/api/v1/"))
            .flat_map(|route| {
                route
                    .methods
                    .iter()
                    .map(move |m| format!("{m} {}", route.path))
            })
            .collect();
        assert!(!registered.is_empty());
        assert_eq!(documented, registered);
    })
    .await;
}

/// Timestamps travel as RFC 3339 strings and days as ISO dates, and the
/// document says so: utoipa derives both from the field's `time` type, so
/// a field typed as text, or a type utoipa doesn't know, shows up here.
/// Found by name: `at` or `…_at` is a moment, `day` or `…_date` a day.
#[test]
fn the_document_gives_every_moment_and_day_its_format() {
    let document = serde_json::to_value(app::document()).unwrap();
    let schemas = document["components"]["schemas"]
        .as_object()
        .expect("schemas");
    let mut checked = 0;
    for (schema, body) in schemas {
        let Some(properties) = body["properties"].as_object() else {
            continue;
        };
        for (name, property) in properties {
            let format = if name == "at" || name.ends_with("_at") {
                "date-time"
            } else if name == "day" || name.ends_with("_date") {
                "date"
            } else {
                continue;
            };
            let kind = &property["type"];
            assert!(
                kind == "string" || *kind == json!(["string", "null"]),
                "{schema}.{name} is {kind}, not a string"
            );
            assert_eq!(property["format"], format, "{schema}.{name}");
            checked += 1;
        }
    }
    assert!(checked > 0, "no timestamp in the document to check");
}

backend_test!(locations_through_the_api);
async fn locations_through_the_api(backend: Backend) {
    run_on(backend, |app| async move {
        let a = TenantFixture::create(&app.db, "alpha").await;
        let owner = app.client_for(a.owner).await;
        let list: Vec<Value> = owner
            .get(app.url("/api/v1/t/alpha/locations"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(list.len(), 2);
        let page = |query: &'static str| {
            let owner = owner.clone();
            let url = app.url(&format!("/api/v1/t/alpha/locations?{query}"));
            async move { owner.get(url).send().await.unwrap() }
        };
        let second: Vec<Value> = page("limit=1&offset=1").await.json().await.unwrap();
        assert_eq!(second.len(), 1);
        assert_eq!(second[0]["name"], list[1]["name"]);
        assert_eq!(page("limit=0").await.status(), 422);
        assert_eq!(page("limit=201").await.status(), 422);
        assert_eq!(page("offset=-1").await.status(), 422);
        assert_eq!(page("limit=many").await.status(), 400);

        let created = owner
            .post(app.url("/api/v1/t/alpha/locations"))
            .json(&json!({"name": "Airport", "time_zone": "Europe/Madrid"}))
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), 201);
        let location: Value = created.json().await.unwrap();
        assert_eq!(location["name"], "Airport");
        assert_eq!(location["archived_at"], Value::Null);
        let id = location["id"].as_str().unwrap().to_owned();

        let taken = owner
            .post(app.url("/api/v1/t/alpha/locations"))
            .json(&json!({"name": "AIRPORT", "time_zone": "UTC"}))
            .send()
            .await
            .unwrap();
        assert_eq!(taken.status(), 422);
        let body: Value = taken.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("name:")
        );

        let patched: Value = owner
            .patch(app.url(&format!("/api/v1/t/alpha/locations/{id}")))
            .json(&json!({"address": "Terminal 2"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(patched["name"], "Airport");
        assert_eq!(patched["address"], "Terminal 2");

        let archived: Value = owner
            .post(app.url(&format!("/api/v1/t/alpha/locations/{id}/archive")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(archived["archived_at"].is_string());

        let staff = app.client_for(a.staff).await;
        let forbidden = staff
            .post(app.url("/api/v1/t/alpha/locations"))
            .json(&json!({"name": "Mine", "time_zone": "UTC"}))
            .send()
            .await
            .unwrap();
        assert_eq!(forbidden.status(), 403);
        let body: Value = forbidden.json().await.unwrap();
        assert_eq!(body["error"]["code"], "forbidden");
        assert_eq!(
            body["error"]["message"],
            "Only owners and admins can add locations."
        );

        let malformed = owner
            .get(app.url("/api/v1/t/alpha/locations/not-an-id"))
            .send()
            .await
            .unwrap();
        assert_eq!(malformed.status(), 404);
        let signed_out = app.get("/api/v1/t/alpha/locations").await;
        assert_eq!(signed_out.status(), 401);
        let body: Value = signed_out.json().await.unwrap();
        assert_eq!(body["error"]["code"], "unauthorized");
    })
    .await;
}
