//! The billing pages of a tenant (owners): the plan, its limits and use, the
//! subscription, and the ways to Stripe: Checkout to subscribe, the
//! Customer Portal to manage.

use askama::Template;
use axum::extract::State;
use axum::response::{Html, Redirect};
use serde::Deserialize;

use super::stripe::Interval;
use super::{ChosenPlan, catalog, invoices};
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
        .add(
            "/t/{slug}/billing/change",
            Access::Tenant,
            get(preview_change).post(change),
        )
}

#[derive(Template)]
#[template(path = "billing/index.html")]
struct BillingPage {
    layout: Layout,
    nav: TenantNav,
    entitlement: Entitlement,
    usage: Vec<Usage>,
    subscription: Option<Subscription>,
    /// The paid plans on sale here, when Stripe is set up.
    offers: Vec<Offer>,
    stripe_configured: bool,
    /// A subscription to manage in the portal, rather than one to start.
    manageable: bool,
    checkout_canceled: bool,
    /// A plan change was just asked of Stripe: the plan's name.
    changing: Option<&'static str>,
    /// The plan chosen before signing up, to check out now: (key,
    /// interval, button label).
    chosen: Option<(&'static str, &'static str, String)>,
    invoices: Vec<InvoiceRow>,
}

/// An invoice, as the page lists it.
struct InvoiceRow {
    number: String,
    date: String,
    amount: String,
    status: String,
    hosted: Option<String>,
    pdf: Option<String>,
}

impl InvoiceRow {
    fn of(invoice: invoices::Invoice) -> Self {
        Self {
            number: invoice.number.unwrap_or_else(|| invoice.id.clone()),
            date: super::day(invoice.created),
            amount: catalog::money(invoice.total, &invoice.currency),
            status: invoice.status,
            hosted: invoice.hosted_invoice_url,
            pdf: invoice.invoice_pdf,
        }
    }
}

/// The subscription, as the page words it.
struct Subscription {
    status: String,
    /// "Renews on …" or "Ends on …".
    next: Option<String>,
}

/// A paid plan the owner can check out, with a button per interval it is
/// sold at: (form value, label).
struct Offer {
    key: &'static str,
    name: &'static str,
    description: &'static str,
    buttons: Vec<(&'static str, String)>,
}

#[derive(Deserialize)]
struct PageQuery {
    #[serde(default)]
    checkout: Option<String>,
    /// A plan change just asked for: its plan.
    #[serde(default)]
    changed: Option<String>,
    #[serde(flatten)]
    chosen: ChosenPlan,
}

async fn page(
    State(state): State<AppState>,
    layout: Layout,
    Query(query): Query<PageQuery>,
    mut t: InTenant,
) -> Result<Html<String>, AppError> {
    t.member.authorize(Action::ManageBilling)?;
    let entitlement = t.entitlement();
    let billing = &t.billing;
    let subscription = billing
        .subscription_status
        .clone()
        .map(|status| Subscription {
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
    // Every priced plan, once Stripe is set up (Checkout finds its price).
    let offers = if state.stripe.is_some() {
        t.plans
            .plans()
            .iter()
            .map(|plan| Offer {
                key: plan.key,
                name: plan.name,
                description: plan.description,
                buttons: Interval::ALL
                    .into_iter()
                    .filter(|interval| plan.price(*interval).is_some())
                    .map(|interval| {
                        let name = interval.as_str();
                        (name, format!("Upgrade to {}, {name}", plan.name))
                    })
                    .collect(),
            })
            .filter(|offer| !offer.buttons.is_empty())
            .collect()
    } else {
        Vec::new()
    };
    let manageable = billing.has_subscription();
    let chosen = query
        .chosen
        .on_sale(&state)
        .filter(|_| !manageable)
        .map(|(plan, interval)| {
            let label = format!("Continue to checkout: {}, {}", plan.name, interval.as_str());
            (plan.key, interval.as_str(), label)
        });
    let usage = super::usage_of(&mut t.scope, t.plans, &entitlement).await?;
    let invoices = invoices::recent(&mut t.scope).await?;
    render(&BillingPage {
        layout,
        nav: TenantNav::new(&t),
        entitlement,
        usage,
        subscription,
        offers,
        stripe_configured: state.stripe.is_some(),
        manageable,
        checkout_canceled: query.checkout.as_deref() == Some("canceled"),
        changing: query
            .changed
            .as_deref()
            .and_then(|key| t.plans.get(key))
            .map(|plan| plan.name),
        chosen,
        invoices: invoices.into_iter().map(InvoiceRow::of).collect(),
    })
}

#[derive(Deserialize)]
struct CheckoutForm {
    plan: String,
    interval: Interval,
}

/// Sends the owner to Stripe Checkout.
async fn checkout(
    State(state): State<AppState>,
    t: InTenant,
    Form(form): Form<CheckoutForm>,
) -> Result<Redirect, AppError> {
    let url = super::checkout_url(&state, t, &form.plan, form.interval).await?;
    Ok(Redirect::to(&url))
}

/// Sends the owner to the Customer Portal.
async fn portal(State(state): State<AppState>, t: InTenant) -> Result<Redirect, AppError> {
    let url = super::portal_url(&state, t).await?;
    Ok(Redirect::to(&url))
}

#[derive(Template)]
#[template(path = "billing/change.html")]
struct ChangePage {
    layout: Layout,
    nav: TenantNav,
    current: &'static str,
    preview: super::change::ChangePreview,
    /// The preview's moment, as the form sends it back (RFC 3339).
    proration_at: String,
}

#[derive(Deserialize)]
struct ChangeQuery {
    plan: String,
    interval: Interval,
}

/// What a change of plan costs now, with the button that makes it.
async fn preview_change(
    State(state): State<AppState>,
    layout: Layout,
    t: InTenant,
    Query(query): Query<ChangeQuery>,
) -> Result<Html<String>, AppError> {
    let nav = TenantNav::new(&t);
    let current = t.entitlement().plan.name;
    let preview = super::change::preview(&state, t, &query.plan, query.interval).await?;
    let proration_at = preview
        .proration_at
        .format(&time::format_description::well_known::Rfc3339)
        .map_err(|error| AppError::Internal(format!("a proration date: {error}")))?;
    render(&ChangePage {
        layout,
        nav,
        current,
        preview,
        proration_at,
    })
}

#[derive(Deserialize)]
struct ChangeForm {
    plan: String,
    interval: Interval,
    #[serde(with = "time::serde::rfc3339")]
    proration_at: time::OffsetDateTime,
    quantity: u64,
}

/// Makes the previewed change; the billing page says it is on its way.
async fn change(
    State(state): State<AppState>,
    t: InTenant,
    Form(form): Form<ChangeForm>,
) -> Result<Redirect, AppError> {
    let slug = t.tenant.slug.clone();
    let previewed = super::change::Previewed {
        plan: form.plan.clone(),
        interval: form.interval,
        proration_at: form.proration_at,
        quantity: form.quantity,
    };
    super::change::confirm(&state, t, previewed).await?;
    Ok(Redirect::to(&format!(
        "/t/{slug}/billing?changed={}",
        form.plan
    )))
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
        entitlement: t.entitlement(),
    })
}
