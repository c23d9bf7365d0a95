//! The product modules' tests, registered here as in src/modules.rs. Each
//! module also hands the core's isolation suite ids of its resources.

pub mod time_tracking;

use crate::fixtures::TenantFixture;
use crate::support::TestApp;

/// Ids of each module's resources in tenant `a`, by path parameter name.
pub async fn resource_ids(app: &TestApp, a: &TenantFixture) -> Vec<(&'static str, String)> {
    time_tracking::resource_ids(app, a).await
}
