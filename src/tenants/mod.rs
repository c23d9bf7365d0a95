//! Tenants: the doors (pages and API handlers) and the registration. The
//! records are the kernel's (`kernel::tenants`), re-exported here, so
//! `crate::tenants` is the whole capability.

pub mod api;
pub mod pages;

pub use kernel::tenants::*;

use kernel::capability::{ApiTag, Capability};
use kernel::http::routes::NavLink;
use kernel::tenancy::{Action, Member, Tenant};

/// Tenants, as the composition root (`src/lib.rs`) registers it.
pub const CAPABILITY: Capability = Capability {
    routes: &[pages::routes, api::routes],
    api_tags: &[ApiTag {
        name: "tenants",
        description: "The caller's organisations and their settings",
    }],
    nav,
    ..Capability::NONE
};

/// The link, for members who may open the page.
fn nav(tenant: &Tenant, member: &Member) -> Vec<NavLink> {
    NavLink::if_allowed(
        tenant,
        member,
        Action::EditTenantSettings,
        "Settings",
        "settings",
    )
}
