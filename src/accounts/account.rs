//! The account page and what it changes: the email (verified again), the
//! password (the current one first; other sessions end), sessions (listed,
//! each revocable), the API tokens the user created, leaving a tenant, and
//! deleting the account (refused while the user is a tenant's last owner).
//! Sensitive changes ask for the password again, under the sign-in limit.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tower_sessions::Session;
use utoipa_axum::routes;

use super::email::Email;
use super::password::{self, Password};
use super::tokens::Purpose;
use super::{CurrentUser, global, reauthenticate};
use crate::api::ErrorBody;
use crate::api_tokens::ApiToken;
use crate::error::AppError;
use crate::http::AppState;
use crate::http::extract::{Form, Json, Path};
use crate::http::routes::{Access, Routes, get, post};
use crate::mail::{self, Mail};
use crate::pages::{Layout, render};
use crate::sessions::flash::{self, Flash};
use crate::sessions::{DbSessionStore, SessionInfo};
use crate::tenancy::scope::for_user;
use crate::tenancy::{Intent, for_tenant};
use crate::tenants::TenantChoice;
use crate::text_body;
use crate::validation::FieldErrors;

pub fn routes() -> Routes {
    Routes::new()
        .add("/account", Access::SignedIn, get(page))
        .add("/account/email", Access::SignedIn, post(email_page))
        .add("/account/password", Access::SignedIn, post(password_page))
        .add(
            "/account/sessions/{handle}/revoke",
            Access::SignedIn,
            post(revoke_session_page),
        )
        .add("/account/delete", Access::SignedIn, post(delete_page))
        .api(Access::SignedIn, routes!(email_api))
        .api(Access::SignedIn, routes!(password_api))
        .api(Access::SignedIn, routes!(sessions_api))
        .api(Access::SignedIn, routes!(revoke_session_api))
        .api(Access::SignedIn, routes!(tokens_api))
        .api(Access::SignedIn, routes!(delete_api))
}

#[derive(Template)]
#[template(path = "mail/email_changed.html")]
pub struct EmailChangedMail {
    pub app_name: &'static str,
    pub new_email: String,
}

text_body!(EmailChangedMail, "mail/email_changed.txt");

impl Mail for EmailChangedMail {
    fn subject(&self) -> String {
        format!(
            "A change of your {} account's email was asked for",
            self.app_name
        )
    }
}

#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct EmailChange {
    pub email: String,
    /// The current password.
    pub password: String,
}

/// Starts changing the email: a link goes to the new address, and the
/// account's email changes only when it is followed (a notice goes to the
/// current address). The inner error names the field.
async fn change_email(
    state: &AppState,
    user: &CurrentUser,
    input: &EmailChange,
) -> Result<Result<(), FieldErrors>, AppError> {
    let email = match Email::parse(&input.email) {
        Ok(email) => email,
        Err(message) => return Ok(Err(FieldErrors::single("email", message))),
    };
    if email.as_str() == user.email {
        return Ok(Err(FieldErrors::single(
            "email",
            "That is your email already.",
        )));
    }
    // An address an organisation's required single sign-on manages stays
    // its to change: moved elsewhere, its member would slip out of it.
    let current = Email::parse(&user.email).map_err(|e| AppError::Internal(e.to_owned()))?;
    if let Some(sso) = crate::sso::for_address(state, &current).await?
        && sso.connection.required
        && !user.is_super_admin
    {
        let message = format!(
            "Your address is managed by the single sign-on of {}: ask its IT admin to change it.",
            sso.name
        );
        return Ok(Err(FieldErrors::single("email", message)));
    }
    if let Err(errors) = reauthenticate(state, user, &input.password, "password").await? {
        return Ok(Err(errors));
    }
    if global::email_taken(&state.db, user.id, &email).await? {
        return Ok(Err(FieldErrors::single(
            "email",
            "Another account has this email.",
        )));
    }
    // Nothing changes until the new address proves it is theirs: the link
    // goes there, and a notice to the address that still signs in.
    global::cancel_email_changes(&state.db, user.id).await?;
    super::verification::send_link(state, Purpose::ChangeEmail, user.id, &email).await?;
    let old = Email::parse(&user.email).map_err(|e| AppError::Internal(e.to_owned()))?;
    let notice = EmailChangedMail {
        app_name: crate::brand::APP_NAME,
        new_email: email.as_str().to_owned(),
    };
    mail::send(&state.db, &old, &notice).await?;
    Ok(Ok(()))
}

#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct PasswordChange {
    pub current_password: String,
    /// 10 to 128 characters, not a common password.
    pub new_password: String,
}

/// Changes the password and ends every other session (this one gets a new
/// id). The inner error names the field.
async fn change_password(
    state: &AppState,
    session: &Session,
    user: &CurrentUser,
    input: &PasswordChange,
) -> Result<Result<u64, FieldErrors>, AppError> {
    let new = match Password::parse(&input.new_password) {
        Ok(password) => password,
        Err(message) => return Ok(Err(FieldErrors::single("new_password", message))),
    };
    if let Err(errors) =
        reauthenticate(state, user, &input.current_password, "current_password").await?
    {
        return Ok(Err(errors));
    }
    let hash = password::hash(new).await?;
    global::set_password_hash(&state.db, user.id, &hash).await?;
    let ended = super::end_other_sessions(&state.db, session, user.id).await?;
    session.cycle_id().await?;
    Ok(Ok(ended))
}

/// Deletes the account, unless the user is the last owner of a tenant
/// (409, naming them). The inner error is a wrong password.
async fn delete_account(
    state: &AppState,
    session: &Session,
    user: &CurrentUser,
    password_given: &str,
) -> Result<Result<(), FieldErrors>, AppError> {
    if let Err(errors) = reauthenticate(state, user, password_given, "password").await? {
        return Ok(Err(errors));
    }
    let mut last_owner_of = Vec::new();
    for tenant in tenants(state, user).await? {
        let mut scope = for_tenant(&state.db, tenant.id, Intent::Read).await?;
        if crate::members::is_last_owner(&mut scope, user.id).await? {
            last_owner_of.push(tenant.name);
        }
    }
    if !last_owner_of.is_empty() {
        return Err(AppError::Conflict(format!(
            "You are the last owner of {}: make someone else an owner there (or leave it to them) before deleting your account.",
            last_owner_of.join(", ")
        )));
    }
    // Leave each tenant under its owners' lock, so a co-owner deleting or
    // leaving at the same moment can't leave a tenant without an owner.
    for tenant in tenants(state, user).await? {
        let mut scope = for_tenant(&state.db, tenant.id, Intent::Write).await?;
        if let Some(membership) = crate::members::membership_id(&mut scope, user.id).await? {
            crate::members::leave(&mut scope, membership).await?;
        }
        scope.commit().await?;
    }
    global::delete_user(&state.db, user.id).await?;
    session.flush().await?;
    Ok(Ok(()))
}

async fn tenants(state: &AppState, user: &CurrentUser) -> Result<Vec<TenantChoice>, AppError> {
    let mut scope = for_user(&state.db, user.id).await?;
    crate::tenants::choices(&mut scope).await
}

/// A token the user created, with its tenant.
#[derive(Serialize, utoipa::ToSchema)]
pub struct OwnToken {
    /// The tenant's URL slug (revoke at DELETE /api/v1/t/{slug}/api-tokens/{id}).
    pub slug: String,
    pub tenant_name: String,
    pub token: ApiToken,
}

/// The API tokens the user created, in each of their tenants (each read in
/// that tenant's scope).
async fn own_tokens(state: &AppState, user: &CurrentUser) -> Result<Vec<OwnToken>, AppError> {
    let mut own = Vec::new();
    for tenant in tenants(state, user).await? {
        let mut scope = for_tenant(&state.db, tenant.id, Intent::Read).await?;
        let Some(membership) = crate::members::membership_id(&mut scope, user.id).await? else {
            continue;
        };
        for token in crate::api_tokens::created_by(&mut scope, membership).await? {
            own.push(OwnToken {
                slug: tenant.slug.clone(),
                tenant_name: tenant.name.clone(),
                token,
            });
        }
    }
    Ok(own)
}

/// One session, as the page and the API show it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SessionView {
    /// Names the session for revoking (not its secret id).
    pub handle: String,
    #[serde(with = "time::serde::rfc3339")]
    pub signed_in_at: OffsetDateTime,
    /// Within an hour.
    #[serde(with = "time::serde::rfc3339")]
    pub last_active_at: OffsetDateTime,
    /// The session making this request.
    pub current: bool,
}

async fn sessions(
    state: &AppState,
    session: &Session,
    user: &CurrentUser,
) -> Result<Vec<SessionView>, AppError> {
    let current = session.id();
    Ok(DbSessionStore::new(state.db.clone())
        .list_for_user(user.id)
        .await?
        .into_iter()
        .map(|info: SessionInfo| SessionView {
            current: current.is_some_and(|id| info.is(id)),
            handle: info.handle,
            signed_in_at: info.signed_in_at,
            last_active_at: info.last_active_at,
        })
        .collect())
}

#[derive(Template)]
#[template(path = "accounts/account.html")]
struct AccountPage {
    layout: Layout,
    user: CurrentUser,
    sessions: Vec<SessionView>,
    tenants: Vec<TenantChoice>,
    tokens: Vec<OwnToken>,
    identities: super::oauth::Identities,
    passkeys: super::passkeys::PasskeysView,
    passkeys_script: String,
    /// `BASE_URL` is a domain name (see `passkeys::available`).
    passkeys_available: bool,
    errors: FieldErrors,
    /// The email field, as typed.
    new_email: String,
}

async fn account_page(
    state: &AppState,
    layout: Layout,
    session: &Session,
    user: CurrentUser,
    errors: FieldErrors,
    new_email: String,
) -> Result<Html<String>, AppError> {
    render(&AccountPage {
        layout,
        sessions: sessions(state, session, &user).await?,
        tenants: tenants(state, &user).await?,
        tokens: own_tokens(state, &user).await?,
        identities: super::oauth::identities(state, &user).await?,
        passkeys: super::passkeys::listed(state, &user).await?,
        passkeys_script: super::passkeys::script_url(),
        passkeys_available: super::passkeys::available(state),
        user,
        errors,
        new_email,
    })
}

async fn page(
    State(state): State<AppState>,
    layout: Layout,
    session: Session,
    user: CurrentUser,
) -> Result<Html<String>, AppError> {
    account_page(
        &state,
        layout,
        &session,
        user,
        FieldErrors::default(),
        String::new(),
    )
    .await
}

/// Re-renders the page with `errors` (422), or goes back to it with a flash.
pub(super) async fn outcome(
    state: &AppState,
    layout: Layout,
    session: &Session,
    user: CurrentUser,
    result: Result<String, (FieldErrors, String)>,
) -> Result<Response, AppError> {
    match result {
        Ok(message) => {
            flash::push(session, Flash::success(message)).await?;
            Ok(Redirect::to("/account").into_response())
        }
        Err((errors, new_email)) => {
            let layout = layout.with_csrf(session).await?;
            let html = account_page(state, layout, session, user, errors, new_email).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, html).into_response())
        }
    }
}

async fn email_page(
    State(state): State<AppState>,
    layout: Layout,
    session: Session,
    user: CurrentUser,
    Form(input): Form<EmailChange>,
) -> Result<Response, AppError> {
    let result = match change_email(&state, &user, &input).await? {
        Ok(()) => Ok(format!(
            "We sent a link to {}: your email changes once you follow it.",
            input.email.trim().to_lowercase()
        )),
        Err(errors) => Err((errors, input.email)),
    };
    outcome(&state, layout, &session, user, result).await
}

async fn password_page(
    State(state): State<AppState>,
    layout: Layout,
    session: Session,
    user: CurrentUser,
    Form(input): Form<PasswordChange>,
) -> Result<Response, AppError> {
    let result = match change_password(&state, &session, &user, &input).await? {
        Ok(ended) => Ok(format!(
            "Your password is changed; {ended} other sessions were signed out."
        )),
        Err(errors) => Err((errors, String::new())),
    };
    outcome(&state, layout, &session, user, result).await
}

async fn revoke_session_page(
    State(state): State<AppState>,
    session: Session,
    user: CurrentUser,
    Path(handle): Path<String>,
) -> Result<Redirect, AppError> {
    revoke_session(&state, &user, &handle).await?;
    flash::push(&session, Flash::success("That session is signed out.")).await?;
    Ok(Redirect::to("/account"))
}

async fn revoke_session(
    state: &AppState,
    user: &CurrentUser,
    handle: &str,
) -> Result<(), AppError> {
    let ended = DbSessionStore::new(state.db.clone())
        .delete_by_handle(user.id, handle)
        .await?;
    if ended {
        Ok(())
    } else {
        Err(AppError::NotFound)
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct PasswordConfirmation {
    pub password: String,
}

/// The page's delete form (its password field has its own id).
#[derive(Deserialize)]
struct DeleteForm {
    delete_password: String,
}

async fn delete_page(
    State(state): State<AppState>,
    layout: Layout,
    session: Session,
    user: CurrentUser,
    Form(input): Form<DeleteForm>,
) -> Result<Response, AppError> {
    match delete_account(&state, &session, &user, &input.delete_password).await? {
        Ok(()) => Ok(Redirect::to("/").into_response()),
        Err(_) => {
            let errors = FieldErrors::single("delete_password", "That password is not right.");
            outcome(&state, layout, &session, user, Err((errors, String::new()))).await
        }
    }
}

/// Starts changing the email (with the current password): a link goes to
/// the new address, and the email changes only once it is followed; a
/// notice goes to the current address.
#[utoipa::path(post, path = "/api/v1/account/email", tag = "accounts",
    request_body = EmailChange,
    responses((status = 204), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub(crate) async fn email_api(
    State(state): State<AppState>,
    user: CurrentUser,
    Json(input): Json<EmailChange>,
) -> Result<StatusCode, AppError> {
    change_email(&state, &user, &input).await??;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PasswordChanged {
    /// How many other sessions were signed out.
    pub ended_sessions: u64,
    /// The session's CSRF token (unchanged; the session id changed).
    pub csrf_token: String,
}

/// Changes the password (with the current one) and signs out every other
/// session.
#[utoipa::path(post, path = "/api/v1/account/password", tag = "accounts",
    request_body = PasswordChange,
    responses((status = 200, body = PasswordChanged), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub(crate) async fn password_api(
    State(state): State<AppState>,
    session: Session,
    user: CurrentUser,
    Json(input): Json<PasswordChange>,
) -> Result<Json<PasswordChanged>, AppError> {
    let ended_sessions = change_password(&state, &session, &user, &input).await??;
    Ok(Json(PasswordChanged {
        ended_sessions,
        csrf_token: crate::http::csrf::token(&session).await?,
    }))
}

/// The caller's sessions, newest first.
#[utoipa::path(get, path = "/api/v1/account/sessions", tag = "accounts",
    responses((status = 200, body = [SessionView]), (status = 401, body = ErrorBody)))]
pub(crate) async fn sessions_api(
    State(state): State<AppState>,
    session: Session,
    user: CurrentUser,
) -> Result<Json<Vec<SessionView>>, AppError> {
    Ok(Json(sessions(&state, &session, &user).await?))
}

/// Signs one of the caller's sessions out.
#[utoipa::path(delete, path = "/api/v1/account/sessions/{handle}", tag = "accounts",
    params(("handle" = String, Path, description = "From the session list")),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn revoke_session_api(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(handle): Path<String>,
) -> Result<StatusCode, AppError> {
    revoke_session(&state, &user, &handle).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The API tokens the caller created, in each of their tenants.
#[utoipa::path(get, path = "/api/v1/account/api-tokens", tag = "accounts",
    responses((status = 200, body = [OwnToken]), (status = 401, body = ErrorBody)))]
pub(crate) async fn tokens_api(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Json<Vec<OwnToken>>, AppError> {
    Ok(Json(own_tokens(&state, &user).await?))
}

/// Deletes the caller's account (with the password), unless they are the
/// last owner of a tenant (409, naming it).
#[utoipa::path(post, path = "/api/v1/account/delete", tag = "accounts",
    request_body = PasswordConfirmation,
    responses((status = 204), (status = 401, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn delete_api(
    State(state): State<AppState>,
    session: Session,
    user: CurrentUser,
    Json(input): Json<PasswordConfirmation>,
) -> Result<StatusCode, AppError> {
    delete_account(&state, &session, &user, &input.password).await??;
    Ok(StatusCode::NO_CONTENT)
}
