//! The single sign-on page of a tenant (owners): the provider, the claimed
//! domains and requiring it. Setting anything up needs a plan that
//! includes it; stopping, removing and letting go work on any plan, so a
//! tenant that moved down can tidy up.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use time::OffsetDateTime;
use tower_sessions::Session;

use super::global::{self, Domain, Proof};
use super::proof::ProofMail;
use super::{ADMIN_MAILBOXES, ConnectionInput, SINGLE_SIGN_ON};
use crate::access::InTenant;
use crate::accounts::email::Email;
use crate::error::AppError;
use crate::http::AppState;
use crate::http::extract::Form;
use crate::http::routes::{Access, Routes, get, post};
use crate::mail;
use crate::pages::{Layout, TenantNav, render};
use crate::rate_limits::{self, Limit};
use crate::sessions::flash::{self, Flash};
use crate::tenancy::{Action, Role};
use crate::tokens::{digest, random_token};
use crate::validation::FieldErrors;

pub fn routes() -> Routes {
    Routes::new()
        .add("/t/{slug}/sso", Access::Tenant, get(index).post(save))
        .add("/t/{slug}/sso/require", Access::Tenant, post(require))
        .add("/t/{slug}/sso/remove", Access::Tenant, post(remove))
        .add("/t/{slug}/sso/domains", Access::Tenant, post(claim))
        .add("/t/{slug}/sso/domains/remove", Access::Tenant, post(let_go))
}

/// How long a domain's proof link can be followed.
pub(super) const PROOF_HOURS: i64 = 48;

/// The saved provider, as the page shows it (never its secret).
struct Saved {
    issuer: String,
    required: bool,
    worked: bool,
}

impl Saved {
    /// The require form's button.
    fn required_label(&self) -> &'static str {
        if self.required {
            "Stop requiring it"
        } else {
            "Require single sign-on"
        }
    }
}

#[derive(Template)]
#[template(path = "sso/settings.html")]
struct SettingsPage {
    layout: Layout,
    nav: TenantNav,
    /// The tenant's plan includes single sign-on.
    included: bool,
    plan: &'static str,
    saved: Option<Saved>,
    /// Its secret is saved (not after a tenant import): blank keeps it.
    secret_saved: bool,
    /// The provider form, as typed or as saved.
    form: ConnectionInput,
    errors: FieldErrors,
    /// What to register at the provider.
    redirect_uri: String,
    roles: Vec<(String, String)>,
    domains: Vec<Domain>,
    mailboxes: [&'static str; 5],
    claim: ClaimTyped,
}

/// The domain form, as typed, and what was wrong with it.
#[derive(Default)]
struct ClaimTyped {
    domain: String,
    error: Option<String>,
}

/// The page, with what was typed in one of its forms and what was wrong.
async fn page(
    state: &AppState,
    layout: Layout,
    t: &mut InTenant,
    form: Option<ConnectionInput>,
    errors: FieldErrors,
    claim: ClaimTyped,
) -> Result<Response, AppError> {
    t.member.authorize(Action::ManageSingleSignOn)?;
    let connection = super::connection(&mut t.scope).await?;
    let form = form.unwrap_or_else(|| match &connection {
        Some(saved) => ConnectionInput {
            issuer: saved.issuer.clone(),
            client_id: saved.client_id.clone(),
            client_secret: String::new(),
            default_role: saved.default_role.as_str().to_owned(),
        },
        None => ConnectionInput {
            default_role: Role::Staff.as_str().to_owned(),
            ..ConnectionInput::default()
        },
    });
    let status = if errors.is_empty() && claim.error.is_none() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let entitlement = t.entitlement();
    let html = render(&SettingsPage {
        layout,
        nav: TenantNav::new(t),
        included: entitlement.allows(&SINGLE_SIGN_ON),
        plan: entitlement.plan.name,
        secret_saved: connection.as_ref().is_some_and(|saved| saved.has_secret()),
        saved: connection.map(|saved| Saved {
            issuer: saved.issuer,
            required: saved.required,
            worked: saved.worked,
        }),
        form,
        errors,
        redirect_uri: super::sign_in::callback_url(state),
        roles: [Role::Admin, Role::Manager, Role::Staff]
            .into_iter()
            .map(|role| (role.as_str().to_owned(), role.label().to_owned()))
            .collect(),
        domains: global::domains(&state.db, t.tenant.id).await?,
        mailboxes: ADMIN_MAILBOXES,
        claim,
    })?;
    Ok((status, html).into_response())
}

async fn index(
    State(state): State<AppState>,
    layout: Layout,
    mut t: InTenant,
) -> Result<Response, AppError> {
    let none = ClaimTyped::default();
    page(&state, layout, &mut t, None, FieldErrors::default(), none).await
}

fn back(slug: &str) -> Redirect {
    Redirect::to(&format!("/t/{slug}/sso"))
}

/// Refuses setting anything up on a plan without single sign-on.
fn ensure_included(t: &InTenant) -> Result<(), AppError> {
    crate::billing::ensure_feature(&t.entitlement(), &t.tenant.slug, &SINGLE_SIGN_ON)
}

#[derive(Deserialize)]
struct SaveForm {
    #[serde(flatten)]
    connection: ConnectionInput,
    /// The owner's password: the provider decides who signs in as whom at
    /// the tenant's domains, so a borrowed session can't change it.
    #[serde(default)]
    password: String,
}

async fn save(
    State(state): State<AppState>,
    layout: Layout,
    session: Session,
    mut t: InTenant,
    Form(form): Form<SaveForm>,
) -> Result<Response, AppError> {
    t.member.authorize(Action::ManageSingleSignOn)?;
    ensure_included(&t)?;
    let keys = state
        .keys
        .clone()
        .ok_or_else(|| AppError::Internal(crate::crypto::CryptoError::NoKeys.to_string()))?;
    let saved = match t.reauthenticate(&state, &form.password).await? {
        Ok(()) => {
            let https_only = state.config.app_env.is_production();
            super::save(&mut t.scope, &keys, https_only, &form.connection).await?
        }
        Err(errors) => Err(errors),
    };
    let stopped = match saved {
        Ok(stopped) => stopped,
        Err(errors) => {
            let none = ClaimTyped::default();
            return page(&state, layout, &mut t, Some(form.connection), errors, none).await;
        }
    };
    t.scope.commit().await?;
    let message = if stopped {
        "Saved. Single sign-on is no longer required: test the new settings, then require it again."
    } else {
        "Saved. Test it (Test single sign-on): requiring it waits for a sign-in through these settings."
    };
    flash::push(&session, Flash::success(message)).await?;
    Ok(back(&t.tenant.slug).into_response())
}

/// The owner's password, for a change that weakens single sign-on; a
/// wrong one is said in a flash over the page, and nothing changes.
async fn confirmed(
    state: &AppState,
    session: &Session,
    t: &mut InTenant,
    password: &str,
) -> Result<bool, AppError> {
    match t.reauthenticate(state, password).await? {
        Ok(()) => Ok(true),
        Err(errors) => {
            let message = errors.get("password").unwrap_or("Enter your password.");
            flash::push(session, Flash::error(message)).await?;
            Ok(false)
        }
    }
}

#[derive(Deserialize)]
struct RequireForm {
    /// "on" to require it; anything else stops requiring it.
    #[serde(default)]
    required: String,
    #[serde(default)]
    require_password: String,
}

async fn require(
    State(state): State<AppState>,
    session: Session,
    mut t: InTenant,
    Form(form): Form<RequireForm>,
) -> Result<Response, AppError> {
    t.member.authorize(Action::ManageSingleSignOn)?;
    let required = form.required == "on";
    if required {
        ensure_included(&t)?;
    }
    if !confirmed(&state, &session, &mut t, &form.require_password).await? {
        return Ok(back(&t.tenant.slug).into_response());
    }
    super::require(&mut t.scope, required).await?;
    t.scope.commit().await?;
    let message = if required {
        // Sessions opened another way end now (the owner's own stays).
        let keep = session.id().map(|id| id.to_string()).unwrap_or_default();
        let ended = global::end_sessions_at_domains(&state.db, t.tenant.id, &keep).await?;
        format!(
            "Single sign-on is required: everyone at your verified domains signs in through your provider ({ended} other sessions signed out)."
        )
    } else {
        "Single sign-on is no longer required: other ways to sign in work again.".to_owned()
    };
    flash::push(&session, Flash::success(message)).await?;
    Ok(back(&t.tenant.slug).into_response())
}

#[derive(Deserialize)]
struct RemoveForm {
    #[serde(default)]
    remove_password: String,
}

async fn remove(
    State(state): State<AppState>,
    session: Session,
    mut t: InTenant,
    Form(form): Form<RemoveForm>,
) -> Result<Response, AppError> {
    t.member.authorize(Action::ManageSingleSignOn)?;
    if !confirmed(&state, &session, &mut t, &form.remove_password).await? {
        return Ok(back(&t.tenant.slug).into_response());
    }
    if !super::remove(&mut t.scope).await? {
        return Err(AppError::NotFound);
    }
    t.scope.commit().await?;
    let message = "Single sign-on is removed: your members sign in the other ways again.";
    flash::push(&session, Flash::success(message)).await?;
    Ok(back(&t.tenant.slug).into_response())
}

#[derive(Deserialize)]
struct ClaimForm {
    #[serde(default)]
    domain: String,
    /// Which administrative address of the domain gets the proof.
    #[serde(default)]
    mailbox: String,
}

/// Claims a domain: the link that proves it goes to the chosen
/// administrative address at that domain.
async fn claim(
    State(state): State<AppState>,
    layout: Layout,
    session: Session,
    mut t: InTenant,
    Form(form): Form<ClaimForm>,
) -> Result<Response, AppError> {
    t.member.authorize(Action::ManageSingleSignOn)?;
    ensure_included(&t)?;
    let refused = |message: &str| ClaimTyped {
        domain: form.domain.clone(),
        error: Some(message.to_owned()),
    };
    let domain = super::parse_domain(&form.domain);
    let owner = match &domain {
        Ok(domain) => global::owner_of(&state.db, domain).await?,
        Err(_) => None,
    };
    let to = domain
        .as_ref()
        .ok()
        .and_then(|domain| Email::parse(&format!("{}@{domain}", form.mailbox)).ok());
    let problem = match (&domain, owner) {
        (Err(message), _) => Some(*message),
        (Ok(_), Some(owner)) if owner == t.tenant.id => Some("That domain is verified already."),
        (Ok(_), Some(_)) => Some("Another organisation has verified that domain."),
        _ if !ADMIN_MAILBOXES.contains(&form.mailbox.as_str()) => {
            Some("Choose which of the domain's addresses gets the link.")
        }
        _ => to
            .is_none()
            .then_some("That domain is too long to receive mail."),
    };
    let (Ok(domain), Some(to), None) = (domain, to, problem) else {
        let typed = refused(problem.unwrap_or("Enter a domain name like example.com."));
        return page(&state, layout, &mut t, None, FieldErrors::default(), typed).await;
    };
    rate_limits::count_in(&mut t.scope, Limit::DomainProofs, &t.tenant.id.to_string()).await?;
    // The claims are global: written after the scope (on SQLite, its
    // transaction holds the only write lock).
    t.scope.commit().await?;
    let token = random_token();
    let proof = Proof {
        sent_to: to.as_str(),
        token_digest: &digest(&token),
        expires_at: OffsetDateTime::now_utc().unix_timestamp() + PROOF_HOURS * 3600,
    };
    global::claim(&state.db, t.tenant.id, &domain, &proof).await?;
    let mail = ProofMail {
        app_name: crate::brand::APP_NAME,
        organisation: t.tenant.name.clone(),
        domain: domain.clone(),
        link: format!("{}/sso/domains/{token}", state.config.base_url),
        hours: PROOF_HOURS,
    };
    mail::send(&state.db, &to, &mail).await?;
    let message = format!(
        "We sent a link to {}: whoever reads that address follows it to prove {domain} is yours. It works for {PROOF_HOURS} hours.",
        to.as_str()
    );
    flash::push(&session, Flash::success(message)).await?;
    Ok(back(&t.tenant.slug).into_response())
}

#[derive(Deserialize)]
struct LetGoForm {
    #[serde(default)]
    domain: String,
    /// Letting a domain go ends the requirement there: the owner's password.
    #[serde(default)]
    password: String,
}

/// Lets a domain go: its people no longer go to the tenant's provider.
async fn let_go(
    State(state): State<AppState>,
    session: Session,
    mut t: InTenant,
    Form(form): Form<LetGoForm>,
) -> Result<Response, AppError> {
    t.member.authorize(Action::ManageSingleSignOn)?;
    if !confirmed(&state, &session, &mut t, &form.password).await? {
        return Ok(back(&t.tenant.slug).into_response());
    }
    // Global, like the claim: after the scope.
    t.scope.commit().await?;
    let domain = form.domain.trim().to_ascii_lowercase();
    if !global::remove(&state.db, t.tenant.id, &domain).await? {
        return Err(AppError::NotFound);
    }
    let message = format!("{domain} is no longer yours here: its people sign in the other ways.");
    flash::push(&session, Flash::success(message)).await?;
    Ok(back(&t.tenant.slug).into_response())
}
