//! Single-use tokens sent by email (verification, password-reset and
//! sign-in links).
//! The link carries 256 random bits; the database keeps only their digest,
//! the purpose, the user, the address it went to and the expiry. Using a
//! token deletes it.
//!
//! Why not a signed, stateless link: a stored token can be used once and
//! revoked (a password change ends every reset link), needs no signing key
//! to manage and rotate, and a digest in the table is as useless to a thief
//! as a signature they can't forge.

use std::time::Duration;

use time::OffsetDateTime;

use super::email::Email;
use super::global;
use crate::db::Db;
use crate::ids::UserId;
use crate::tokens::{digest, random_token};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    VerifyEmail,
    ResetPassword,
    /// A new address to confirm: the account's email changes to it only
    /// when the link mailed there is followed.
    ChangeEmail,
    /// A sign-in link, bound to the browser that asked for it.
    SignIn,
}

impl Purpose {
    /// As stored in `account_tokens.purpose`.
    pub fn name(self) -> &'static str {
        match self {
            Self::VerifyEmail => "verify_email",
            Self::ResetPassword => "reset_password",
            Self::ChangeEmail => "change_email",
            Self::SignIn => "sign_in",
        }
    }

    pub fn lifetime(self) -> Duration {
        match self {
            Self::VerifyEmail | Self::ChangeEmail => Duration::from_secs(48 * 3600),
            Self::ResetPassword => Duration::from_secs(3600),
            Self::SignIn => Duration::from_secs(15 * 60),
        }
    }
}

/// A new token for `user` at `email`: the value for the link. `browser`,
/// the digest of a secret in the asking browser's session, binds it to
/// that browser (sign-in links); `None` lets it work anywhere.
pub async fn issue(
    db: &Db,
    purpose: Purpose,
    user: UserId,
    email: &Email,
    browser: Option<&str>,
) -> Result<String, sqlx::Error> {
    let token = random_token();
    let lifetime = i64::try_from(purpose.lifetime().as_secs()).unwrap_or(i64::MAX);
    let expires_at = OffsetDateTime::now_utc().unix_timestamp() + lifetime;
    let new = global::NewToken {
        digest: &digest(&token),
        purpose,
        user,
        email,
        expires_at,
        browser,
    };
    global::insert_token(db, &new).await?;
    Ok(token)
}
