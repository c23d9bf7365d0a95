//! The core's role × action matrix over HTTP: every tenant-wide `Action`,
//! tried by every role through a real route, is allowed exactly where
//! `Action::allowed` says (whose cells are pinned one by one in
//! `tenancy::permissions`' unit test), and refused with 403 elsewhere. A
//! capability's own actions have their matrix beside its tests
//! (`locations.rs`), a module's in its folder, with the same helper.

use app::db::Backend;
use app::tenancy::Action;
use reqwest::Method;
use serde_json::{Value, json};

use crate::accounts::PASSWORD;
use crate::fixtures::{Attempt, TenantFixture, assert_role_matrix};
use crate::support::{backend_test, run_on};

/// The request that exercises `action` in the fixture's tenant.
fn attempt(action: Action, f: &TenantFixture) -> Attempt {
    let slug = &f.slug;
    match action {
        Action::EditTenantSettings => Attempt(
            Method::PATCH,
            format!("/api/v1/t/{slug}/settings"),
            json!({"name": "Renamed", "time_zone": "UTC"}),
        ),
        Action::ViewMembers => Attempt(
            Method::GET,
            format!("/api/v1/t/{slug}/members"),
            Value::Null,
        ),
        Action::ManageMembers => Attempt(
            Method::PATCH,
            format!("/api/v1/t/{slug}/members/{}", f.staff_membership),
            json!({"location_ids": []}),
        ),
        Action::ManageOwners => Attempt(
            Method::POST,
            format!("/api/v1/t/{slug}/invitations"),
            json!({"email": "new-owner@example.com", "role": "owner"}),
        ),
        Action::ManageApiTokens => Attempt(
            Method::POST,
            format!("/api/v1/t/{slug}/api-tokens"),
            json!({"name": "Matrix", "role": "staff", "password": PASSWORD}),
        ),
        Action::ManageBilling => Attempt(
            Method::GET,
            format!("/api/v1/t/{slug}/billing"),
            Value::Null,
        ),
        Action::DeleteTenant => Attempt(
            Method::DELETE,
            format!("/api/v1/t/{slug}"),
            json!({"confirm": slug, "password": PASSWORD}),
        ),
        Action::ManageSingleSignOn => {
            Attempt(Method::GET, format!("/api/v1/t/{slug}/sso"), Value::Null)
        }
        Action::ExportTenant => {
            Attempt(Method::GET, format!("/api/v1/t/{slug}/export"), Value::Null)
        }
    }
}

backend_test!(every_role_can_do_exactly_what_the_matrix_allows);
async fn every_role_can_do_exactly_what_the_matrix_allows(backend: Backend) {
    run_on(backend, |app| async move {
        assert_role_matrix(&app, &Action::ALL, async |action, f| attempt(action, f)).await;
    })
    .await;
}
