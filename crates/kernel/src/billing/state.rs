//! A tenant's billing state, in one place: the columns of its `tenants`
//! row ([`BillingState`], [`billing_columns!`](crate::billing_columns)),
//! the locked read the webhook and the plan limits start from, and its
//! writers: the subscription (from Stripe's webhooks only) and the
//! operator's comp (which webhooks never touch).

use time::OffsetDateTime;

use super::catalog::Plan;
use super::stripe::{Interval, SubscriptionSnapshot};
use crate::ids::TenantId;
use crate::on_tx;
use crate::tenancy::TenantScope;
use crate::tenancy::super_admin::AllTenantsScope;

/// A tenant's billing state, as stored on its row (times in unix seconds).
/// Read with [`billing_columns!`](crate::billing_columns).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BillingState {
    pub stripe_customer_id: Option<String>,
    pub stripe_subscription_id: Option<String>,
    /// Stripe's status: active, trialing, past_due, canceled, incomplete, …
    pub subscription_status: Option<String>,
    /// The Stripe price it is on.
    pub subscription_price: Option<String>,
    /// The plan that price is of (its key in `src/plans.rs`), when the app
    /// could place it.
    pub subscription_plan: Option<String>,
    /// How many seats it bills, as Stripe last said.
    pub subscription_quantity: Option<i64>,
    /// What it brings in a month (minor unit), in `subscription_currency`.
    pub subscription_monthly_amount: Option<i64>,
    pub subscription_currency: Option<String>,
    /// When it ended.
    pub subscription_ended_at: Option<i64>,
    /// The end of the period paid for: the next renewal.
    pub subscription_period_end: Option<i64>,
    /// When a scheduled cancellation takes effect.
    pub subscription_ends_at: Option<i64>,
    pub past_due_since: Option<i64>,
    pub comped: bool,
    /// A comp's end; `None` with `comped`: indefinitely.
    pub comped_until: Option<i64>,
    pub comp_reason: Option<String>,
}

/// Reads the columns of [`billing_columns!`] by name, on either backend.
impl<'r, R> sqlx::FromRow<'r, R> for BillingState
where
    R: sqlx::Row,
    &'r str: sqlx::ColumnIndex<R>,
    Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<i64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    bool: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    fn from_row(row: &'r R) -> Result<Self, sqlx::Error> {
        Ok(Self {
            stripe_customer_id: row.try_get("stripe_customer_id")?,
            stripe_subscription_id: row.try_get("stripe_subscription_id")?,
            subscription_status: row.try_get("subscription_status")?,
            subscription_price: row.try_get("subscription_price")?,
            subscription_plan: row.try_get("subscription_plan")?,
            subscription_quantity: row.try_get("subscription_quantity")?,
            subscription_monthly_amount: row.try_get("subscription_monthly_amount")?,
            subscription_currency: row.try_get("subscription_currency")?,
            subscription_ended_at: row.try_get("subscription_ended_at")?,
            subscription_period_end: row.try_get("subscription_period_end")?,
            subscription_ends_at: row.try_get("subscription_ends_at")?,
            past_due_since: row.try_get("past_due_since")?,
            comped: row.try_get("comped")?,
            comped_until: row.try_get("comped_until")?,
            comp_reason: row.try_get("comp_reason")?,
        })
    }
}

/// The `tenants` columns of a [`BillingState`], for `concat!` into a query.
#[macro_export]
macro_rules! billing_columns {
    () => {
        "stripe_customer_id, stripe_subscription_id, subscription_status, subscription_price, \
         subscription_plan, subscription_quantity, subscription_monthly_amount, \
         subscription_currency, subscription_ended_at, subscription_period_end, \
         subscription_ends_at, past_due_since, comped, comped_until, comp_reason"
    };
}

/// The scope's tenant's billing state, as it is now (no lock).
///
/// # Errors
/// When the database fails, or the tenant is gone (`RowNotFound`).
pub async fn current_state(scope: &mut TenantScope) -> Result<BillingState, sqlx::Error> {
    let tenant = scope.tenant_id();
    on_tx!(scope.tx(), |conn| sqlx::query_as(concat!(
        "SELECT ",
        crate::billing_columns!(),
        " FROM tenants WHERE id = $1"
    ))
    .bind(tenant)
    .fetch_one(conn)
    .await)
}

/// The scope's tenant's billing state, read again under a lock held to the
/// end of the scope (PostgreSQL `FOR UPDATE`; SQLite's writing scopes hold
/// the write lock anyway), so a check and the change it allows can't
/// interleave with another. (Requests that only show the state use the copy
/// `InTenant` read with the membership.)
pub(crate) async fn locked_state(scope: &mut TenantScope) -> Result<BillingState, sqlx::Error> {
    let tenant = scope.tenant_id();
    macro_rules! select {
        ($lock:literal) => {
            concat!(
                "SELECT ",
                crate::billing_columns!(),
                " FROM tenants WHERE id = $1",
                $lock
            )
        };
    }
    crate::on_tx_locking!(scope.tx(), select!(" FOR UPDATE"), |conn, sql| {
        sqlx::query_as(sql).bind(tenant).fetch_one(conn).await
    })
}

impl BillingState {
    /// Whether `other` holds the same subscription in the same state (a
    /// comp, the operator's, may differ).
    pub fn same_subscription(&self, other: &Self) -> bool {
        let subscription = |s: &Self| {
            (
                s.stripe_customer_id.clone(),
                s.stripe_subscription_id.clone(),
                s.subscription_status.clone(),
                s.subscription_price.clone(),
                s.subscription_quantity,
                s.subscription_period_end,
                s.subscription_ends_at,
                s.past_due_since,
            )
        };
        subscription(self) == subscription(other)
    }

    /// There is a subscription to manage (in the Customer Portal) rather
    /// than one to start: anything but none, an unfinished first payment, or
    /// an ended one.
    pub fn has_subscription(&self) -> bool {
        self.subscription_status.as_deref().is_some_and(|status| {
            !matches!(status, "incomplete" | "incomplete_expired" | "canceled")
        })
    }
}

/// Stores the subscription on the tenant's row, with the plan its price
/// is of. A comp is the operator's and stays as it is.
pub(crate) async fn store_subscription(
    scope: &mut TenantScope,
    current: &BillingState,
    subscription: &SubscriptionSnapshot,
    plan: Option<&Plan>,
) -> Result<(), sqlx::Error> {
    let tenant = scope.tenant_id();
    // A graduated price (seats included) has no amount per unit: what it
    // brings is the plan's price for the seats beyond those included.
    let monthly_amount = subscription.monthly_amount.or_else(|| {
        let interval = Interval::ALL
            .into_iter()
            .find(|interval| subscription.interval.as_deref() == Some(interval.stripe_name()))?;
        plan?.monthly_amount(interval, subscription.quantity?)
    });
    let past_due_since = (subscription.status == "past_due").then(|| {
        current
            .past_due_since
            .filter(|_| current.subscription_status.as_deref() == Some("past_due"))
            .unwrap_or_else(|| OffsetDateTime::now_utc().unix_timestamp())
    });
    on_tx!(scope.tx(), |conn| sqlx::query(
        "UPDATE tenants SET stripe_customer_id = $2, stripe_subscription_id = $3, \
             subscription_status = $4, subscription_price = $5, subscription_period_end = $6, \
             subscription_ends_at = $7, past_due_since = $8, subscription_plan = $9, \
             subscription_quantity = $10, subscription_monthly_amount = $11, \
             subscription_currency = $12, subscription_ended_at = $13 \
         WHERE id = $1"
    )
    .bind(tenant)
    .bind(&subscription.customer)
    .bind(&subscription.id)
    .bind(&subscription.status)
    .bind(&subscription.price)
    .bind(subscription.period_end)
    .bind(subscription.ends_at)
    .bind(past_due_since)
    .bind(plan.map(|plan| plan.key))
    .bind(subscription.quantity)
    .bind(monthly_amount)
    .bind(&subscription.currency)
    .bind(subscription.ended_at)
    .execute(conn)
    .await
    .map(drop))
}

/// Comps the tenant onto the top plan until `until` (unix seconds), or indefinitely.
/// Webhooks never touch these columns, so a comp outlives any
/// subscription change.
pub async fn comp(
    scope: &mut AllTenantsScope,
    tenant: TenantId,
    until: Option<i64>,
    reason: &str,
) -> Result<(), sqlx::Error> {
    on_tx!(scope.tx(), |conn| sqlx::query(
        "UPDATE tenants SET comped = true, comped_until = $2, comp_reason = $3 WHERE id = $1"
    )
    .bind(tenant)
    .bind(until)
    .bind(reason)
    .execute(conn)
    .await
    .map(drop))
}

/// Ends the tenant's comp.
pub async fn end_comp(scope: &mut AllTenantsScope, tenant: TenantId) -> Result<(), sqlx::Error> {
    on_tx!(scope.tx(), |conn| sqlx::query(
        "UPDATE tenants SET comped = false, comped_until = NULL, comp_reason = NULL WHERE id = $1"
    )
    .bind(tenant)
    .execute(conn)
    .await
    .map(drop))
}
