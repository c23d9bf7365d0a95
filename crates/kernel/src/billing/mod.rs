//! Plans and entitlements. The plans are the app's (`src/plans.rs`, as
//! [`catalog`] data); what a tenant may do now is answered by one function,
//! [`entitlement`], and routes and templates ask nothing else. A plan's
//! limits are enforced on the server ([`ensure_room`]) with a message that
//! links to the billing page.
//!
//! The state it reads lives on the tenant's row (migration 0009): the
//! Stripe subscription's status, plan and period end, when it fell past
//! due, and a super-admin's comp.

pub mod catalog;
pub mod change;
pub mod global;
pub mod invoices;
pub mod notices;
pub mod plans;
pub mod seats;
pub mod state;
pub mod stripe;
pub mod stripe_sync;
pub mod sync;
pub mod webhook;

pub use catalog::{Catalog, Feature, Plan, Quota};
pub use plans::{Entitlement, EntitlementSummary, GRACE_PERIOD, entitlement};
pub use state::BillingState;
pub(crate) use state::locked_state;

use serde::Serialize;
use time::OffsetDateTime;

use crate::access::InTenant;
use crate::error::AppError;
use crate::http::AppState;
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

/// Where to send an owner who subscribes to `plan`: a new Checkout
/// Session's URL, for as many seats as the tenant has if the plan is sold
/// by the seat. Nothing changes here until Stripe's webhook says it was
/// paid.
///
/// # Errors
/// 403 for anyone but an owner; 409 with a subscription already; 422 for a
/// plan or interval not on sale; Stripe's failures.
pub async fn checkout_url(
    state: &AppState,
    mut t: InTenant,
    plan: &str,
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
    let plan = t
        .plans
        .get(plan)
        .filter(|plan| plan.price(interval).is_some())
        .ok_or_else(|| {
            AppError::Unprocessable(format!(
                "There is no {} plan sold {}: see /pricing.",
                plan,
                interval.as_str()
            ))
        })?;
    let quantity = plan.quantity((t.plans.seat().count)(&mut t.scope).await?);
    let billing_page = billing_page_url(state, &t);
    let (tenant, billing, user) = (t.tenant.id, t.billing, t.member.user_id);
    before_stripe(t.scope).await?;
    let email = crate::accounts::global::find_user(&state.db, user)
        .await?
        .map(|user| user.email.to_string());
    stripe
        .checkout(CheckoutRequest {
            tenant,
            plan,
            interval,
            quantity: u64::try_from(quantity).unwrap_or(1),
            customer: billing.stripe_customer_id.as_deref(),
            email: email.as_deref(),
            success_url: format!("{billing_page}/success"),
            cancel_url: format!("{billing_page}?checkout=canceled"),
        })
        .await
}

/// The plan `key` if it is on sale here for `interval`: priced in
/// `src/plans.rs`, with a Stripe price, Stripe set up.
pub fn on_sale(state: &AppState, key: &str, interval: Interval) -> Option<&'static Plan> {
    state.stripe.as_ref()?;
    state
        .plans
        .get(key)
        .filter(|plan| plan.price(interval).is_some())
}

/// A plan chosen before signing up (`/pricing` → `/signup?plan=…`), which
/// the signup carries to the billing page's checkout.
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct ChosenPlan {
    #[serde(default)]
    pub plan: Option<String>,
    #[serde(default)]
    pub interval: Option<Interval>,
}

impl ChosenPlan {
    /// The plan, if it is on sale at the interval (monthly when none).
    pub fn on_sale(&self, state: &AppState) -> Option<(&'static Plan, Interval)> {
        let interval = self.interval.unwrap_or(Interval::Monthly);
        on_sale(state, self.plan.as_deref()?, interval).map(|plan| (plan, interval))
    }

    /// As a query string (`?plan=pro&interval=monthly`), if on sale.
    pub fn query(&self, state: &AppState) -> Option<String> {
        self.on_sale(state)
            .map(|(plan, interval)| format!("?plan={}&interval={}", plan.key, interval.as_str()))
    }
}

/// The key of the first paid plan (what a checkout that names none buys);
/// the free plan's when none is paid (a checkout then says there is none).
pub fn cheapest_paid(plans: Catalog) -> &'static str {
    plans
        .plans()
        .iter()
        .find(|plan| !plan.is_free())
        .unwrap_or(plans.free())
        .key
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
        AppError::Conflict("There is nothing to manage yet: subscribe to a plan first.".to_owned())
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

/// Refuses one more of `quota` when the tenant's plan has no room for it
/// (403 `plan_limit`, naming the limit and where to upgrade). Locks the
/// tenant's billing row first, so two requests can't both take the last
/// place.
///
/// # Errors
/// 403 at the limit; a database failure.
pub async fn ensure_room(
    scope: &mut TenantScope,
    plans: Catalog,
    slug: &str,
    quota: &Quota,
) -> Result<(), AppError> {
    let entitlement = entitlement(
        plans,
        &locked_state(scope).await?,
        OffsetDateTime::now_utc(),
    );
    let Some(limit) = entitlement.limit(quota) else {
        return Ok(());
    };
    if (quota.count)(scope).await? < limit {
        return Ok(());
    }
    Err(AppError::PlanLimit(format!(
        "The {} plan allows {limit} {}. Upgrade at /t/{slug}/billing to add more.",
        entitlement.plan.name, quota.noun
    )))
}

/// Refuses what the tenant's plan doesn't include (403 `plan_limit`,
/// naming the feature and where to upgrade).
///
/// # Errors
/// 403 when the plan doesn't include `feature`.
pub fn ensure_feature(
    entitlement: &Entitlement,
    slug: &str,
    feature: &Feature,
) -> Result<(), AppError> {
    if entitlement.allows(feature) {
        return Ok(());
    }
    Err(AppError::PlanLimit(format!(
        "{} is not part of the {} plan. Upgrade at /t/{slug}/billing to use it.",
        feature.name, entitlement.plan.name
    )))
}

/// How much of a quota the tenant uses, and what its plan allows.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Usage {
    /// The quota's key: `locations`, `members`, …
    pub quota: String,
    /// What it counts: "active locations".
    pub noun: String,
    pub used: i64,
    /// `None`: no limit.
    pub limit: Option<i64>,
}

/// The use of every quota some plan limits, against the tenant's plan.
pub async fn usage_of(
    scope: &mut TenantScope,
    plans: Catalog,
    entitlement: &Entitlement,
) -> Result<Vec<Usage>, sqlx::Error> {
    let mut usage = Vec::new();
    for quota in plans.limited_quotas() {
        usage.push(Usage {
            quota: quota.key.to_owned(),
            noun: quota.noun.to_owned(),
            used: (quota.count)(scope).await?,
            limit: entitlement.limit(quota),
        });
    }
    Ok(usage)
}

#[cfg(test)]
mod tests {
    use super::catalog::{Limit, Price, Pricing};
    use super::*;

    const THINGS: Quota = Quota {
        key: "things",
        noun: "things",
        one: "thing",
        count: |_| Box::pin(async { Ok(0) }),
    };
    const EXTRA: Feature = Feature {
        key: "extra",
        name: "The extra",
    };
    const PLANS: &[Plan] = &[
        Plan {
            key: "free",
            name: "Free",
            description: "",
            limits: &[Limit {
                quota: &THINGS,
                max: 2,
            }],
            features: &[],
            prices: &[],
            trial_days: 0,
            pricing: Pricing::Flat,
        },
        Plan {
            key: "pro",
            name: "Pro",
            description: "",
            limits: &[],
            features: &[&EXTRA],
            prices: &[Price {
                interval: Interval::Monthly,
                amount: 900,
                currency: "eur",
            }],
            trial_days: 0,
            pricing: Pricing::PerSeat { included: 0 },
        },
    ];

    fn catalog() -> Catalog {
        Catalog::new(PLANS, &THINGS).unwrap()
    }

    fn at(seconds: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(seconds).unwrap()
    }

    fn with_status(status: &str) -> BillingState {
        BillingState {
            subscription_status: Some(status.to_owned()),
            subscription_plan: Some("pro".to_owned()),
            ..BillingState::default()
        }
    }

    fn plan_of(state: &BillingState, now: OffsetDateTime) -> &'static str {
        entitlement(catalog(), state, now).plan.key
    }

    #[test]
    fn the_plan_follows_the_subscription_the_grace_period_and_comps() {
        let now = at(1_000_000_000);
        let day = 86_400;
        assert_eq!(plan_of(&BillingState::default(), now), "free");
        for status in ["active", "trialing"] {
            assert_eq!(plan_of(&with_status(status), now), "pro", "{status}");
        }
        for status in [
            "canceled",
            "incomplete",
            "incomplete_expired",
            "unpaid",
            "paused",
        ] {
            assert_eq!(plan_of(&with_status(status), now), "free", "{status}");
        }
        let overdue = |days: i64| BillingState {
            past_due_since: Some(now.unix_timestamp() - days * day),
            ..with_status("past_due")
        };
        let fresh = entitlement(catalog(), &overdue(2), now);
        assert_eq!(
            (fresh.plan.key, fresh.payment_overdue),
            ("pro", true),
            "within the grace period"
        );
        let stale = entitlement(catalog(), &overdue(8), now);
        assert_eq!(
            (stale.plan.key, stale.payment_overdue),
            ("free", false),
            "after it"
        );

        let comp = |until: Option<i64>| BillingState {
            comped: true,
            comped_until: until,
            ..with_status("canceled")
        };
        assert_eq!(plan_of(&comp(None), now), "pro", "comped indefinitely");
        assert!(entitlement(catalog(), &comp(None), now).comped);
        assert_eq!(plan_of(&comp(Some(now.unix_timestamp() + day)), now), "pro");
        assert_eq!(
            plan_of(&comp(Some(now.unix_timestamp() - 1)), now),
            "free",
            "the comp ended"
        );
        let unplaced = BillingState {
            subscription_plan: Some("retired".to_owned()),
            ..with_status("active")
        };
        assert_eq!(
            plan_of(&unplaced, now),
            "pro",
            "a paying customer keeps the top plan"
        );
    }

    #[test]
    fn limits_and_features_are_the_plans() {
        let now = at(1_000_000_000);
        let free = entitlement(catalog(), &BillingState::default(), now);
        assert_eq!(free.limit(&THINGS), Some(2));
        assert!(!free.allows(&EXTRA));
        let pro = entitlement(catalog(), &with_status("active"), now);
        assert_eq!(pro.limit(&THINGS), None, "not named: no limit");
        assert!(pro.allows(&EXTRA));
        assert!(ensure_feature(&free, "alpha", &EXTRA).is_err());
        assert!(ensure_feature(&pro, "alpha", &EXTRA).is_ok());
    }

    #[test]
    fn a_catalog_that_cant_be_sold_is_refused_naming_the_plan() {
        const PRICE: &[Price] = &[Price {
            interval: Interval::Monthly,
            amount: 100,
            currency: "eur",
        }];
        const fn plan(key: &'static str, prices: &'static [Price]) -> Plan {
            Plan {
                key,
                name: "",
                description: "",
                limits: &[],
                features: &[],
                prices,
                trial_days: 0,
                pricing: Pricing::Flat,
            }
        }
        const PAID_FIRST: &[Plan] = &[plan("pro", PRICE)];
        const FREE_LATER: &[Plan] = &[plan("free", &[]), plan("lite", &[])];
        const TWICE: &[Plan] = &[plan("free", &[]), plan("free", PRICE)];
        const BAD_KEY: &[Plan] = &[plan("free", &[]), plan("Pro Plan", PRICE)];
        const TWO_MONTHLY: &[Price] = &[
            Price {
                interval: Interval::Monthly,
                amount: 100,
                currency: "eur",
            },
            Price {
                interval: Interval::Monthly,
                amount: 200,
                currency: "eur",
            },
        ];
        const TWO_PRICES: &[Plan] = &[plan("free", &[]), plan("pro", TWO_MONTHLY)];
        for (plans, says) in [
            (&[][..], "no plans"),
            (PAID_FIRST, "pro, has prices"),
            (FREE_LATER, "plan lite has no prices"),
            (TWICE, "two plans have the key free"),
            (BAD_KEY, "\"Pro Plan\""),
            (TWO_PRICES, "two monthly prices"),
        ] {
            let error = Catalog::new(plans, &THINGS).err().expect(says);
            assert!(error.contains(says), "{error}");
        }
        assert!(Catalog::new(PLANS, &THINGS).is_ok());
    }
}
