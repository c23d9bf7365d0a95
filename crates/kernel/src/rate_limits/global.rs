//! The per-account counters: the global `rate_limit_counters` table, one
//! fixed window per (bucket, subject).

use std::time::Duration;

use time::OffsetDateTime;

use crate::db::Db;
use crate::tenancy::TenantScope;
use crate::{on_backend, on_tx, row};

/// A counter's state after this request.
pub struct Hits {
    pub count: i64,
    /// Until the window resets.
    pub retry_after: Duration,
}

row! {
    /// A counter's current window, as stored.
    struct Window {
        hits: i64,
        window_started_at: i64,
    }
}

fn hits(counted: Window, window: Duration, now: i64) -> Hits {
    let ends = counted
        .window_started_at
        .saturating_add(i64::try_from(window.as_secs()).unwrap_or(i64::MAX));
    Hits {
        count: counted.hits,
        retry_after: Duration::from_secs(u64::try_from(ends - now).unwrap_or(0).max(1)),
    }
}

/// Counts one hit on `$executor` (a pool, or a scope's connection),
/// starting a new window when the last one has passed. One statement, so
/// two instances counting at once both count. Evaluates to
/// `Result<Hits, sqlx::Error>`.
macro_rules! count_hit {
    ($bucket:expr, $subject:expr, $window:expr, $executor:expr) => {{
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let expired_before = now - i64::try_from($window.as_secs()).unwrap_or(i64::MAX);
        sqlx::query_as::<_, Window>(
            "INSERT INTO rate_limit_counters (bucket, subject, window_started_at, hits) VALUES ($1, $2, $3, 1) \
             ON CONFLICT (bucket, subject) DO UPDATE SET \
               hits = CASE WHEN rate_limit_counters.window_started_at <= $4 THEN 1 \
                           ELSE rate_limit_counters.hits + 1 END, \
               window_started_at = CASE WHEN rate_limit_counters.window_started_at <= $4 THEN $3 \
                           ELSE rate_limit_counters.window_started_at END \
             RETURNING hits, window_started_at",
        )
        .bind($bucket)
        .bind($subject)
        .bind(now)
        .bind(expired_before)
        .fetch_one($executor)
        .await
        .map(|window| hits(window, $window, now))
    }};
}

/// Counts one hit (see [`count_hit!`]).
pub async fn hit(
    db: &Db,
    bucket: &str,
    subject: &str,
    window: Duration,
) -> Result<Hits, sqlx::Error> {
    on_backend!(db, |pool| count_hit!(bucket, subject, window, pool))
}

/// Counts one hit in the scope's transaction: for work done inside a tenant
/// request (whose transaction, on SQLite, holds the only write lock), which
/// counts only if the work commits.
pub async fn hit_in(
    scope: &mut TenantScope,
    bucket: &str,
    subject: &str,
    window: Duration,
) -> Result<Hits, sqlx::Error> {
    on_tx!(scope.tx(), |conn| count_hit!(bucket, subject, window, conn))
}

/// The hits of the current window, if one is open.
pub async fn current(
    db: &Db,
    bucket: &str,
    subject: &str,
    window: Duration,
) -> Result<Option<Hits>, sqlx::Error> {
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let expired_before = now - i64::try_from(window.as_secs()).unwrap_or(i64::MAX);
    let row: Option<Window> = on_backend!(db, |pool| sqlx::query_as(
        "SELECT hits, window_started_at FROM rate_limit_counters \
         WHERE bucket = $1 AND subject = $2 AND window_started_at > $3"
    )
    .bind(bucket)
    .bind(subject)
    .bind(expired_before)
    .fetch_optional(pool)
    .await)?;
    Ok(row.map(|row| hits(row, window, now)))
}

/// Takes back one hit (an attempt that succeeded: only failures count).
pub async fn refund(db: &Db, bucket: &str, subject: &str) -> Result<(), sqlx::Error> {
    on_backend!(db, |pool| sqlx::query(
        "UPDATE rate_limit_counters SET hits = hits - 1 \
         WHERE bucket = $1 AND subject = $2 AND hits > 0"
    )
    .bind(bucket)
    .bind(subject)
    .execute(pool)
    .await
    .map(drop))
}

/// Forgets a counter.
pub async fn clear(db: &Db, bucket: &str, subject: &str) -> Result<(), sqlx::Error> {
    on_backend!(db, |pool| sqlx::query(
        "DELETE FROM rate_limit_counters WHERE bucket = $1 AND subject = $2"
    )
    .bind(bucket)
    .bind(subject)
    .execute(pool)
    .await
    .map(drop))
}

/// Deletes counters whose window started more than `age` ago.
pub async fn delete_older_than(db: &Db, age: Duration) -> Result<u64, sqlx::Error> {
    let before = OffsetDateTime::now_utc().unix_timestamp()
        - i64::try_from(age.as_secs()).unwrap_or(i64::MAX);
    on_backend!(db, |pool| sqlx::query(
        "DELETE FROM rate_limit_counters WHERE window_started_at <= $1"
    )
    .bind(before)
    .execute(pool)
    .await
    .map(|done| done.rows_affected()))
}
