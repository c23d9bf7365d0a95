//! The plans, what each allows, and the one answer to "what can this tenant
//! do now?" ([`entitlement`]), read from the tenant's [`BillingState`].

use std::time::Duration;

use serde::Serialize;
use time::OffsetDateTime;

use super::state::BillingState;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Plan {
    Free,
    Pro,
}

/// What a plan allows; `None` is no limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Limits {
    /// Active locations.
    pub locations: Option<i64>,
    /// Members, counting pending invitations.
    pub members: Option<i64>,
}

impl Plan {
    pub fn name(self) -> &'static str {
        match self {
            Self::Free => "Free",
            Self::Pro => "Pro",
        }
    }

    pub fn limits(self) -> Limits {
        match self {
            Self::Free => Limits {
                locations: Some(2),
                members: Some(5),
            },
            Self::Pro => Limits {
                locations: None,
                members: None,
            },
        }
    }
}

/// How long a subscription whose payment failed keeps Pro (with a banner)
/// while Stripe retries the card.
pub const GRACE_PERIOD: Duration = Duration::from_secs(7 * 24 * 3600);

/// What the tenant may do now, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Entitlement {
    pub plan: Plan,
    pub limits: Limits,
    /// Comped by the operator, whatever the subscription says.
    pub comped: bool,
    /// Pro in the grace period after a failed payment: show the banner.
    pub payment_overdue: bool,
}

/// The one answer to "what can this tenant do now?": Pro when comped (and
/// the comp hasn't ended), or when the subscription is active or trialing,
/// or past due for less than [`GRACE_PERIOD`]; Free otherwise.
pub fn entitlement(state: &BillingState, now: OffsetDateTime) -> Entitlement {
    let now = now.unix_timestamp();
    let comped = state.comped && state.comped_until.is_none_or(|until| until > now);
    let grace = i64::try_from(GRACE_PERIOD.as_secs()).unwrap_or(i64::MAX);
    let payment_overdue = state.subscription_status.as_deref() == Some("past_due")
        && state.past_due_since.is_none_or(|since| now - since < grace);
    let subscribed = matches!(
        state.subscription_status.as_deref(),
        Some("active" | "trialing")
    );
    let plan = if comped || subscribed || payment_overdue {
        Plan::Pro
    } else {
        Plan::Free
    };
    Entitlement {
        plan,
        limits: plan.limits(),
        comped,
        payment_overdue: payment_overdue && !comped,
    }
}
