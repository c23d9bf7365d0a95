//! The billing JSON API, under `/api/v1/t/{slug}/billing` (owners): the
//! status, and sessions for Stripe Checkout and the Customer Portal.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa_axum::routes;

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
