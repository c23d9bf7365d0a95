//! Sign-in with Google, GitHub and any OpenID Connect provider, each shown
//! on the sign-in page only when its client id and secret are set
//! (`GOOGLE_*`, `GITHUB_*`, `OIDC_*`; docs/sign-in-providers.md says how to
//! get them).
//!
//! A provider account ("identity": the provider's stable id for the
//! person) signs in the user it is linked to, and a second factor is still
//! asked for. One that is linked to no one:
//! * signs up a new user, asked for their organisation's name first, when
//!   the provider verified an address no account has;
//! * is refused when the address belongs to an account: that account must
//!   sign in (password or sign-in link) and link it from the account page,
//!   so a provider account can never take over an account by its address;
//! * is refused when the provider didn't verify the address.
//!
//! The account page lists linked identities, links more (with the
//! password, like every change that matters) and unlinks them, never the
//! account's last way to sign in; each link and unlink is mailed to the
//! account. Only the provider's id for the person, its issuer and the
//! address it gave are stored: no provider token.

mod http_client;
pub mod providers;

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tower_sessions::Session;

use super::EMAIL_TAKEN;
use super::email::Email;
use super::global::{self, Unlinked};
use super::pages::{Next, local_path};
use super::signup::{OrganisationInput, ProviderIdentity};
use super::{CurrentUser, SignedIn, reauthenticate};
use crate::config::ProviderConfig;
use crate::error::AppError;
use crate::http::AppState;
use crate::http::client_address::ClientAddress;
use crate::http::extract::{Form, Path, Query};
use crate::http::routes::{Access, Routes, get, post};
use crate::ids::UserId;
use crate::mail::{self, Mail};
use crate::pages::{Layout, render};
use crate::rate_limits::{self, Limit};
use crate::sessions::flash::{self, Flash};
use crate::text_body;
use crate::validation::{FieldErrors, time_zone_options};
use http_client::HttpClient;
use providers::{Failure, RoundTrip};

pub fn routes() -> Routes {
    Routes::new()
        .add(
            "/login/oauth/{provider}",
            Access::Public,
            get(start_sign_in),
        )
        .add(
            "/login/oauth/{provider}/callback",
            Access::Public,
            get(callback),
        )
        .add(
            "/signup/oauth",
            Access::Public,
            get(signup_form).post(signup),
        )
        .add(
            "/account/identities/{provider}",
            Access::SignedIn,
            post(start_linking),
        )
        .add(
            "/account/identities/{provider}/unlink",
            Access::SignedIn,
            post(unlink),
        )
}

/// The session key of the round trip under way.
const ROUND_TRIP_KEY: &str = "oauth_round_trip";
/// The session key of a provider account signing up (the organisation's
/// name is asked for next).
const SIGNUP_KEY: &str = "oauth_signup";

/// How long a signup through a provider waits for its organisation's name.
const SIGNUP_MINUTES: i64 = 15;

/// A provider account waiting to sign up in this browser, until `expires`.
#[derive(Serialize, Deserialize)]
struct WaitingSignup {
    identity: ProviderIdentity,
    expires: i64,
}

/// The value under `key`, taken out of the session; `None` too when it no
/// longer reads as a `T` (written by an older version of the app).
pub(crate) async fn take<T: DeserializeOwned>(
    session: &Session,
    key: &str,
) -> Result<Option<T>, AppError> {
    Ok(session
        .remove_value(key)
        .await?
        .and_then(|value| serde_json::from_value(value).ok()))
}

/// A round trip under way, in the session of the browser that began it.
#[derive(Serialize, Deserialize)]
struct Pending {
    provider: String,
    secrets: RoundTrip,
    /// Where to go once signed in.
    next: String,
    /// Begun from the account page by this user: link, don't sign in.
    linking: Option<UserId>,
}

/// The configured provider with this key, or 404.
fn configured<'a>(state: &'a AppState, key: &str) -> Result<&'a ProviderConfig, AppError> {
    state
        .config
        .sign_in_providers
        .iter()
        .find(|provider| provider.key == key)
        .ok_or(AppError::NotFound)
}

/// Where `provider` sends the browser back: the redirect URI to register
/// with it.
fn callback_url(state: &AppState, provider: &ProviderConfig) -> String {
    format!(
        "{}/login/oauth/{}/callback",
        state.config.base_url, provider.key
    )
}

/// The one HTTP client for providers, built on first use.
pub(crate) fn http() -> &'static HttpClient {
    static CLIENT: std::sync::OnceLock<HttpClient> = std::sync::OnceLock::new();
    CLIENT.get_or_init(HttpClient::new)
}

/// What went wrong, on a page of its own. Nothing was created or changed.
#[derive(Template)]
#[template(path = "accounts/provider_problem.html")]
struct ProblemPage {
    layout: Layout,
    title: &'static str,
    message: String,
    /// Where the page's one link goes, and what it says.
    link: (&'static str, &'static str),
}

pub(crate) fn problem(
    layout: Layout,
    status: StatusCode,
    title: &'static str,
    message: String,
) -> Result<Response, AppError> {
    problem_linking(
        layout,
        status,
        title,
        message,
        ("/login", "Back to sign in"),
    )
}

pub(crate) fn problem_linking(
    layout: Layout,
    status: StatusCode,
    title: &'static str,
    message: String,
    link: (&'static str, &'static str),
) -> Result<Response, AppError> {
    let page = render(&ProblemPage {
        layout,
        title,
        message,
        link,
    })?;
    Ok((status, page).into_response())
}

/// Sends the browser to the provider, having kept what its return must
/// match in the session.
async fn begin(
    state: &AppState,
    layout: Layout,
    session: &Session,
    provider: &ProviderConfig,
    next: String,
    linking: Option<UserId>,
) -> Result<Response, AppError> {
    // A new round trip replaces whatever an earlier one left waiting.
    session.remove_value(SIGNUP_KEY).await?;
    match providers::start(http(), provider, &callback_url(state, provider)).await {
        Ok(started) => {
            let pending = Pending {
                provider: provider.key.to_owned(),
                secrets: started.secrets,
                next,
                linking,
            };
            session.insert(ROUND_TRIP_KEY, &pending).await?;
            Ok(Redirect::to(&started.url).into_response())
        }
        Err(failure) => failed(layout, &provider.name, failure),
    }
}

/// The page for a round trip that failed at the provider (`name`): down,
/// or refusing. Nothing was created or changed.
pub(crate) fn failed(layout: Layout, name: &str, failure: Failure) -> Result<Response, AppError> {
    if let Failure::Unavailable(_) = failure {
        tracing::warn!(provider = name, %failure, "sign-in provider unavailable");
        return problem(
            layout,
            StatusCode::BAD_GATEWAY,
            "The sign-in provider is not answering",
            format!(
                "{name} can't be reached right now. Try again in a few minutes, or sign in another way."
            ),
        );
    }
    tracing::warn!(provider = name, %failure, "sign-in refused");
    let message = match failure {
        Failure::CodeRefused(_) => format!(
            "{name} refused this sign-in: it was finished already, or took too long. Start again from the sign-in page."
        ),
        _ => format!("{name} didn't confirm who you are. Start again from the sign-in page."),
    };
    problem(
        layout,
        StatusCode::BAD_REQUEST,
        "This sign-in can't be finished",
        message,
    )
}

/// The sign-in page's "Continue with …" button.
async fn start_sign_in(
    State(state): State<AppState>,
    client: ClientAddress,
    layout: Layout,
    session: Session,
    signed_in: Option<SignedIn>,
    Path(key): Path<String>,
    Query(next): Query<Next>,
) -> Result<Response, AppError> {
    let provider = configured(&state, &key)?;
    if signed_in.is_some() {
        return Ok(Redirect::to(next.local_path()).into_response());
    }
    state
        .rate_limits
        .check_address(Limit::ProviderSignIn, client.0)?;
    let next = next.local_path().to_owned();
    begin(&state, layout, &session, provider, next, None).await
}

#[derive(Deserialize)]
struct LinkForm {
    /// The account's password: linking adds a way into the account, so it
    /// asks for the password as every change that matters does.
    #[serde(default)]
    link_password: String,
}

/// The account page's "Link …" button.
async fn start_linking(
    State(state): State<AppState>,
    layout: Layout,
    session: Session,
    user: CurrentUser,
    Path(key): Path<String>,
    Form(form): Form<LinkForm>,
) -> Result<Response, AppError> {
    let provider = configured(&state, &key)?;
    if let Err(errors) = reauthenticate(&state, &user, &form.link_password, "link_password").await?
    {
        return super::account::outcome(
            &state,
            layout,
            &session,
            user,
            Err((errors, String::new())),
        )
        .await;
    }
    let next = "/account".to_owned();
    begin(&state, layout, &session, provider, next, Some(user.id)).await
}

/// What a provider sends the browser back with.
#[derive(Deserialize)]
pub(crate) struct Callback {
    code: Option<String>,
    state: Option<String>,
    /// The provider's refusal (`access_denied` when the person declined).
    error: Option<String>,
}

impl Callback {
    /// It answers the round trip whose `state` this browser kept.
    pub(crate) fn answers(&self, state: &str) -> bool {
        self.state
            .as_deref()
            .is_some_and(|returned| subtle_eq(returned, state))
    }

    /// The code the provider (`name`) sent, or why there is none (for a
    /// "Not signed in" page).
    pub(crate) fn code(self, name: &str) -> Result<String, String> {
        if let Some(error) = self.error {
            return Err(if error == "access_denied" {
                format!("You didn't allow {name} to sign you in.")
            } else {
                format!("{name} refused the sign-in ({error}).")
            });
        }
        self.code
            .ok_or_else(|| format!("{name} sent no code back."))
    }
}

/// The page for a return this browser didn't begin (or began and finished
/// already).
pub(crate) fn not_started(layout: Layout) -> Result<Response, AppError> {
    problem(
        layout,
        StatusCode::BAD_REQUEST,
        "This sign-in can't be finished",
        "It was not started in this browser, or it was finished already. Start again from the sign-in page.".to_owned(),
    )
}

/// The provider sends the browser back here with a code. The round trip
/// is taken out of the session first, so this browser can try it once
/// (the provider takes each code once, whoever tries).
async fn callback(
    State(state): State<AppState>,
    client: ClientAddress,
    layout: Layout,
    session: Session,
    signed_in: Option<SignedIn>,
    Path(key): Path<String>,
    Query(answer): Query<Callback>,
) -> Result<Response, AppError> {
    let provider = configured(&state, &key)?;
    state
        .rate_limits
        .check_address(Limit::ProviderSignIn, client.0)?;
    let pending = take::<Pending>(&session, ROUND_TRIP_KEY).await?;
    session.remove_value(SIGNUP_KEY).await?;
    let Some(pending) = pending.filter(|pending| {
        pending.provider == provider.key && answer.answers(&pending.secrets.state)
    }) else {
        return not_started(layout);
    };
    let code = match answer.code(&provider.name) {
        Ok(code) => code,
        Err(message) => {
            return problem(layout, StatusCode::BAD_REQUEST, "Not signed in", message);
        }
    };
    let asserted = match providers::finish(
        http(),
        provider,
        &callback_url(&state, provider),
        &pending.secrets,
        code,
    )
    .await
    {
        Ok(asserted) => asserted,
        Err(failure) => return failed(layout, &provider.name, failure),
    };
    let owner =
        global::identity_owner(&state.db, provider.key, &asserted.issuer, &asserted.subject)
            .await?;
    if let Some(user) = pending.linking {
        return link(
            &state, layout, &session, signed_in, provider, user, owner, asserted,
        )
        .await;
    }
    if signed_in.is_some() {
        // Signed in meanwhile (in another tab): this round trip changes nothing.
        return Ok(Redirect::to(local_path(&pending.next)).into_response());
    }
    if let Some(owner) = owner {
        crate::sso::refuse_if_required_for(&state, owner.id).await?;
        return super::pages::signed_in_or_second_factor(
            &session,
            owner.id,
            owner.two_factor,
            local_path(&pending.next),
        )
        .await;
    }
    let email = match asserted.email {
        Some(email) if asserted.email_verified == Some(true) => email,
        _ => {
            return problem(
                layout,
                StatusCode::BAD_REQUEST,
                "Your email address is not confirmed",
                format!(
                    "{} didn't confirm an email address for your account there. Confirm it at {}, or sign up with a password.",
                    provider.name, provider.name
                ),
            );
        }
    };
    crate::sso::refuse_if_required(&state, email.as_str()).await?;
    if global::credentials(&state.db, &email).await?.is_some() {
        return problem_linking(
            layout,
            StatusCode::CONFLICT,
            "You have an account already",
            format!(
                "An account with {} exists. Sign in to it (with your password or a sign-in link), then link {} on your account page.",
                email.as_str(),
                provider.name
            ),
            ("/login?next=/account", "Sign in"),
        );
    }
    let waiting = WaitingSignup {
        identity: ProviderIdentity {
            provider: provider.key.to_owned(),
            issuer: asserted.issuer,
            subject: asserted.subject,
            email,
        },
        expires: OffsetDateTime::now_utc().unix_timestamp() + SIGNUP_MINUTES * 60,
    };
    // A new session id: one planted in this browser before can't finish
    // the signup.
    session.cycle_id().await?;
    session.insert(SIGNUP_KEY, &waiting).await?;
    Ok(Redirect::to("/signup/oauth").into_response())
}

/// Compares two secrets in constant time.
fn subtle_eq(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Links the provider account to the user who began linking, if they are
/// still the one signed in and the account is linked to no one.
#[allow(clippy::too_many_arguments)]
async fn link(
    state: &AppState,
    layout: Layout,
    session: &Session,
    signed_in: Option<SignedIn>,
    provider: &ProviderConfig,
    user: UserId,
    owner: Option<global::IdentityOwner>,
    asserted: providers::Asserted,
) -> Result<Response, AppError> {
    let back = ("/account", "Back to your account");
    if signed_in.map(|SignedIn(id)| id) != Some(user) {
        return problem(
            layout,
            StatusCode::BAD_REQUEST,
            "Nothing was linked",
            "You signed out, or in as someone else, before the link was made.".to_owned(),
        );
    }
    let message = match owner {
        Some(owner) if owner.id == user => {
            format!("That {} account is linked to yours already.", provider.name)
        }
        Some(_) => {
            return problem_linking(
                layout,
                StatusCode::CONFLICT,
                "Nothing was linked",
                format!(
                    "That {} account signs in another user here. Unlink it there first.",
                    provider.name
                ),
                back,
            );
        }
        None => {
            let email = asserted.email.map(|email| email.as_str().to_owned());
            let linked = global::link_identity(
                &state.db,
                user,
                provider.key,
                &asserted.issuer,
                &asserted.subject,
                email.as_deref().unwrap_or_default(),
            )
            .await?;
            if !linked {
                return problem_linking(
                    layout,
                    StatusCode::CONFLICT,
                    "Nothing was linked",
                    format!(
                        "A {} account is linked already: unlink the one on your account first.",
                        provider.name
                    ),
                    back,
                );
            }
            notify(state, user, provider.name.clone(), true).await?;
            format!("{} is linked: you can sign in with it.", provider.name)
        }
    };
    flash::push(session, Flash::success(message)).await?;
    Ok(Redirect::to("/account").into_response())
}

#[derive(Template)]
#[template(path = "accounts/provider_signup.html")]
struct SignupPage {
    layout: Layout,
    provider: String,
    email: String,
    form: OrganisationInput,
    errors: FieldErrors,
    time_zones: &'static [(String, String)],
}

/// The provider account waiting to sign up in this browser (for 15
/// minutes), and its provider (configured still).
async fn signing_up<'a>(
    state: &'a AppState,
    session: &Session,
) -> Result<Option<(ProviderIdentity, &'a ProviderConfig)>, AppError> {
    let Some(waiting) = take::<WaitingSignup>(session, SIGNUP_KEY).await? else {
        return Ok(None);
    };
    if waiting.expires < OffsetDateTime::now_utc().unix_timestamp() {
        return Ok(None);
    }
    let Ok(provider) = configured(state, &waiting.identity.provider) else {
        return Ok(None);
    };
    session.insert(SIGNUP_KEY, &waiting).await?;
    Ok(Some((waiting.identity, provider)))
}

async fn signup_page(
    layout: Layout,
    session: &Session,
    identity: &ProviderIdentity,
    provider: &ProviderConfig,
    form: OrganisationInput,
    errors: FieldErrors,
) -> Result<Html<String>, AppError> {
    render(&SignupPage {
        layout: layout.with_csrf(session).await?,
        provider: provider.name.clone(),
        email: identity.email.as_str().to_owned(),
        form,
        errors,
        time_zones: time_zone_options(),
    })
}

async fn signup_form(
    State(state): State<AppState>,
    layout: Layout,
    session: Session,
) -> Result<Response, AppError> {
    let Some((identity, provider)) = signing_up(&state, &session).await? else {
        return Ok(Redirect::to("/signup").into_response());
    };
    let form = OrganisationInput {
        time_zone: "UTC".to_owned(),
        ..OrganisationInput::default()
    };
    let page = signup_page(
        layout,
        &session,
        &identity,
        provider,
        form,
        FieldErrors::default(),
    )
    .await?;
    Ok(page.into_response())
}

/// Creates the account the provider vouched for, with its organisation,
/// signed in.
async fn signup(
    State(state): State<AppState>,
    client: ClientAddress,
    layout: Layout,
    session: Session,
    Form(form): Form<OrganisationInput>,
) -> Result<Response, AppError> {
    state.rate_limits.check_address(Limit::Signup, client.0)?;
    let Some((identity, provider)) = signing_up(&state, &session).await? else {
        return Ok(Redirect::to("/signup").into_response());
    };
    let tenant = match form.validate() {
        Ok(tenant) => tenant,
        Err(errors) => {
            let page = signup_page(layout, &session, &identity, provider, form, errors).await?;
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
        }
    };
    rate_limits::count_account(&state.db, Limit::Signup, identity.email.as_str()).await?;
    match super::signup::create_with_identity(&state.db, &identity, &tenant).await? {
        Ok((user, tenant)) => {
            super::pages::welcome(&session, user).await?;
            Ok(Redirect::to(&format!("/t/{}/locations", tenant.slug)).into_response())
        }
        Err(_) => {
            // The address or the identity got an account since: nothing
            // to finish here.
            session.remove_value(SIGNUP_KEY).await?;
            problem_linking(
                layout,
                StatusCode::CONFLICT,
                "You have an account already",
                EMAIL_TAKEN.to_owned(),
                ("/login", "Sign in"),
            )
        }
    }
}

/// Unlinks a provider account, unless it is the last way to sign in.
async fn unlink(
    State(state): State<AppState>,
    session: Session,
    user: CurrentUser,
    Path(key): Path<String>,
) -> Result<Response, AppError> {
    let configured_keys = configured_keys(&state);
    // A provider no longer configured can still be unlinked, by the key
    // the account page shows.
    let name = configured(&state, &key).map_or_else(|_| key.clone(), |p| p.name.clone());
    let unlinked = global::unlink_identity(&state.db, user.id, &key, &configured_keys).await?;
    let message = match unlinked {
        Unlinked::Done => {
            notify(&state, user.id, name.clone(), false).await?;
            Flash::success(format!("{name} is unlinked: it no longer signs you in."))
        }
        Unlinked::LastWay => Flash::error(format!(
            "{name} is your only way to sign in: set a password (Forgot your password? on the sign-in page) or link another first."
        )),
        Unlinked::NotLinked => Flash::error(format!("No {name} account is linked to yours.")),
    };
    flash::push(&session, message).await?;
    Ok(Redirect::to("/account").into_response())
}

/// The notice of a way to sign in added to an account or removed from it
/// (a provider account, a passkey), to the account's address: whoever
/// holds a session can't add one quietly.
#[derive(Template)]
#[template(path = "mail/sign_in_method.html")]
pub struct SignInMethodMail {
    pub app_name: &'static str,
    /// "GitHub", "The passkey “Work laptop”".
    pub method: String,
    /// Added, or removed.
    pub added: bool,
}

text_body!(SignInMethodMail, "mail/sign_in_method.txt");

impl Mail for SignInMethodMail {
    fn subject(&self) -> String {
        // The fixed words first: the method's name may be one a borrowed
        // session chose.
        let change = if self.added {
            "Added to"
        } else {
            "Removed from"
        };
        format!("{change} your {} account: {}", self.app_name, self.method)
    }
}

/// Mails the account's address that `method` was added or removed.
///
/// # Errors
/// When the database fails.
pub(super) async fn notify(
    state: &AppState,
    user: UserId,
    method: String,
    added: bool,
) -> Result<(), AppError> {
    let Some(account) = global::find_user(&state.db, user).await? else {
        return Ok(());
    };
    let email = Email::parse(&account.email).map_err(|e| AppError::Internal(e.to_owned()))?;
    let notice = SignInMethodMail {
        app_name: crate::brand::APP_NAME,
        method,
        added,
    };
    mail::send(&state.db, &email, &notice).await
}

/// The account page's "Sign-in methods": the linked provider accounts,
/// and the configured providers not linked yet.
pub struct Identities {
    /// (key, name, the address the provider gave, the day it was linked).
    pub linked: Vec<(String, String, String, String)>,
    /// (key, name).
    pub linkable: Vec<(&'static str, String)>,
    /// Linking asks for the password: an account without one sets it first.
    pub has_password: bool,
}

/// # Errors
/// When the database fails.
pub async fn identities(state: &AppState, user: &CurrentUser) -> Result<Identities, AppError> {
    let linked = global::identities(&state.db, user.id).await?;
    let name =
        |key: &str| configured(state, key).map_or_else(|_| key.to_owned(), |p| p.name.clone());
    let linkable = buttons(state)
        .into_iter()
        .filter(|(key, _)| !linked.iter().any(|identity| identity.provider == *key))
        .collect();
    let email = Email::parse(&user.email).map_err(|e| AppError::Internal(e.to_owned()))?;
    let has_password = global::credentials(&state.db, &email)
        .await?
        .is_some_and(|found| found.password_hash.is_some());
    Ok(Identities {
        linked: linked
            .into_iter()
            .map(|identity| {
                let name = name(&identity.provider);
                let day = identity.created_at.date().to_string();
                (identity.provider, name, identity.email, day)
            })
            .collect(),
        linkable,
        has_password,
    })
}

/// The configured providers' keys: the ones whose accounts sign in (for
/// the last-way-to-sign-in checks).
pub fn configured_keys(state: &AppState) -> Vec<&'static str> {
    state
        .config
        .sign_in_providers
        .iter()
        .map(|provider| provider.key)
        .collect()
}

/// The providers on the sign-in page, as (key, name).
pub fn buttons(state: &AppState) -> Vec<(&'static str, String)> {
    state
        .config
        .sign_in_providers
        .iter()
        .map(|provider| (provider.key, provider.name.clone()))
        .collect()
}
