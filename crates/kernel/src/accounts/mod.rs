//! Accounts: the people who sign in. Users are global (one person may belong
//! to several tenants, through memberships).
//!
//! * [`signup`] creates a user with their first tenant, in one transaction;
//! * [`authenticate`] checks an email and password, taking the same time
//!   whether or not the email exists;
//! * [`start_session`] signs a user in on this browser (or API client);
//! * [`CurrentUser`] and [`SignedIn`] are the extractors for who is signed in.

pub mod email;
pub mod global;
pub mod password;
pub mod signup;
pub mod tokens;
pub mod verification;

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;
use serde::Deserialize;
use time::OffsetDateTime;
use tower_sessions::Session;

use crate::db::Db;
use crate::error::AppError;
use crate::http::client_address::ClientAddress;
use crate::http::{AppState, csrf};
use crate::ids::UserId;
use crate::rate_limits::{self, Limit};
use crate::sessions::{DbSessionStore, USER_ID_KEY};
use crate::tenancy::TenantScope;
use crate::validation::FieldErrors;
use crate::{on_tx, row};
use email::Email;
use password::Verified;

row! {
    /// The signed-in user. Without one, the request is answered 401.
    #[derive(Clone, Debug)]
    pub struct CurrentUser {
        pub id: UserId,
        pub email: String,
        pub is_super_admin: bool,
        pub email_verified: bool,
        /// Enrolled in two-factor authentication.
        pub two_factor: bool,
    }
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = AppError;

    /// Read once per request: the layout and the handler both ask.
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        if let Some(user) = parts.extensions.get::<CurrentUser>() {
            return Ok(user.clone());
        }
        let id = <SignedIn as FromRequestParts<_>>::from_request_parts(parts, state)
            .await?
            .0;
        let user = global::find_user(&state.db, id)
            .await?
            .ok_or(AppError::Unauthorized)?;
        parts.extensions.insert(user.clone());
        Ok(user)
    }
}

impl OptionalFromRequestParts<AppState> for CurrentUser {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Option<Self>, AppError> {
        match <Self as FromRequestParts<AppState>>::from_request_parts(parts, state).await {
            Ok(user) => Ok(Some(user)),
            Err(AppError::Unauthorized) => Ok(None),
            Err(error) => Err(error),
        }
    }
}

/// Only the signed-in user's id, from the session, without reading the
/// user's row: for the hot path of tenant requests, whose membership check
/// fails anyway for a deleted user (memberships cascade with users).
#[derive(Clone, Copy, Debug)]
pub struct SignedIn(pub UserId);

impl<S: Send + Sync> FromRequestParts<S> for SignedIn {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        let session = crate::sessions::of(parts, state).await?;
        let id: Option<UserId> = session.get(USER_ID_KEY).await?;
        id.map(Self).ok_or(AppError::Unauthorized)
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for SignedIn {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Option<Self>, AppError> {
        match <Self as FromRequestParts<S>>::from_request_parts(parts, state).await {
            Ok(signed_in) => Ok(Some(signed_in)),
            Err(AppError::Unauthorized) => Ok(None),
            Err(error) => Err(error),
        }
    }
}

/// The message for an email that already has an account. Signup signs the
/// new user straight in, so it can't hide that an account exists
/// (docs/accounts.md); the per-address rate limit keeps that from being a way to
/// list them, and sign-in and password reset never tell.
pub const EMAIL_TAKEN: &str =
    "An account with this email already exists: sign in, or reset your password.";

/// Inserts a user in the scope that creates their first tenant (or accepts
/// an invitation), so the two can't exist apart: with a password, or
/// without one (they sign in through a provider). Never verified: a scope
/// can't vouch for an address (it is marked after the scope commits).
/// `None` when the email is taken.
pub(crate) async fn insert_user(
    scope: &mut TenantScope,
    email: &Email,
    password_hash: Option<&str>,
) -> Result<Option<UserId>, sqlx::Error> {
    let id = UserId::new();
    let inserted = on_tx!(scope.tx(), |conn| sqlx::query(
        "INSERT INTO users (id, email, password_hash, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT DO NOTHING"
    )
    .bind(id)
    .bind(email.as_str())
    .bind(password_hash)
    .bind(OffsetDateTime::now_utc())
    .execute(conn)
    .await
    .map(|done| done.rows_affected()))?;
    Ok((inserted == 1).then_some(id))
}

/// Links a provider's account to the user in the scope that creates them,
/// so neither exists without the other. `false` when it is linked already.
pub(crate) async fn insert_identity(
    scope: &mut TenantScope,
    user: UserId,
    identity: &signup::ProviderIdentity,
) -> Result<bool, sqlx::Error> {
    let inserted = on_tx!(scope.tx(), |conn| sqlx::query(
        "INSERT INTO user_identities (provider, issuer, subject, user_id, email, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING"
    )
    .bind(&identity.provider)
    .bind(&identity.issuer)
    .bind(&identity.subject)
    .bind(user)
    .bind(identity.email.as_str())
    .bind(OffsetDateTime::now_utc())
    .execute(conn)
    .await
    .map(|done| done.rows_affected()))?;
    Ok(inserted == 1)
}

/// What the sign-in form and the API send.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct LoginInput {
    pub email: String,
    pub password: String,
    /// API sign-in of an account with two-factor authentication: the code
    /// from the authenticator app, or a recovery code. (Pages ask for it
    /// on a second page.)
    #[serde(default)]
    pub code: Option<String>,
}

/// The one answer to a wrong password and to an unknown email alike.
pub const BAD_CREDENTIALS: &str = "The email or password is not right.";

/// The user these credentials belong to, or `None`. An unknown or malformed
/// email costs the same password check as a known one, so the time taken
/// doesn't tell which it was. A hash made with old parameters is replaced.
async fn authenticate(db: &Db, input: &LoginInput) -> Result<Option<UserId>, AppError> {
    let found = match Email::parse(&input.email) {
        Ok(email) => global::credentials(db, &email).await?,
        Err(_) => None,
    };
    let (user, stored) = match found {
        Some(found) => (Some(found.id), found.password_hash),
        None => (None, None),
    };
    match password::verify(input.password.clone(), stored.clone()).await? {
        Verified::Wrong => Ok(None),
        Verified::Right => Ok(user),
        Verified::Upgrade(new) => {
            if let (Some(user), Some(old)) = (user, stored) {
                global::upgrade_password_hash(db, user, &old, &new).await?;
            }
            Ok(user)
        }
    }
}

/// A sign-in under the rate limits: the address's, and the account's
/// failures (which count whether or not the email has an account, so the
/// limit doesn't tell either).
///
/// # Errors
/// 429 over a limit; a database failure.
pub async fn attempt_sign_in(
    state: &AppState,
    client: ClientAddress,
    input: &LoginInput,
) -> Result<Option<CurrentUser>, AppError> {
    state.rate_limits.check_address(Limit::Login, client.0)?;
    let attempt = rate_limits::admit_sign_in(&state.db, &input.email, client.0).await?;
    let Some(user) = authenticate(&state.db, input).await? else {
        attempt.failed(&state.db).await?;
        return Ok(None);
    };
    attempt.succeeded(&state.db).await?;
    Ok(global::find_user(&state.db, user).await?)
}

/// The proof of identity a sensitive change asks for: the current
/// password, sent with the change itself, so a session alone (however
/// fresh, stolen or borrowed) can't make it. Asked before changing the
/// email or password, turning two-factor on or off, deleting the account,
/// creating an API token, deleting an organisation, linking a sign-in
/// provider and adding a passkey. Under the account's
/// `Reauthentication` limit (10 failures in 15 minutes), so a borrowed
/// session can't guess it. The inner error names `field`.
///
/// # Errors
/// 429 over the limit; a database failure.
pub async fn reauthenticate(
    state: &AppState,
    user: &CurrentUser,
    password: &str,
    field: &'static str,
) -> Result<Result<(), FieldErrors>, AppError> {
    let attempt = rate_limits::attempt(&state.db, Limit::Reauthentication, &user.email).await?;
    let email = Email::parse(&user.email).map_err(|e| AppError::Internal(e.to_owned()))?;
    let stored = global::credentials(&state.db, &email)
        .await?
        .and_then(|found| found.password_hash);
    let right = stored.is_some()
        && !matches!(
            password::verify(password.to_owned(), stored).await?,
            Verified::Wrong
        );
    if !right {
        return Ok(Err(FieldErrors::single(
            field,
            "That password is not right.",
        )));
    }
    attempt.succeeded(&state.db).await?;
    Ok(Ok(()))
}

/// The session key naming the user whose sign-in on this session passed a
/// second factor (read with [`verified_user`]).
const VERIFIED_KEY: &str = "second_factor";

/// Records that `user`'s sign-in on this session passed a second factor.
///
/// # Errors
/// When the session store fails.
pub async fn mark_verified(session: &Session, user: UserId) -> Result<(), AppError> {
    session.insert(VERIFIED_KEY, user).await?;
    Ok(())
}

/// The user whose sign-in on this session passed a second factor, if any.
///
/// # Errors
/// When the session store fails.
pub async fn verified_user(session: &Session) -> Result<Option<UserId>, AppError> {
    Ok(session.get(VERIFIED_KEY).await?)
}

/// Signs `user` in on this session: nothing of what the session held
/// before (another user's sign-in, a second factor, an enrolment) carries
/// over, it gets a new id (so an id planted before sign-in is worthless)
/// and a new CSRF token.
///
/// # Errors
/// When the session store fails.
pub async fn start_session(session: &Session, user: UserId) -> Result<(), AppError> {
    session.clear().await;
    session.cycle_id().await?;
    session.insert(USER_ID_KEY, user).await?;
    csrf::rotate(session).await?;
    Ok(())
}

/// Ends every other session of `user` ("log out everywhere else"); this one
/// stays. Returns how many ended.
pub async fn end_other_sessions(db: &Db, session: &Session, user: UserId) -> Result<u64, AppError> {
    let Some(current) = session.id() else {
        return Err(AppError::Unauthorized);
    };
    Ok(DbSessionStore::new(db.clone())
        .delete_others(user, current)
        .await?)
}
