//! A tenant's single sign-on, from the panel: verifying a domain on the
//! operator's word (they checked it some other way: a DNS record, a call),
//! releasing one (a domain held by the wrong organisation), and stopping
//! the requirement (an organisation locked out by its own provider). Each
//! is audited with the operator's reason.

use axum::extract::State;
use axum::response::Redirect;
use serde::Deserialize;
use tower_sessions::Session;

use super::pages::{ReasonForm, act_on, back_to};
use crate::error::AppError;
use crate::http::AppState;
use crate::http::extract::{Form, Path};
use crate::http::routes::{Access, Routes, post};
use crate::ids::TenantId;
use crate::sessions::flash::Flash;
use crate::sso::global::{self, Verified};
use crate::tenancy::super_admin::SuperAdmin;
use crate::tenancy::{Intent, for_tenant};

pub fn routes() -> Routes {
    Routes::new()
        .add(
            "/admin/tenants/{tenant_id}/sso-domains",
            Access::SuperAdmin,
            post(verify),
        )
        .add(
            "/admin/tenants/{tenant_id}/sso-domains/release",
            Access::SuperAdmin,
            post(release),
        )
        .add(
            "/admin/tenants/{tenant_id}/sso/stop-requiring",
            Access::SuperAdmin,
            post(stop_requiring),
        )
}

#[derive(Deserialize)]
struct DomainForm {
    #[serde(default, rename = "sso-domain")]
    domain: String,
    reason: String,
}

async fn verify(
    State(state): State<AppState>,
    session: Session,
    admin: SuperAdmin,
    Path(id): Path<TenantId>,
    Form(form): Form<DomainForm>,
) -> Result<Redirect, AppError> {
    let domain = crate::sso::parse_domain(&form.domain)
        .map_err(|message| AppError::Unprocessable(message.to_owned()))?;
    let action = format!("verified the email domain {domain} for single sign-on");
    let (scope, tenant) = act_on(&state, &admin, id, &action, &form.reason).await?;
    // The domains are global: written after the scope.
    scope.commit().await?;
    let by = match admin.user_id() {
        Some(user) => format!("super-admin:{user}"),
        None => "super-admin".to_owned(),
    };
    let outcome = match global::grant(&state.db, id, &domain, &by).await? {
        Verified::Done => Flash::success(format!("{domain} is verified for {}.", tenant.name)),
        Verified::Gone => Flash::info(format!(
            "{domain} was verified for {} already.",
            tenant.name
        )),
        Verified::Taken => Flash::error(format!(
            "Another organisation has verified {domain}: release it there first."
        )),
    };
    back_to(&session, id, outcome).await
}

#[derive(Deserialize)]
struct ReleaseForm {
    #[serde(default, rename = "sso-release-domain")]
    domain: String,
    reason: String,
}

async fn release(
    State(state): State<AppState>,
    session: Session,
    admin: SuperAdmin,
    Path(id): Path<TenantId>,
    Form(form): Form<ReleaseForm>,
) -> Result<Redirect, AppError> {
    let domain = crate::sso::parse_domain(&form.domain)
        .map_err(|message| AppError::Unprocessable(message.to_owned()))?;
    let action = format!("released the email domain {domain} from single sign-on");
    let (scope, tenant) = act_on(&state, &admin, id, &action, &form.reason).await?;
    scope.commit().await?;
    let outcome = if global::remove(&state.db, id, &domain).await? {
        Flash::success(format!("{domain} is no longer {}'s.", tenant.name))
    } else {
        Flash::error(format!("{} has no claim on {domain}.", tenant.name))
    };
    back_to(&session, id, outcome).await
}

async fn stop_requiring(
    State(state): State<AppState>,
    session: Session,
    admin: SuperAdmin,
    Path(id): Path<TenantId>,
    Form(form): Form<ReasonForm>,
) -> Result<Redirect, AppError> {
    let action = "stopped requiring single sign-on";
    let (scope, tenant) = act_on(&state, &admin, id, action, &form.reason).await?;
    scope.commit().await?;
    let mut scope = for_tenant(&state.db, id, Intent::Write).await?;
    let outcome = match crate::sso::require(&mut scope, false).await {
        Ok(()) => {
            scope.commit().await?;
            Flash::success(format!(
                "{} no longer requires single sign-on.",
                tenant.name
            ))
        }
        Err(AppError::NotFound) => Flash::error(format!("{} has no single sign-on.", tenant.name)),
        Err(error) => return Err(error),
    };
    back_to(&session, id, outcome).await
}
