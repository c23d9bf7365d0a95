//! Accounts: the doors (pages and API handlers) and the registration. The
//! records are the kernel's (`kernel::accounts`), re-exported here, so
//! `crate::accounts` is the whole capability.

pub mod account;
pub mod api;
pub mod oauth;
pub mod pages;
pub mod passkeys;
pub mod reset;
pub mod sign_in_links;
pub mod two_factor;

pub use kernel::accounts::*;

use kernel::capability::{ApiTag, Capability};

/// Accounts, as the composition root (`src/lib.rs`) registers it.
pub const CAPABILITY: Capability = Capability {
    routes: &[
        pages::routes,
        api::routes,
        verification::routes,
        reset::routes,
        sign_in_links::routes,
        oauth::routes,
        passkeys::routes,
        two_factor::routes,
        account::routes,
    ],
    api_tags: &[ApiTag {
        name: "accounts",
        description: "Signing up, signing in and out, confirming the email, resetting the password, and who is signed in",
    }],
    jobs: &[reset::MAIL_LINK, sign_in_links::MAIL_LINK],
    purges: &[global::EXPIRED_TOKENS],
    sealed: &[two_factor::SECRET],
    ..Capability::NONE
};
