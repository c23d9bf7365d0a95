//! Accounts: the people who sign in. Users are global (one person may belong
//! to several tenants, through memberships).

pub mod global;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use tower_sessions::Session;

use crate::error::AppError;
use crate::http::AppState;
use crate::ids::UserId;
use crate::sessions::USER_ID_KEY;

/// The signed-in user. Without one, the request is answered 401.
#[derive(Clone, Debug)]
pub struct CurrentUser {
    pub id: UserId,
    pub email: String,
    pub is_super_admin: bool,
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let id = SignedIn::from_request_parts(parts, state).await?.0;
        global::find_user(&state.db, id)
            .await?
            .ok_or(AppError::Unauthorized)
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
        let session = Session::from_request_parts(parts, state)
            .await
            .map_err(|(_, reason)| AppError::Internal(reason.to_owned()))?;
        let id: Option<UserId> = session.get(USER_ID_KEY).await?;
        id.map(Self).ok_or(AppError::Unauthorized)
    }
}
