//! Proving a domain: the link mailed to one of its administrative
//! addresses. Following it shows what is asked (which organisation, which
//! domain) and a button: a link scanner that fetches the page proves
//! nothing. Whoever presses it verifies the claim, unless another
//! organisation verified the domain first.

use askama::Template;
use axum::extract::State;
use axum::response::{Html, IntoResponse, Response};
use time::OffsetDateTime;
use tower_sessions::Session;

use super::global::{self, Verified, Waiting};
use crate::error::AppError;
use crate::http::AppState;
use crate::http::client_address::ClientAddress;
use crate::http::extract::Path;
use crate::http::routes::{Access, Routes, get};
use crate::mail::Mail;
use crate::pages::{Layout, render};
use crate::rate_limits::Limit;
use crate::tenancy::{Intent, for_tenant};
use crate::text_body;
use crate::tokens::digest;

pub fn routes() -> Routes {
    Routes::new().add(
        "/sso/domains/{token}",
        Access::Public,
        get(show).post(confirm),
    )
}

/// The proof, to the domain's administrative address.
#[derive(Template)]
#[template(path = "mail/sso_domain_proof.html")]
pub struct ProofMail {
    pub app_name: &'static str,
    pub organisation: String,
    pub domain: String,
    pub link: String,
    pub hours: i64,
}

text_body!(ProofMail, "mail/sso_domain_proof.txt");

impl Mail for ProofMail {
    fn subject(&self) -> String {
        // The fixed words first: the organisation's name is its owner's.
        format!(
            "Confirm single sign-on for {}: {}",
            self.domain, self.organisation
        )
    }
}

#[derive(Template)]
#[template(path = "sso/proof.html")]
struct ProofPage {
    layout: Layout,
    organisation: String,
    domain: String,
    /// Verified now (the button was pressed).
    done: bool,
}

/// The claim waiting for this link, if it can still be followed.
async fn waiting(
    state: &AppState,
    client: ClientAddress,
    token: &str,
) -> Result<Waiting, AppError> {
    state
        .rate_limits
        .check_address(Limit::LinkSecret, client.0)?;
    let found = global::waiting(&state.db, &digest(token)).await?;
    found
        .filter(|found| found.expires_at >= OffsetDateTime::now_utc().unix_timestamp())
        .ok_or(AppError::InvalidLink)
}

async fn page(
    state: &AppState,
    layout: Layout,
    session: &Session,
    found: &Waiting,
    done: bool,
) -> Result<Html<String>, AppError> {
    let mut scope = for_tenant(&state.db, found.tenant, Intent::Read).await?;
    let organisation = super::organisation(&mut scope).await?;
    render(&ProofPage {
        layout: layout.with_csrf(session).await?,
        organisation: organisation.name,
        domain: found.domain.clone(),
        done,
    })
}

async fn show(
    State(state): State<AppState>,
    client: ClientAddress,
    layout: Layout,
    session: Session,
    Path(token): Path<String>,
) -> Result<Response, AppError> {
    let found = waiting(&state, client, &token).await?;
    Ok(page(&state, layout, &session, &found, false)
        .await?
        .into_response())
}

async fn confirm(
    State(state): State<AppState>,
    client: ClientAddress,
    layout: Layout,
    session: Session,
    Path(token): Path<String>,
) -> Result<Response, AppError> {
    let found = waiting(&state, client, &token).await?;
    let by = format!("email:{}", found.sent_to);
    match global::verify(&state.db, found.tenant, &found.domain, &by).await? {
        Verified::Done => Ok(page(&state, layout, &session, &found, true)
            .await?
            .into_response()),
        Verified::Taken => Err(AppError::Conflict(format!(
            "Another organisation verified {} first. Nothing changed.",
            found.domain
        ))),
        Verified::Gone => Err(AppError::InvalidLink),
    }
}
