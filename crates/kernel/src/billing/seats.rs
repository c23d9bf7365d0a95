//! A per-seat subscription's quantity follows the tenant's seats (members,
//! or what a module sells by: `Catalog::seat`).
//!
//! Whatever changes a seat (an invitation, a member leaving, a module's
//! hire) calls [`changed`] in its own transaction: if the tenant has a
//! subscription billed by quantity, a [`SEATS`] job is queued with the
//! change (it exists only if the change commits), due a minute later. The
//! job counts the seats then and, only if the count differs from what
//! Stripe bills, sets the new quantity (prorated, as Stripe does by
//! default; with an idempotency key), under the tenant's billing lease. So
//! a burst of 500 hires in a minute makes one change in Stripe: the first
//! job to run sends the count, and the others find it already billed. A
//! Stripe outage fails the job, which the queue retries.

use std::time::Duration;

use serde_json::json;

use super::state::{current_state, locked_state, store_subscription};
use crate::http::AppState;
use crate::ids::TenantId;
use crate::jobs::{JobError, JobKind};
use crate::on_tx;
use crate::tenancy::{Intent, TenantScope, for_tenant};

/// Brings a per-seat subscription's quantity to the tenant's count of
/// seats: `{"tenant": id}`.
pub const SEATS: JobKind = JobKind {
    name: "billing_seats",
    max_attempts: 25,
    run: |state, fields| Box::pin(run(state, fields)),
};

/// How long a change waits for the others of its burst.
pub const GATHER: Duration = Duration::from_secs(60);

/// A seat may have changed in the scope's tenant: queues the job that
/// brings the subscription's quantity in line, if it bills one.
///
/// # Errors
/// When the database fails.
pub async fn changed(scope: &mut TenantScope) -> Result<(), sqlx::Error> {
    let tenant = scope.tenant_id();
    let billed: bool = on_tx!(scope.tx(), |conn| sqlx::query_scalar(
        "SELECT subscription_quantity IS NOT NULL FROM tenants WHERE id = $1"
    )
    .bind(tenant)
    .fetch_one(conn)
    .await)?;
    if billed {
        let job = SEATS.job(json!({ "tenant": tenant }));
        crate::jobs::enqueue_in_after(scope, &job, GATHER).await?;
    }
    Ok(())
}

async fn run(
    state: &AppState,
    fields: &serde_json::Map<String, serde_json::Value>,
) -> Result<(), JobError> {
    let tenant: TenantId = serde_json::from_value(
        fields
            .get("tenant")
            .cloned()
            .ok_or("a billing_seats job without its tenant")?,
    )?;
    let lease = super::sync::billing_lease(state, tenant).await?;
    let outcome = sync(state, tenant).await;
    lease.release().await;
    outcome
}

/// Under the tenant's lease: counts the seats, and sets the quantity in
/// Stripe if it bills another than its plan's pricing calls for (the
/// seats, or one for a flat plan: a switch between the two, in the
/// Customer Portal or the app, brings the quantity in line here). The plan
/// is read from Stripe's subscription as it is then, not from the row: a
/// change the webhook hasn't brought yet is not mistaken for the old plan.
async fn sync(state: &AppState, tenant: TenantId) -> Result<(), JobError> {
    let Some(stripe) = state.stripe.as_deref() else {
        return Ok(());
    };
    let mut scope = for_tenant(&state.db, tenant, Intent::Read).await?;
    let billing = match current_state(&mut scope).await {
        Ok(billing) => billing,
        Err(sqlx::Error::RowNotFound) => return Ok(()), // deleted since
        Err(error) => return Err(error.into()),
    };
    let running = billing
        .subscription_status
        .as_deref()
        .is_some_and(super::stripe::is_running_status);
    let (Some(subscription), true) = (&billing.stripe_subscription_id, running) else {
        return Ok(());
    };
    let seats = (state.plans.seat().count)(&mut scope).await?;
    scope.commit().await?;
    let on_file = billing
        .subscription_plan
        .as_deref()
        .and_then(|key| state.plans.get(key));
    if on_file.is_some_and(|plan| billing.subscription_quantity == Some(plan.quantity(seats))) {
        return Ok(());
    }
    let Some(current) = stripe.subscription(subscription).await? else {
        return Ok(()); // gone: its events say so
    };
    let (Some(item), Some(plan)) = (current.item.clone(), stripe.plan_of(state.plans, &current))
    else {
        return Ok(());
    };
    let quantity = plan.quantity(seats);
    let updated = if current.quantity == Some(quantity) {
        current
    } else {
        let minute = time::OffsetDateTime::now_utc().unix_timestamp() / 60;
        stripe
            .set_quantity(
                subscription,
                &item,
                u64::try_from(quantity).unwrap_or(1),
                &minute.to_string(),
            )
            .await?
    };
    let mut scope = for_tenant(&state.db, tenant, Intent::Write).await?;
    let locked = locked_state(&mut scope).await?;
    if locked.stripe_subscription_id.as_deref() == Some(subscription.as_str()) {
        let plan = stripe.plan_of(state.plans, &updated);
        store_subscription(&mut scope, &locked, &updated, plan).await?;
        scope.commit().await?;
    }
    Ok(())
}

/// Queues the job at once, in the scope's transaction: the subscription
/// moved between a flat and a per-seat plan, whose quantity Stripe kept.
///
/// # Errors
/// When the database fails.
pub(super) async fn plan_changed(scope: &mut TenantScope) -> Result<(), sqlx::Error> {
    let job = SEATS.job(json!({ "tenant": scope.tenant_id() }));
    crate::jobs::enqueue_in(scope, &job).await.map(drop)
}
