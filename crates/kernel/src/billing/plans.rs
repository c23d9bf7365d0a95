//! The one answer to "what can this tenant do now?" ([`entitlement`]), read
//! from the tenant's [`BillingState`] and the app's plans ([`Catalog`]).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;
use time::OffsetDateTime;

use super::catalog::{Catalog, Feature, Plan, Quota};
use super::state::BillingState;

/// How long a subscription whose payment failed keeps its plan (with a
/// banner) while Stripe retries the card.
pub const GRACE_PERIOD: Duration = Duration::from_secs(7 * 24 * 3600);

/// What the tenant may do now, and why.
#[derive(Clone, Copy)]
pub struct Entitlement {
    pub plan: &'static Plan,
    /// Comped by the operator, whatever the subscription says.
    pub comped: bool,
    /// In the grace period after a failed payment: show the banner.
    pub payment_overdue: bool,
}

impl Entitlement {
    /// The plan's limit on `quota`; `None` is no limit.
    pub fn limit(&self, quota: &Quota) -> Option<i64> {
        self.plan.limit(quota)
    }

    /// Whether the plan includes `feature`.
    pub fn allows(&self, feature: &Feature) -> bool {
        self.plan.includes(feature)
    }

    /// As the API shows it.
    pub fn summary(&self) -> EntitlementSummary {
        EntitlementSummary {
            plan: self.plan.key.to_owned(),
            plan_name: self.plan.name.to_owned(),
            limits: self
                .plan
                .limits
                .iter()
                .map(|limit| (limit.quota.key.to_owned(), limit.max))
                .collect(),
            features: self
                .plan
                .features
                .iter()
                .map(|feature| feature.key.to_owned())
                .collect(),
            comped: self.comped,
            payment_overdue: self.payment_overdue,
        }
    }
}

/// What the tenant may do now, in the API.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct EntitlementSummary {
    /// The plan's key: `free`, `starter`, …
    pub plan: String,
    pub plan_name: String,
    /// Each limited quota's limit (`locations`, `members`, …); a quota not
    /// listed has none.
    pub limits: BTreeMap<String, i64>,
    /// The features the plan includes.
    pub features: Vec<String>,
    /// Comped by the operator, whatever the subscription says.
    pub comped: bool,
    /// In the grace period after a failed payment.
    pub payment_overdue: bool,
}

/// The one answer to "what can this tenant do now?": the top plan when
/// comped (and the comp hasn't ended); the subscription's plan when it is
/// active or trialing, or past due for less than [`GRACE_PERIOD`]; the free
/// plan otherwise.
pub fn entitlement(catalog: Catalog, state: &BillingState, now: OffsetDateTime) -> Entitlement {
    let now = now.unix_timestamp();
    let comped = state.comped && state.comped_until.is_none_or(|until| until > now);
    let grace = i64::try_from(GRACE_PERIOD.as_secs()).unwrap_or(i64::MAX);
    let payment_overdue = state.subscription_status.as_deref() == Some("past_due")
        && state.past_due_since.is_none_or(|since| now - since < grace);
    let subscribed = matches!(
        state.subscription_status.as_deref(),
        Some("active" | "trialing")
    );
    let plan = if comped {
        catalog.top()
    } else if subscribed || payment_overdue {
        subscribed_plan(catalog, state)
    } else {
        catalog.free()
    };
    Entitlement {
        plan,
        comped,
        payment_overdue: payment_overdue && !comped,
    }
}

/// The plan a running subscription pays for. One whose price the app
/// can't place (a price made by hand in Stripe, a plan removed from the
/// file) keeps the top plan rather than cut off a paying customer; the
/// webhook logged it.
fn subscribed_plan(catalog: Catalog, state: &BillingState) -> &'static Plan {
    state
        .subscription_plan
        .as_deref()
        .and_then(|key| catalog.get(key))
        .filter(|plan| !plan.is_free())
        .unwrap_or_else(|| catalog.top())
}
