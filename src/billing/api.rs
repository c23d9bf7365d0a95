//! The billing JSON API, under `/api/v1/t/{slug}/billing` (owners): the
//! status, and sessions for Stripe Checkout and the Customer Portal.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa_axum::routes;

use super::change::ChangePreview;
use super::invoices::Invoice;
use super::stripe::Interval;
use super::{EntitlementSummary, Usage};
use crate::access::InTenant;
use crate::api::ErrorBody;
use crate::error::AppError;
use crate::http::AppState;
use crate::http::extract::Json;
use crate::http::routes::{Access, Routes};
use crate::tenancy::Action;

pub fn routes() -> Routes {
    Routes::new()
        .api(Access::Tenant, routes!(status))
        .api(Access::Tenant, routes!(checkout))
        .api(Access::Tenant, routes!(portal))
        .api(Access::Tenant, routes!(preview_change))
        .api(Access::Tenant, routes!(change))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct BillingStatus {
    pub entitlement: EntitlementSummary,
    /// Each quota some plan limits, by its key: what is used, and what the
    /// tenant's plan allows.
    pub usage: BTreeMap<String, Usage>,
    /// Stripe's subscription status, if there is a subscription.
    pub subscription_status: Option<String>,
    /// The end of the period paid for (RFC 3339): the next renewal.
    #[serde(with = "time::serde::rfc3339::option")]
    pub current_period_end: Option<OffsetDateTime>,
    /// When a scheduled cancellation takes effect (RFC 3339).
    #[serde(with = "time::serde::rfc3339::option")]
    pub ends_at: Option<OffsetDateTime>,
    /// The latest invoices, newest first (as Stripe's `invoice.*` events
    /// reported them).
    pub invoices: Vec<Invoice>,
}

/// The tenant's plan, its limits and what is used, and its subscription.
#[utoipa::path(get, path = "/api/v1/t/{slug}/billing", tag = "billing",
    params(("slug" = String, Path, description = "The tenant's URL slug")),
    responses((status = 200, body = BillingStatus), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn status(mut t: InTenant) -> Result<Json<BillingStatus>, AppError> {
    t.member.authorize(Action::ManageBilling)?;
    let entitlement = t.entitlement();
    let usage = super::usage_of(&mut t.scope, t.plans, &entitlement).await?;
    let invoices = super::invoices::recent(&mut t.scope).await?;
    let billing = &t.billing;
    let at = |unix: Option<i64>| unix.and_then(|u| OffsetDateTime::from_unix_timestamp(u).ok());
    Ok(Json(BillingStatus {
        entitlement: entitlement.summary(),
        subscription_status: billing.subscription_status.clone(),
        current_period_end: at(billing.subscription_period_end),
        ends_at: at(billing.subscription_ends_at),
        invoices,
        usage: usage
            .into_iter()
            .map(|usage| (usage.quota.clone(), usage))
            .collect(),
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct CheckoutRequest {
    /// The plan's key (`GET /api/v1/plans`); the cheapest paid plan when
    /// left out.
    #[serde(default)]
    pub plan: Option<String>,
    /// Monthly when left out.
    #[serde(default = "monthly")]
    pub interval: Interval,
}

fn monthly() -> Interval {
    Interval::Monthly
}

/// A Stripe-hosted page to send the user to.
#[derive(Serialize, utoipa::ToSchema)]
pub struct StripeSession {
    pub url: String,
}

/// Opens a Stripe Checkout Session for a plan. The plan changes when
/// Stripe's webhook confirms the payment, not before.
#[utoipa::path(post, path = "/api/v1/t/{slug}/billing/checkout", tag = "billing",
    params(("slug" = String, Path, description = "The tenant's URL slug")),
    request_body = CheckoutRequest,
    responses((status = 201, body = StripeSession), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "There is a subscription already: use the portal", body = ErrorBody),
        (status = 422, description = "No such plan sold at that interval", body = ErrorBody),
        (status = 502, description = "Stripe failed", body = ErrorBody),
        (status = 503, description = "Stripe is not configured", body = ErrorBody)))]
pub(crate) async fn checkout(
    State(state): State<AppState>,
    t: InTenant,
    Json(request): Json<CheckoutRequest>,
) -> Result<(StatusCode, Json<StripeSession>), AppError> {
    let plan = request
        .plan
        .unwrap_or_else(|| super::cheapest_paid(t.plans).to_owned());
    let url = super::checkout_url(&state, t, &plan, request.interval).await?;
    Ok((StatusCode::CREATED, Json(StripeSession { url })))
}

/// Opens a Stripe Customer Portal session, which comes back to the billing
/// page.
#[utoipa::path(post, path = "/api/v1/t/{slug}/billing/portal", tag = "billing",
    params(("slug" = String, Path, description = "The tenant's URL slug")),
    responses((status = 201, body = StripeSession), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "No subscription yet", body = ErrorBody),
        (status = 502, description = "Stripe failed", body = ErrorBody),
        (status = 503, description = "Stripe is not configured", body = ErrorBody)))]
pub(crate) async fn portal(
    State(state): State<AppState>,
    t: InTenant,
) -> Result<(StatusCode, Json<StripeSession>), AppError> {
    let url = super::portal_url(&state, t).await?;
    Ok((StatusCode::CREATED, Json(StripeSession { url })))
}

/// A plan to change to.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct PlanChoice {
    /// The plan's key (`GET /api/v1/plans`).
    pub plan: String,
    /// Monthly when left out.
    #[serde(default = "monthly")]
    pub interval: Interval,
}

/// A previewed plan change, to make.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct PlanChange {
    pub plan: String,
    #[serde(default = "monthly")]
    pub interval: Interval,
    /// The preview's `proration_at` (from the last hour) and `quantity`:
    /// the charge is the one previewed.
    #[serde(with = "time::serde::rfc3339")]
    pub proration_at: OffsetDateTime,
    pub quantity: u64,
}

/// What was asked of Stripe.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ChangeRequested {
    pub plan: String,
    pub interval: Interval,
}

/// What changing the subscription to another plan or interval costs now:
/// Stripe's prorated invoice, charged at once (a credit for a downgrade).
#[utoipa::path(post, path = "/api/v1/t/{slug}/billing/change/preview", tag = "billing",
    params(("slug" = String, Path, description = "The tenant's URL slug")),
    request_body = PlanChoice,
    responses((status = 200, body = ChangePreview), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "No running subscription, or on that plan already", body = ErrorBody),
        (status = 422, description = "No such plan sold at that interval", body = ErrorBody),
        (status = 502, description = "Stripe failed", body = ErrorBody),
        (status = 503, description = "Stripe is not configured", body = ErrorBody)))]
pub(crate) async fn preview_change(
    State(state): State<AppState>,
    t: InTenant,
    Json(choice): Json<PlanChoice>,
) -> Result<Json<ChangePreview>, AppError> {
    let preview = super::change::preview(&state, t, &choice.plan, choice.interval).await?;
    Ok(Json(preview))
}

/// Changes the subscription as previewed, invoiced now. The tenant's plan
/// follows when Stripe's webhook confirms it.
#[utoipa::path(post, path = "/api/v1/t/{slug}/billing/change", tag = "billing",
    params(("slug" = String, Path, description = "The tenant's URL slug")),
    request_body = PlanChange,
    responses((status = 202, body = ChangeRequested), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "No running subscription, or on that plan already", body = ErrorBody),
        (status = 422, description = "No such plan sold at that interval, or a stale preview", body = ErrorBody),
        (status = 502, description = "Stripe failed", body = ErrorBody),
        (status = 503, description = "Stripe is not configured", body = ErrorBody)))]
pub(crate) async fn change(
    State(state): State<AppState>,
    t: InTenant,
    Json(change): Json<PlanChange>,
) -> Result<(StatusCode, Json<ChangeRequested>), AppError> {
    let previewed = super::change::Previewed {
        plan: change.plan.clone(),
        interval: change.interval,
        proration_at: change.proration_at,
        quantity: change.quantity,
    };
    super::change::confirm(&state, t, previewed).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(ChangeRequested {
            plan: change.plan,
            interval: change.interval,
        }),
    ))
}
