//! The billing pages of a tenant (owners): the plan, its limits and use, the
//! subscription, and the ways to Stripe: Checkout to subscribe, the
//! Customer Portal to manage.

use askama::Template;
use axum::extract::State;
use axum::response::{Html, Redirect};
use serde::Deserialize;
use time::OffsetDateTime;

use super::stripe::Interval;
use super::{Entitlement, Usage};
use crate::access::InTenant;
use crate::error::AppError;
use crate::http::AppState;
use crate::http::extract::{Form, Query};
use crate::http::routes::{Access, Routes, get, post};
use crate::pages::{Layout, TenantNav, render};
use crate::tenancy::Action;

pub fn routes() -> Routes {
    Routes::new()
        .add("/t/{slug}/billing", Access::Tenant, get(page))
        .add("/t/{slug}/billing/checkout", Access::Tenant, post(checkout))
        .add("/t/{slug}/billing/portal", Access::Tenant, post(portal))
        .add("/t/{slug}/billing/success", Access::Tenant, get(success))
}

#[derive(Template)]
#[template(path = "billing/index.html")]
struct BillingPage {
    layout: Layout,
    nav: TenantNav,
    entitlement: Entitlement,
    usage: Usage,
    subscription: Option<Subscription>,
    /// The intervals with a Stripe price, when Stripe is set up: (form
    /// value, button label).
    intervals: Vec<(&'static str, String)>,
    stripe_configured: bool,
    /// A subscription to manage in the portal, rather than one to start.
    manageable: bool,
    checkout_canceled: bool,
}

/// The subscription, as the page words it.
struct Subscription {
    status: String,
    interval: Option<&'static str>,
    /// "Renews on …" or "Ends on …".
    next: Option<String>,
}

#[derive(Deserialize)]
struct PageQuery {
    #[serde(default)]
    checkout: Option<String>,
}

async fn page(
    State(state): State<AppState>,
    layout: Layout,
    Query(query): Query<PageQuery>,
    mut t: InTenant,
) -> Result<Html<String>, AppError> {
    t.member.authorize(Action::ManageBilling)?;
    let billing = &t.billing;
    let prices = state.stripe.as_ref().map(|stripe| stripe.prices());
    let subscription = billing
        .subscription_status
        .clone()
        .map(|status| Subscription {
            interval: billing
                .subscription_price
                .as_deref()
                .and_then(|price| prices?.interval_of(price))
                .map(Interval::as_str),
            next: match (
                billing.subscription_ends_at,
                billing.subscription_period_end,
            ) {
                _ if !billing.has_subscription() => None,
                (Some(end), _) => Some(format!("Ends on {}", super::day(end))),
                (None, Some(renewal)) => Some(format!("Renews on {}", super::day(renewal))),
                (None, None) => None,
            },
            status,
        });
    let intervals = prices
        .map(|prices| {
            Interval::ALL
                .into_iter()
                .filter(|interval| prices.get(*interval).is_some())
                .map(|interval| {
                    let name = interval.as_str();
                    (name, format!("Upgrade to Pro, {name}"))
                })
                .collect()
        })
        .unwrap_or_default();
    render(&BillingPage {
        layout,
        nav: TenantNav::new(&t),
        entitlement: super::entitlement(billing, OffsetDateTime::now_utc()),
        usage: super::usage_of(&mut t.scope).await?,
        subscription,
        intervals,
        stripe_configured: state.stripe.is_some(),
        manageable: billing.has_subscription(),
        checkout_canceled: query.checkout.as_deref() == Some("canceled"),
    })
}

#[derive(Deserialize)]
struct CheckoutForm {
    interval: Interval,
}

/// Sends the owner to Stripe Checkout.
async fn checkout(
    State(state): State<AppState>,
    t: InTenant,
    Form(form): Form<CheckoutForm>,
) -> Result<Redirect, AppError> {
    let url = super::checkout_url(&state, t, form.interval).await?;
    Ok(Redirect::to(&url))
}

/// Sends the owner to the Customer Portal.
async fn portal(State(state): State<AppState>, t: InTenant) -> Result<Redirect, AppError> {
    let url = super::portal_url(&state, t).await?;
    Ok(Redirect::to(&url))
}

#[derive(Template)]
#[template(path = "billing/success.html")]
struct SuccessPage {
    layout: Layout,
    nav: TenantNav,
    /// The webhook has arrived: the subscription is on file.
    active: bool,
    entitlement: Entitlement,
}

/// Where Checkout comes back to. It grants nothing: it waits (reloading
/// itself) until Stripe's webhook has recorded the subscription.
async fn success(layout: Layout, t: InTenant) -> Result<Html<String>, AppError> {
    t.member.authorize(Action::ManageBilling)?;
    render(&SuccessPage {
        layout,
        nav: TenantNav::new(&t),
        active: t.billing.has_subscription(),
        entitlement: super::entitlement(&t.billing, OffsetDateTime::now_utc()),
    })
}
