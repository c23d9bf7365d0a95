//! API tokens: the doors (pages and API handlers) and the registration. The
//! records are the kernel's (`kernel::api_tokens`), re-exported here, so
//! `crate::api_tokens` is the whole capability.

pub mod api;
pub mod pages;

pub use kernel::api_tokens::*;

use kernel::capability::{ApiTag, Capability};
use kernel::http::routes::NavLink;
use kernel::tenancy::{Action, Member, Tenant};

/// API tokens, as the composition root (`src/lib.rs`) registers it.
pub const CAPABILITY: Capability = Capability {
    routes: &[pages::routes, api::routes],
    api_tags: &[ApiTag {
        name: "api-tokens",
        description: "Tokens for programs, sent as Authorization: Bearer",
    }],
    nav,
    ..Capability::NONE
};

/// The link, for members who may open the page.
fn nav(tenant: &Tenant, member: &Member) -> Vec<NavLink> {
    NavLink::if_allowed(
        tenant,
        member,
        Action::ManageApiTokens,
        "API tokens",
        "api-tokens",
    )
}
