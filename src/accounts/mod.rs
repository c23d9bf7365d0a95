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
        let session = Session::from_request_parts(parts, state)
            .await
            .map_err(|(_, reason)| AppError::Internal(reason.to_owned()))?;
        let id: Option<UserId> = session.get(USER_ID_KEY).await?;
        let Some(id) = id else {
            return Err(AppError::Unauthorized);
        };
        global::find_user(&state.db, id)
            .await?
            .ok_or(AppError::Unauthorized)
    }
}
