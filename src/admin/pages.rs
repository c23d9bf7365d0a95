//! The super-admin panel's pages: tenants (search, paging, detail), the
//! actions on one (comp, end a comp, cancel, reinstate; impersonation is in
//! its own module), and the audit log. Every route takes the `SuperAdmin`
//! proof, so anyone else gets a 404.

use askama::Template;
use axum::extract::State;
use axum::response::{Html, Redirect};
use serde::Deserialize;
use time::OffsetDateTime;
use tower_sessions::Session;

use super::revenue::Revenue;
use super::{AuditEntry, TenantSummary};
use crate::billing::{Catalog, Entitlement, entitlement};
use crate::error::AppError;
use crate::http::AppState;
use crate::http::extract::{Form, Json, Path, Query};
use crate::http::routes::{Access, Routes, get, post};
use crate::ids::TenantId;
use crate::pages::{Layout, render};
use crate::sessions::flash::{self, Flash};
use crate::tenancy::Intent;
use crate::tenancy::super_admin::{AllTenantsScope, SuperAdmin, all_tenants_unsafe};

pub fn routes() -> Routes {
    Routes::new()
        .add("/admin", Access::SuperAdmin, get(home))
        .add("/admin/tenants", Access::SuperAdmin, get(tenants))
        .add(
            "/admin/tenants/{tenant_id}",
            Access::SuperAdmin,
            get(tenant),
        )
        .add(
            "/admin/tenants/{tenant_id}/comp",
            Access::SuperAdmin,
            post(comp),
        )
        .add(
            "/admin/tenants/{tenant_id}/end-comp",
            Access::SuperAdmin,
            post(end_comp),
        )
        .add(
            "/admin/tenants/{tenant_id}/cancel",
            Access::SuperAdmin,
            post(cancel),
        )
        .add(
            "/admin/tenants/{tenant_id}/reinstate",
            Access::SuperAdmin,
            post(reinstate),
        )
        .add(
            "/admin/tenants/{tenant_id}/delete",
            Access::SuperAdmin,
            post(delete_tenant),
        )
        .add("/admin/audit", Access::SuperAdmin, get(audit))
        .add("/admin/revenue", Access::SuperAdmin, get(revenue))
        .add("/admin/revenue.json", Access::SuperAdmin, get(revenue_json))
        .merge(super::impersonation::routes())
        .merge(super::confirm::routes())
}

async fn home(_admin: SuperAdmin) -> Redirect {
    Redirect::to("/admin/tenants")
}

/// A tenant as a line of the list or the head of its page.
struct TenantView {
    tenant: TenantSummary,
    entitlement: Entitlement,
}

impl TenantView {
    fn of(plans: Catalog, tenant: TenantSummary) -> Self {
        Self {
            entitlement: entitlement(plans, &tenant.billing, OffsetDateTime::now_utc()),
            tenant,
        }
    }

    fn status(&self) -> &str {
        self.tenant
            .billing
            .subscription_status
            .as_deref()
            .unwrap_or("none")
    }
}

#[derive(Template)]
#[template(path = "admin/tenants.html")]
struct TenantsPage {
    layout: Layout,
    tenants: Vec<TenantView>,
    search: String,
    page: i64,
    more: bool,
}

#[derive(Deserialize)]
struct ListQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    page: i64,
}

async fn tenants(
    State(state): State<AppState>,
    layout: Layout,
    admin: SuperAdmin,
    Query(query): Query<ListQuery>,
) -> Result<Html<String>, AppError> {
    let mut scope = all_tenants_unsafe(
        &state.db,
        &admin,
        "viewed the tenant list in the admin panel",
        Intent::Read,
    )
    .await?;
    let page = query.page.max(0);
    let (tenants, more) = super::tenant_overview(&mut scope, &query.q, page).await?;
    render(&TenantsPage {
        layout,
        tenants: tenants
            .into_iter()
            .map(|tenant| TenantView::of(state.plans, tenant))
            .collect(),
        search: query.q,
        page,
        more,
    })
}

#[derive(Template)]
#[template(path = "admin/tenant.html")]
struct TenantPage {
    layout: Layout,
    view: TenantView,
    owners: Vec<super::Owner>,
    /// Its claims on email domains for single sign-on.
    domains: Vec<crate::sso::global::Domain>,
}

impl TenantPage {
    fn day(unix: &i64) -> String {
        crate::billing::day(*unix)
    }
}

async fn tenant(
    State(state): State<AppState>,
    layout: Layout,
    admin: SuperAdmin,
    Path(id): Path<TenantId>,
) -> Result<Html<String>, AppError> {
    let mut scope = all_tenants_unsafe(
        &state.db,
        &admin,
        &format!("viewed tenant {id} in the admin panel"),
        Intent::Read,
    )
    .await?;
    let tenant = super::tenant(&mut scope, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let owners = super::owners(&mut scope, id).await?;
    render(&TenantPage {
        layout,
        view: TenantView::of(state.plans, tenant),
        owners,
        domains: crate::sso::global::domains(&state.db, id).await?,
    })
}

/// Opens the audited scope for `action` on one tenant: the audit entry
/// names the action, the tenant and the operator's reason, which is
/// required.
pub(super) async fn act_on(
    state: &AppState,
    admin: &SuperAdmin,
    id: TenantId,
    action: &str,
    reason: &str,
) -> Result<(AllTenantsScope, TenantSummary), AppError> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(AppError::Unprocessable(
            "Give a reason: it goes in the audit log.".to_owned(),
        ));
    }
    let mut scope = all_tenants_unsafe(
        &state.db,
        admin,
        &format!("{action} (tenant {id}): {reason}"),
        Intent::Write,
    )
    .await?;
    let tenant = super::tenant(&mut scope, id)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok((scope, tenant))
}

/// Back to the tenant's page, with what happened.
pub(super) async fn back_to(
    session: &Session,
    id: TenantId,
    outcome: Flash,
) -> Result<Redirect, AppError> {
    flash::push(session, outcome).await?;
    Ok(Redirect::to(&format!("/admin/tenants/{id}")))
}

#[derive(Deserialize)]
pub(super) struct ReasonForm {
    pub reason: String,
}

#[derive(Deserialize)]
struct CompForm {
    /// The last day of the comp (`YYYY-MM-DD`); empty: indefinitely.
    #[serde(default)]
    until: String,
    reason: String,
}

/// The end of `day` (`YYYY-MM-DD`, UTC), in unix seconds.
fn end_of_day(day: &str) -> Option<i64> {
    let date = crate::validation::parse_date(day)?;
    Some(date.next_day()?.midnight().assume_utc().unix_timestamp())
}

async fn comp(
    State(state): State<AppState>,
    session: Session,
    admin: SuperAdmin,
    Path(id): Path<TenantId>,
    Form(form): Form<CompForm>,
) -> Result<Redirect, AppError> {
    let until = match form.until.trim() {
        "" => None,
        day => match end_of_day(day) {
            Some(end) if end > OffsetDateTime::now_utc().unix_timestamp() => Some(end),
            _ => {
                return Err(AppError::Unprocessable(
                    "The comp's last day must be a date (YYYY-MM-DD), today or later.".to_owned(),
                ));
            }
        },
    };
    let action = match until {
        Some(_) => format!("comped onto the top plan through {}", form.until.trim()),
        None => "comped onto the top plan indefinitely".to_owned(),
    };
    let (mut scope, tenant) = act_on(&state, &admin, id, &action, &form.reason).await?;
    crate::billing::state::comp(&mut scope, id, until, form.reason.trim()).await?;
    scope.commit().await?;
    back_to(
        &session,
        id,
        Flash::success(format!("{} is {action}.", tenant.name)),
    )
    .await
}

async fn end_comp(
    State(state): State<AppState>,
    session: Session,
    admin: SuperAdmin,
    Path(id): Path<TenantId>,
    Form(form): Form<ReasonForm>,
) -> Result<Redirect, AppError> {
    let (mut scope, tenant) = act_on(&state, &admin, id, "ended the comp", &form.reason).await?;
    crate::billing::state::end_comp(&mut scope, id).await?;
    scope.commit().await?;
    back_to(
        &session,
        id,
        Flash::success(format!("{}'s comp has ended.", tenant.name)),
    )
    .await
}

/// Deletes the tenant and everything it holds (audited with the reason):
/// its Stripe subscription is canceled first.
async fn delete_tenant(
    State(state): State<AppState>,
    session: Session,
    admin: SuperAdmin,
    Path(id): Path<TenantId>,
    Form(form): Form<ReasonForm>,
) -> Result<Redirect, AppError> {
    let (scope, tenant) = act_on(&state, &admin, id, "deleted the tenant", &form.reason).await?;
    scope.commit().await?;
    crate::tenants::delete(&state, id, &tenant.billing).await?;
    flash::push(
        &session,
        Flash::success(format!("{} and all its data were deleted.", tenant.name)),
    )
    .await?;
    Ok(Redirect::to("/admin/tenants"))
}

/// The tenant's Stripe subscription id and the client, or why there is
/// nothing to act on.
fn subscription_of<'a>(
    state: &'a AppState,
    tenant: &TenantSummary,
) -> Result<(&'a crate::billing::stripe::Stripe, String), AppError> {
    let stripe = crate::billing::stripe_of(state)?;
    let subscription = tenant
        .billing
        .stripe_subscription_id
        .clone()
        .ok_or_else(|| {
            AppError::Conflict(format!("{} has no Stripe subscription.", tenant.name))
        })?;
    Ok((stripe, subscription))
}

#[derive(Deserialize)]
struct CancelForm {
    /// `period_end` (the default) or `now`.
    #[serde(default)]
    when: String,
    reason: String,
}

/// Cancels through Stripe; the tenant's state follows with Stripe's
/// webhook, like every subscription change.
async fn cancel(
    State(state): State<AppState>,
    session: Session,
    admin: SuperAdmin,
    Path(id): Path<TenantId>,
    Form(form): Form<CancelForm>,
) -> Result<Redirect, AppError> {
    let now = match form.when.as_str() {
        "now" => true,
        "" | "period_end" => false,
        _ => {
            return Err(AppError::Unprocessable(
                "Cancel either at the period's end or now.".to_owned(),
            ));
        }
    };
    let action = if now {
        "canceled the subscription now"
    } else {
        "canceled the subscription at the period's end"
    };
    let (scope, tenant) = act_on(&state, &admin, id, action, &form.reason).await?;
    scope.commit().await?;
    let (stripe, subscription) = subscription_of(&state, &tenant)?;
    let result = if now {
        stripe.cancel_now(&subscription).await?
    } else {
        stripe.cancel_at_period_end(&subscription, true).await?
    };
    let outcome = match result.ends_at {
        Some(end) if result.is_live() => format!("ends on {}", crate::billing::day(end)),
        _ => format!("is {}", result.status),
    };
    back_to(
        &session,
        id,
        Flash::success(format!(
            "Stripe: {}'s subscription {outcome}. The plan follows when Stripe's webhook arrives.",
            tenant.name
        )),
    )
    .await
}

/// Undoes a scheduled cancellation. An ended subscription can't come back:
/// the owner subscribes again from the billing page.
async fn reinstate(
    State(state): State<AppState>,
    session: Session,
    admin: SuperAdmin,
    Path(id): Path<TenantId>,
    Form(form): Form<ReasonForm>,
) -> Result<Redirect, AppError> {
    let (scope, tenant) = act_on(
        &state,
        &admin,
        id,
        "reinstated the subscription",
        &form.reason,
    )
    .await?;
    scope.commit().await?;
    let (stripe, subscription) = subscription_of(&state, &tenant)?;
    let Some(current) = stripe.subscription(&subscription).await? else {
        let gone = Flash::error(format!(
            "Stripe no longer has {}'s subscription {subscription}: there is nothing to \
             reinstate. The owner needs a new checkout, from the billing page.",
            tenant.name
        ));
        return back_to(&session, id, gone).await;
    };
    let message = if !current.is_live() {
        Flash::error(format!(
            "{}'s subscription has already ended ({}): it can't be reinstated. The owner needs a \
             new checkout, from the billing page.",
            tenant.name, current.status
        ))
    } else if current.ends_at.is_none() {
        Flash::info(format!(
            "{}'s subscription is not scheduled to end: nothing to reinstate.",
            tenant.name
        ))
    } else {
        stripe.cancel_at_period_end(&subscription, false).await?;
        Flash::success(format!(
            "Stripe: {}'s subscription continues. The plan follows when Stripe's webhook arrives.",
            tenant.name
        ))
    };
    back_to(&session, id, message).await
}

#[derive(Template)]
#[template(path = "admin/audit.html")]
struct AuditPage {
    layout: Layout,
    entries: Vec<AuditEntry>,
    page: i64,
    more: bool,
}

#[derive(Deserialize)]
struct PageQuery {
    #[serde(default)]
    page: i64,
}

async fn audit(
    State(state): State<AppState>,
    layout: Layout,
    admin: SuperAdmin,
    Query(query): Query<PageQuery>,
) -> Result<Html<String>, AppError> {
    let page = query.page.max(0);
    let (entries, more) = super::audit_log(&state.db, &admin, page).await?;
    render(&AuditPage {
        layout,
        entries,
        page,
        more,
    })
}

#[derive(Template)]
#[template(path = "admin/revenue.html")]
struct RevenuePage {
    layout: Layout,
    revenue: Revenue,
    /// MRR per currency, as money: ("EUR", "€436.83").
    mrr: Vec<(String, String)>,
}

/// The revenue figures, read in an audited scope.
async fn figures(state: &AppState, admin: &SuperAdmin) -> Result<Revenue, AppError> {
    let mut scope =
        all_tenants_unsafe(&state.db, admin, "viewed the revenue figures", Intent::Read).await?;
    let revenue =
        super::revenue::revenue(&mut scope, state.plans, OffsetDateTime::now_utc()).await?;
    scope.commit().await?;
    Ok(revenue)
}

/// MRR, subscriptions and tenants per plan, trials, past due, recent
/// cancellations and comps, from what the webhooks stored.
async fn revenue(
    State(state): State<AppState>,
    layout: Layout,
    admin: SuperAdmin,
) -> Result<Html<String>, AppError> {
    let revenue = figures(&state, &admin).await?;
    let mrr = revenue
        .mrr
        .iter()
        .map(|(currency, amount)| {
            (
                currency.to_uppercase(),
                crate::billing::catalog::money(*amount, currency),
            )
        })
        .collect();
    render(&RevenuePage {
        layout,
        revenue,
        mrr,
    })
}

/// The same figures as JSON.
async fn revenue_json(
    State(state): State<AppState>,
    admin: SuperAdmin,
) -> Result<Json<Revenue>, AppError> {
    Ok(Json(figures(&state, &admin).await?))
}
