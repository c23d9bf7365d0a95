//! The durable job queue (ARCHITECTURE §11): work that must happen even if
//! the instance that asked for it stops, such as sending an email.
//!
//! * A [`Job`] is a variant of one enum, stored as JSON in the `jobs` table
//!   with the tenant it works for, if any, beside it: a job that touches
//!   tenant data opens its own scope for that tenant, never ambient state.
//! * [`enqueue`] adds one; [`enqueue_in`] adds one inside a tenant scope's
//!   transaction, so it exists only if the change that asked for it commits
//!   (the outbox pattern).
//! * [`start`] runs workers in this process: each claims the oldest due job
//!   under a lease ([`LEASE`]), runs it, and deletes it; a failure is tried
//!   again after a growing delay ([`backoff`]) until the job's attempts run
//!   out, and then kept as dead, with its last error, for someone to look at.
//!   A worker that dies mid-job loses its lease, and another takes the job.
//! * [`PERIODIC`] jobs are enqueued once per period, however many instances
//!   run (`periodic_runs` holds the claim); [`scheduled`] tenant jobs once
//!   per tenant and period on the tenant's clock.
//!
//! The queue's own work (delivering email, the hourly purge, scheduled
//! runs) is a variant of [`Job`]. A capability's is a [`JobKind`] it lists
//! in its `Capability::jobs`, queued with [`JobKind::job`]; what it purges
//! hourly is a [`Purge`]. The composition root hands the lot to the workers
//! as a [`Registry`].

mod global;
pub mod lease;
pub mod scheduled;

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::db::Db;
use crate::http::AppState;
use crate::ids::{JobId, TenantId};
use crate::tenancy::TenantScope;
use global::NewJob;

/// Background work, stored as JSON whose `kind` names it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Job {
    /// Deliver one email: the outbox.
    SendEmail(crate::mail::transport::Outgoing),
    /// Delete what has expired: sessions, rate-limit counters, old records
    /// of the queue itself, and each capability's [`Purge`].
    PurgeExpired,
    /// One period's run of a scheduled tenant job (the tenant is the job's
    /// own, in the queue's `tenant` column): [`scheduled`].
    Scheduled { name: String, period: String },
    /// A capability's own kind of work ([`JobKind`]).
    #[serde(untagged)]
    Of(CapabilityJob),
}

/// A job of a capability's [`JobKind`]: its name and its fields, stored as
/// `{"kind": name, …fields}` like the queue's own.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CapabilityJob {
    pub kind: String,
    #[serde(flatten)]
    pub fields: serde_json::Map<String, serde_json::Value>,
    /// Its kind's, when queued (not stored in the payload).
    #[serde(skip)]
    max_attempts: i64,
}

/// A kind of background work a capability queues (`Capability::jobs`).
pub struct JobKind {
    /// Its name in the queue (`jobs.kind`, the payload's `kind`); never
    /// rename one that may be queued.
    pub name: &'static str,
    /// How many runs before a job of this kind is given up as dead.
    pub max_attempts: i64,
    /// The work, given the job's fields.
    pub run:
        for<'a> fn(&'a AppState, &'a serde_json::Map<String, serde_json::Value>) -> JobFuture<'a>,
}

/// What a [`JobKind`]'s run returns.
pub type JobFuture<'a> = Pin<Box<dyn Future<Output = Result<(), JobError>> + Send + 'a>>;

impl JobKind {
    /// A job of this kind with `fields` (a struct, or a `json!` object).
    ///
    /// # Panics
    /// When `fields` isn't a JSON object: a programming error every test
    /// of the kind shows.
    pub fn job(&self, fields: impl Serialize) -> Job {
        let serde_json::Value::Object(fields) =
            serde_json::to_value(fields).expect("a job's fields serialise")
        else {
            panic!("the fields of a {} job are an object", self.name);
        };
        Job::Of(CapabilityJob {
            kind: self.name.to_owned(),
            fields,
            max_attempts: self.max_attempts,
        })
    }
}

/// What a capability deletes in the hourly purge (`Capability::purges`).
pub struct Purge {
    /// What it deletes, for the log.
    pub name: &'static str,
    /// Deletes what has expired; answers how many rows went.
    pub run: for<'a> fn(&'a Db) -> PurgeFuture<'a>,
}

/// What a [`Purge`] returns.
pub type PurgeFuture<'a> = Pin<Box<dyn Future<Output = Result<u64, sqlx::Error>> + Send + 'a>>;

/// What the capabilities add to the queue, gathered by the composition root
/// (`crate::job_registry`).
pub struct Registry {
    pub kinds: Vec<&'static JobKind>,
    pub schedules: Vec<&'static scheduled::Schedule>,
    pub purges: Vec<&'static Purge>,
}

impl Registry {
    fn kind(&self, name: &str) -> Option<&'static JobKind> {
        self.kinds.iter().copied().find(|kind| kind.name == name)
    }
}

/// Why a run failed, for the job's `last_error` and the log.
pub type JobError = Box<dyn std::error::Error + Send + Sync>;

impl Job {
    /// How many runs before the job is given up as dead.
    fn max_attempts(&self) -> i64 {
        match self {
            // About two and a half days of backoff: an SMTP outage delays
            // mail, it doesn't lose it.
            Self::SendEmail(_) => 20,
            Self::PurgeExpired => 3,
            Self::Scheduled { .. } => 10,
            Self::Of(job) => job.max_attempts.max(1),
        }
    }

    async fn run(
        self,
        state: &AppState,
        registry: &Registry,
        tenant: Option<TenantId>,
    ) -> Result<(), JobError> {
        match self {
            Self::SendEmail(email) => state.mailer.deliver(&email).await,
            Self::PurgeExpired => purge_expired(&state.db, registry).await,
            Self::Scheduled { name, period } => {
                scheduled::run(state, registry, tenant, &name, period).await
            }
            Self::Of(job) => {
                let kind = registry
                    .kind(&job.kind)
                    .ok_or_else(|| format!("no kind of job is named {}", job.kind))?;
                (kind.run)(state, &job.fields).await
            }
        }
    }

    /// What a dead job keeps of itself, for the record: an email's
    /// recipient and subject, not its bodies, which may hold a link that
    /// still works (a verification, an invitation). Delivered jobs leave the
    /// queue altogether.
    fn kept_when_dead(payload: &str) -> String {
        match serde_json::from_str::<Self>(payload) {
            Ok(Self::SendEmail(email)) => {
                serde_json::to_value(Self::SendEmail(crate::mail::transport::Outgoing {
                    text: String::new(),
                    html: String::new(),
                    attachments: Vec::new(),
                    ..email
                }))
                .map(|value| value.to_string())
                .unwrap_or_default()
            }
            _ => payload.to_owned(),
        }
    }

    /// The row to insert: the job as JSON, and its name (the JSON's `kind`,
    /// read from the one serialisation) for `jobs.kind`.
    fn to_new(&self, tenant: Option<TenantId>) -> NewJob {
        let payload =
            serde_json::to_value(self).expect("a job serialises: it holds only strings and ids");
        let now = unix_now();
        NewJob {
            kind: payload["kind"].as_str().unwrap_or_default().to_owned(),
            tenant,
            payload: payload.to_string(),
            max_attempts: self.max_attempts(),
            now,
            run_at: now,
        }
    }
}

/// How long a worker may hold a job before another may take it. A run is
/// cut off a little before, so two workers never run one job at once.
pub const LEASE: Duration = Duration::from_secs(5 * 60);
const RUN_TIMEOUT: Duration = Duration::from_secs(4 * 60);

/// How often an idle worker looks for due jobs.
const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Adds `job`, working for `tenant` if it has one.
pub async fn enqueue(db: &Db, tenant: Option<TenantId>, job: &Job) -> Result<JobId, sqlx::Error> {
    global::insert(db, &job.to_new(tenant)).await
}

/// Adds `job` for the scope's tenant, in the scope's transaction.
pub async fn enqueue_in(scope: &mut TenantScope, job: &Job) -> Result<JobId, sqlx::Error> {
    enqueue_in_after(scope, job, Duration::ZERO).await
}

/// [`enqueue_in`], due `delay` from now: time for a burst of changes to
/// gather before the job looks at them.
pub async fn enqueue_in_after(
    scope: &mut TenantScope,
    job: &Job,
    delay: Duration,
) -> Result<JobId, sqlx::Error> {
    let mut new = job.to_new(Some(scope.tenant_id()));
    new.run_at = new
        .now
        .saturating_add(i64::try_from(delay.as_secs()).unwrap_or(i64::MAX));
    global::insert_in(scope, &new).await
}

/// Adds `job` under `id`, unless a job with that id is in the queue
/// already (then runs it now if it is waiting to retry); a dead one is
/// given a new start. For a caller that records the id first and enqueues
/// second, and does both again when asked again (an inbox, when its sender
/// redelivers): a crash between the two loses nothing, and the job is
/// added once.
pub async fn ensure_enqueued(
    db: &Db,
    id: JobId,
    tenant: Option<TenantId>,
    job: &Job,
) -> Result<(), sqlx::Error> {
    if !global::insert_as(db, id, &job.to_new(tenant)).await? {
        global::run_soon(db, id, unix_now()).await?;
    }
    Ok(())
}

fn unix_now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

/// The wait before the next attempt, after `attempts` failed ones: 10 s,
/// doubling each time, at most 6 hours, plus up to a quarter more at random
/// so that jobs failing together don't retry together.
pub fn backoff(attempts: i64) -> Duration {
    let exponent = u32::try_from(attempts.saturating_sub(1).clamp(0, 16)).unwrap_or(16);
    let base = Duration::from_secs(10 * 2u64.pow(exponent)).min(Duration::from_secs(6 * 3600));
    let jitter = f64::from(getrandom::u32().unwrap_or(0)) / f64::from(u32::MAX) / 4.0;
    base.mul_f64(1.0 + jitter)
}

/// Runs every job that is due now, one after another, until none is left.
/// Returns how many ran (whatever their outcome). Workers call it in a loop;
/// tests call it to run what a request enqueued.
///
/// # Errors
/// When the database fails (a job's own failure is recorded, not returned).
pub async fn run_due(state: &AppState, registry: &Arc<Registry>) -> Result<usize, sqlx::Error> {
    let mut ran = 0;
    while let Some(claimed) = global::claim(&state.db, unix_now(), LEASE).await? {
        run_claimed(state, registry, claimed).await?;
        ran += 1;
    }
    Ok(ran)
}

async fn run_claimed(
    state: &AppState,
    registry: &Arc<Registry>,
    claimed: global::Claimed,
) -> Result<(), sqlx::Error> {
    let outcome = match serde_json::from_str::<Job>(&claimed.payload) {
        // Its last run never finished (the process died in it): running it
        // again could kill the next worker too.
        Ok(_) if claimed.attempts > claimed.max_attempts => {
            Err(("its last attempt never finished".to_owned(), true))
        }
        // Of a kind no capability of this version has: no retry will run it.
        Ok(Job::Of(job)) if registry.kind(&job.kind).is_none() => {
            Err((format!("no kind of job is named {}", job.kind), true))
        }
        // In a task of its own, so a panic fails the job, not the worker.
        Ok(job) => {
            let (state, registry, tenant) = (state.clone(), registry.clone(), claimed.tenant);
            let run = tokio::spawn(async move {
                tokio::time::timeout(RUN_TIMEOUT, job.run(&state, &registry, tenant)).await
            });
            match run.await {
                Ok(Ok(Ok(()))) => Ok(()),
                Ok(Ok(Err(error))) => Err((error.to_string(), false)),
                Ok(Err(_)) => Err((format!("timed out after {RUN_TIMEOUT:?}"), false)),
                Err(panic) => Err((format!("panicked: {panic}"), false)),
            }
        }
        // Written by another version of the app: no retry will read it.
        Err(error) => Err((format!("unreadable payload: {error}"), true)),
    };
    match outcome {
        Ok(()) => global::delete(&state.db, &claimed).await,
        Err((error, hopeless)) if hopeless || claimed.attempts >= claimed.max_attempts => {
            tracing::error!(job = %claimed.id, attempts = claimed.attempts, %error, "job failed for the last time; kept as dead");
            let kept = Job::kept_when_dead(&claimed.payload);
            global::bury(&state.db, &claimed, unix_now(), &error, &kept).await
        }
        Err((error, _)) => {
            let delay = backoff(claimed.attempts);
            tracing::warn!(job = %claimed.id, attempts = claimed.attempts, retry_in = ?delay, %error, "job failed; will retry");
            let run_at =
                unix_now().saturating_add(i64::try_from(delay.as_secs()).unwrap_or(i64::MAX));
            global::reschedule(&state.db, &claimed, run_at, &error).await
        }
    }
}

/// A job enqueued once per period.
pub struct Periodic {
    pub name: &'static str,
    pub every: Duration,
    pub job: fn() -> Job,
}

/// The periodic jobs. Periods are aligned to UTC (an hourly job's period is
/// the hour); a job about one tenant's day would use the tenant's zone.
pub const PERIODIC: [Periodic; 1] = [Periodic {
    name: "purge_expired",
    every: Duration::from_secs(3600),
    job: || Job::PurgeExpired,
}];

/// Enqueues each periodic job whose current period has no run yet.
pub async fn schedule_periodic(db: &Db) -> Result<(), sqlx::Error> {
    let now = unix_now();
    for periodic in &PERIODIC {
        let length = i64::try_from(periodic.every.as_secs())
            .unwrap_or(i64::MAX)
            .max(1);
        let start = now - now.rem_euclid(length);
        let period = OffsetDateTime::from_unix_timestamp(start)
            .ok()
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_else(|| start.to_string());
        let job = (periodic.job)();
        if global::claim_period(db, periodic.name, &period, &job.to_new(None)).await? {
            tracing::info!(job = periodic.name, %period, "periodic job enqueued");
        }
    }
    Ok(())
}

/// How long dead jobs, periodic claims and Stripe event ids are kept.
const KEEP_FINISHED: Duration = Duration::from_secs(30 * 24 * 3600);

/// Before this unix time, finished records (dead jobs, periodic claims,
/// Stripe event ids) are deleted.
pub fn finished_cutoff() -> i64 {
    unix_now() - i64::try_from(KEEP_FINISHED.as_secs()).unwrap_or(i64::MAX)
}

async fn purge_expired(db: &Db, registry: &Registry) -> Result<(), JobError> {
    let sessions = crate::sessions::DbSessionStore::new(db.clone())
        .delete_expired()
        .await?;
    let counters = crate::rate_limits::purge_expired(db).await?;
    let queue = global::delete_finished_before(db, finished_cutoff()).await?;
    // Tenant data (invitations) is purged by each tenant's own scheduled
    // run, never here.
    let mut theirs = Vec::new();
    for purge in &registry.purges {
        theirs.push(format!("{}={}", purge.name, (purge.run)(db).await?));
    }
    tracing::info!(
        sessions,
        counters,
        queue,
        capabilities = theirs.join(" "),
        "purged expired rows"
    );
    Ok(())
}

/// The workers of this process, and the periodic scheduler.
pub struct Workers {
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

/// Starts `count` workers (none when 0: another process runs them).
pub fn start(state: &AppState, registry: &Arc<Registry>, count: usize) -> Workers {
    let (stop, stopped) = watch::channel(false);
    let mut tasks = JoinSet::new();
    for _ in 0..count {
        tasks.spawn(work(state.clone(), registry.clone(), stopped.clone()));
    }
    if count > 0 {
        tasks.spawn(schedule(state.db.clone(), registry.clone(), stopped));
    }
    Workers { stop, tasks }
}

impl Workers {
    /// Stops claiming jobs and waits for the ones running (each at most
    /// [`RUN_TIMEOUT`]); a job cut off by a shutdown is retried after its
    /// lease.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        while self.tasks.join_next().await.is_some() {}
    }
}

async fn work(state: AppState, registry: Arc<Registry>, mut stopped: watch::Receiver<bool>) {
    while !*stopped.borrow() {
        if let Err(error) = run_due(&state, &registry).await {
            tracing::error!(%error, "job queue unavailable");
        }
        tokio::select! {
            _ = stopped.changed() => {}
            () = tokio::time::sleep(POLL_INTERVAL) => {}
        }
    }
}

async fn schedule(db: Db, registry: Arc<Registry>, mut stopped: watch::Receiver<bool>) {
    while !*stopped.borrow() {
        if let Err(error) = schedule_periodic(&db).await {
            tracing::error!(%error, "cannot schedule periodic jobs");
        }
        if let Err(error) = scheduled::enqueue_due(&db, &registry, OffsetDateTime::now_utc()).await
        {
            tracing::error!(%error, "cannot schedule tenant jobs");
        }
        tokio::select! {
            _ = stopped.changed() => {}
            () = tokio::time::sleep(Duration::from_secs(60)) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_ten_seconds_up_to_six_hours_with_some_jitter() {
        for (attempts, base) in [
            (1, 10),
            (2, 20),
            (3, 40),
            (6, 320),
            (12, 20_480),
            (13, 21_600),
            (40, 21_600),
        ] {
            let delay = backoff(attempts).as_secs_f64();
            let base = f64::from(base);
            assert!(
                delay >= base && delay <= base * 1.25,
                "attempt {attempts}: {delay} s"
            );
        }
    }

    #[test]
    fn a_job_is_stored_with_its_kind() {
        let row = Job::PurgeExpired.to_new(None);
        assert_eq!(row.kind, "purge_expired");
        assert_eq!(
            serde_json::from_str::<Job>(&row.payload).unwrap(),
            Job::PurgeExpired
        );
    }
}
