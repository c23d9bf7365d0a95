//! Passkeys (WebAuthn, with webauthn-rs): a user registers several on the
//! account page (each named, renamed, removed; adding one asks for the
//! password, like every change that matters), and signs in with one from
//! the sign-in page without typing an email: the passkey is discoverable,
//! and it names its user. A passkey proves possession of the device and
//! verifies the person on it (passcode or biometrics: user verification is
//! required), so a passkey sign-in is two factors in one: no code is asked.
//!
//! The relying party is the host of `BASE_URL` (a passkey works only on the
//! site it was made for); on `localhost` any port is accepted, for
//! development. The browser side is `static/passkeys.js`; the ceremonies'
//! state waits in the server-side session between their two requests.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use tower_sessions::Session;
use webauthn_rs::prelude::{
    CreationChallengeResponse, DiscoverableAuthentication, Passkey, PasskeyRegistration,
    PublicKeyCredential, RegisterPublicKeyCredential, RequestChallengeResponse, Url, Webauthn,
    WebauthnBuilder,
};
use webauthn_rs_proto::ResidentKeyRequirement;

use super::global::{self, NewPasskey, Unlinked};
use super::pages::local_path;
use super::{CurrentUser, mark_verified, reauthenticate, start_session};
use crate::api::{ErrorBody, ErrorDetail};
use crate::error::AppError;
use crate::http::AppState;
use crate::http::client_address::ClientAddress;
use crate::http::extract::{Form, Json, Path};
use crate::http::routes::{Access, Routes, post};
use crate::ids::PasskeyId;
use crate::rate_limits::Limit;
use crate::sessions::flash::{self, Flash};
use crate::validation::FieldErrors;

pub fn routes() -> Routes {
    Routes::new()
        .add(
            "/account/passkeys/start",
            Access::SignedIn,
            post(start_registration),
        )
        .add(
            "/account/passkeys/finish",
            Access::SignedIn,
            post(finish_registration),
        )
        .add(
            "/account/passkeys/{id}/rename",
            Access::SignedIn,
            post(rename),
        )
        .add(
            "/account/passkeys/{id}/delete",
            Access::SignedIn,
            post(delete),
        )
        .add("/login/passkey/start", Access::Public, post(start_sign_in))
        .add(
            "/login/passkey/finish",
            Access::Public,
            post(finish_sign_in),
        )
}

/// The session key of a registration under way, and the name it will get.
const REGISTRATION_KEY: &str = "passkey_registration";
/// The session key of a sign-in under way, and where it goes after.
const SIGN_IN_KEY: &str = "passkey_sign_in";

/// The longest name a passkey may have.
const MAX_NAME: usize = 60;

/// Why passkeys are off when `BASE_URL`'s host is an IP address.
const NEEDS_A_DOMAIN: &str = "Passkeys need the site to have a domain name: set BASE_URL to one \
                              (http://localhost:3000 in development), not an IP address.";

/// The relying party: this site, as `BASE_URL` names it; `None` when its
/// host is an IP address, which can't have passkeys (the pages then offer
/// none).
fn relying_party(state: &AppState) -> Option<Webauthn> {
    let origin = Url::parse(&state.config.base_url).ok()?;
    let host = origin.domain()?.to_owned();
    WebauthnBuilder::new(&host, &origin)
        .and_then(|builder| {
            builder
                .rp_name(crate::brand::APP_NAME)
                // The development server's port is whatever it got.
                .allow_any_port(host == "localhost")
                .build()
        })
        .ok()
}

/// Whether this site can have passkeys (see [`relying_party`]).
pub fn available(state: &AppState) -> bool {
    relying_party(state).is_some()
}

/// The answer when this site can't have passkeys.
fn passkeys_off() -> Response {
    refused(StatusCode::NOT_FOUND, "passkeys_off", NEEDS_A_DOMAIN)
}

/// How long a ceremony's challenge stays good (webauthn-rs' timeout).
const CEREMONY_SECONDS: i64 = 300;

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// A refusal the page's script shows as it is: `{"error": {"code", "message"}}`.
fn refused(status: StatusCode, code: &'static str, message: impl Into<String>) -> Response {
    let body = ErrorBody {
        error: ErrorDetail {
            code,
            message: message.into(),
        },
    };
    (status, Json(body)).into_response()
}

#[derive(Deserialize)]
struct StartRegistration {
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
    /// With two-factor on: a code from the authenticator app (or a
    /// recovery code). A passkey signs in without one, so adding one takes
    /// both factors, as turning two-factor off does.
    #[serde(default)]
    code: String,
}

#[derive(Serialize, Deserialize)]
struct Registering {
    state: PasskeyRegistration,
    name: String,
    started: i64,
}

/// A passkey's name: trimmed, 1 to 60 characters.
fn valid_name(name: &str) -> Result<String, &'static str> {
    let name = name.trim();
    if name.is_empty() {
        Err("Name the passkey, for example after the device it is on.")
    } else if name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
        Err("A passkey's name is at most 60 characters, on one line.")
    } else {
        Ok(name.to_owned())
    }
}

/// The credential ids of the user's passkeys, which a new one must not
/// repeat (an authenticator holds one passkey per account and site).
async fn registered(state: &AppState, user: &CurrentUser) -> Result<Vec<Vec<u8>>, AppError> {
    let records = global::passkey_records(&state.db, user.id).await?;
    Ok(records
        .iter()
        .filter_map(|record| serde_json::from_str::<Passkey>(record).ok())
        .map(|passkey| passkey.cred_id().clone())
        .collect())
}

/// Asks the browser to make a discoverable passkey that verifies its user,
/// once the password is right and the name fits.
async fn start_registration(
    State(state): State<AppState>,
    client: ClientAddress,
    session: Session,
    user: CurrentUser,
    Json(input): Json<StartRegistration>,
) -> Result<Response, AppError> {
    let Some(relying_party) = relying_party(&state) else {
        return Ok(passkeys_off());
    };
    let name = match valid_name(&input.name) {
        Ok(name) => name,
        Err(message) => {
            return Ok(refused(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
                message,
            ));
        }
    };
    if let Err(errors) = reauthenticate(&state, &user, &input.password, "password").await? {
        let message = errors.get("password").unwrap_or_default().to_owned();
        return Ok(refused(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            message,
        ));
    }
    if user.two_factor
        && !super::two_factor::attempt(&state, client, user.id, &user.email, &input.code).await?
    {
        return Ok(refused(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            "Enter a code from your authenticator app (or a recovery code): that one is not right.",
        ));
    }
    let exclude = registered(&state, &user).await?;
    let (mut options, registration): (CreationChallengeResponse, PasskeyRegistration) =
        relying_party
            .start_passkey_registration(user.id.as_uuid(), &user.email, &user.email, Some(exclude))
            .map_err(|error| AppError::Internal(format!("passkey registration: {error}")))?;
    // webauthn-rs asks for a credential that stays on the server's list;
    // signing in without an email needs one the authenticator keeps.
    if let Some(selection) = options.public_key.authenticator_selection.as_mut() {
        selection.resident_key = Some(ResidentKeyRequirement::Required);
        selection.require_resident_key = true;
    }
    let registering = Registering {
        state: registration,
        name,
        started: now(),
    };
    session.insert(REGISTRATION_KEY, &registering).await?;
    Ok(Json(options).into_response())
}

/// Checks the browser's new passkey against the registration under way
/// and keeps it.
async fn finish_registration(
    State(state): State<AppState>,
    session: Session,
    user: CurrentUser,
    Json(credential): Json<RegisterPublicKeyCredential>,
) -> Result<Response, AppError> {
    let Some(relying_party) = relying_party(&state) else {
        return Ok(passkeys_off());
    };
    let registering = super::oauth::take::<Registering>(&session, REGISTRATION_KEY)
        .await?
        .filter(|registering| now() - registering.started <= CEREMONY_SECONDS);
    let Some(registering) = registering else {
        return Ok(refused(
            StatusCode::BAD_REQUEST,
            "no_registration",
            "No passkey is being added here: start again from your account page.",
        ));
    };
    let passkey = match relying_party.finish_passkey_registration(&credential, &registering.state) {
        Ok(passkey) => passkey,
        Err(error) => {
            tracing::warn!(%error, "a passkey registration was refused");
            return Ok(refused(
                StatusCode::BAD_REQUEST,
                "passkey_refused",
                "That passkey could not be checked: try again, or with another device.",
            ));
        }
    };
    let record = serde_json::to_string(&passkey)
        .map_err(|error| AppError::Internal(format!("a passkey's record: {error}")))?;
    let added = global::insert_passkey(
        &state.db,
        &NewPasskey {
            user: user.id,
            name: &registering.name,
            credential_id: &URL_SAFE_NO_PAD.encode(passkey.cred_id()),
            record: &record,
        },
    )
    .await?;
    if !added {
        return Ok(refused(
            StatusCode::CONFLICT,
            "passkey_taken",
            "That passkey is registered already.",
        ));
    }
    let method = format!("The passkey \u{201c}{}\u{201d}", registering.name);
    super::oauth::notify(&state, user.id, method, true).await?;
    let message = format!("Passkey \u{201c}{}\u{201d} added.", registering.name);
    flash::push(&session, Flash::success(message)).await?;
    Ok(Json(serde_json::json!({ "redirect": "/account" })).into_response())
}

#[derive(Deserialize)]
struct RenameForm {
    #[serde(default)]
    name: String,
}

async fn rename(
    State(state): State<AppState>,
    layout: crate::pages::Layout,
    session: Session,
    user: CurrentUser,
    Path(id): Path<PasskeyId>,
    Form(form): Form<RenameForm>,
) -> Result<Response, AppError> {
    let name = match valid_name(&form.name) {
        Ok(name) => name,
        Err(message) => {
            let errors = FieldErrors::single("passkey_name", message);
            return super::account::outcome(
                &state,
                layout,
                &session,
                user,
                Err((errors, String::new())),
            )
            .await;
        }
    };
    if !global::rename_passkey(&state.db, user.id, id, &name).await? {
        return Err(AppError::NotFound);
    }
    flash::push(
        &session,
        Flash::success(format!("Passkey renamed \u{201c}{name}\u{201d}.")),
    )
    .await?;
    Ok(Redirect::to("/account").into_response())
}

/// Removes a passkey, unless it is the account's last way to sign in.
async fn delete(
    State(state): State<AppState>,
    session: Session,
    user: CurrentUser,
    Path(id): Path<PasskeyId>,
) -> Result<Response, AppError> {
    let configured = super::oauth::configured_keys(&state);
    let message = match global::delete_passkey(&state.db, user.id, id, &configured).await? {
        Unlinked::Done => {
            super::oauth::notify(&state, user.id, "A passkey".to_owned(), false).await?;
            Flash::success("Passkey removed: it no longer signs you in.")
        }
        Unlinked::LastWay => Flash::error(
            "This passkey is your only way to sign in: set a password (Forgot your password? on the sign-in page) or add another first.",
        ),
        Unlinked::NotLinked => return Err(AppError::NotFound),
    };
    flash::push(&session, message).await?;
    Ok(Redirect::to("/account").into_response())
}

#[derive(Deserialize)]
struct StartSignIn {
    #[serde(default)]
    next: String,
}

#[derive(Serialize, Deserialize)]
struct SigningIn {
    state: DiscoverableAuthentication,
    next: String,
    started: i64,
}

/// Asks the browser for any passkey of this site that verifies its user.
async fn start_sign_in(
    State(state): State<AppState>,
    client: ClientAddress,
    session: Session,
    Json(input): Json<StartSignIn>,
) -> Result<Response, AppError> {
    state.rate_limits.check_address(Limit::Login, client.0)?;
    let Some(relying_party) = relying_party(&state) else {
        return Ok(passkeys_off());
    };
    let (options, authentication): (RequestChallengeResponse, DiscoverableAuthentication) =
        relying_party
            .start_discoverable_authentication()
            .map_err(|error| AppError::Internal(format!("passkey sign-in: {error}")))?;

    let signing_in = SigningIn {
        state: authentication,
        next: local_path(&input.next).to_owned(),
        started: now(),
    };
    session.insert(SIGN_IN_KEY, &signing_in).await?;
    Ok(Json(options).into_response())
}

/// Signs in the user whose passkey the browser presented, once its
/// signature, this site, the challenge and the user's verification are
/// checked. Two factors in one: no code is asked after it.
async fn finish_sign_in(
    State(state): State<AppState>,
    client: ClientAddress,
    session: Session,
    Json(credential): Json<PublicKeyCredential>,
) -> Result<Response, AppError> {
    state.rate_limits.check_address(Limit::Login, client.0)?;
    let not_signed_in = |message: &str| {
        Ok(refused(
            StatusCode::UNAUTHORIZED,
            "passkey_refused",
            message.to_owned(),
        ))
    };
    let Some(relying_party) = relying_party(&state) else {
        return Ok(passkeys_off());
    };
    let signing_in = super::oauth::take::<SigningIn>(&session, SIGN_IN_KEY)
        .await?
        .filter(|signing_in| now() - signing_in.started <= CEREMONY_SECONDS);
    let Some(signing_in) = signing_in else {
        return not_signed_in("This sign-in has expired: press the button again.");
    };
    let Ok((user_handle, credential_id)) =
        relying_party.identify_discoverable_authentication(&credential)
    else {
        return not_signed_in("That passkey names no account here.");
    };
    let found =
        global::passkey_by_credential(&state.db, &URL_SAFE_NO_PAD.encode(credential_id)).await?;
    let Some(found) = found.filter(|found| found.user_id.as_uuid() == user_handle) else {
        return not_signed_in("That passkey is not registered here (it may have been removed).");
    };
    let Ok(mut passkey) = serde_json::from_str::<Passkey>(&found.passkey) else {
        tracing::error!(passkey = %found.id, "a stored passkey can't be read");
        return not_signed_in(
            "This passkey can't be used any more: sign in another way, remove it and add it again.",
        );
    };
    let result = match relying_party.finish_discoverable_authentication_v2(
        &credential,
        signing_in.state,
        &passkey,
    ) {
        // The ceremony required user verification, and webauthn-rs refuses
        // an answer without it (UserNotVerified).
        Ok(result) => result,
        Err(error) => {
            tracing::warn!(%error, "a passkey sign-in was refused");
            return not_signed_in("That passkey's answer could not be checked: try again.");
        }
    };
    passkey.update_credential(&result);
    let record = serde_json::to_string(&passkey)
        .map_err(|error| AppError::Internal(format!("a passkey's record: {error}")))?;
    // Told to the script, as JSON like its other refusals.
    match crate::sso::refuse_if_required_for(&state, found.user_id).await {
        Err(AppError::Forbidden(message)) => {
            return Ok(refused(
                StatusCode::FORBIDDEN,
                "single_sign_on_required",
                message,
            ));
        }
        checked => checked?,
    }
    if !global::passkey_used(&state.db, found.user_id, found.id, &record).await? {
        return not_signed_in("That passkey was removed meanwhile.");
    }
    start_session(&session, found.user_id).await?;
    mark_verified(&session, found.user_id).await?;
    Ok(Json(serde_json::json!({ "redirect": signing_in.next })).into_response())
}

/// The URL of the pages' passkey script.
pub fn script_url() -> String {
    crate::http::assets::url("passkeys.js")
}

/// The account page's "Passkeys".
pub struct PasskeysView {
    /// (id, name, day added, day last used).
    pub listed: Vec<(PasskeyId, String, String, Option<String>)>,
}

/// # Errors
/// When the database fails.
pub async fn listed(state: &AppState, user: &CurrentUser) -> Result<PasskeysView, AppError> {
    let passkeys = global::passkeys(&state.db, user.id).await?;
    Ok(PasskeysView {
        listed: passkeys
            .into_iter()
            .map(|passkey| {
                (
                    passkey.id,
                    passkey.name,
                    passkey.created_at.date().to_string(),
                    passkey.last_used_at.map(|used| used.date().to_string()),
                )
            })
            .collect(),
    })
}
