//! Two-factor authentication: TOTP (authenticator apps, RFC 6238: SHA-1,
//! 6 digits, 30-second steps, one step of clock skew either way) and ten
//! one-time recovery codes. Optional for everyone; required for
//! super-admins before any `/admin` page works.
//!
//! * The secret is stored encrypted (`crypto`); recovery codes as SHA-256
//!   digests.
//! * A code is accepted once: the last accepted step is kept, and only a
//!   later step passes (so a code seen over a shoulder can't be replayed).
//! * Enrolling shows a QR code (and the key, for typing) and needs a code
//!   from the app to confirm; disabling needs the password and a code.
//! * Signing in with two-factor: the password step leaves the session
//!   "pending" (no user yet); the code step signs in, under the
//!   `SecondFactor` rate limit.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use totp_rs::{Secret, Totp};
use tower_sessions::Session;
use utoipa_axum::routes;

use super::{CurrentUser, global};
use crate::api::ErrorBody;
use crate::crypto::sealed::SealedColumn;
use crate::error::AppError;
use crate::http::client_address::ClientAddress;
use crate::http::extract::{Form, Json};
use crate::http::routes::{Access, Routes, get, post};
use crate::http::{AppState, csrf};
use crate::ids::UserId;
use crate::pages::{Layout, render};
use crate::rate_limits::{self, Limit};
use crate::sessions::flash::{self, Flash};
use crate::tokens::digest;
use crate::validation::FieldErrors;

/// The session key of a sign-in waiting for its code: the user's id.
pub const PENDING_KEY: &str = "pending_second_factor";
/// Set beside [`PENDING_KEY`] when the first factor was an organisation's
/// single sign-on: any other first factor is checked again against its
/// requirement when the code comes (it may have been switched on since).
pub const PENDING_VIA_SSO_KEY: &str = "pending_second_factor_via_sso";
/// The session key holding a secret being enrolled (base32), until confirmed.
const ENROLMENT_KEY: &str = "totp_enrolment";

const RECOVERY_CODES: usize = 10;

/// Users' two-factor secrets, sealed (`crypto::sealed`).
pub const SECRET: SealedColumn = SealedColumn {
    table: "users",
    column: "totp_secret",
    purpose: "totp",
    tenant_owned: false,
    blind_index: None,
    credential: false,
};

pub fn routes() -> Routes {
    Routes::new()
        .add("/account/two-factor", Access::SignedIn, get(settings_page))
        .add(
            "/account/two-factor/enable",
            Access::SignedIn,
            post(enable_page),
        )
        .add(
            "/account/two-factor/disable",
            Access::SignedIn,
            post(disable_page),
        )
        .add(
            "/login/two-factor",
            Access::Public,
            get(code_form).post(code_page),
        )
        .api(Access::SignedIn, routes!(setup_api))
        .api(Access::SignedIn, routes!(enable_api))
        .api(Access::SignedIn, routes!(disable_api))
}

fn totp(secret: Vec<u8>, email: &str) -> Result<Totp, AppError> {
    totp_rs::Builder::new()
        .with_secret(Secret::new(secret.into_boxed_slice()))
        .with_issuer(Some(crate::brand::APP_NAME.replace(':', "")))
        .with_account_name(email.replace(':', ""))
        .build()
        .map_err(|e| AppError::Internal(format!("TOTP: {e}")))
}

fn now() -> u64 {
    u64::try_from(OffsetDateTime::now_utc().unix_timestamp()).unwrap_or_default()
}

/// What an authenticator app needs to add the account.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Enrolment {
    /// The key, base32, for typing in.
    pub secret: String,
    /// The `otpauth://` URL the QR code holds.
    pub otpauth_url: String,
}

/// The secret being enrolled in this session (made on first ask), for
/// `user`.
async fn enrolment(session: &Session, user: &CurrentUser) -> Result<(Enrolment, Totp), AppError> {
    let secret = match session.get::<String>(ENROLMENT_KEY).await? {
        Some(secret) => secret,
        None => {
            let mut bytes = [0u8; 20];
            getrandom::fill(&mut bytes).map_err(|e| AppError::Internal(e.to_string()))?;
            let secret = Secret::new(Box::new(bytes)).to_base32();
            session.insert(ENROLMENT_KEY, &secret).await?;
            secret
        }
    };
    let bytes = Secret::try_from_base32(&secret)
        .map_err(|_| AppError::Internal("the enrolment secret is not base32".to_owned()))?;
    let totp = totp(bytes.as_ref().to_vec(), &user.email)?;
    let otpauth_url = totp
        .to_url()
        .map_err(|e| AppError::Internal(format!("TOTP URL: {e}")))?;
    Ok((
        Enrolment {
            secret,
            otpauth_url,
        },
        totp,
    ))
}

/// Confirms the enrolment with the current password and a code from the
/// app: stores the secret, encrypted, and returns new recovery codes (shown
/// once). The inner error is a wrong password or code, or no key to
/// encrypt with.
async fn enable(
    state: &AppState,
    session: &Session,
    user: &CurrentUser,
    input: &EnableInput,
) -> Result<Result<Vec<String>, FieldErrors>, AppError> {
    if user.two_factor {
        return Err(AppError::Conflict(
            "Two-factor authentication is on already: turn it off first to use another app."
                .to_owned(),
        ));
    }
    let Some(keys) = &state.keys else {
        return Ok(Err(FieldErrors::single(
            "code",
            crate::crypto::CryptoError::NoKeys.to_string(),
        )));
    };
    if let Err(errors) = super::reauthenticate(state, user, &input.password, "password").await? {
        return Ok(Err(errors));
    }
    let (_, totp) = enrolment(session, user).await?;
    let Some(step) = totp.check(&normalise(&input.code), now()) else {
        return Ok(Err(FieldErrors::single("code", WRONG_CODE)));
    };
    let encrypted = keys.encrypt(&owner(user.id), totp.secret().as_ref());
    let codes: Vec<String> = (0..RECOVERY_CODES).map(|_| recovery_code()).collect();
    let digests: Vec<String> = codes.iter().map(|code| digest(&normalise(code))).collect();
    let step = i64::try_from(step).unwrap_or(i64::MAX);
    if !global::enable_totp(&state.db, user.id, &encrypted, step, &digests).await? {
        return Err(AppError::Conflict(
            "Two-factor authentication is on already.".to_owned(),
        ));
    }
    session.remove_value(ENROLMENT_KEY).await?;
    // A change of privilege: a new session id, marked as second-factor.
    session.cycle_id().await?;
    super::mark_verified(session, user.id).await?;
    Ok(Ok(codes))
}

const WRONG_CODE: &str = "That code is not right (or was used already): try the next one.";

/// The ciphertext's owner, so a secret moved to another user's row fails.
fn owner(user: UserId) -> String {
    SECRET.owner(user)
}

/// Codes as typed: without spaces and dashes, lower-cased.
fn normalise(code: &str) -> String {
    code.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}

/// Ten characters of base32, shown as `xxxxx-xxxxx`: 50 random bits.
fn recovery_code() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut bytes = [0u8; 10];
    getrandom::fill(&mut bytes).expect("the operating system's random source works");
    let chars: String = bytes
        .iter()
        .map(|byte| char::from(ALPHABET[usize::from(*byte) % ALPHABET.len()]))
        .collect();
    format!("{}-{}", &chars[..5], &chars[5..])
}

/// Checks a code of an enrolled user: a TOTP code (once per step) or an
/// unused recovery code (used up).
///
/// # Errors
/// When the database fails or the secret can't be decrypted.
pub async fn verify(
    state: &AppState,
    user: UserId,
    email: &str,
    code: &str,
) -> Result<bool, AppError> {
    let code = normalise(code);
    if code.len() == 6 && code.chars().all(|c| c.is_ascii_digit()) {
        let Some(encrypted) = global::totp_secret(&state.db, user).await? else {
            return Ok(false);
        };
        let keys = state
            .keys
            .as_ref()
            .ok_or_else(|| AppError::Internal(crate::crypto::CryptoError::NoKeys.to_string()))?;
        let secret = keys
            .decrypt(&owner(user), &encrypted)
            .map_err(|e| AppError::Internal(e.to_string()))?;
        let Some(step) = totp(secret, email)?.check(&code, now()) else {
            return Ok(false);
        };
        return Ok(global::accept_totp_step(
            &state.db,
            user,
            i64::try_from(step).unwrap_or(i64::MAX),
        )
        .await?);
    }
    Ok(global::use_recovery_code(&state.db, user, &digest(&code)).await?)
}

/// A code under the `SecondFactor` rate limits: per address, and per
/// account (failures).
///
/// # Errors
/// 429 over a limit; a database failure.
pub async fn attempt(
    state: &AppState,
    client: ClientAddress,
    user: UserId,
    email: &str,
    code: &str,
) -> Result<bool, AppError> {
    state
        .rate_limits
        .check_address(Limit::SecondFactor, client.0)?;
    let attempt = rate_limits::attempt(&state.db, Limit::SecondFactor, &user.to_string()).await?;
    let right = verify(state, user, email, code).await?;
    if right {
        attempt.succeeded(&state.db).await?;
    }
    Ok(right)
}

/// Turns two-factor off, given the password and a code. The inner error
/// names the field that is wrong.
async fn disable(
    state: &AppState,
    client: ClientAddress,
    user: &CurrentUser,
    password_given: &str,
    code: &str,
) -> Result<Result<(), FieldErrors>, AppError> {
    if let Err(errors) = super::reauthenticate(state, user, password_given, "password").await? {
        return Ok(Err(errors));
    }
    if !attempt(state, client, user.id, &user.email, code).await? {
        return Ok(Err(FieldErrors::single("code", WRONG_CODE)));
    }
    global::disable_totp(&state.db, user.id).await?;
    Ok(Ok(()))
}

/// The QR code of `text`, as an inline SVG.
fn qr_svg(text: &str) -> Result<String, AppError> {
    use qrcodegen::{QrCode, QrCodeEcc};
    let qr = QrCode::encode_text(text, QrCodeEcc::Medium)
        .map_err(|e| AppError::Internal(format!("QR code: {e:?}")))?;
    let border = 4;
    let size = qr.size() + border * 2;
    let mut path = String::new();
    for y in 0..qr.size() {
        for x in 0..qr.size() {
            if qr.get_module(x, y) {
                path.push_str(&format!("M{},{}h1v1h-1z", x + border, y + border));
            }
        }
    }
    Ok(format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {size} {size}" width="200" height="200" role="img" aria-label="QR code for your authenticator app" shape-rendering="crispEdges"><rect width="100%" height="100%" fill="#fff"/><path d="{path}" fill="#000"/></svg>"##
    ))
}

#[derive(Template)]
#[template(path = "accounts/two_factor.html")]
struct SettingsPage {
    layout: Layout,
    enabled: bool,
    codes_left: i64,
    /// While not enabled: what to scan.
    secret: String,
    qr: String,
    /// Just enabled: the recovery codes, shown this once.
    recovery_codes: Vec<String>,
    errors: FieldErrors,
}

async fn settings(
    state: &AppState,
    layout: Layout,
    session: &Session,
    user: &CurrentUser,
    recovery_codes: Vec<String>,
    errors: FieldErrors,
) -> Result<Html<String>, AppError> {
    let enabled = global::totp_secret(&state.db, user.id).await?.is_some();
    let (secret, qr) = if enabled {
        (String::new(), String::new())
    } else {
        let (enrolment, _) = enrolment(session, user).await?;
        let qr = qr_svg(&enrolment.otpauth_url)?;
        (enrolment.secret, qr)
    };
    render(&SettingsPage {
        layout,
        enabled,
        codes_left: global::recovery_codes_left(&state.db, user.id).await?,
        secret,
        qr,
        recovery_codes,
        errors,
    })
}

async fn settings_page(
    State(state): State<AppState>,
    layout: Layout,
    session: Session,
    user: CurrentUser,
) -> Result<Html<String>, AppError> {
    settings(
        &state,
        layout,
        &session,
        &user,
        Vec::new(),
        FieldErrors::default(),
    )
    .await
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct EnableInput {
    /// The current password: a session alone can't put an authenticator of
    /// its choosing on the account.
    #[serde(default)]
    pub password: String,
    /// Six digits from the authenticator app.
    pub code: String,
}

async fn enable_page(
    State(state): State<AppState>,
    layout: Layout,
    session: Session,
    user: CurrentUser,
    Form(input): Form<EnableInput>,
) -> Result<Response, AppError> {
    let (status, codes, errors) = match enable(&state, &session, &user, &input).await? {
        Ok(codes) => (StatusCode::OK, codes, FieldErrors::default()),
        Err(errors) => (StatusCode::UNPROCESSABLE_ENTITY, Vec::new(), errors),
    };
    // The session id changed: the page's forms need the new token.
    let layout = layout.with_csrf(&session).await?;
    Ok((
        status,
        settings(&state, layout, &session, &user, codes, errors).await?,
    )
        .into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct DisableInput {
    pub password: String,
    /// Six digits from the authenticator app, or a recovery code.
    pub code: String,
}

async fn disable_page(
    State(state): State<AppState>,
    client: ClientAddress,
    layout: Layout,
    session: Session,
    user: CurrentUser,
    Form(input): Form<DisableInput>,
) -> Result<Response, AppError> {
    match disable(&state, client, &user, &input.password, &input.code).await? {
        Ok(()) => {
            flash::push(
                &session,
                Flash::success("Two-factor authentication is off."),
            )
            .await?;
            Ok(Redirect::to("/account").into_response())
        }
        Err(errors) => {
            let page = settings(&state, layout, &session, &user, Vec::new(), errors).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
    }
}

#[derive(Template)]
#[template(path = "accounts/login_code.html")]
struct CodePage {
    layout: Layout,
    next: String,
    error: Option<&'static str>,
}

#[derive(Default, Deserialize)]
struct CodeForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    next: String,
}

async fn code_form(
    layout: Layout,
    session: Session,
    axum::extract::Query(form): axum::extract::Query<CodeForm>,
) -> Result<Response, AppError> {
    if session.get::<UserId>(PENDING_KEY).await?.is_none() {
        return Ok(Redirect::to("/login").into_response());
    }
    let page = CodePage {
        layout: layout.with_csrf(&session).await?,
        next: super::pages::local_path(&form.next).to_owned(),
        error: None,
    };
    Ok(render(&page)?.into_response())
}

/// The second step of signing in.
async fn code_page(
    State(state): State<AppState>,
    client: ClientAddress,
    layout: Layout,
    session: Session,
    Form(form): Form<CodeForm>,
) -> Result<Response, AppError> {
    let Some(user) = session.get::<UserId>(PENDING_KEY).await? else {
        return Ok(Redirect::to("/login").into_response());
    };
    if session.get::<bool>(PENDING_VIA_SSO_KEY).await? != Some(true) {
        crate::sso::refuse_if_required_for(&state, user).await?;
    }
    let email = global::find_user(&state.db, user)
        .await?
        .map(|u| u.email)
        .unwrap_or_default();
    if attempt(&state, client, user, &email, &form.code).await? {
        session.remove_value(PENDING_KEY).await?;
        super::start_session(&session, user).await?;
        super::mark_verified(&session, user).await?;
        return Ok(Redirect::to(super::pages::local_path(&form.next)).into_response());
    }
    let page = CodePage {
        layout: layout.with_csrf(&session).await?,
        next: super::pages::local_path(&form.next).to_owned(),
        error: Some(WRONG_CODE),
    };
    Ok((StatusCode::UNAUTHORIZED, render(&page)?).into_response())
}

/// Starts enrolling: the key and `otpauth://` URL for an authenticator app
/// (kept in the session until confirmed with `/enable`).
#[utoipa::path(post, path = "/api/v1/account/two-factor/setup", tag = "accounts",
    responses((status = 200, body = Enrolment), (status = 401, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(crate) async fn setup_api(
    session: Session,
    user: CurrentUser,
) -> Result<Json<Enrolment>, AppError> {
    if user.two_factor {
        return Err(AppError::Conflict(
            "Two-factor authentication is on already.".to_owned(),
        ));
    }
    Ok(Json(enrolment(&session, &user).await?.0))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Enabled {
    /// One-time codes for a lost authenticator: shown this once.
    pub recovery_codes: Vec<String>,
    /// The session's new CSRF token (enabling rotates the session).
    pub csrf_token: String,
}

/// Confirms enrolment with a code from the app.
#[utoipa::path(post, path = "/api/v1/account/two-factor/enable", tag = "accounts",
    request_body = EnableInput,
    responses((status = 200, body = Enabled), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn enable_api(
    State(state): State<AppState>,
    session: Session,
    user: CurrentUser,
    Json(input): Json<EnableInput>,
) -> Result<Json<Enabled>, AppError> {
    let recovery_codes = enable(&state, &session, &user, &input).await??;
    Ok(Json(Enabled {
        recovery_codes,
        csrf_token: csrf::token(&session).await?,
    }))
}

/// Turns two-factor authentication off (the password and a code).
#[utoipa::path(post, path = "/api/v1/account/two-factor/disable", tag = "accounts",
    request_body = DisableInput,
    responses((status = 204), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub(crate) async fn disable_api(
    State(state): State<AppState>,
    client: ClientAddress,
    user: CurrentUser,
    Json(input): Json<DisableInput>,
) -> Result<StatusCode, AppError> {
    disable(&state, client, &user, &input.password, &input.code).await??;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_codes_are_random_and_typed_loosely() {
        let (a, b) = (recovery_code(), recovery_code());
        assert_ne!(a, b);
        assert_eq!(a.len(), 11);
        assert_eq!(
            normalise(&format!(" {} ", a.to_uppercase())),
            a.replace('-', "")
        );
    }

    #[test]
    fn a_qr_code_is_an_svg() {
        let svg = qr_svg("otpauth://totp/Test:a%40b.c?secret=JBSWY3DPEHPK3PXP").unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("<path d=\"M"));
    }
}
