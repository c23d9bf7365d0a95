//! Per-tenant single sign-on: an owner, on a plan that includes it
//! (`SINGLE_SIGN_ON`), connects the organisation's OpenID Connect provider
//! (Okta, Microsoft Entra ID, Google Workspace…) and claims its email
//! domains, each proven by a link mailed to one of the domain's
//! administrative addresses (or by a super-admin). Then:
//!
//! * people at a verified domain sign in through the provider ("Sign in
//!   with single sign-on" on the sign-in page): the provider's word about
//!   an address at the tenant's own domain is what signs them in;
//! * those without an account, or not yet members, join the tenant just in
//!   time with the role the owner chose;
//! * when the owner requires it, they can't sign in any other way
//!   (password, sign-in link, passkey, another provider): each says so.
//!
//! Someone removed at the provider can't sign in through it any more; a
//! member removed in the app loses the tenant at once, as always, and joins
//! again at their next sign-in while the provider still lets them in.
//! The records are the kernel's (`kernel::sso`), re-exported here.

pub mod api;
pub mod proof;
pub mod settings;
pub mod sign_in;

pub use kernel::sso::*;

use kernel::capability::{ApiTag, Capability};
use kernel::http::routes::NavLink;
use kernel::tenancy::{Action, Member, Tenant};

/// Single sign-on, as the composition root (`src/lib.rs`) registers it.
pub const CAPABILITY: Capability = Capability {
    routes: &[
        settings::routes,
        sign_in::routes,
        proof::routes,
        api::routes,
    ],
    api_tags: &[ApiTag {
        name: "single-sign-on",
        description: "The organisation's own identity provider and email domains",
    }],
    nav,
    sealed: &[CLIENT_SECRET],
    ..Capability::NONE
};

fn nav(tenant: &Tenant, member: &Member) -> Vec<NavLink> {
    NavLink::if_allowed(
        tenant,
        member,
        Action::ManageSingleSignOn,
        "Single sign-on",
        "sso",
    )
}
