//! Members: the doors (pages and API handlers) and the registration. The
//! records are the kernel's (`kernel::members`), re-exported here, so
//! `crate::members` is the whole capability.

pub mod api;
pub mod pages;

pub use kernel::members::*;

use kernel::capability::{ApiTag, Capability};
use kernel::http::routes::NavLink;
use kernel::tenancy::{Action, Member, Tenant};

/// Members, as the composition root (`src/lib.rs`) registers it.
pub const CAPABILITY: Capability = Capability {
    routes: &[pages::routes, api::routes],
    api_tags: &[ApiTag {
        name: "members",
        description: "Who belongs to a tenant, with which role, where; invitations",
    }],
    nav,
    ..Capability::NONE
};

/// The link, for members who may open the page.
fn nav(tenant: &Tenant, member: &Member) -> Vec<NavLink> {
    NavLink::if_allowed(tenant, member, Action::ViewMembers, "Members", "members")
}
