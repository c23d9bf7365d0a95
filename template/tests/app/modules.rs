//! The product modules' tests, registered here as in src/modules.rs. Each
//! module also hands the core's isolation suite ids of its resources.
//! An app generated without a module gets this file without the lines whose
//! trailing comment names the module.

use std::future::Future;
use std::pin::Pin;

use crate::fixtures::TenantFixture;
use crate::support::TestApp;
{% if time_tracking %}#[cfg(feature = "time-tracking")] // module: time_tracking
{% endif %}{% if time_tracking %}pub mod time_tracking; // module: time_tracking
{% endif %}
/// Ids of a module's resources in a tenant, by path parameter name, to come.
pub type Ids<'a> = Pin<Box<dyn Future<Output = Vec<(&'static str, String)>> + 'a>>;

/// A module's function that gives them.
pub type ResourceIds = for<'a> fn(&'a TestApp, &'a TenantFixture) -> Ids<'a>;

/// Every module's, as `src/modules.rs` lists the modules.
const MODULES: &[ResourceIds] = &[
{% if time_tracking %}    #[cfg(feature = "time-tracking")] // module: time_tracking
{% endif %}{% if time_tracking %}    time_tracking::resource_ids, // module: time_tracking
{% endif %}];

/// Ids of each module's resources in tenant `a`, by path parameter name.
pub async fn resource_ids(app: &TestApp, a: &TenantFixture) -> Vec<(&'static str, String)> {
    let mut ids = Vec::new();
    for module in MODULES {
        ids.extend(module(app, a).await);
    }
    ids
}

/// A module's function that adds one of what it sells by (its
/// `Capability::seat`) to the tenant `slug`, as its owner `client`.
pub type AddSeat = for<'a> fn(&'a TestApp, &'a reqwest::Client, &'a str) -> SeatAdded<'a>;

/// What an [`AddSeat`] returns.
pub type SeatAdded<'a> = Pin<Box<dyn Future<Output = ()> + 'a>>;

/// The modules that sell by something of their own; the first is the
/// seat, as `app::catalog` chooses it.
const SEATS: &[AddSeat] = &[
{% if time_tracking %}    #[cfg(feature = "time-tracking")] // module: time_tracking
{% endif %}{% if time_tracking %}    time_tracking::seats::add_seat, // module: time_tracking
{% endif %}];

/// Adds one seat to the tenant `slug`, as its owner: what a module sells
/// by, else a member (an invitation counts).
pub async fn add_seat(app: &TestApp, owner: &reqwest::Client, slug: &str) {
    if let Some(add) = SEATS.first() {
        return add(app, owner, slug).await;
    }
    let email = format!("seat-{}@example.com", uuid::Uuid::now_v7());
    let invited = app
        .post_json(
            owner,
            &format!("/api/v1/t/{slug}/invitations"),
            &serde_json::json!({"email": email, "role": "admin"}),
        )
        .await;
    assert_eq!(invited.status(), 201, "a member invited");
}

/// Foreign keys each module's PostgreSQL migrations have and its SQLite
/// ones replace, as (table, columns, referenced table): the schema parity
/// test accepts these differences, and only these.
pub const POSTGRES_ONLY_FOREIGN_KEYS: &[&[(&str, &str, &str)]] = &[
{% if time_tracking %}    #[cfg(feature = "time-tracking")] // module: time_tracking
{% endif %}{% if time_tracking %}    time_tracking::POSTGRES_ONLY_FOREIGN_KEYS, // module: time_tracking
{% endif %}];
