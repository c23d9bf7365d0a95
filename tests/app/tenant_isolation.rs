//! The isolation suite: tenant B can never see or change tenant A's data, a
//! manager only reaches the locations granted, and every tenant route is
//! covered because the routes are enumerated from the registry.

use std::collections::HashMap;

use app::http::routes::{Access, RouteInfo};
use reqwest::Method;

use crate::fixtures::{TenantFixture, snapshot};
use crate::support::{TestApp, each_backend};

/// The path parameters of tenant routes, and which of tenant A's resources
/// each names (each module adds its own: tests/app/modules.rs). A new
/// parameter fails the suite until it is added.
async fn resource_ids(app: &TestApp, a: &TenantFixture) -> HashMap<&'static str, String> {
    let mut ids = HashMap::from([
        ("location_id", a.locations[0].to_string()),
        ("membership_id", a.manager_membership.to_string()),
        ("invitation_id", a.invitation.to_string()),
        ("api_token_id", a.api_token.to_string()),
    ]);
    ids.extend(crate::modules::resource_ids(app, a).await);
    ids
}

/// A body valid for any tenant route, so a refusal is about the id, not the
/// input.
fn valid_body(request: reqwest::RequestBuilder, path: &str) -> reqwest::RequestBuilder {
    let fields = [
        ("email", "intruder@example.com"),
        ("name", "Taken over"),
        ("address", "Elsewhere"),
        ("time_zone", "UTC"),
        ("role", "staff"),
        // A shift edit, a correction request and its dismissal.
        ("action", "add"),
        ("message", "Please fix my shift"),
        ("note", "Seen"),
    ];
    if path.starts_with("/api/") {
        let mut json: serde_json::Map<String, serde_json::Value> = fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), serde_json::Value::from(*v)))
            .collect();
        json.insert("location_ids".to_owned(), serde_json::Value::Array(vec![]));
        request.json(&json)
    } else {
        request.form(&fields)
    }
}

fn params(path: &str) -> Vec<&str> {
    path.split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
        .filter(|name| *name != "slug")
        .collect()
}

fn fill(path: &str, slug: &str, ids: &dyn Fn(&str) -> String) -> String {
    let mut filled = path.replace("{slug}", slug);
    for name in params(path) {
        filled = filled.replace(&format!("{{{name}}}"), &ids(name));
    }
    filled
}

/// Routes inside a tenant that name a resource by id.
fn routes_with_ids() -> Vec<RouteInfo> {
    app::http::routes()
        .infos()
        .iter()
        .filter(|route| route.access == Access::Tenant && !params(route.path).is_empty())
        .cloned()
        .collect()
}

async fn send(
    app: &TestApp,
    client: &reqwest::Client,
    method: &Method,
    path: &str,
) -> (u16, String) {
    let request = valid_body(client.request(method.clone(), app.url(path)), path);
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

#[tokio::test]
async fn another_tenants_ids_look_exactly_like_missing_ones_on_every_route() {
    each_backend(|app| async move {
        let a = TenantFixture::create(&app.db, "alpha").await;
        let b = TenantFixture::create(&app.db, "bravo").await;
        let a_ids = resource_ids(&app, &a).await;
        let routes = routes_with_ids();
        assert!(
            !routes.is_empty(),
            "the registry lists tenant routes with ids"
        );
        for route in &routes {
            for name in params(route.path) {
                assert!(
                    a_ids.contains_key(name),
                    "{} takes {{{name}}}: add it to resource_ids() in tenant_isolation.rs",
                    route.path
                );
            }
        }
        let before = snapshot(&app.db, a.id).await;
        for user in [b.owner, b.manager, b.staff] {
            let client = app.client_for(user).await;
            for route in &routes {
                for method in &route.methods {
                    let foreign = |name: &str| a_ids[name].clone();
                    let missing = |_: &str| uuid::Uuid::now_v7().to_string();
                    for slug in [&b.slug, &a.slug] {
                        let with_foreign = fill(route.path, slug, &foreign);
                        let with_missing = fill(route.path, slug, &missing);
                        let got = send(&app, &client, method, &with_foreign).await;
                        let expected = send(&app, &client, method, &with_missing).await;
                        assert_eq!(
                            got,
                            expected,
                            "{method} {with_foreign} must answer like {with_missing} ({:?})",
                            app.backend()
                        );
                    }
                    // In A's URL space B is not a member: nothing exists.
                    let in_a =
                        send(&app, &client, method, &fill(route.path, &a.slug, &foreign)).await;
                    assert_eq!(in_a.0, 404, "{method} {} in A's space", route.path);
                }
            }
        }
        assert_eq!(
            snapshot(&app.db, a.id).await,
            before,
            "tenant A's data is unchanged"
        );
    })
    .await;
}

#[tokio::test]
async fn a_manager_reaches_only_the_granted_locations() {
    each_backend(|app| async move {
        let a = TenantFixture::create(&app.db, "alpha").await;
        let [granted, other] = a.locations;
        let before = snapshot(&app.db, a.id).await;
        let client = app.client_for(a.manager).await;
        let location_routes: Vec<RouteInfo> = routes_with_ids()
            .into_iter()
            .filter(|route| route.path.contains("{location_id}"))
            .collect();
        assert!(!location_routes.is_empty());
        for route in &location_routes {
            for method in &route.methods {
                let ungranted = fill(route.path, &a.slug, &|_| other.to_string());
                let missing = fill(route.path, &a.slug, &|_| uuid::Uuid::now_v7().to_string());
                let got = send(&app, &client, method, &ungranted).await;
                assert_eq!(
                    got.0, 404,
                    "{method} {ungranted} is hidden from the manager"
                );
                assert_eq!(got, send(&app, &client, method, &missing).await);
            }
            if route.methods.contains(&Method::GET) {
                let path = fill(route.path, &a.slug, &|_| granted.to_string());
                let (status, _) = send(&app, &client, &Method::GET, &path).await;
                assert_eq!(status, 200, "GET {path}: the granted location is visible");
            }
        }
        assert_eq!(snapshot(&app.db, a.id).await, before);
    })
    .await;
}

#[tokio::test]
async fn every_tenant_route_in_another_tenants_url_space_answers_like_no_tenant_at_all() {
    each_backend(|app| async move {
        let a = TenantFixture::create(&app.db, "alpha").await;
        let b = TenantFixture::create(&app.db, "bravo").await;
        let a_ids = resource_ids(&app, &a).await;
        let before = snapshot(&app.db, a.id).await;
        let client = app.client_for(b.owner).await;
        let tenant_routes: Vec<RouteInfo> = app::http::routes()
            .infos()
            .iter()
            .filter(|route| route.access == Access::Tenant)
            .cloned()
            .collect();
        for route in &tenant_routes {
            for method in &route.methods {
                let ids = |name: &str| a_ids.get(name).cloned().unwrap_or_default();
                let in_a = fill(route.path, &a.slug, &ids);
                let nowhere = fill(route.path, "no-such-tenant", &ids);
                let got = send(&app, &client, method, &in_a).await;
                assert_eq!(got.0, 404, "{method} {in_a}");
                assert_eq!(
                    got,
                    send(&app, &client, method, &nowhere).await,
                    "{method} {in_a}"
                );
            }
        }
        assert_eq!(snapshot(&app.db, a.id).await, before);
    })
    .await;
}

#[tokio::test]
async fn an_api_token_reaches_no_other_tenants_routes() {
    each_backend(|app| async move {
        let a = TenantFixture::create(&app.db, "alpha").await;
        let b = TenantFixture::create(&app.db, "bravo").await;
        let a_ids = resource_ids(&app, &a).await;
        let before = snapshot(&app.db, a.id).await;
        let b_program = crate::support::bearer(&b.api_token_secret);
        let api_routes: Vec<RouteInfo> = app::http::routes()
            .infos()
            .iter()
            .filter(|route| route.access == Access::Tenant && route.path.starts_with("/api/"))
            .cloned()
            .collect();
        assert!(!api_routes.is_empty());
        for route in &api_routes {
            for method in &route.methods {
                let ids = |name: &str| a_ids.get(name).cloned().unwrap_or_default();
                let in_a = fill(route.path, &a.slug, &ids);
                let got = send(&app, &b_program, method, &in_a).await;
                assert_eq!(got.0, 404, "{method} {in_a} with B's token");
                let nowhere = send(
                    &app,
                    &b_program,
                    method,
                    &fill(route.path, "no-such-tenant", &ids),
                )
                .await;
                assert_eq!(got, nowhere, "{method} {in_a}");
            }
        }
        assert_eq!(snapshot(&app.db, a.id).await, before);
    })
    .await;
}
