//! The isolation suite: tenant B can never see or change tenant A's data, a
//! manager only reaches the locations granted, and every tenant route is
//! covered because the routes are enumerated from the registry.

use app::db::Backend;
use std::collections::HashMap;

use app::http::routes::{Access, RouteInfo};
use reqwest::Method;

use crate::fixtures::{TenantFixture, snapshot};
use crate::support::{TestApp, backend_test, run_on};

/// The path parameters of tenant routes, and which of tenant A's resources
/// each names: the fixture's, each module's (tests/app/modules.rs), and for
/// any other parameter one created through the API
/// ([`created_through_the_api`]). A parameter with none of these fails the
/// suite.
pub async fn resource_ids(app: &TestApp, a: &TenantFixture) -> HashMap<String, String> {
    let mut ids: HashMap<String, String> = [
        ("location_id", a.locations[0].to_string()),
        ("membership_id", a.manager_membership.to_string()),
        ("api_token_id", a.api_token.to_string()),
    ]
    .into_iter()
    .chain(crate::modules::resource_ids(app, a).await)
    .map(|(name, id)| (name.to_owned(), id))
    .collect();
    for route in routes_with_ids() {
        for name in params(&route.path) {
            if !ids.contains_key(name)
                && let Some(id) = created_through_the_api(app, a, name).await
            {
                ids.insert(name.to_owned(), id);
            }
        }
    }
    ids
}

/// The API path that creates what `{name}` names: the collection above it
/// (`/api/v1/t/{slug}/invitations` for `{invitation_id}`).
fn collection_of(name: &str) -> Option<String> {
    app::routes().infos().iter().find_map(|route| {
        let (collection, _) = route.path.split_once(&format!("/{{{name}}}"))?;
        collection.starts_with("/api/").then(|| collection.to_owned())
    })
}

/// The id of a resource of tenant A made as a client would make one: its
/// owner POSTs to the collection the parameter names, with the example the
/// OpenAPI document gives for the body (`#[schema(examples(json!(…)))]` on
/// its input type). So a new resource with a create route and an example is
/// in this suite with no line here.
async fn created_through_the_api(app: &TestApp, a: &TenantFixture, name: &str) -> Option<String> {
    let collection = collection_of(name)?;
    let document = serde_json::to_value(app::document()).expect("the document as JSON");
    let schema =
        &document["paths"][&collection]["post"]["requestBody"]["content"]["application/json"]
            ["schema"];
    let schema = match schema["$ref"].as_str() {
        Some(reference) => {
            let component = reference.strip_prefix("#/components/schemas/")?;
            &document["components"]["schemas"][component]
        }
        None => schema,
    };
    let example = schema["examples"].get(0)?;
    let owner = app.client_for(a.owner).await;
    let path = collection.replace("{slug}", &a.slug);
    let response = app.post_json(&owner, &path, example).await;
    let status = response.status();
    let body: serde_json::Value = response.json().await.expect("a JSON answer");
    assert!(
        status.is_success(),
        "POST {path} with the example {example} gave {status}: {body}"
    );
    Some(body["id"].as_str()?.to_owned())
}

/// A body valid for any tenant route, so a refusal is about the id, not the
/// input.
fn valid_body(request: reqwest::RequestBuilder, path: &str) -> reqwest::RequestBuilder {
    body_with(request, path, str::to_owned)
}

/// The body of [`valid_body`] with each text value passed through `text`.
fn body_with(
    request: reqwest::RequestBuilder,
    path: &str,
    text: impl Fn(&str) -> String,
) -> reqwest::RequestBuilder {
    let fields: Vec<(&str, String)> = [
        ("email", "intruder@example.com"),
        ("name", "Taken over"),
        ("address", "Elsewhere"),
        ("time_zone", "UTC"),
        ("role", "staff"),
        // The modules' forms: an action, a request and its answer.
        ("action", "add"),
        ("message", "Please fix my record"),
        ("note", "Seen"),
    ]
    .into_iter()
    .map(|(name, value)| (name, text(value)))
    .collect();
    if path.starts_with("/api/") {
        let mut json: serde_json::Map<String, serde_json::Value> = fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), serde_json::Value::from(v.as_str())))
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
    app::routes()
        .infos()
        .iter()
        .filter(|route| route.access == Access::Tenant && !params(&route.path).is_empty())
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

backend_test!(another_tenants_ids_look_exactly_like_missing_ones_on_every_route);
async fn another_tenants_ids_look_exactly_like_missing_ones_on_every_route(backend: Backend) {
    run_on(backend, |app| async move {
        let a = TenantFixture::create(&app.db, "alpha").await;
        let b = TenantFixture::create(&app.db, "bravo").await;
        let a_ids = resource_ids(&app, &a).await;
        let routes = routes_with_ids();
        assert!(
            !routes.is_empty(),
            "the registry lists tenant routes with ids"
        );
        for route in &routes {
            for name in params(&route.path) {
                assert!(
                    a_ids.contains_key(name),
                    "{} takes {{{name}}}: give the input of the API route that creates one \
                     an example (#[schema(examples(json!(…)))]), or add an id to \
                     resource_ids() in tenant_isolation.rs",
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
                        let with_foreign = fill(&route.path, slug, &foreign);
                        let with_missing = fill(&route.path, slug, &missing);
                        let got = send(&app, &client, method, &with_foreign).await;
                        let expected = send(&app, &client, method, &with_missing).await;
                        if user == b.owner {
                            // An owner may do anything: the missing id is what
                            // answers, so the comparison can't pass vacuously.
                            assert_eq!(expected.0, 404, "{method} {with_missing}: {}", expected.1);
                        }
                        assert_eq!(
                            got,
                            expected,
                            "{method} {with_foreign} must answer like {with_missing} ({:?})",
                            app.backend()
                        );
                    }
                    // In A's URL space B is not a member: nothing exists.
                    let in_a =
                        send(&app, &client, method, &fill(&route.path, &a.slug, &foreign)).await;
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

backend_test!(a_manager_reaches_only_the_granted_locations);
async fn a_manager_reaches_only_the_granted_locations(backend: Backend) {
    run_on(backend, |app| async move {
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
                let ungranted = fill(&route.path, &a.slug, &|_| other.to_string());
                let missing = fill(&route.path, &a.slug, &|_| uuid::Uuid::now_v7().to_string());
                let got = send(&app, &client, method, &ungranted).await;
                assert_eq!(
                    got.0, 404,
                    "{method} {ungranted} is hidden from the manager"
                );
                assert_eq!(got, send(&app, &client, method, &missing).await);
            }
            if route.methods.contains(&Method::GET) {
                let path = fill(&route.path, &a.slug, &|_| granted.to_string());
                let (status, _) = send(&app, &client, &Method::GET, &path).await;
                assert_eq!(status, 200, "GET {path}: the granted location is visible");
            }
        }
        assert_eq!(snapshot(&app.db, a.id).await, before);
    })
    .await;
}

backend_test!(every_tenant_route_in_another_tenants_url_space_answers_like_no_tenant_at_all);
async fn every_tenant_route_in_another_tenants_url_space_answers_like_no_tenant_at_all(
    backend: Backend,
) {
    run_on(backend, |app| async move {
        let a = TenantFixture::create(&app.db, "alpha").await;
        let b = TenantFixture::create(&app.db, "bravo").await;
        let a_ids = resource_ids(&app, &a).await;
        let before = snapshot(&app.db, a.id).await;
        let client = app.client_for(b.owner).await;
        let tenant_routes: Vec<RouteInfo> = app::routes()
            .infos()
            .iter()
            .filter(|route| route.access == Access::Tenant)
            .cloned()
            .collect();
        for route in &tenant_routes {
            for method in &route.methods {
                let ids = |name: &str| a_ids.get(name).cloned().unwrap_or_default();
                let in_a = fill(&route.path, &a.slug, &ids);
                let nowhere = fill(&route.path, "no-such-tenant", &ids);
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

backend_test!(an_api_token_reaches_no_other_tenants_routes);
async fn an_api_token_reaches_no_other_tenants_routes(backend: Backend) {
    run_on(backend, |app| async move {
        let a = TenantFixture::create(&app.db, "alpha").await;
        let b = TenantFixture::create(&app.db, "bravo").await;
        let a_ids = resource_ids(&app, &a).await;
        let before = snapshot(&app.db, a.id).await;
        let b_program = crate::support::bearer(&b.api_token_secret);
        let api_routes: Vec<RouteInfo> = app::routes()
            .infos()
            .iter()
            .filter(|route| route.access == Access::Tenant && route.path.starts_with("/api/"))
            .cloned()
            .collect();
        assert!(!api_routes.is_empty());
        for route in &api_routes {
            for method in &route.methods {
                let ids = |name: &str| a_ids.get(name).cloned().unwrap_or_default();
                let in_a = fill(&route.path, &a.slug, &ids);
                let got = send(&app, &b_program, method, &in_a).await;
                assert_eq!(got.0, 404, "{method} {in_a} with B's token");
                let nowhere = send(
                    &app,
                    &b_program,
                    method,
                    &fill(&route.path, "no-such-tenant", &ids),
                )
                .await;
                assert_eq!(got, nowhere, "{method} {in_a}");
            }
        }
        assert_eq!(snapshot(&app.db, a.id).await, before);
    })
    .await;
}

/// The status and redirect of a request from a new visitor (a session and
/// its CSRF token, as after opening the sign-in page), with `token` as its
/// bearer if given.
async fn as_visitor(
    app: &TestApp,
    method: &Method,
    path: &str,
    token: Option<&str>,
) -> (u16, Option<String>) {
    let (visitor, csrf) = app.visitor().await;
    let mut request = visitor
        .request(method.clone(), app.url(path))
        .header(app::http::csrf::HEADER, &csrf);
    if let Some(secret) = token {
        request = request.bearer_auth(secret);
    }
    let request = if path.starts_with("/api/") {
        valid_body(request, path)
    } else {
        request.form(&[("csrf_token", csrf.as_str()), ("name", "Taken over")])
    };
    let response = request.send().await.expect("request");
    let location = response
        .headers()
        .get(reqwest::header::LOCATION)
        .map(|value| value.to_str().unwrap_or_default().to_owned());
    (response.status().as_u16(), location)
}

backend_test!(an_api_token_is_accepted_on_its_tenants_api_and_nowhere_else);
/// One rule for API tokens, proven on every registered route: a token is
/// accepted on the tenant's JSON API and nowhere else. Pages and forms
/// (which don't check what a token may not do) and the routes of every other
/// access kind answer a request carrying the token exactly as they answer the
/// same request without it. The caller is a visitor with a session and its
/// CSRF token, so a form post isn't stopped before it reaches the route.
async fn an_api_token_is_accepted_on_its_tenants_api_and_nowhere_else(backend: Backend) {
    run_on(backend, |app| async move {
        let a = TenantFixture::create(&app.db, "alpha").await;
        let missing = |_: &str| uuid::Uuid::now_v7().to_string();
        for route in app::routes().infos() {
            let path = fill(&route.path.replace("{*path}", "app.css"), &a.slug, &missing);
            for method in &route.methods {
                let with_token = as_visitor(&app, method, &path, Some(&a.api_token_secret)).await;
                if route.access == Access::Tenant && path.starts_with("/api/") {
                    assert_ne!(
                        with_token.0, 401,
                        "{method} {path}: the tenant's API takes its token"
                    );
                    continue;
                }
                let without = as_visitor(&app, method, &path, None).await;
                assert_eq!(
                    with_token,
                    without,
                    "{method} {path} ({:?} route): a token must change nothing here ({:?})",
                    route.access,
                    app.backend()
                );
            }
        }
    })
    .await;
}

backend_test!(a_nul_byte_in_any_field_or_slug_is_bad_input_on_every_route);
/// Bad bytes are bad input on both backends. Every route, sent a body whose
/// every text field ends in a NUL byte (which PostgreSQL refuses in text and
/// SQLite would store), answers without a 500, the routes that read a body
/// answer 422 naming the field, and a slug holding one is a plain 404.
async fn a_nul_byte_in_any_field_or_slug_is_bad_input_on_every_route(backend: Backend) {
    run_on(backend, |app| async move {
        let a = TenantFixture::create(&app.db, "alpha").await;
        let a_ids = resource_ids(&app, &a).await;
        let mut refused = Vec::new();
        for route in app::routes().infos() {
            let ids = |name: &str| {
                a_ids
                    .get(name)
                    .cloned()
                    .unwrap_or_else(|| uuid::Uuid::now_v7().to_string())
            };
            let path = fill(&route.path.replace("{*path}", "app.css"), &a.slug, &ids);
            for method in &route.methods {
                // A fresh session each time: a route may sign its caller out.
                let client = app.client_for(a.owner).await;
                let request = client.request(method.clone(), app.url(&path));
                let response = body_with(request, &path, |value| format!("{value}\u{0}"))
                    .send()
                    .await
                    .expect("request");
                let status = response.status().as_u16();
                let text = response.text().await.expect("body");
                // (503 is billing's answer when Stripe isn't configured.)
                assert_ne!(status, 500, "{method} {path} ({:?}): {text}", app.backend());
                if text.contains("must not contain control characters") {
                    assert_eq!(status, 422, "{method} {path}");
                    refused.push(format!("{method} {}", route.path));
                }
                if route.path.contains("{slug}") {
                    let nul_slug = fill(&route.path, "alpha%00", &ids);
                    let response = client
                        .request(method.clone(), app.url(&nul_slug))
                        .send()
                        .await
                        .expect("request");
                    assert_eq!(response.status(), 404, "{method} {nul_slug}");
                }
            }
        }
        // Routes that read a body name the field: a page's form, the API,
        // inside a tenant and out.
        for expected in [
            "POST /api/v1/t/{slug}/locations",
            "POST /t/{slug}/locations",
            "POST /api/v1/password-reset",
            "POST /forgot-password",
        ] {
            assert!(
                refused.iter().any(|route| route == expected),
                "{expected} names the field: {refused:?}"
            );
        }
    })
    .await;
}
