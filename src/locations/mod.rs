//! Locations: the doors (pages and API handlers) and the registration. The
//! records are the kernel's (`kernel::locations`), re-exported here, so
//! `crate::locations` is the whole capability.

pub mod api;
pub mod pages;

pub use kernel::locations::*;

use kernel::capability::{ApiTag, Capability};
use kernel::http::routes::NavLink;
use kernel::tenancy::{Member, Tenant};

/// Locations, as the composition root (`src/lib.rs`) registers it.
pub const CAPABILITY: Capability = Capability {
    routes: &[pages::routes, api::routes],
    api_tags: &[ApiTag {
        name: "locations",
        description: "A tenant's sites",
    }],
    nav,
    ..Capability::NONE
};

/// Every member sees the link.
fn nav(tenant: &Tenant, _member: &Member) -> Vec<NavLink> {
    vec![NavLink::to(tenant, "Locations", "locations")]
}
