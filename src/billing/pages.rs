//! The billing page of a tenant (owners): the plan, its limits and use,
//! and how to subscribe.

use askama::Template;
use axum::extract::State;
use axum::response::Html;
use time::OffsetDateTime;

use super::{Entitlement, Usage};
use crate::error::AppError;
use crate::http::AppState;
use crate::http::routes::{Access, Routes, get};
use crate::pages::{Layout, TenantNav, render};
use crate::tenancy::{Action, InTenant};

pub fn routes() -> Routes {
    Routes::new().add("/t/{slug}/billing", Access::Tenant, get(page))
}

#[derive(Template)]
#[template(path = "billing/index.html")]
struct BillingPage {
    layout: Layout,
    nav: TenantNav,
    entitlement: Entitlement,
    usage: Usage,
    subscription_status: Option<String>,
    /// Stripe keys are set: checkout can be offered.
    stripe_configured: bool,
}

async fn page(
    State(state): State<AppState>,
    layout: Layout,
    mut t: InTenant,
) -> Result<Html<String>, AppError> {
    t.member.authorize(Action::ManageBilling)?;
    render(&BillingPage {
        layout,
        nav: TenantNav::new(&t.tenant, &t.member),
        entitlement: super::entitlement(&t.tenant.billing, OffsetDateTime::now_utc()),
        usage: super::usage_of(&mut t.scope).await?,
        subscription_status: t.tenant.billing.subscription_status.clone(),
        stripe_configured: state.config.stripe_secret_key.is_some(),
    })
}
