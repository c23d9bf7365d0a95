//! Billing's queries on global tables, outside any scope: which tenant a
//! Stripe event is about, and forgetting old event ids.

use crate::db::Db;
use crate::ids::TenantId;
use crate::jobs::Purge;
use crate::on_backend;

/// Whether a tenant with `id` exists.
pub async fn tenant_exists(db: &Db, id: TenantId) -> Result<bool, sqlx::Error> {
    on_backend!(db, |pool| sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM tenants WHERE id = $1)"
    )
    .bind(id)
    .fetch_one(pool)
    .await)
}

/// The tenant whose Stripe customer is `customer`.
pub async fn tenant_of_customer(db: &Db, customer: &str) -> Result<Option<TenantId>, sqlx::Error> {
    on_backend!(db, |pool| sqlx::query_scalar(
        "SELECT id FROM tenants WHERE stripe_customer_id = $1"
    )
    .bind(customer)
    .fetch_optional(pool)
    .await)
}

/// Stripe event ids kept past the queue's own records, in the hourly purge.
pub const OLD_EVENTS: Purge = Purge {
    name: "stripe_events",
    run: |db| Box::pin(delete_events_before(db, crate::jobs::finished_cutoff())),
};

/// Forgets the ids of Stripe events processed before `before` (unix
/// seconds): Stripe stops retrying after 3 days.
pub async fn delete_events_before(db: &Db, before: i64) -> Result<u64, sqlx::Error> {
    on_backend!(db, |pool| sqlx::query(
        "DELETE FROM stripe_events WHERE processed_at < $1"
    )
    .bind(before)
    .execute(pool)
    .await
    .map(|done| done.rows_affected()))
}
