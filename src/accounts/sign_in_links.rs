//! Sign-in links: "email me a sign-in link" on the sign-in page, for people
//! who'd rather not type a password.
//!
//! Asking answers the same whether or not the email has an account, and
//! takes the same time: the request only queues a job, and the job looks the
//! account up and mails the link. The link works once, for 15 minutes, and
//! only in the browser that asked: asking leaves a secret in that browser's
//! session, and the link is bound to its digest, so a forwarded or
//! intercepted email signs no one else in. Opening the link shows a button
//! (mail scanners open links; they don't press buttons); pressing it signs
//! in, or asks for the second factor of an account that has one. The link
//! proves the mailbox, so the address counts as verified.
//!
//! On unless `SIGN_IN_LINKS=false`; off, the routes are 404 and the sign-in
//! page doesn't offer it.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tower_sessions::Session;

use super::email::Email;
use super::global::{self, SignInLink};
use super::pages::{Next, local_path};
use super::tokens::{self, Purpose};
use crate::error::AppError;
use crate::http::AppState;
use crate::http::client_address::ClientAddress;
use crate::http::extract::Form;
use crate::http::routes::{Access, Routes, get, post};
use crate::jobs::{self, JobError, JobKind};
use crate::mail::{self, Mail};
use crate::pages::{Layout, render};
use crate::rate_limits::{self, Limit};
use crate::text_body;
use crate::tokens::{digest, random_token};

pub fn routes() -> Routes {
    Routes::new()
        .add("/login/link", Access::Public, post(request_page))
        .add(
            "/login/link/{token}",
            Access::Public,
            get(confirm_form).post(use_link),
        )
}

/// The session key of the secret a sign-in link is bound to.
const BROWSER_KEY: &str = "sign_in_link_browser";
/// The session key of where to go once signed in by link.
const NEXT_KEY: &str = "sign_in_link_next";

/// The one answer to a request for a link.
pub const REQUESTED: &str = "If an account exists for that email, we sent it a sign-in link. \
                             Open it in this browser within 15 minutes.";

#[derive(Template)]
#[template(path = "mail/sign_in_link.html")]
pub struct SignInLinkMail {
    pub app_name: &'static str,
    pub link: String,
    pub minutes: u64,
}

text_body!(SignInLinkMail, "mail/sign_in_link.txt");

impl Mail for SignInLinkMail {
    fn subject(&self) -> String {
        format!("Your {} sign-in link", self.app_name)
    }
}

/// What the link's page says.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shown {
    /// A link is on its way (or not: the same words either way).
    Sent,
    /// A live link, opened: the button that uses it.
    Confirm,
    /// A live link opened in another browser than the one that asked.
    OtherBrowser,
    /// Unknown, used or expired.
    Dead,
}

#[derive(Template)]
#[template(path = "accounts/sign_in_link.html")]
struct LinkPage {
    layout: Layout,
    shown: Shown,
    token: String,
}

async fn link_page(
    layout: Layout,
    session: &Session,
    shown: Shown,
    token: String,
) -> Result<Response, AppError> {
    let status = match shown {
        Shown::Sent | Shown::Confirm => StatusCode::OK,
        Shown::OtherBrowser | Shown::Dead => StatusCode::BAD_REQUEST,
    };
    let page = render(&LinkPage {
        layout: layout.with_csrf(session).await?,
        shown,
        token,
    })?;
    Ok((status, page).into_response())
}

/// 404 when sign-in links are turned off.
fn enabled(state: &AppState) -> Result<(), AppError> {
    if state.config.sign_in_links {
        Ok(())
    } else {
        Err(AppError::NotFound)
    }
}

#[derive(Deserialize)]
struct RequestForm {
    email: String,
    #[serde(flatten)]
    next: Next,
}

/// Queues the lookup and the email under the rate limits (which count
/// whether or not the account exists), and binds the link to this browser.
/// A malformed email goes back to the sign-in page, named.
async fn request_page(
    State(state): State<AppState>,
    client: ClientAddress,
    layout: Layout,
    session: Session,
    Form(form): Form<RequestForm>,
) -> Result<Response, AppError> {
    enabled(&state)?;
    state
        .rate_limits
        .check_address(Limit::SignInLink, client.0)?;
    let email = match Email::parse(&form.email) {
        Ok(email) => email,
        Err(message) => {
            let page = super::pages::login_page(
                &state,
                layout,
                &session,
                form.email.trim().to_owned(),
                &form.next,
                Some(message),
            )
            .await?;
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
        }
    };
    crate::sso::refuse_if_required(&state, email.as_str()).await?;
    rate_limits::count_account(&state.db, Limit::SignInLink, email.as_str()).await?;
    // One secret per browser, so that each link it asked for works there.
    let secret = match session.get::<String>(BROWSER_KEY).await? {
        Some(secret) => secret,
        None => {
            let secret = random_token();
            session.insert(BROWSER_KEY, &secret).await?;
            secret
        }
    };
    session.insert(NEXT_KEY, form.next.local_path()).await?;
    let job = MAIL_LINK.job(serde_json::json!({
        "email": email.as_str(),
        "browser": digest(&secret),
    }));
    jobs::enqueue(&state.db, None, &job).await?;
    link_page(layout, &session, Shown::Sent, String::new()).await
}

/// Mails a sign-in link if the email has an account: a job, so that the
/// request takes the same time either way.
pub const MAIL_LINK: JobKind = JobKind {
    name: "mail_sign_in_link",
    max_attempts: 3,
    run: |state, fields| {
        Box::pin(async move {
            let field = |name: &str| {
                fields
                    .get(name)
                    .and_then(|value| value.as_str())
                    .unwrap_or_default()
                    .to_owned()
            };
            mail_link(state, &field("email"), &field("browser")).await
        })
    },
};

/// The job behind a request: mails a link bound to `browser` (the digest
/// of the asking browser's secret) if the account exists, and does nothing
/// otherwise.
///
/// # Errors
/// When the database or a template fails (the job is retried).
async fn mail_link(state: &AppState, email: &str, browser: &str) -> Result<(), JobError> {
    let email = Email::parse(email)?;
    // A link bound to no browser's secret would open in any browser that
    // holds none: never issued (requests always name one).
    if browser.is_empty() {
        return Ok(());
    }
    let Some(global::Credentials { id: user, .. }) = global::credentials(&state.db, &email).await?
    else {
        return Ok(());
    };
    let token = tokens::issue(&state.db, Purpose::SignIn, user, &email, Some(browser)).await?;
    let mail = SignInLinkMail {
        app_name: crate::brand::APP_NAME,
        link: format!("{}/login/link/{token}", state.config.base_url),
        minutes: Purpose::SignIn.lifetime().as_secs() / 60,
    };
    mail::send(&state.db, &email, &mail).await?;
    Ok(())
}

/// The digest of this browser's secret, if it asked for a link.
async fn this_browser(session: &Session) -> Result<Option<String>, AppError> {
    Ok(session
        .get::<String>(BROWSER_KEY)
        .await?
        .map(|secret| digest(&secret)))
}

/// The opened link: a button that uses it, if it is live and this browser
/// asked for it. Opening uses nothing up.
async fn confirm_form(
    State(state): State<AppState>,
    layout: Layout,
    session: Session,
    Path(token): Path<String>,
) -> Result<Response, AppError> {
    enabled(&state)?;
    let here = this_browser(&session).await?;
    let shown = match global::live_sign_in_link(&state.db, &digest(&token)).await? {
        None => Shown::Dead,
        Some(bound) if here.as_deref() == Some(bound.as_str()) => Shown::Confirm,
        Some(_) => Shown::OtherBrowser,
    };
    link_page(layout, &session, shown, token).await
}

/// Uses the link: signs in (or asks for the second factor) in the browser
/// that asked for it, and refuses it anywhere else, leaving it live there.
async fn use_link(
    State(state): State<AppState>,
    client: ClientAddress,
    layout: Layout,
    session: Session,
    Path(token): Path<String>,
) -> Result<Response, AppError> {
    enabled(&state)?;
    state
        .rate_limits
        .check_address(Limit::LinkSecret, client.0)?;
    let browser = this_browser(&session).await?;
    match global::use_sign_in_link(&state.db, &digest(&token), browser.as_deref()).await? {
        SignInLink::SignsIn { user, two_factor } => {
            crate::sso::refuse_if_required_for(&state, user).await?;
            let next = session.get::<String>(NEXT_KEY).await?.unwrap_or_default();
            super::pages::signed_in_or_second_factor(&session, user, two_factor, local_path(&next))
                .await
        }
        SignInLink::OtherBrowser => link_page(layout, &session, Shown::OtherBrowser, token).await,
        SignInLink::Dead => link_page(layout, &session, Shown::Dead, token).await,
    }
}
