//! Password reset. Asking for a link answers the same whether or not the
//! email has an account, and takes the same time: the request only queues
//! a job, and the job looks the account up and mails the link. The link
//! works once, for an hour; using it sets the new password and ends every
//! session and every other reset link of the account.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use tower_sessions::Session;
use utoipa_axum::routes;

use super::email::Email;
use super::global;
use super::password::{self, Password};
use super::tokens::{self, Purpose};
use crate::api::ErrorBody;
use crate::error::AppError;
use crate::http::AppState;
use crate::http::client_address::ClientAddress;
use crate::http::extract::{Form, Json};
use crate::http::routes::{Access, Routes, get};
use crate::ids::UserId;
use crate::jobs::{self, JobError, JobKind};
use crate::mail::{self, Mail};
use crate::pages::{Layout, render};
use crate::rate_limits::{self, Limit};
use crate::sessions::flash::{self, Flash};
use crate::text_body;
use crate::tokens::digest;
use crate::validation::FieldErrors;

pub fn routes() -> Routes {
    Routes::new()
        .add(
            "/forgot-password",
            Access::Public,
            get(request_form).post(request_page),
        )
        .add(
            "/reset-password/{token}",
            Access::Public,
            get(reset_form).post(reset_page),
        )
        .api(Access::Public, routes!(request_api))
        .api(Access::Public, routes!(reset_api))
}

#[derive(Template)]
#[template(path = "mail/password_reset.html")]
pub struct PasswordResetMail {
    pub app_name: &'static str,
    pub link: String,
    pub minutes: u64,
}

text_body!(PasswordResetMail, "mail/password_reset.txt");

impl Mail for PasswordResetMail {
    fn subject(&self) -> String {
        format!("Reset your {} password", self.app_name)
    }
}

/// The one answer to a reset request.
pub const REQUESTED: &str = "If an account exists for that email, we sent it a link to choose a new password. \
                             It works for one hour.";

/// Queues the lookup and the email, under the rate limits (which count
/// whether or not the account exists).
///
/// # Errors
/// 429 over a limit; a database failure. The inner error is a malformed
/// email.
async fn request(
    state: &AppState,
    client: ClientAddress,
    email: &str,
) -> Result<Result<(), FieldErrors>, AppError> {
    state
        .rate_limits
        .check_address(Limit::PasswordReset, client.0)?;
    let email = match Email::parse(email) {
        Ok(email) => email,
        Err(message) => return Ok(Err(FieldErrors::single("email", message))),
    };
    rate_limits::count_account(&state.db, Limit::PasswordReset, email.as_str()).await?;
    let job = MAIL_LINK.job(serde_json::json!({ "email": email.as_str() }));
    jobs::enqueue(&state.db, None, &job).await?;
    Ok(Ok(()))
}

/// Mails a password-reset link if the email has an account: a job, so that
/// the request takes the same time either way.
pub const MAIL_LINK: JobKind = JobKind {
    name: "mail_password_reset",
    max_attempts: 3,
    run: |state, fields| {
        Box::pin(async move {
            let email = fields
                .get("email")
                .and_then(|email| email.as_str())
                .unwrap_or_default();
            mail_link(state, email).await
        })
    },
};

/// The job behind a request: mails a link if the account exists, and does
/// nothing otherwise.
///
/// # Errors
/// When the database or a template fails (the job is retried).
async fn mail_link(state: &AppState, email: &str) -> Result<(), JobError> {
    let email = Email::parse(email)?;
    let Some(global::Credentials { id: user, .. }) = global::credentials(&state.db, &email).await?
    else {
        return Ok(());
    };
    let token = tokens::issue(&state.db, Purpose::ResetPassword, user, &email, None).await?;
    let mail = PasswordResetMail {
        app_name: crate::brand::APP_NAME,
        link: format!("{}/reset-password/{token}", state.config.base_url),
        minutes: Purpose::ResetPassword.lifetime().as_secs() / 60,
    };
    mail::send(&state.db, &email, &mail).await?;
    Ok(())
}

/// Sets the new password if the token is live; `None` if it is not. The
/// inner error is a password that breaks the rules.
///
/// Under the `LinkSecret` limits (per address, and per token), and cheap
/// checks first: a token that isn't live is answered before the new
/// password is hashed, so guessing costs no argon2.
///
/// # Errors
/// 429 over a limit; a database failure.
async fn reset(
    state: &AppState,
    client: ClientAddress,
    token: &str,
    new_password: &str,
) -> Result<Result<Option<UserId>, FieldErrors>, AppError> {
    state
        .rate_limits
        .check_address(Limit::LinkSecret, client.0)?;
    let digest = digest(token);
    if !global::token_is_live(&state.db, &digest, Purpose::ResetPassword).await? {
        return Ok(Ok(None));
    }
    rate_limits::count_account(&state.db, Limit::LinkSecret, &digest).await?;
    let password = match Password::parse(new_password) {
        Ok(password) => password,
        Err(message) => return Ok(Err(FieldErrors::single("password", message))),
    };
    let hash = password::hash(password).await?;
    Ok(Ok(global::reset_password(&state.db, &digest, &hash).await?))
}

#[derive(Template)]
#[template(path = "accounts/forgot_password.html")]
struct RequestPage {
    layout: Layout,
    email: String,
    error: Option<String>,
    sent: bool,
}

async fn request_form(layout: Layout, session: Session) -> Result<Html<String>, AppError> {
    render(&RequestPage {
        layout: layout.with_csrf(&session).await?,
        email: String::new(),
        error: None,
        sent: false,
    })
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct ResetRequest {
    pub email: String,
}

async fn request_page(
    State(state): State<AppState>,
    client: ClientAddress,
    layout: Layout,
    session: Session,
    Form(form): Form<ResetRequest>,
) -> Result<Response, AppError> {
    let layout = layout.with_csrf(&session).await?;
    let (status, page) = match request(&state, client, &form.email).await? {
        Ok(()) => (
            StatusCode::OK,
            RequestPage {
                layout,
                email: String::new(),
                error: None,
                sent: true,
            },
        ),
        Err(errors) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            RequestPage {
                layout,
                error: errors.get("email").map(str::to_owned),
                email: form.email,
                sent: false,
            },
        ),
    };
    Ok((status, render(&page)?).into_response())
}

#[derive(Template)]
#[template(path = "accounts/reset_password.html")]
struct ResetPage {
    layout: Layout,
    token: String,
    live: bool,
    error: Option<String>,
}

async fn reset_form(
    State(state): State<AppState>,
    layout: Layout,
    session: Session,
    Path(token): Path<String>,
) -> Result<Response, AppError> {
    let live = global::token_is_live(&state.db, &digest(&token), Purpose::ResetPassword).await?;
    let page = render(&ResetPage {
        layout: layout.with_csrf(&session).await?,
        token,
        live,
        error: None,
    })?;
    let status = if live {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    Ok((status, page).into_response())
}

#[derive(Deserialize)]
struct NewPasswordForm {
    password: String,
}

async fn reset_page(
    State(state): State<AppState>,
    client: ClientAddress,
    layout: Layout,
    session: Session,
    Path(token): Path<String>,
    Form(form): Form<NewPasswordForm>,
) -> Result<Response, AppError> {
    let (status, live, error) = match reset(&state, client, &token, &form.password).await? {
        Ok(Some(user)) => {
            // Where single sign-on is required, the password only confirms
            // changes (an owner's, to single sign-on itself): no sign-in.
            match crate::sso::refuse_if_required_for(&state, user).await {
                Err(AppError::Forbidden(why)) => {
                    let message = format!("Your new password is set. {why}");
                    flash::push(&session, Flash::info(message)).await?;
                    return Ok(Redirect::to("/login").into_response());
                }
                checked => checked?,
            }
            let two_factor = global::find_user(&state.db, user)
                .await?
                .is_some_and(|user| user.two_factor);
            // The emailed link proves the mailbox, not the second factor:
            // an account that has one signs in with it.
            if two_factor {
                session.clear().await;
                flash::push(&session, Flash::success(
                    "Your new password is set, and every session is signed out. Sign in with it and a code from your app.",
                ))
                .await?;
                return Ok(Redirect::to("/login").into_response());
            }
            super::start_session(&session, user).await?;
            flash::push(
                &session,
                Flash::success("Your new password is set, and every other session is signed out."),
            )
            .await?;
            return Ok(Redirect::to("/app").into_response());
        }
        Ok(None) => (StatusCode::BAD_REQUEST, false, None),
        Err(errors) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            true,
            errors.get("password").map(str::to_owned),
        ),
    };
    let page = render(&ResetPage {
        layout: layout.with_csrf(&session).await?,
        token,
        live,
        error,
    })?;
    Ok((status, page).into_response())
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ResetRequested {
    pub message: &'static str,
}

/// Mails a password-reset link if the email has an account. The answer is
/// the same either way.
#[utoipa::path(post, path = "/api/v1/password-reset", tag = "accounts",
    request_body = ResetRequest,
    responses((status = 202, body = ResetRequested), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub(crate) async fn request_api(
    State(state): State<AppState>,
    client: ClientAddress,
    Json(input): Json<ResetRequest>,
) -> Result<(StatusCode, Json<ResetRequested>), AppError> {
    request(&state, client, &input.email).await??;
    Ok((
        StatusCode::ACCEPTED,
        Json(ResetRequested { message: REQUESTED }),
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct ResetInput {
    /// The token from the emailed link (its last path segment).
    pub token: String,
    /// 10 to 128 characters, not a common password.
    pub password: String,
}

/// Sets a new password with the token from the emailed link, and ends every
/// session of the account. Sign in again afterwards.
#[utoipa::path(post, path = "/api/v1/password-reset/confirm", tag = "accounts",
    request_body = ResetInput,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub(crate) async fn reset_api(
    State(state): State<AppState>,
    client: ClientAddress,
    Json(input): Json<ResetInput>,
) -> Result<StatusCode, AppError> {
    reset(&state, client, &input.token, &input.password)
        .await??
        .ok_or(AppError::InvalidLink)?;
    Ok(StatusCode::NO_CONTENT)
}
