//! The queue's tables, `jobs`, `periodic_runs`, and the scheduled tenant
//! runs' `scheduled_runs` and `scheduled_effects`. Claiming is one
//! statement: on PostgreSQL `FOR UPDATE SKIP LOCKED` lets several workers
//! (and instances) claim different jobs at once; SQLite runs one writing
//! statement at a time, which is the same guarantee.

use std::time::Duration;

use crate::db::Db;
use crate::ids::{JobId, TenantId};
use crate::tenancy::TenantScope;
use crate::{on_backend, on_tx, row};

row! {
    /// A job a worker has claimed (its lease is running).
    pub struct Claimed {
        pub id: JobId,
        pub tenant: Option<TenantId>,
        pub payload: String,
        /// Including this one.
        pub attempts: i64,
        pub max_attempts: i64,
        /// The lease's end, which the worker's later updates must still
        /// find: a worker that overran its lease (and lost the job to
        /// another) must not finish it too.
        lease: i64,
    }
}

/// Runs the INSERT of `$job` with id `$id` on `$executor` (a pool, a
/// scope's connection or a transaction), compiled per backend.
macro_rules! insert_job {
    ($id:expr, $job:expr, $executor:expr) => {
        sqlx::query(
            "INSERT INTO jobs (id, kind, tenant, payload, run_at, max_attempts, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind($id)
        .bind(&$job.kind)
        .bind($job.tenant)
        .bind(&$job.payload)
        .bind($job.run_at)
        .bind($job.max_attempts)
        .bind($job.now)
        .execute($executor)
        .await
        .map(drop)
    };
}

/// A job ready to insert.
pub struct NewJob {
    pub kind: String,
    pub tenant: Option<TenantId>,
    pub payload: String,
    pub max_attempts: i64,
    pub now: i64,
    /// When it is due: now, unless it waits.
    pub run_at: i64,
}

pub async fn insert(db: &Db, job: &NewJob) -> Result<JobId, sqlx::Error> {
    let id = JobId::new();
    on_backend!(db, |pool| insert_job!(id, job, pool))?;
    Ok(id)
}

/// Inserts in the scope's transaction: the job exists only if the scope
/// commits.
pub async fn insert_in(scope: &mut TenantScope, job: &NewJob) -> Result<JobId, sqlx::Error> {
    let id = JobId::new();
    on_tx!(scope.tx(), |conn| insert_job!(id, job, conn))?;
    Ok(id)
}

macro_rules! claim_sql {
    ($lock:literal) => {
        concat!(
            "UPDATE jobs SET attempts = attempts + 1, locked_until = $1 WHERE id = (",
            "SELECT id FROM jobs WHERE dead_at IS NULL AND run_at <= $2 ",
            "AND (locked_until IS NULL OR locked_until <= $2) ORDER BY run_at, id LIMIT 1",
            $lock,
            ") RETURNING id, tenant, payload, attempts, max_attempts, locked_until AS lease"
        )
    };
}

/// Takes the oldest due job that no live lease holds, leasing it until
/// `now + lease`.
pub async fn claim(db: &Db, now: i64, lease: Duration) -> Result<Option<Claimed>, sqlx::Error> {
    let until = now.saturating_add(i64::try_from(lease.as_secs()).unwrap_or(i64::MAX));
    crate::on_backend_locking!(db, claim_sql!(" FOR UPDATE SKIP LOCKED"), |pool, sql| {
        sqlx::query_as(sql)
            .bind(until)
            .bind(now)
            .fetch_optional(pool)
            .await
    })
}

/// Done: the job leaves the queue.
pub async fn delete(db: &Db, job: &Claimed) -> Result<(), sqlx::Error> {
    on_backend!(db, |pool| sqlx::query(
        "DELETE FROM jobs WHERE id = $1 AND locked_until = $2"
    )
    .bind(job.id)
    .bind(job.lease)
    .execute(pool)
    .await
    .map(drop))
}

/// Inserts under `id` unless a live job with that id exists (waiting or
/// running); a dead one is replaced. Whether it inserted.
pub async fn insert_as(db: &Db, id: JobId, job: &NewJob) -> Result<bool, sqlx::Error> {
    on_backend!(db, |pool| sqlx::query(
        "DELETE FROM jobs WHERE id = $1 AND dead_at IS NOT NULL"
    )
    .bind(id)
    .execute(pool)
    .await
    .map(drop))?;
    on_backend!(db, |pool| sqlx::query(
        "INSERT INTO jobs (id, kind, tenant, payload, run_at, max_attempts, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING"
    )
    .bind(id)
    .bind(&job.kind)
    .bind(job.tenant)
    .bind(&job.payload)
    .bind(job.run_at)
    .bind(job.max_attempts)
    .bind(job.now)
    .execute(pool)
    .await
    .map(|done| done.rows_affected() == 1))
}

/// Takes `tenant`'s lease on `name` for `holder` until `expires_at`: a new
/// one, or one whose holder let it expire; whether it did.
pub async fn take_lease(
    db: &Db,
    tenant: TenantId,
    name: &str,
    holder: &str,
    now: i64,
    expires_at: i64,
) -> Result<bool, sqlx::Error> {
    let taken: Option<String> = on_backend!(db, |pool| sqlx::query_scalar(
        "INSERT INTO tenant_leases (tenant, name, holder, expires_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (tenant, name) DO UPDATE \
         SET holder = excluded.holder, expires_at = excluded.expires_at \
         WHERE tenant_leases.expires_at <= $5 \
         RETURNING holder"
    )
    .bind(tenant)
    .bind(name)
    .bind(holder)
    .bind(expires_at)
    .bind(now)
    .fetch_optional(pool)
    .await)?;
    Ok(taken.as_deref() == Some(holder))
}

/// Ends `holder`'s lease (if it still holds it).
pub async fn release_lease(
    db: &Db,
    tenant: TenantId,
    name: &str,
    holder: &str,
) -> Result<(), sqlx::Error> {
    on_backend!(db, |pool| sqlx::query(
        "DELETE FROM tenant_leases WHERE tenant = $1 AND name = $2 AND holder = $3"
    )
    .bind(tenant)
    .bind(name)
    .bind(holder)
    .execute(pool)
    .await
    .map(drop))
}

/// Brings a job waiting for its next attempt forward to `now` (one that is
/// running, dead or gone is left alone).
pub async fn run_soon(db: &Db, id: JobId, now: i64) -> Result<(), sqlx::Error> {
    on_backend!(db, |pool| sqlx::query(
        "UPDATE jobs SET run_at = $2 \
         WHERE id = $1 AND run_at > $2 AND dead_at IS NULL AND locked_until IS NULL"
    )
    .bind(id)
    .bind(now)
    .execute(pool)
    .await
    .map(drop))
}

/// Failed, to be tried again at `run_at`.
pub async fn reschedule(
    db: &Db,
    job: &Claimed,
    run_at: i64,
    error: &str,
) -> Result<(), sqlx::Error> {
    on_backend!(db, |pool| {
        sqlx::query(
        "UPDATE jobs SET run_at = $2, locked_until = NULL, last_error = $3 WHERE id = $1 AND locked_until = $4"
    )
    .bind(job.id)
    .bind(run_at)
    .bind(error)
    .bind(job.lease)
    .execute(pool)
    .await
    .map(drop)
    })
}

/// Failed for the last time: kept, out of the queue, for someone to look at,
/// with `kept` as its payload (what of the job may be kept: `Job::kept_when_dead`).
pub async fn bury(
    db: &Db,
    job: &Claimed,
    now: i64,
    error: &str,
    kept: &str,
) -> Result<(), sqlx::Error> {
    on_backend!(db, |pool| {
        sqlx::query(
            "UPDATE jobs SET dead_at = $2, locked_until = NULL, last_error = $3, payload = $5 \
         WHERE id = $1 AND locked_until = $4",
        )
        .bind(job.id)
        .bind(now)
        .bind(error)
        .bind(job.lease)
        .bind(kept)
        .execute(pool)
        .await
        .map(drop)
    })
}

/// Claims `(job, period)` and, if this call claimed it, enqueues the run, in
/// one transaction: the run is enqueued exactly once, whoever asks.
pub async fn claim_period(
    db: &Db,
    name: &str,
    period: &str,
    job: &NewJob,
) -> Result<bool, sqlx::Error> {
    on_backend!(db, |pool| {
        let mut tx = pool.begin().await?;
        let claimed = sqlx::query(
            "INSERT INTO periodic_runs (job, period, claimed_at) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING",
        )
        .bind(name)
        .bind(period)
        .bind(job.now)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if claimed {
            insert_job!(JobId::new(), job, &mut *tx)?;
        }
        tx.commit().await?;
        Ok(claimed)
    })
}

/// Forgets dead jobs, periodic and scheduled claims (with their recorded
/// effects) and expired leases, older than `before`.
pub async fn delete_finished_before(db: &Db, before: i64) -> Result<u64, sqlx::Error> {
    on_backend!(db, |pool| {
        let jobs = sqlx::query("DELETE FROM jobs WHERE dead_at <= $1")
            .bind(before)
            .execute(pool)
            .await?
            .rows_affected();
        let runs = sqlx::query("DELETE FROM periodic_runs WHERE claimed_at <= $1")
            .bind(before)
            .execute(pool)
            .await?
            .rows_affected();
        let scheduled = sqlx::query("DELETE FROM scheduled_runs WHERE claimed_at <= $1")
            .bind(before)
            .execute(pool)
            .await?
            .rows_affected();
        // Leases whose holder died without releasing them.
        let leases = sqlx::query("DELETE FROM tenant_leases WHERE expires_at <= $1")
            .bind(before)
            .execute(pool)
            .await?
            .rows_affected();
        Ok(jobs + runs + scheduled + leases)
    })
}

/// One run of a scheduled tenant job.
pub struct RunKey<'a> {
    pub job: &'a str,
    pub tenant: TenantId,
    pub period: &'a str,
}

row! {
    /// A tenant's id and IANA time zone.
    pub struct TenantZone {
        pub id: TenantId,
        pub time_zone: String,
    }
}

/// Every tenant's id and IANA time zone.
pub async fn tenant_time_zones(db: &Db) -> Result<Vec<TenantZone>, sqlx::Error> {
    on_backend!(db, |pool| sqlx::query_as(
        "SELECT id, time_zone FROM tenants ORDER BY id"
    )
    .fetch_all(pool)
    .await)
}

/// The tenants whose run of `job` for `period` is claimed.
pub async fn claimed_tenants(
    db: &Db,
    job: &str,
    period: &str,
) -> Result<Vec<TenantId>, sqlx::Error> {
    on_backend!(db, |pool| sqlx::query_scalar(
        "SELECT tenant FROM scheduled_runs WHERE job = $1 AND period = $2"
    )
    .bind(job)
    .bind(period)
    .fetch_all(pool)
    .await)
}

/// Claims a scheduled run and, if this call claimed it, enqueues it, in
/// one transaction: the run is enqueued exactly once, whoever asks.
pub async fn claim_run(db: &Db, key: &RunKey<'_>, job: &NewJob) -> Result<bool, sqlx::Error> {
    on_backend!(db, |pool| {
        let mut tx = pool.begin().await?;
        let claimed = sqlx::query(
            "INSERT INTO scheduled_runs (job, tenant, period, claimed_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT DO NOTHING",
        )
        .bind(key.job)
        .bind(key.tenant)
        .bind(key.period)
        .bind(job.now)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if claimed {
            insert_job!(JobId::new(), job, &mut *tx)?;
        }
        tx.commit().await?;
        Ok(claimed)
    })
}

pub async fn run_completed(db: &Db, key: &RunKey<'_>) -> Result<bool, sqlx::Error> {
    on_backend!(db, |pool| sqlx::query_scalar(
        "SELECT completed_at IS NOT NULL FROM scheduled_runs \
         WHERE job = $1 AND tenant = $2 AND period = $3"
    )
    .bind(key.job)
    .bind(key.tenant)
    .bind(key.period)
    .fetch_optional(pool)
    .await)
    .map(|completed: Option<bool>| completed.unwrap_or(false))
}

pub async fn complete_run(db: &Db, key: &RunKey<'_>, now: i64) -> Result<(), sqlx::Error> {
    on_backend!(db, |pool| sqlx::query(
        "UPDATE scheduled_runs SET completed_at = $4 WHERE job = $1 AND tenant = $2 AND period = $3"
    )
    .bind(key.job)
    .bind(key.tenant)
    .bind(key.period)
    .bind(now)
    .execute(pool)
    .await
    .map(drop))
}

/// Records that the run is doing `effect`; `false` when it already was.
pub async fn record_effect(
    db: &Db,
    key: &RunKey<'_>,
    effect: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    on_backend!(db, |pool| sqlx::query(
        "INSERT INTO scheduled_effects (job, tenant, period, effect, recorded_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING"
    )
    .bind(key.job)
    .bind(key.tenant)
    .bind(key.period)
    .bind(effect)
    .bind(now)
    .execute(pool)
    .await
    .map(|done| done.rows_affected() == 1))
}

/// Forgets an effect that failed (so it didn't happen).
pub async fn forget_effect(db: &Db, key: &RunKey<'_>, effect: &str) -> Result<(), sqlx::Error> {
    on_backend!(db, |pool| {
        sqlx::query(
        "DELETE FROM scheduled_effects WHERE job = $1 AND tenant = $2 AND period = $3 AND effect = $4"
    )
    .bind(key.job)
    .bind(key.tenant)
    .bind(key.period)
    .bind(effect)
    .execute(pool)
    .await
    .map(drop)
    })
}
