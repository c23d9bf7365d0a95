//! What the app earns, for the super-admin's revenue page: computed from
//! the tenants' billing state as Stripe's webhooks stored it (no Stripe
//! call), read in an audited all-tenants scope.

use std::collections::BTreeMap;

use serde::Serialize;
use time::OffsetDateTime;

use crate::billing::{BillingState, Catalog, entitlement};
use crate::on_tx;
use crate::tenancy::super_admin::AllTenantsScope;

/// How far back cancellations are counted.
pub const CANCELLATIONS_WITHIN_DAYS: i64 = 30;

/// The figures of the revenue page (and its JSON).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Revenue {
    /// Monthly recurring revenue per currency, in its minor unit (cents):
    /// what active and past-due subscriptions bill, a year's price divided
    /// by 12. Trials are not in it until they pay.
    pub mrr: BTreeMap<String, i64>,
    /// Running subscriptions (active, trialing, past due) per plan.
    pub subscriptions: BTreeMap<String, i64>,
    /// Tenants per plan they are on now (`billing::entitlement`: comps and
    /// grace periods included; everyone else on the free plan).
    pub tenants: BTreeMap<String, i64>,
    pub trialing: i64,
    pub past_due: i64,
    /// Subscriptions that ended in the last 30 days.
    pub canceled_last_30_days: i64,
    pub comped: i64,
}

/// The revenue figures, as of `now`.
///
/// # Errors
/// When the database fails.
pub async fn revenue(
    scope: &mut AllTenantsScope,
    plans: Catalog,
    now: OffsetDateTime,
) -> Result<Revenue, sqlx::Error> {
    let states: Vec<BillingState> = on_tx!(scope.tx(), |conn| sqlx::query_as(concat!(
        "SELECT ",
        crate::billing_columns!(),
        " FROM tenants"
    ))
    .fetch_all(conn)
    .await)?;
    Ok(figures(plans, &states, now))
}

/// The figures of these billing states: the page's arithmetic, apart.
pub fn figures(plans: Catalog, states: &[BillingState], now: OffsetDateTime) -> Revenue {
    let since = now.unix_timestamp() - CANCELLATIONS_WITHIN_DAYS * 86_400;
    let mut revenue = Revenue::default();
    for state in states {
        let on = entitlement(plans, state, now);
        *revenue.tenants.entry(on.plan.key.to_owned()).or_default() += 1;
        revenue.comped += i64::from(on.comped);
        let status = state.subscription_status.as_deref().unwrap_or_default();
        if crate::billing::stripe::is_running_status(status) {
            let plan = state.subscription_plan.clone().unwrap_or_default();
            *revenue.subscriptions.entry(plan).or_default() += 1;
        }
        revenue.trialing += i64::from(status == "trialing");
        revenue.past_due += i64::from(status == "past_due");
        if matches!(status, "active" | "past_due")
            && let (Some(amount), Some(currency)) = (
                state.subscription_monthly_amount,
                &state.subscription_currency,
            )
        {
            *revenue.mrr.entry(currency.clone()).or_default() += amount;
        }
        if status == "canceled" && state.subscription_ended_at.is_some_and(|at| at >= since) {
            revenue.canceled_last_30_days += 1;
        }
    }
    revenue
}
