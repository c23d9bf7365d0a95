//! Signup, sign-in and sign-out pages, and the account page.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use tower_sessions::Session;

use super::signup::SignupInput;
use super::{BAD_CREDENTIALS, LoginInput, SignedIn};
use crate::billing::ChosenPlan;
use crate::error::AppError;
use crate::http::AppState;
use crate::http::client_address::ClientAddress;
use crate::http::extract::{Form, Query};
use crate::http::routes::{Access, Routes, get, post};
use crate::ids::UserId;
use crate::pages::{Layout, render};
use crate::sessions::flash::{self, Flash};
use crate::validation::{FieldErrors, time_zone_options};

pub fn routes() -> Routes {
    Routes::new()
        .add("/signup", Access::Public, get(signup_form).post(signup))
        .add("/login", Access::Public, get(login_form).post(login))
        .add("/logout", Access::Public, post(logout))
        .add("/logout/others", Access::SignedIn, post(logout_others))
}

#[derive(Template)]
#[template(path = "accounts/signup.html")]
struct SignupPage {
    layout: Layout,
    form: SignupInput,
    errors: FieldErrors,
    time_zones: &'static [(String, String)],
    /// The plan chosen on the pricing page, carried to checkout: (key,
    /// interval, what the page says of it).
    chosen: Option<(&'static str, &'static str, String)>,
    /// The configured sign-in providers, as (key, name).
    providers: Vec<(&'static str, String)>,
    /// Where the providers' buttons go back to: nowhere in particular.
    next: &'static str,
}

/// The signup form's fields, and the plan chosen on the pricing page.
#[derive(Deserialize)]
struct SignupForm {
    #[serde(flatten)]
    input: SignupInput,
    #[serde(flatten)]
    chosen: ChosenPlan,
}

async fn signup_form(
    State(state): State<AppState>,
    layout: Layout,
    session: Session,
    signed_in: Option<SignedIn>,
    Query(chosen): Query<ChosenPlan>,
) -> Result<Response, AppError> {
    if signed_in.is_some() {
        return Ok(Redirect::to("/app").into_response());
    }
    let form = SignupInput {
        time_zone: "UTC".to_owned(),
        ..SignupInput::default()
    };
    Ok(signup_page(
        &state,
        layout,
        &session,
        form,
        &chosen,
        FieldErrors::default(),
    )
    .await?
    .into_response())
}

async fn signup_page(
    state: &AppState,
    layout: Layout,
    session: &Session,
    form: SignupInput,
    chosen: &ChosenPlan,
    errors: FieldErrors,
) -> Result<Html<String>, AppError> {
    render(&SignupPage {
        layout: layout.with_csrf(session).await?,
        form,
        errors,
        time_zones: time_zone_options(),
        chosen: chosen.on_sale(state).map(|(plan, interval)| {
            let says = format!(
                "You chose {}, billed {}: once your account exists, you go on to checkout.",
                plan.name,
                interval.as_str()
            );
            (plan.key, interval.as_str(), says)
        }),
        providers: super::oauth::buttons(state),
        next: "",
    })
}

/// Creates the account and its organisation, signed in; then to the
/// checkout of the plan chosen on the pricing page, if one was.
async fn signup(
    State(state): State<AppState>,
    client: ClientAddress,
    layout: Layout,
    session: Session,
    Form(form): Form<SignupForm>,
) -> Result<Response, AppError> {
    crate::sso::refuse_if_required(&state, &form.input.email).await?;
    let errors = match super::signup::attempt_signup(&state, client, &form.input).await? {
        Ok((user, tenant)) => {
            welcome(&session, user).await?;
            let next = match form.chosen.query(&state) {
                Some(query) => format!("/t/{}/billing{query}", tenant.slug),
                None => format!("/t/{}/locations", tenant.slug),
            };
            return Ok(Redirect::to(&next).into_response());
        }
        Err(errors) => errors,
    };
    let page = signup_page(&state, layout, &session, form.input, &form.chosen, errors).await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
}

/// Signs in a user who has just signed up, welcomed.
pub(crate) async fn welcome(session: &Session, user: UserId) -> Result<(), AppError> {
    super::start_session(session, user).await?;
    let welcome = format!("Welcome to {}!", crate::brand::APP_NAME);
    flash::push(session, Flash::success(welcome)).await?;
    Ok(())
}

#[derive(Template)]
#[template(path = "accounts/login.html")]
struct LoginPage {
    layout: Layout,
    email: String,
    next: String,
    error: Option<String>,
    /// "Email me a sign-in link" is offered (`SIGN_IN_LINKS`).
    sign_in_links: bool,
    /// The configured sign-in providers, as (key, name).
    providers: Vec<(&'static str, String)>,
    passkeys_script: String,
    /// `BASE_URL` is a domain name (see `passkeys::available`).
    passkeys_available: bool,
    /// Some organisation has single sign-on for its domain.
    single_sign_on: bool,
}

/// Where to go after signing in: a path on this site, never another site
/// (`//evil.example` is a full URL to a browser).
#[derive(Default, Deserialize)]
pub(crate) struct Next {
    #[serde(default)]
    next: String,
}

impl Next {
    pub(crate) fn local_path(&self) -> &str {
        local_path(&self.next)
    }
}

/// `next` if it is a path on this site, else `/app`. A browser normalises
/// a URL before following it: it drops tabs and line breaks and reads `\`
/// as `/`, so `/<tab>/evil.example` and `/\evil.example` are other sites
/// to it, like `//evil.example` and `https://…`. Rather than clean such a
/// value, anything that could become another origin is refused: not
/// starting with exactly one `/`, control characters, backslashes, and
/// encoded slashes or backslashes.
pub(crate) fn local_path(next: &str) -> &str {
    let lowercase = next.to_ascii_lowercase();
    let local = next.starts_with('/')
        && !next.starts_with("//")
        && !next.chars().any(|c| c.is_control() || c == '\\')
        && !lowercase.contains("%2f")
        && !lowercase.contains("%5c");
    if local { next } else { "/app" }
}

async fn login_form(
    State(state): State<AppState>,
    layout: Layout,
    session: Session,
    signed_in: Option<SignedIn>,
    Query(next): Query<Next>,
) -> Result<Response, AppError> {
    if signed_in.is_some() {
        return Ok(Redirect::to(next.local_path()).into_response());
    }
    Ok(
        login_page(&state, layout, &session, String::new(), &next, None)
            .await?
            .into_response(),
    )
}

/// The sign-in page, with what was typed and what was wrong with it.
pub(crate) async fn login_page(
    state: &AppState,
    layout: Layout,
    session: &Session,
    email: String,
    next: &Next,
    error: Option<&str>,
) -> Result<Html<String>, AppError> {
    render(&LoginPage {
        layout: layout.with_csrf(session).await?,
        email,
        next: next.local_path().to_owned(),
        error: error.map(str::to_owned),
        sign_in_links: state.config.sign_in_links,
        providers: super::oauth::buttons(state),
        passkeys_script: super::passkeys::script_url(),
        passkeys_available: super::passkeys::available(state),
        single_sign_on: crate::sso::global::any_verified(&state.db).await?,
    })
}

/// Signs `user` in on this browser and goes to `next`; or, for an account
/// with a second factor, signs no one in yet and asks for the code first.
pub(crate) async fn signed_in_or_second_factor(
    session: &Session,
    user: UserId,
    two_factor: bool,
    next: &str,
) -> Result<Response, AppError> {
    if two_factor {
        // Not signed in yet (and no one else either): the code comes first.
        session.clear().await;
        session.cycle_id().await?;
        session.insert(super::two_factor::PENDING_KEY, user).await?;
        let next: String = form_urlencoded::byte_serialize(next.as_bytes()).collect();
        return Ok(Redirect::to(&format!("/login/two-factor?next={next}")).into_response());
    }
    super::start_session(session, user).await?;
    Ok(Redirect::to(next).into_response())
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(flatten)]
    credentials: LoginInput,
    #[serde(flatten)]
    next: Next,
}

async fn login(
    State(state): State<AppState>,
    client: ClientAddress,
    layout: Layout,
    session: Session,
    Form(form): Form<LoginForm>,
) -> Result<Response, AppError> {
    // No password typed, at a domain with single sign-on: the same form
    // goes on to single sign-on's start (307 keeps it a POST, with its
    // CSRF token).
    if form.credentials.password.is_empty()
        && let Ok(email) = super::email::Email::parse(&form.credentials.email)
        && crate::sso::for_address(&state, &email).await?.is_some()
    {
        return Ok(Redirect::temporary("/login/sso").into_response());
    }
    let signed_in =
        match crate::sso::attempt_password_sign_in(&state, client, &form.credentials).await {
            Err(AppError::Forbidden(message)) => {
                let typed = form.credentials.email.trim().to_owned();
                let page =
                    login_page(&state, layout, &session, typed, &form.next, Some(&message)).await?;
                return Ok((StatusCode::FORBIDDEN, page).into_response());
            }
            signed_in => signed_in?,
        };
    if let Some(user) = signed_in {
        return signed_in_or_second_factor(
            &session,
            user.id,
            user.two_factor,
            form.next.local_path(),
        )
        .await;
    }
    let email = form.credentials.email.trim().to_owned();
    let page = login_page(
        &state,
        layout,
        &session,
        email,
        &form.next,
        Some(BAD_CREDENTIALS),
    )
    .await?;
    Ok((StatusCode::UNAUTHORIZED, page).into_response())
}

/// Ends this session: its row is deleted and the cookie cleared.
async fn logout(session: Session) -> Result<Redirect, AppError> {
    session.flush().await?;
    Ok(Redirect::to("/"))
}

async fn logout_others(
    State(state): State<AppState>,
    session: Session,
    SignedIn(user): SignedIn,
) -> Result<Redirect, AppError> {
    let ended = super::end_other_sessions(&state.db, &session, user).await?;
    let message = match ended {
        0 => "You were not signed in anywhere else.".to_owned(),
        1 => "Signed out of 1 other session.".to_owned(),
        n => format!("Signed out of {n} other sessions."),
    };
    flash::push(&session, Flash::success(message)).await?;
    Ok(Redirect::to("/account"))
}

#[cfg(test)]
mod tests {
    use super::local_path;

    #[test]
    fn only_a_path_on_this_site_is_a_place_to_go_after_signing_in() {
        for kept in [
            "/t/acme/locations?from=2026-01-01",
            "/app",
            "/account#two-factor",
        ] {
            assert_eq!(local_path(kept), kept);
        }
        for refused in [
            "",
            "https://evil.example/",
            "javascript:alert(1)",
            "//evil.example/",
            " //evil.example/",
            "/\\evil.example/",
            "/x\\..\\..\\evil",
            "/\t/evil.example/",
            "/\n/evil.example/",
            "/\r/evil.example/",
            "/%2F/evil.example/",
            "/%2f%2fevil.example/",
            "/%5Cevil.example/",
            "/\u{0}/evil",
        ] {
            assert_eq!(local_path(refused), "/app", "{refused:?}");
        }
    }
}
