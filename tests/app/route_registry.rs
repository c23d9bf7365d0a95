//! The route registry is what the isolation suite enumerates, so it must
//! describe the router faithfully.

use app::db::Backend;
use app::http::routes::Access;

use crate::support::{backend_test, run_on};

#[test]
fn tenant_routes_and_only_they_carry_the_tenant_slug() {
    for route in app::routes().infos() {
        // The tenant itself (`DELETE /api/v1/t/{slug}`), or under it.
        let under_tenant = route.path == "/api/v1/t/{slug}"
            || route.path.starts_with("/t/{slug}/")
            || route.path.starts_with("/api/v1/t/{slug}/");
        match route.access {
            Access::Tenant => assert!(
                under_tenant,
                "{} is tenant-scoped but not under /t/{{slug}}/",
                route.path
            ),
            Access::Public | Access::SignedIn | Access::SuperAdmin | Access::Credential => assert!(
                !under_tenant,
                "{} is under a tenant slug but public",
                route.path
            ),
        }
        assert!(!route.methods.is_empty(), "{} has methods", route.path);
    }
}

backend_test!(every_registered_route_is_served);
async fn every_registered_route_is_served(backend: Backend) {
    run_on(backend, |app| async move {
        for route in app::routes().infos() {
            let path = route
                .path
                .replace("{*path}", "app.css")
                .replace("{slug}", "no-such-tenant");
            for method in &route.methods {
                let response = app
                    .client
                    .request(method.clone(), app.url(&path))
                    .send()
                    .await
                    .expect("request");
                assert_ne!(
                    response.status(),
                    405,
                    "{method} {path} is registered but not routed"
                );
            }
        }
    })
    .await;
}
