//! Plans and entitlements. There are two plans, [`Plan::Free`] and
//! [`Plan::Pro`], defined here only; what a tenant may do now is answered
//! by one function, [`entitlement`], and routes and templates ask nothing
//! else. Free has limits ([`Limits`]) that the server enforces
//! ([`ensure_room`]) with a message that links to the billing page.
//!
//! The state it reads lives on the tenant's row (migration 0009): the
//! Stripe subscription's status and period end, when it fell past due, and
//! a super-admin's comp.

pub mod api;
pub mod pages;

use std::time::Duration;

use serde::Serialize;
use time::OffsetDateTime;

use crate::error::AppError;
use crate::on_tx;
use crate::tenancy::TenantScope;
use crate::tenancy::scope::Tx;

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

/// A tenant's billing state, as stored on its row.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BillingState {
    /// Stripe's status: active, trialing, past_due, canceled, incomplete, …
    pub subscription_status: Option<String>,
    pub subscription_period_end: Option<i64>,
    pub past_due_since: Option<i64>,
    pub comped: bool,
    /// A comp's end (unix seconds); `None` with `comped`: indefinitely.
    pub comped_until: Option<i64>,
}

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

type StateRow = (Option<String>, Option<i64>, Option<i64>, bool, Option<i64>);

/// The scope's tenant's billing state, read again under a lock held to the
/// end of the scope (PostgreSQL `FOR UPDATE`; SQLite's writing scopes hold
/// the write lock anyway), so a check and the change it allows can't
/// interleave with another. (Requests that only show the state use the copy
/// `InTenant` read with the membership.)
///
/// # Errors
/// When the database fails.
async fn locked_state(scope: &mut TenantScope) -> Result<BillingState, sqlx::Error> {
    let tenant = scope.tenant_id();
    macro_rules! select {
        ($lock:literal) => {
            concat!(
                "SELECT subscription_status, subscription_period_end, past_due_since, comped, comped_until ",
                "FROM tenants WHERE id = $1",
                $lock
            )
        };
    }
    let row: StateRow = match scope.tx() {
        Tx::Postgres(tx) => {
            sqlx::query_as(select!(" FOR UPDATE"))
                .bind(tenant)
                .fetch_one(&mut **tx)
                .await?
        }
        Tx::Sqlite(tx) => {
            sqlx::query_as(select!(""))
                .bind(tenant)
                .fetch_one(&mut **tx)
                .await?
        }
    };
    let (subscription_status, subscription_period_end, past_due_since, comped, comped_until) = row;
    Ok(BillingState {
        subscription_status,
        subscription_period_end,
        past_due_since,
        comped,
        comped_until,
    })
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

/// # Errors
/// When the database fails.
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
