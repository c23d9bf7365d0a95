//! Signing in through a tenant's own provider: "Sign in with single
//! sign-on" on the sign-in page (or an address at such a domain typed
//! without a password, which the sign-in form hands on here) takes the
//! work address, finds the tenant that verified its domain and sends the
//! browser to that tenant's provider (the same round trip as the app-wide
//! providers: `accounts::oauth::providers`). Only a POST with the page's
//! CSRF token starts one, so no link from elsewhere can send a browser to
//! a provider of someone's choosing.
//!
//! Back here, the provider's address must be at one of that tenant's
//! verified domains and not one the provider says is unverified: that (the
//! organisation owns the domain) is what lets it sign in the account with
//! that address, or make one. An account whose address was never
//! confirmed is refused (someone may have made it before the address's
//! owner), and so is a super-admin's. The owner's "Test single sign-on"
//! makes the same round trip and signs no one in.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use tower_sessions::Session;

use super::TenantSso;
use super::global;
use crate::access::InTenant;
use crate::accounts::email::Email;
use crate::accounts::oauth::providers::{self, Asserted, RoundTrip};
use crate::accounts::oauth::{Callback, failed, http, not_started, problem, take};
use crate::accounts::pages::{Next, local_path, login_page, signed_in_or_second_factor};
use crate::accounts::two_factor::PENDING_VIA_SSO_KEY;
use crate::accounts::{self, SignedIn};
use crate::config::{Protocol, ProviderConfig};
use crate::error::AppError;
use crate::http::AppState;
use crate::http::client_address::ClientAddress;
use crate::http::extract::{Form, Query};
use crate::http::routes::{Access, Routes, get, post};
use crate::ids::TenantId;
use crate::pages::Layout;
use crate::rate_limits::Limit;
use crate::sessions::flash::{self, Flash};
use crate::tenancy::{Action, Intent};

pub fn routes() -> Routes {
    Routes::new()
        .add("/login/sso", Access::Public, post(start))
        .add("/login/sso/callback", Access::Public, get(callback))
        .add("/t/{slug}/sso/test", Access::Tenant, post(test))
}

/// The session key of the round trip under way.
const ROUND_TRIP_KEY: &str = "sso_round_trip";

/// A round trip under way, in the session of the browser that began it.
#[derive(Serialize, Deserialize)]
struct Pending {
    tenant: TenantId,
    /// The provider it went to: settings changed meanwhile finish nothing.
    issuer: String,
    secrets: RoundTrip,
    next: String,
    /// The owner's test: check, sign no one in.
    testing: bool,
}

/// Where every tenant's provider sends the browser back: the redirect URI
/// an IT admin registers.
pub fn callback_url(state: &AppState) -> String {
    format!("{}/login/sso/callback", state.config.base_url)
}

/// The tenant's provider, as the round trip's code takes it.
fn provider(state: &AppState, sso: &TenantSso) -> Result<ProviderConfig, AppError> {
    Ok(ProviderConfig {
        key: "sso",
        name: format!("{}'s identity provider", sso.name),
        protocol: Protocol::OpenIdConnect {
            issuer: sso.connection.issuer.clone(),
        },
        client_id: sso.connection.client_id.clone(),
        client_secret: sso.connection.client_secret(state.keys.as_deref())?.into(),
    })
}

/// Sends the browser to the tenant's provider, having kept what its return
/// must match in the session.
async fn begin(
    state: &AppState,
    layout: Layout,
    session: &Session,
    sso: &TenantSso,
    next: String,
    testing: bool,
) -> Result<Response, AppError> {
    let provider = provider(state, sso)?;
    match providers::start(http(), &provider, &callback_url(state)).await {
        Ok(started) => {
            let pending = Pending {
                tenant: sso.tenant,
                issuer: sso.connection.issuer.clone(),
                secrets: started.secrets,
                next,
                testing,
            };
            session.insert(ROUND_TRIP_KEY, &pending).await?;
            Ok(Redirect::to(&started.url).into_response())
        }
        Err(failure) => failed(layout, &provider.name, failure),
    }
}

#[derive(Deserialize)]
struct StartForm {
    #[serde(default)]
    email: String,
    #[serde(flatten)]
    next: Next,
}

/// "Sign in with single sign-on": the work address's domain says whose
/// provider.
async fn start(
    State(state): State<AppState>,
    client: ClientAddress,
    layout: Layout,
    session: Session,
    signed_in: Option<SignedIn>,
    Form(form): Form<StartForm>,
) -> Result<Response, AppError> {
    state
        .rate_limits
        .check_address(Limit::ProviderSignIn, client.0)?;
    if signed_in.is_some() {
        return Ok(Redirect::to(form.next.local_path()).into_response());
    }
    let found = match Email::parse(&form.email) {
        Ok(email) => super::for_address(&state, &email).await?,
        Err(_) => None,
    };
    let Some(sso) = found else {
        let typed = form.email.trim().to_owned();
        let page = login_page(&state, layout, &session, typed, &form.next, Some(NO_SSO)).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
    };
    let next = form.next.local_path().to_owned();
    begin(&state, layout, &session, &sso, next, false).await
}

const NO_SSO: &str = "Single sign-on is not set up for that address. Type your work address, or sign in another way.";

/// The owner's "Test single sign-on": the round trip, signing no one in.
async fn test(
    State(state): State<AppState>,
    layout: Layout,
    session: Session,
    t: InTenant,
) -> Result<Response, AppError> {
    t.member.authorize(Action::ManageSingleSignOn)?;
    // Not held open while the provider is asked (on SQLite the request's
    // transaction holds the only write lock).
    t.scope.commit().await?;
    let found = super::open(&state.db, state.plans, t.tenant.id, Intent::Read).await?;
    let back = format!("/t/{}/sso", t.tenant.slug);
    let Some((scope, sso)) = found else {
        let message = "Save your provider first (on a plan that includes single sign-on).";
        flash::push(&session, Flash::error(message)).await?;
        return Ok(Redirect::to(&back).into_response());
    };
    drop(scope);
    begin(&state, layout, &session, &sso, back, true).await
}

/// The tenant's single sign-on as the round trip began it, in a read scope
/// (dropped before the provider is asked), or the page saying it changed.
async fn as_begun(
    state: &AppState,
    pending: &Pending,
) -> Result<Result<TenantSso, String>, AppError> {
    let found = super::open(&state.db, state.plans, pending.tenant, Intent::Read).await?;
    Ok(match found {
        Some((_, sso)) if sso.connection.issuer == pending.issuer => Ok(sso),
        _ => Err("The organisation's single sign-on was changed or removed while you signed in. Start again from the sign-in page.".to_owned()),
    })
}

/// The address the provider vouched for, if the tenant may take its word
/// for it: at one of the tenant's verified domains, and not one the
/// provider itself calls unverified.
async fn vouched_for(
    state: &AppState,
    sso: &TenantSso,
    asserted: Asserted,
) -> Result<Option<Email>, AppError> {
    let Some(email) = asserted.email else {
        return Ok(None);
    };
    if asserted.email_verified == Some(false) {
        return Ok(None);
    }
    let owner = global::owner_of(&state.db, super::domain_of(&email)).await?;
    Ok((owner == Some(sso.tenant)).then_some(email))
}

/// The provider sends the browser back here with a code. The round trip is
/// taken out of the session first, so this browser can try it once.
async fn callback(
    State(state): State<AppState>,
    client: ClientAddress,
    layout: Layout,
    session: Session,
    Query(answer): Query<Callback>,
) -> Result<Response, AppError> {
    state
        .rate_limits
        .check_address(Limit::ProviderSignIn, client.0)?;
    let pending = take::<Pending>(&session, ROUND_TRIP_KEY).await?;
    let Some(pending) = pending.filter(|pending| answer.answers(&pending.secrets.state)) else {
        return not_started(layout);
    };
    let sso = match as_begun(&state, &pending).await? {
        Ok(sso) => sso,
        Err(message) => {
            let title = "Single sign-on changed";
            return problem(layout, StatusCode::CONFLICT, title, message);
        }
    };
    let provider = provider(&state, &sso)?;
    let code = match answer.code(&provider.name) {
        Ok(code) => code,
        Err(message) => {
            return problem(layout, StatusCode::BAD_REQUEST, "Not signed in", message);
        }
    };
    let callback = callback_url(&state);
    let finished = providers::finish(http(), &provider, &callback, &pending.secrets, code).await;
    let asserted = match finished {
        Ok(asserted) => asserted,
        Err(failure) => return failed(layout, &provider.name, failure),
    };
    let Some(email) = vouched_for(&state, &sso, asserted).await? else {
        return problem(
            layout,
            StatusCode::FORBIDDEN,
            "This address can't sign in here",
            format!(
                "{} signed you in, but not with a confirmed address at a domain {} has verified here. Ask your IT admin.",
                provider.name, sso.name
            ),
        );
    };
    if pending.testing {
        let mut scope = crate::tenancy::for_tenant(&state.db, sso.tenant, Intent::Write).await?;
        super::worked(&mut scope).await?;
        scope.commit().await?;
        let message = format!(
            "Single sign-on works: {} signed in {}.",
            provider.name,
            email.as_str()
        );
        flash::push(&session, Flash::success(message)).await?;
        return Ok(Redirect::to(local_path(&pending.next)).into_response());
    }
    let existing = match accounts::global::credentials(&state.db, &email).await? {
        Some(found) => accounts::global::find_user(&state.db, found.id).await?,
        None => None,
    };
    if let Some(account) = &existing {
        let refusal = if account.is_super_admin {
            Some("A super-admin signs in with a password and two-factor authentication, not through an organisation's provider.".to_owned())
        } else if !account.email_verified {
            Some(format!(
                "An account with {} exists whose address was never confirmed. Confirm it first (Forgot your password? on the sign-in page mails a link), then sign in with single sign-on again.",
                email.as_str()
            ))
        } else {
            None
        };
        if let Some(message) = refusal {
            return problem(layout, StatusCode::CONFLICT, "Not signed in", message);
        }
    }
    let mut scope = crate::tenancy::for_tenant(&state.db, sso.tenant, Intent::Write).await?;
    let (user, joined) = super::join(
        &mut scope,
        state.plans,
        &sso,
        existing.as_ref().map(|account| account.id),
        &email,
    )
    .await?;
    super::worked(&mut scope).await?;
    scope.commit().await?;
    if existing.is_none() {
        // The tenant owns the domain, and its provider vouched for the
        // address.
        accounts::global::mark_email_verified(&state.db, user, &email).await?;
    }
    let two_factor = existing.is_some_and(|account| account.two_factor);
    let next = local_path(&pending.next);
    let response = signed_in_or_second_factor(&session, user, two_factor, next).await?;
    if two_factor {
        session.insert(PENDING_VIA_SSO_KEY, true).await?;
    }
    if joined {
        let role = sso.connection.default_role.label();
        let message = format!("Welcome to {}: you joined as {role}.", sso.name);
        flash::push(&session, Flash::success(message)).await?;
    }
    Ok(response)
}
