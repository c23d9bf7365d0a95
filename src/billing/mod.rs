//! Billing: the doors (pages and API handlers) and the registration. The
//! records are the kernel's (`kernel::billing`), re-exported here, so
//! `crate::billing` is the whole capability.

pub mod api;
pub mod pages;
pub mod pricing;

pub use kernel::billing::*;

use kernel::capability::{ApiTag, Capability};
use kernel::http::routes::NavLink;
use kernel::tenancy::{Action, Member, Tenant};

/// Billing, as the composition root (`src/lib.rs`) registers it.
pub const CAPABILITY: Capability = Capability {
    routes: &[pages::routes, api::routes, pricing::routes, webhook::routes],
    api_tags: &[ApiTag {
        name: "billing",
        description: "The tenant's plan, limits and subscription",
    }],
    nav,
    jobs: &[sync::STRIPE_EVENT, seats::SEATS],
    purges: &[global::OLD_EVENTS],
    ..Capability::NONE
};

/// The link, for members who may open the page.
fn nav(tenant: &Tenant, member: &Member) -> Vec<NavLink> {
    NavLink::if_allowed(tenant, member, Action::ManageBilling, "Billing", "billing")
}
