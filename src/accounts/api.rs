//! The accounts JSON API: signup, sign-in and sign-out, and who is signed in.
//!
//! Sign-in sets the session cookie, as the pages do. Later requests that
//! carry the cookie and change something must send the `csrf_token` these
//! endpoints return in the `X-CSRF-Token` header.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use tower_sessions::Session;
use utoipa_axum::routes;

use super::signup::SignupInput;
use super::{CurrentUser, LoginInput, SignedIn};
use crate::api::ErrorBody;
use crate::error::AppError;
use crate::http::client_address::ClientAddress;
use crate::http::extract::Json;
use crate::http::routes::{Access, Routes};
use crate::http::{AppState, csrf};
use crate::ids::UserId;
use crate::tenancy::Tenant;
use crate::tenancy::scope::for_user;
use crate::tenants::TenantChoice;

pub fn routes() -> Routes {
    Routes::new()
        .api(Access::Public, routes!(signup))
        .api(Access::Public, routes!(login))
        .api(Access::Public, routes!(logout))
        .api(Access::SignedIn, routes!(logout_others))
        .api(Access::SignedIn, routes!(me))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct UserView {
    pub id: UserId,
    pub email: String,
    pub is_super_admin: bool,
    /// Whether the email address was confirmed through the emailed link.
    pub email_verified: bool,
}

impl From<CurrentUser> for UserView {
    fn from(user: CurrentUser) -> Self {
        Self {
            id: user.id,
            email: user.email,
            is_super_admin: user.is_super_admin,
            email_verified: user.email_verified,
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SignedUp {
    pub user: UserView,
    pub tenant: Tenant,
    /// Send it as `X-CSRF-Token` with every later state-changing request
    /// that carries the session cookie.
    pub csrf_token: String,
}

/// Creates an account with its first organisation, and signs it in.
#[utoipa::path(post, path = "/api/v1/signup", tag = "accounts",
    request_body = SignupInput,
    responses((status = 201, body = SignedUp), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub(crate) async fn signup(
    State(state): State<AppState>,
    client: ClientAddress,
    session: Session,
    Json(input): Json<SignupInput>,
) -> Result<(StatusCode, Json<SignedUp>), AppError> {
    crate::sso::refuse_if_required(&state, &input.email).await?;
    let (user, tenant) = super::signup::attempt_signup(&state, client, &input).await??;
    let user = super::global::find_user(&state.db, user)
        .await?
        .ok_or(AppError::BadCredentials)?;
    let SignedInView { user, csrf_token } = sign_in(&session, user).await?;
    Ok((
        StatusCode::CREATED,
        Json(SignedUp {
            user,
            tenant,
            csrf_token,
        }),
    ))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SignedInView {
    pub user: UserView,
    pub csrf_token: String,
}

/// Signs in with an email and password. A wrong password and an unknown
/// email get the same 401.
#[utoipa::path(post, path = "/api/v1/login", tag = "accounts",
    request_body = LoginInput,
    responses((status = 200, body = SignedInView),
        (status = 401, description = "invalid_credentials; or second_factor_required / invalid_second_factor for an account with two-factor authentication", body = ErrorBody),
        (status = 429, body = ErrorBody)))]
pub(crate) async fn login(
    State(state): State<AppState>,
    client: ClientAddress,
    session: Session,
    Json(input): Json<LoginInput>,
) -> Result<Json<SignedInView>, AppError> {
    let user = crate::sso::attempt_password_sign_in(&state, client, &input)
        .await?
        .ok_or(AppError::BadCredentials)?;
    let (id, two_factor) = (user.id, user.two_factor);
    if two_factor {
        let code = input
            .code
            .as_deref()
            .ok_or(AppError::SecondFactorRequired)?;
        if !super::two_factor::attempt(&state, client, id, &user.email, code).await? {
            return Err(AppError::WrongSecondFactor);
        }
    }
    let signed_in = sign_in(&session, user).await?;
    if two_factor {
        super::mark_verified(&session, id).await?;
    }
    Ok(Json(signed_in))
}

/// Starts the session and says who it is for.
async fn sign_in(session: &Session, user: CurrentUser) -> Result<SignedInView, AppError> {
    super::start_session(session, user.id).await?;
    Ok(SignedInView {
        user: user.into(),
        csrf_token: csrf::token(session).await?,
    })
}

/// Ends this session.
#[utoipa::path(post, path = "/api/v1/logout", tag = "accounts",
    responses((status = 204), (status = 403, body = ErrorBody)))]
pub(crate) async fn logout(session: Session) -> Result<StatusCode, AppError> {
    session.flush().await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SessionsEnded {
    pub ended: u64,
}

/// Ends every other session of the caller; this one stays.
#[utoipa::path(post, path = "/api/v1/logout/others", tag = "accounts",
    responses((status = 200, body = SessionsEnded), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(crate) async fn logout_others(
    State(state): State<AppState>,
    session: Session,
    SignedIn(user): SignedIn,
) -> Result<Json<SessionsEnded>, AppError> {
    let ended = super::end_other_sessions(&state.db, &session, user).await?;
    Ok(Json(SessionsEnded { ended }))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Me {
    pub user: UserView,
    pub tenants: Vec<TenantChoice>,
    pub csrf_token: String,
}

/// The signed-in user, their organisations, and the session's CSRF token.
#[utoipa::path(get, path = "/api/v1/me", tag = "accounts",
    responses((status = 200, body = Me), (status = 401, body = ErrorBody)))]
pub(crate) async fn me(
    State(state): State<AppState>,
    session: Session,
    user: CurrentUser,
) -> Result<Json<Me>, AppError> {
    let mut scope = for_user(&state.db, user.id).await?;
    let tenants = crate::tenants::choices(&mut scope).await?;
    Ok(Json(Me {
        user: user.into(),
        tenants,
        csrf_token: csrf::token(&session).await?,
    }))
}
