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

use kernel::accounts::email::Email;
use kernel::capability::{ApiTag, Capability};
use kernel::error::AppError;
use kernel::http::AppState;
use kernel::http::routes::NavLink;
use kernel::ids::UserId;
use kernel::tenancy::{Action, Intent, Member, Tenant};

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

/// Refuses any other way to sign in (a password, a sign-in link, a
/// passkey, another provider, a signup) for an address at a domain whose
/// tenant requires its single sign-on, with a message saying where to go.
///
/// # Errors
/// 403 with that message; a database failure.
pub async fn refuse_if_required(state: &AppState, email: &str) -> Result<(), AppError> {
    let Ok(email) = Email::parse(email) else {
        return Ok(());
    };
    match for_address(state, &email).await? {
        Some(sso) if sso.connection.required => Err(AppError::Forbidden(format!(
            "Everyone at {} signs in with the single sign-on of {}: choose Sign in with single sign-on on the sign-in page.",
            domain_of(&email),
            sso.name
        ))),
        _ => Ok(()),
    }
}

/// The single sign-on of the tenant that verified `email`'s domain, if it
/// has one set up (and its plan includes it).
///
/// # Errors
/// A database failure.
pub async fn for_address(state: &AppState, email: &Email) -> Result<Option<TenantSso>, AppError> {
    let found = for_domain(
        &state.db,
        state.plans,
        state.keys.as_deref(),
        domain_of(email),
        Intent::Read,
    )
    .await?;
    Ok(found.map(|(_, sso)| sso))
}

/// [`refuse_if_required`] for the account `user`, found some other way (a
/// passkey, a sign-in link, a provider).
///
/// # Errors
/// As [`refuse_if_required`].
pub async fn refuse_if_required_for(state: &AppState, user: UserId) -> Result<(), AppError> {
    match kernel::accounts::global::find_user(&state.db, user).await? {
        Some(account) => refuse_if_required(state, &account.email).await,
        None => Ok(()),
    }
}
