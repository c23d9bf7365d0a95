//! Scheduled tenant jobs: work due once per period on each tenant's clock,
//! such as a monthly email on the 1st. The core's are [`CORE`] (each
//! tenant's daily purge of expired invitations); modules declare theirs
//! ([`crate::capability::Capability::schedules`]).
//!
//! * Every minute the scheduler of each instance computes, for every tenant
//!   and schedule, the period due on the tenant's local date ([`Schedule::due`]),
//!   and claims `(job, tenant, period)` in `scheduled_runs`: the instance
//!   whose insert lands enqueues the run ([`super::Job::Scheduled`], with
//!   the tenant in the queue's own column), in the same transaction. However
//!   many instances race, a period is enqueued once.
//! * The queue runs it under its lease: a run that crashes is taken again
//!   once the lease expires, and retried with backoff when it fails.
//! * A side effect that can't be taken back (an email handed to SMTP) goes
//!   through [`Run::once`], which records it before doing it: a run retried
//!   after a crash skips what may already have happened. A completed run is
//!   never run again.

use std::future::Future;
use std::pin::Pin;

use time::{Date, OffsetDateTime};

use super::{Job, JobError, global, unix_now};
use crate::db::Db;
use crate::http::AppState;
use crate::ids::TenantId;
use crate::tenancy::ScopeError;

/// A job due once per period on each tenant's clock.
pub struct Schedule {
    /// Its name in `scheduled_runs` and in the job's payload; never rename
    /// one that has run.
    pub name: &'static str,
    /// The period due on the tenant's local date `today`, if any: a job on
    /// the 1st of each month about the month before answers `Some("2026-11")`
    /// on 1 December (and the days after, to catch up after an outage).
    /// Claims are forgotten after 30 days (the hourly purge), so a period
    /// must stop being due within them.
    pub due: fn(Date) -> Option<String>,
    /// The work, for one tenant and period.
    pub run: for<'a> fn(&'a Run) -> RunFuture<'a>,
}

/// What a [`Schedule`]'s run returns.
pub type RunFuture<'a> = Pin<Box<dyn Future<Output = Result<(), JobError>> + Send + 'a>>;

/// One run of a schedule: the tenant it works for, explicitly, and the
/// period.
pub struct Run {
    pub state: AppState,
    pub tenant: TenantId,
    pub job: &'static str,
    pub period: String,
}

impl Run {
    /// Does `effect` unless this run has already recorded doing it. The
    /// record is committed first, so a crash during or after the effect
    /// never repeats it; an effect that fails (returns an error) is
    /// forgotten, and the run's retry tries it again. Returns whether it ran.
    ///
    /// # Errors
    /// The effect's error, or the database's.
    pub async fn once(
        &self,
        effect: &str,
        doing: impl Future<Output = Result<(), JobError>>,
    ) -> Result<bool, JobError> {
        let key = self.key();
        if !global::record_effect(&self.state.db, &key, effect, unix_now()).await? {
            tracing::info!(job = self.job, tenant = %self.tenant, period = %self.period, effect, "already done by an earlier attempt; skipped");
            return Ok(false);
        }
        if let Err(error) = doing.await {
            global::forget_effect(&self.state.db, &key, effect).await?;
            return Err(error);
        }
        Ok(true)
    }

    fn key(&self) -> global::RunKey<'_> {
        global::RunKey {
            job: self.job,
            tenant: self.tenant,
            period: &self.period,
        }
    }
}

/// The calendar date at `now` in the IANA zone `time_zone` (UTC for an
/// unknown name).
fn local_date(now: OffsetDateTime, time_zone: &str) -> Date {
    let zone = jiff::tz::db()
        .get(time_zone)
        .unwrap_or(jiff::tz::TimeZone::UTC);
    let offset = jiff::Timestamp::from_second(now.unix_timestamp())
        .map(|at| zone.to_offset(at).seconds())
        .unwrap_or(0);
    time::UtcOffset::from_whole_seconds(offset)
        .map_or(now.date(), |offset| now.to_offset(offset).date())
}

/// Enqueues every run due at `now` (each tenant's local date) that isn't
/// claimed yet. Returns how many this call enqueued.
pub async fn enqueue_due(
    db: &Db,
    registry: &super::Registry,
    now: OffsetDateTime,
) -> Result<usize, sqlx::Error> {
    let tenants = global::tenant_time_zones(db).await?;
    let mut enqueued = 0;
    for schedule in &registry.schedules {
        // Each tenant with the period due on its clock.
        let due: Vec<(TenantId, String)> = tenants
            .iter()
            .filter_map(|tenant| {
                let period = (schedule.due)(local_date(now, &tenant.time_zone))?;
                Some((tenant.id, period))
            })
            .collect();
        let mut periods: Vec<&str> = due.iter().map(|(_, period)| period.as_str()).collect();
        periods.sort_unstable();
        periods.dedup();
        let mut claimed = std::collections::HashSet::new();
        for period in periods {
            for tenant in global::claimed_tenants(db, schedule.name, period).await? {
                claimed.insert((tenant, period.to_owned()));
            }
        }
        for (tenant, period) in due {
            if claimed.contains(&(tenant, period.clone())) {
                continue;
            }
            let job = Job::Scheduled {
                name: schedule.name.to_owned(),
                period: period.clone(),
            };
            let key = global::RunKey {
                job: schedule.name,
                tenant,
                period: &period,
            };
            if global::claim_run(db, &key, &job.to_new(Some(tenant))).await? {
                tracing::info!(job = schedule.name, %tenant, %period, "scheduled run enqueued");
                enqueued += 1;
            }
        }
    }
    Ok(enqueued)
}

/// Runs the schedule `name` for `tenant` and `period`, unless that run
/// completed already; then marks it complete.
pub(super) async fn run(
    state: &AppState,
    registry: &super::Registry,
    tenant: Option<TenantId>,
    name: &str,
    period: String,
) -> Result<(), JobError> {
    // Never all tenants: a run without its tenant fails as a scope would.
    let tenant = tenant.ok_or(ScopeError::NoTenant)?;
    let schedule = registry
        .schedules
        .iter()
        .find(|s| s.name == name)
        .ok_or_else(|| format!("no schedule is named {name}"))?;
    let run = Run {
        state: state.clone(),
        tenant,
        job: schedule.name,
        period,
    };
    if global::run_completed(&state.db, &run.key()).await? {
        return Ok(());
    }
    (schedule.run)(&run).await?;
    global::complete_run(&state.db, &run.key(), unix_now()).await?;
    Ok(())
}

/// A daily schedule's [`Schedule::due`]: the day, as `YYYY-MM-DD`.
pub fn every_day(today: Date) -> Option<String> {
    Some(today.to_string())
}

/// A monthly schedule's [`Schedule::due`]: on the first three days of a
/// month (the 1st, and two more to catch up after an outage), the month
/// before, as `YYYY-MM`.
pub fn month_before_on_the_first(today: Date) -> Option<String> {
    if today.day() > 3 {
        return None;
    }
    Some(month_key(today.replace_day(1).ok()?.previous_day()?))
}

/// Likewise, the month that has begun.
pub fn month_begun_on_the_first(today: Date) -> Option<String> {
    (today.day() <= 3).then(|| month_key(today))
}

/// `YYYY-MM`.
fn month_key(day: Date) -> String {
    format!("{}-{:02}", day.year(), u8::from(day.month()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    #[test]
    fn periods_are_the_tenants_local_months() {
        assert_eq!(
            month_before_on_the_first(date!(2026 - 12 - 01)).as_deref(),
            Some("2026-11")
        );
        assert_eq!(
            month_before_on_the_first(date!(2027 - 01 - 03)).as_deref(),
            Some("2026-12")
        );
        assert_eq!(month_before_on_the_first(date!(2026 - 12 - 04)), None);
        assert_eq!(
            month_begun_on_the_first(date!(2026 - 12 - 02)).as_deref(),
            Some("2026-12")
        );
        // 23:30 UTC on 30 November is already 1 December in Madrid.
        let now = datetime!(2026-11-30 23:30 UTC);
        assert_eq!(local_date(now, "Europe/Madrid"), date!(2026 - 12 - 01));
        assert_eq!(local_date(now, "America/New_York"), date!(2026 - 11 - 30));
        assert_eq!(local_date(now, "Not/AZone"), date!(2026 - 11 - 30));
    }
}
