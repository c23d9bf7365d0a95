//! The product modules' tests, registered here as in src/modules.rs. Each
//! module also hands the core's isolation suite ids of its resources.
//! An app generated without a module gets this file without the lines whose
//! trailing comment names the module.

use std::future::Future;
use std::pin::Pin;

use crate::fixtures::TenantFixture;
use crate::support::TestApp;
#[cfg(feature = "time-tracking")] // module: time_tracking
pub mod time_tracking; // module: time_tracking

/// Ids of a module's resources in a tenant, by path parameter name, to come.
pub type Ids<'a> = Pin<Box<dyn Future<Output = Vec<(&'static str, String)>> + 'a>>;

/// A module's function that gives them.
pub type ResourceIds = for<'a> fn(&'a TestApp, &'a TenantFixture) -> Ids<'a>;

/// Every module's, as `src/modules.rs` lists the modules.
const MODULES: &[ResourceIds] = &[
    #[cfg(feature = "time-tracking")] // module: time_tracking
    time_tracking::resource_ids, // module: time_tracking
];

/// Ids of each module's resources in tenant `a`, by path parameter name.
pub async fn resource_ids(app: &TestApp, a: &TenantFixture) -> Vec<(&'static str, String)> {
    let mut ids = Vec::new();
    for module in MODULES {
        ids.extend(module(app, a).await);
    }
    ids
}

/// Foreign keys each module's PostgreSQL migrations have and its SQLite
/// ones replace, as (table, columns, referenced table): the schema parity
/// test accepts these differences, and only these.
pub const POSTGRES_ONLY_FOREIGN_KEYS: &[&[(&str, &str, &str)]] = &[
    #[cfg(feature = "time-tracking")] // module: time_tracking
    time_tracking::POSTGRES_ONLY_FOREIGN_KEYS, // module: time_tracking
];
