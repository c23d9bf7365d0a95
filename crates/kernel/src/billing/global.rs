//! Billing's queries on global tables, outside any scope: the inbox of
//! Stripe's events (`stripe_events`), and which tenant an event is about.

use crate::db::Db;
use crate::ids::{JobId, TenantId};
use crate::jobs::{Job, Purge};
use crate::{on_backend, row};

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

/// What recording an event in the inbox found.
#[derive(Debug, PartialEq, Eq)]
pub enum Recorded {
    /// A new event, with its job queued.
    New,
    /// Stripe sent it before.
    Again,
}

/// Records an event (its id, type and what its job routes by) and makes
/// sure the job that will process it is queued. The event is recorded
/// first, with its job's id, and the job added second. A redelivery of an
/// event (Stripe retrying one it got no answer for; a resend from its
/// dashboard or CLI) that isn't applied yet processes it again: its job is
/// added again if a crash lost it, given a new start if it died, run now if
/// it waits to retry, and an event that changed nothing is looked at anew.
/// An applied event's redelivery changes nothing.
pub async fn record_event(
    db: &Db,
    id: &str,
    kind: &str,
    payload: &str,
    job: &Job,
) -> Result<Recorded, sqlx::Error> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let inserted = on_backend!(db, |pool| sqlx::query(
        "INSERT INTO stripe_events (id, type, payload, received_at, job_id) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING"
    )
    .bind(id)
    .bind(kind)
    .bind(payload)
    .bind(now)
    .bind(JobId::new())
    .execute(pool)
    .await
    .map(|done| done.rows_affected() == 1))?;
    let to_process: Option<Option<JobId>> = on_backend!(db, |pool| sqlx::query_scalar(
        "UPDATE stripe_events SET processed_at = NULL, outcome = NULL \
         WHERE id = $1 AND (outcome IS NULL OR outcome <> $2) RETURNING job_id"
    )
    .bind(id)
    .bind(APPLIED)
    .fetch_optional(pool)
    .await)?;
    if let Some(Some(job_id)) = to_process {
        crate::jobs::ensure_enqueued(db, job_id, None, job).await?;
    }
    Ok(if inserted {
        Recorded::New
    } else {
        Recorded::Again
    })
}

/// The outcome of an event that changed the tenant's subscription.
pub const APPLIED: &str = "applied";

row! {
    /// An event in the inbox.
    pub struct InboxEvent {
        pub id: String,
        pub kind: String,
        /// What its job routes by (JSON).
        pub payload: String,
        pub processed_at: Option<i64>,
    }
}

pub async fn inbox_event(db: &Db, id: &str) -> Result<Option<InboxEvent>, sqlx::Error> {
    on_backend!(db, |pool| sqlx::query_as(
        "SELECT id, type AS kind, payload, processed_at FROM stripe_events WHERE id = $1"
    )
    .bind(id)
    .fetch_optional(pool)
    .await)
}

/// The event's job is done, with `outcome`.
pub async fn finish_event(db: &Db, id: &str, outcome: &str) -> Result<(), sqlx::Error> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    on_backend!(db, |pool| sqlx::query(
        "UPDATE stripe_events SET processed_at = $2, outcome = $3 WHERE id = $1"
    )
    .bind(id)
    .bind(now)
    .bind(outcome)
    .execute(pool)
    .await
    .map(drop))
}

/// Old events, in the hourly purge.
pub const OLD_EVENTS: Purge = Purge {
    name: "stripe_events",
    run: |db| Box::pin(delete_events_before(db, crate::jobs::finished_cutoff())),
};

/// Forgets the events received before `before` (unix seconds): Stripe
/// stops retrying after 3 days, and they are kept 30.
pub async fn delete_events_before(db: &Db, before: i64) -> Result<u64, sqlx::Error> {
    on_backend!(db, |pool| sqlx::query(
        "DELETE FROM stripe_events WHERE received_at < $1"
    )
    .bind(before)
    .execute(pool)
    .await
    .map(|done| done.rows_affected()))
}
