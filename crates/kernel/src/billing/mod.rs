//! Plans and entitlements. There are two plans, [`Plan::Free`] and
//! [`Plan::Pro`], defined here only; what a tenant may do now is answered
//! by one function, [`entitlement`], and routes and templates ask nothing
//! else. Free has limits ([`Limits`]) that the server enforces
//! ([`ensure_room`]) with a message that links to the billing page.
//!
//! The state it reads lives on the tenant's row (migration 0009): the
//! Stripe subscription's status and period end, when it fell past due, and
//! a super-admin's comp.

pub mod global;
pub mod plans;
pub mod state;
pub mod stripe;
pub mod sync;
pub mod webhook;

pub use plans::{Entitlement, GRACE_PERIOD, Limits, Plan, entitlement};
pub use state::BillingState;
pub(crate) use state::locked_state;

use serde::Serialize;
use time::OffsetDateTime;

use crate::access::InTenant;
use crate::error::AppError;
use crate::http::AppState;
use crate::on_tx;
use crate::tenancy::{Action, TenantScope};
use stripe::{CheckoutRequest, Interval, Stripe};

/// The Stripe client, or a 503 that says what to configure.
///
/// # Errors
/// 503 without `STRIPE_SECRET_KEY`.
pub fn stripe_of(state: &AppState) -> Result<&Stripe, AppError> {
    state.stripe.as_deref().ok_or_else(|| {
        AppError::NotConfigured(
            "Billing is not set up on this server: set STRIPE_SECRET_KEY (docs/billing.md)."
                .to_owned(),
        )
    })
}

/// Where to send an owner who subscribes to Pro: a new Checkout Session's
/// URL. Nothing changes here until Stripe's webhook says it was paid.
///
/// # Errors
/// 403 for anyone but an owner; 409 with a subscription already; Stripe's
/// failures.
pub async fn checkout_url(
    state: &AppState,
    t: InTenant,
    interval: Interval,
) -> Result<String, AppError> {
    t.member.authorize(Action::ManageBilling)?;
    let stripe = stripe_of(state)?;
    if t.billing.has_subscription() {
        return Err(AppError::Conflict(
            "This organisation already has a subscription: manage it in the customer portal."
                .to_owned(),
        ));
    }
    let billing_page = billing_page_url(state, &t);
    let (tenant, billing, user) = (t.tenant.id, t.billing, t.member.user_id);
    before_stripe(t.scope).await?;
    let email = crate::accounts::global::find_user(&state.db, user)
        .await?
        .map(|user| user.email.to_string());
    stripe
        .checkout(CheckoutRequest {
            tenant,
            customer: billing.stripe_customer_id.as_deref(),
            email: email.as_deref(),
            interval,
            success_url: format!("{billing_page}/success"),
            cancel_url: format!("{billing_page}?checkout=canceled"),
        })
        .await
}

/// A Customer Portal session's URL for the tenant's Stripe customer, coming
/// back to the billing page.
///
/// # Errors
/// 403 for anyone but an owner; 409 before the first checkout; Stripe's
/// failures.
pub async fn portal_url(state: &AppState, t: InTenant) -> Result<String, AppError> {
    t.member.authorize(Action::ManageBilling)?;
    let stripe = stripe_of(state)?;
    let customer = t.billing.stripe_customer_id.clone().ok_or_else(|| {
        AppError::Conflict("There is nothing to manage yet: subscribe to Pro first.".to_owned())
    })?;
    let return_url = billing_page_url(state, &t);
    before_stripe(t.scope).await?;
    stripe.portal(&customer, return_url).await
}

/// Ends the request's transaction before Stripe is called: held across the
/// network, it would keep a pooled connection (and a writing request's
/// SQLite lock, which every tenant shares) for as long as Stripe takes.
async fn before_stripe(scope: TenantScope) -> Result<(), AppError> {
    scope.commit().await?;
    Ok(())
}

/// The billing page's absolute URL, where Stripe sends the owner back.
fn billing_page_url(state: &AppState, t: &InTenant) -> String {
    format!("{}/t/{}/billing", state.config.base_url, t.tenant.slug)
}

/// A day from unix seconds, as `2026-11-23` (UTC).
pub fn day(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix)
        .map(|at| at.date().to_string())
        .unwrap_or_default()
}

/// What a Free limit counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limited {
    Locations,
    Members,
}

/// How many of `what` the scope's tenant has.
async fn usage(scope: &mut TenantScope, what: Limited) -> Result<i64, sqlx::Error> {
    let tenant = scope.tenant_id();
    let sql = match what {
        Limited::Locations => {
            "SELECT count(*) FROM locations WHERE tenant_id = $1 AND archived_at IS NULL"
        }
        Limited::Members => {
            "SELECT (SELECT count(*) FROM memberships WHERE tenant_id = $1) \
                  + (SELECT count(*) FROM invitations WHERE tenant_id = $1 AND accepted_at IS NULL)"
        }
    };
    on_tx!(scope.tx(), |conn| sqlx::query_scalar(sql)
        .bind(tenant)
        .fetch_one(conn)
        .await)
}

/// Refuses one more of `what` when the tenant's plan has no room for it
/// (403 `plan_limit`, naming the limit and where to upgrade). Locks the
/// tenant's billing row first, so two requests can't both take the last
/// place.
///
/// # Errors
/// 403 at the limit; a database failure.
pub async fn ensure_room(
    scope: &mut TenantScope,
    slug: &str,
    what: Limited,
) -> Result<(), AppError> {
    let entitlement = entitlement(&locked_state(scope).await?, OffsetDateTime::now_utc());
    let (limit, noun) = match what {
        Limited::Locations => (entitlement.limits.locations, "active locations"),
        Limited::Members => (
            entitlement.limits.members,
            "members (pending invitations count)",
        ),
    };
    let Some(limit) = limit else {
        return Ok(());
    };
    if usage(scope, what).await? < limit {
        return Ok(());
    }
    Err(AppError::PlanLimit(format!(
        "The {} plan allows {limit} {noun}. Upgrade to Pro at /t/{slug}/billing to add more.",
        entitlement.plan.name()
    )))
}

/// The plan, its limits and what is used, for the billing page and API.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Usage {
    pub locations: i64,
    pub members: i64,
}

pub async fn usage_of(scope: &mut TenantScope) -> Result<Usage, sqlx::Error> {
    Ok(Usage {
        locations: usage(scope, Limited::Locations).await?,
        members: usage(scope, Limited::Members).await?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(seconds).unwrap()
    }

    fn with_status(status: &str) -> BillingState {
        BillingState {
            subscription_status: Some(status.to_owned()),
            ..BillingState::default()
        }
    }

    #[test]
    fn the_plan_follows_the_subscription_the_grace_period_and_comps() {
        let now = at(1_000_000_000);
        let day = 86_400;
        assert_eq!(entitlement(&BillingState::default(), now).plan, Plan::Free);
        for status in ["active", "trialing"] {
            assert_eq!(
                entitlement(&with_status(status), now).plan,
                Plan::Pro,
                "{status}"
            );
        }
        for status in [
            "canceled",
            "incomplete",
            "incomplete_expired",
            "unpaid",
            "paused",
        ] {
            assert_eq!(
                entitlement(&with_status(status), now).plan,
                Plan::Free,
                "{status}"
            );
        }
        let overdue = |days: i64| BillingState {
            past_due_since: Some(now.unix_timestamp() - days * day),
            ..with_status("past_due")
        };
        let fresh = entitlement(&overdue(2), now);
        assert_eq!(
            (fresh.plan, fresh.payment_overdue),
            (Plan::Pro, true),
            "within the grace period"
        );
        let stale = entitlement(&overdue(8), now);
        assert_eq!(
            (stale.plan, stale.payment_overdue),
            (Plan::Free, false),
            "after it"
        );

        let comp = |until: Option<i64>| BillingState {
            comped: true,
            comped_until: until,
            ..with_status("canceled")
        };
        assert_eq!(
            entitlement(&comp(None), now).plan,
            Plan::Pro,
            "comped indefinitely"
        );
        assert!(entitlement(&comp(None), now).comped);
        assert_eq!(
            entitlement(&comp(Some(now.unix_timestamp() + day)), now).plan,
            Plan::Pro
        );
        assert_eq!(
            entitlement(&comp(Some(now.unix_timestamp() - 1)), now).plan,
            Plan::Free,
            "the comp ended"
        );
        assert_eq!(Plan::Free.limits().locations, Some(2));
        assert_eq!(
            Plan::Pro.limits(),
            Limits {
                locations: None,
                members: None
            }
        );
    }
}
