//! Email verification. Signup mails a link; until it is followed the user
//! can use the app but sees a banner offering another link (rate-limited).
//! Following the link needs no sign-in: it may be opened on another device.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use tower_sessions::Session;
use utoipa_axum::routes;

use super::CurrentUser;
use super::email::Email;
use super::global;
use super::tokens::{self, Purpose};
use crate::api::ErrorBody;
use crate::error::AppError;
use crate::http::AppState;
use crate::http::client_address::ClientAddress;
use crate::http::extract::Json;
use crate::http::routes::{Access, Routes, get, post};
use crate::ids::UserId;
use crate::mail::{self, Mail};
use crate::pages::{Layout, render};
use crate::rate_limits::{self, Limit};
use crate::sessions::flash::{self, Flash};
use crate::text_body;

pub fn routes() -> Routes {
    Routes::new()
        .add("/verify-email/{token}", Access::Public, get(verify_page))
        .add("/verify-email/resend", Access::SignedIn, post(resend_page))
        .api(Access::Public, routes!(verify_api))
        .api(Access::SignedIn, routes!(resend_api))
}

#[derive(Template)]
#[template(path = "mail/verify_email.html")]
pub struct VerifyEmailMail {
    pub app_name: &'static str,
    pub link: String,
    pub hours: u64,
}

text_body!(VerifyEmailMail, "mail/verify_email.txt");

impl Mail for VerifyEmailMail {
    fn subject(&self) -> String {
        format!("Confirm your email for {}", self.app_name)
    }
}

/// Mails `user` a new link that confirms `email`: their address
/// ([`Purpose::VerifyEmail`]), or the one they are changing to
/// ([`Purpose::ChangeEmail`], which takes effect when the link is followed).
///
/// # Errors
/// When the database or a template fails.
pub async fn send_link(
    state: &AppState,
    purpose: Purpose,
    user: UserId,
    email: &Email,
) -> Result<(), AppError> {
    let token = tokens::issue(&state.db, purpose, user, email, None).await?;
    let mail = VerifyEmailMail {
        app_name: crate::brand::APP_NAME,
        link: format!("{}/verify-email/{token}", state.config.base_url),
        hours: purpose.lifetime().as_secs() / 3600,
    };
    mail::send(&state.db, email, &mail).await
}

/// What a resend did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Resent {
    Sent,
    AlreadyVerified,
}

/// Another link, under the rate limits (per address, and per user).
///
/// # Errors
/// 429 over a limit; a database failure.
async fn resend(
    state: &AppState,
    client: ClientAddress,
    user: &CurrentUser,
) -> Result<Resent, AppError> {
    if user.email_verified {
        return Ok(Resent::AlreadyVerified);
    }
    state
        .rate_limits
        .check_address(Limit::VerificationEmail, client.0)?;
    rate_limits::count_account(&state.db, Limit::VerificationEmail, &user.id.to_string()).await?;
    let email = Email::parse(&user.email).map_err(|e| AppError::Internal(e.to_owned()))?;
    send_link(state, Purpose::VerifyEmail, user.id, &email).await?;
    Ok(Resent::Sent)
}

#[derive(Template)]
#[template(path = "accounts/email_verified.html")]
struct VerifiedPage {
    layout: Layout,
    verified: bool,
}

async fn verify_page(
    State(state): State<AppState>,
    client: ClientAddress,
    layout: Layout,
    Path(token): Path<String>,
) -> Result<Response, AppError> {
    state
        .rate_limits
        .check_address(Limit::LinkSecret, client.0)?;
    let verified = global::verify_email(&state.db, &crate::tokens::digest(&token))
        .await?
        .is_some();
    // The banner was computed before the link was used.
    let layout = Layout {
        email_unverified: layout.email_unverified && !verified,
        ..layout
    };
    let page = render(&VerifiedPage { layout, verified })?;
    let status = if verified {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    Ok((status, page).into_response())
}

async fn resend_page(
    State(state): State<AppState>,
    client: ClientAddress,
    session: Session,
    user: CurrentUser,
) -> Result<Redirect, AppError> {
    let message = match resend(&state, client, &user).await? {
        Resent::Sent => format!(
            "We sent a new link to {}. It may take a minute to arrive.",
            user.email
        ),
        Resent::AlreadyVerified => "Your email is already confirmed.".to_owned(),
    };
    flash::push(&session, Flash::success(message)).await?;
    Ok(Redirect::to("/account"))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct VerifyInput {
    /// The token from the emailed link (its last path segment).
    pub token: String,
}

/// Confirms an email address with the token from the emailed link.
#[utoipa::path(post, path = "/api/v1/verify-email", tag = "accounts",
    request_body = VerifyInput,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub(crate) async fn verify_api(
    State(state): State<AppState>,
    client: ClientAddress,
    Json(input): Json<VerifyInput>,
) -> Result<StatusCode, AppError> {
    state
        .rate_limits
        .check_address(Limit::LinkSecret, client.0)?;
    global::verify_email(&state.db, &crate::tokens::digest(&input.token))
        .await?
        .ok_or(AppError::InvalidLink)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ResendView {
    pub result: Resent,
}

/// Mails the signed-in user a new verification link (rate-limited).
#[utoipa::path(post, path = "/api/v1/verify-email/resend", tag = "accounts",
    responses((status = 202, body = ResendView), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub(crate) async fn resend_api(
    State(state): State<AppState>,
    client: ClientAddress,
    user: CurrentUser,
) -> Result<(StatusCode, Json<ResendView>), AppError> {
    let result = resend(&state, client, &user).await?;
    Ok((StatusCode::ACCEPTED, Json(ResendView { result })))
}
