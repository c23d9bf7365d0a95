//! The role × action matrix over HTTP: every action, tried by every role
//! through a real route, is allowed exactly where `Action::allowed` says
//! (whose cells are pinned one by one in `tenancy::permissions`' unit test),
//! and refused with 403 elsewhere. An action without a request here fails.

use app::db::Backend;
use app::tenancy::{Action, Permission, Role};
use reqwest::Method;
use serde_json::{Value, json};

use crate::accounts::PASSWORD;
use crate::fixtures::TenantFixture;
use crate::support::{backend_test, run_on};

/// The request that exercises `action` in the fixture's tenant; `None` for
/// actions whose routes come with later features.
fn request(action: Action, f: &TenantFixture, role: Role) -> Option<(Method, String, Value)> {
    let slug = &f.slug;
    let tag = role.as_str();
    Some(match action {
        Action::EditTenantSettings => (
            Method::PATCH,
            format!("/api/v1/t/{slug}/settings"),
            json!({"name": "Renamed", "time_zone": "UTC"}),
        ),
        Action::ViewMembers => (
            Method::GET,
            format!("/api/v1/t/{slug}/members"),
            Value::Null,
        ),
        Action::ManageMembers => (
            Method::PATCH,
            format!("/api/v1/t/{slug}/members/{}", f.staff_membership),
            json!({"location_ids": []}),
        ),
        Action::ManageOwners => (
            Method::POST,
            format!("/api/v1/t/{slug}/invitations"),
            json!({"email": format!("owner-by-{tag}@example.com"), "role": "owner"}),
        ),
        Action::ManageApiTokens => (
            Method::POST,
            format!("/api/v1/t/{slug}/api-tokens"),
            json!({"name": "Matrix", "role": "staff", "password": PASSWORD}),
        ),
        Action::CreateLocation => (
            Method::POST,
            format!("/api/v1/t/{slug}/locations"),
            json!({"name": "Airport", "time_zone": "UTC"}),
        ),
        // The first location is granted to the manager and the staff
        // member, so a refusal is the role's, not visibility's.
        Action::EditLocation => (
            Method::PATCH,
            format!("/api/v1/t/{slug}/locations/{}", f.locations[0]),
            json!({"address": "1 Main Street"}),
        ),
        Action::ArchiveLocation => (
            Method::POST,
            format!("/api/v1/t/{slug}/locations/{}/archive", f.locations[0]),
            Value::Null,
        ),
        Action::ManageBilling => (
            Method::GET,
            format!("/api/v1/t/{slug}/billing"),
            Value::Null,
        ),
        Action::DeleteTenant => (
            Method::DELETE,
            format!("/api/v1/t/{slug}"),
            json!({"confirm": slug, "password": PASSWORD}),
        ),
        Action::ExportTenant => (Method::GET, format!("/api/v1/t/{slug}/export"), Value::Null),
    })
}

backend_test!(every_role_can_do_exactly_what_the_matrix_allows);
async fn every_role_can_do_exactly_what_the_matrix_allows(backend: Backend) {
    run_on(backend, |app| async move {
        let mut tried = 0;
        for (a, action) in Action::ALL.into_iter().enumerate() {
            for (r, role) in Role::ALL.into_iter().enumerate() {
                // A fresh tenant for each cell: one cell's change can't
                // decide another's answer.
                let slug = format!("cell-{a}-{r}");
                let f = TenantFixture::create(&app.db, &slug).await;
                let Some((method, path, body)) = request(action, &f, role) else {
                    continue;
                };
                let user = match role {
                    Role::Owner => f.owner,
                    Role::Admin => f.admin,
                    Role::Manager => f.manager,
                    Role::Staff => f.staff,
                };
                let client = app.client_for(user).await;
                app.give_password(&client).await;
                let mut request = client.request(method.clone(), app.url(&path));
                if !body.is_null() {
                    request = request.json(&body);
                }
                let response = request.send().await.expect("request");
                let status = response.status().as_u16();
                if action.allowed(role) {
                    assert!(
                        (200..300).contains(&status),
                        "{action:?} as {role:?}: {method} {path} gave {status}"
                    );
                } else {
                    assert_eq!(status, 403, "{action:?} as {role:?}: {method} {path}");
                    let error: Value = response.json().await.expect("an error body");
                    assert_eq!(error["error"]["code"], "forbidden");
                }
                tried += 1;
            }
        }
        assert_eq!(tried, 11 * 4, "every action with a route, for every role");
    })
    .await;
}
