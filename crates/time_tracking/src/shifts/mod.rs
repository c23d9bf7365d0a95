//! Shifts: derived from recorded punches ([`derive`]), changed only by edits
//! that add and void punches and keep the shift before and after
//! ([`edits`]), and questioned by staff through correction requests
//! ([`corrections`]).

pub mod api;
pub mod corrections;
pub mod derive;
pub mod edits;

use std::collections::HashMap;

use jiff::tz::TimeZone;
use time::{Date, Duration, OffsetDateTime};

pub use derive::{Flag, Recorded, Shift};

use super::punches::Kind;
use super::{EditId, EmployeeId, PunchId, dates, settings};
use kernel::ids::LocationId;
use kernel::tenancy::TenantScope;
use kernel::{on_tx, row};

/// Calendar days, both ends included.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Days {
    pub first: Date,
    pub last: Date,
}

impl Days {
    pub fn one(day: Date) -> Self {
        Self {
            first: day,
            last: day,
        }
    }

    /// The ISO week (Monday to Sunday) `day` falls in.
    pub fn week_of(day: Date) -> Self {
        let first = day - Duration::days(i64::from(day.weekday().number_days_from_monday()));
        Self {
            first,
            last: first + Duration::days(6),
        }
    }

    pub fn contains(self, day: Date) -> bool {
        (self.first..=self.last).contains(&day)
    }

    /// Instants that hold every shift counted on these days in any time
    /// zone: a day starts at most 14 hours before UTC's and ends at most
    /// 12 after, and a shift reaches the cap past its start.
    fn reach(self, cap: Duration) -> (OffsetDateTime, OffsetDateTime) {
        let from = self.first.midnight().assume_utc() - Duration::hours(14) - cap;
        let to = self
            .last
            .next_day()
            .unwrap_or(self.last)
            .midnight()
            .assume_utc()
            + Duration::hours(12)
            + cap;
        (from, to)
    }
}

/// The time zone of each of the tenant's locations (archived ones too:
/// their records stay).
pub async fn zones(scope: &mut TenantScope) -> Result<HashMap<LocationId, TimeZone>, sqlx::Error> {
    let tenant = scope.tenant_id();
    let rows: Vec<LocationZone> = on_tx!(scope.tx(), |conn| sqlx::query_as(
        "SELECT id, time_zone FROM locations WHERE tenant_id = $1"
    )
    .bind(tenant)
    .fetch_all(conn)
    .await)?;
    Ok(rows
        .into_iter()
        .map(|row| (row.id, dates::zone(&row.time_zone)))
        .collect())
}

/// The shifts counted on `days` (each on the day it began in its
/// location's time zone), of one employee or of all, by employee and start.
pub async fn on_days(
    scope: &mut TenantScope,
    employee: Option<EmployeeId>,
    days: Days,
    now: OffsetDateTime,
) -> Result<Vec<Shift>, sqlx::Error> {
    let cap = settings::read(scope).await?.shift_cap();
    let zones = zones(scope).await?;
    let (from, to) = days.reach(cap);
    let punches = recorded(scope, employee, from, to).await?;
    let utc = TimeZone::UTC;
    Ok(by_employee(&punches, cap, now)
        .filter(|shift| days.contains(shift.day(zones.get(&shift.location_id).unwrap_or(&utc))))
        .collect())
}

/// One employee's shifts that touch `from..to`, each whole (derived from
/// their punches a cap and a day either side).
pub async fn around(
    scope: &mut TenantScope,
    employee: EmployeeId,
    (from, to): (OffsetDateTime, OffsetDateTime),
    cap: Duration,
    now: OffsetDateTime,
) -> Result<Vec<Shift>, sqlx::Error> {
    let margin = cap + Duration::DAY;
    let punches = recorded(scope, Some(employee), from - margin, to + margin).await?;
    Ok(derive::derive(&punches, cap, now))
}

/// Shifts of punches sorted by employee, employee by employee.
pub fn by_employee(
    punches: &[Recorded],
    cap: Duration,
    now: OffsetDateTime,
) -> impl Iterator<Item = Shift> {
    punches
        .chunk_by(|a, b| a.employee_id == b.employee_id)
        .flat_map(move |one| derive::derive(one, cap, now))
}

row! {
    /// A location's IANA time zone.
    struct LocationZone {
        id: LocationId,
        time_zone: String,
    }
}

row! {
    /// A punch that counts, as stored.
    struct RecordedRow {
        id: PunchId,
        employee_id: EmployeeId,
        location_id: LocationId,
        kind: String,
        at: OffsetDateTime,
        received_at: OffsetDateTime,
        edit_id: Option<EditId>,
    }
}

/// The punches that count (recorded, not voided by an edit) with device
/// times in `[from, to)`, of one employee or of all, by employee.
pub async fn recorded(
    scope: &mut TenantScope,
    employee: Option<EmployeeId>,
    from: OffsetDateTime,
    to: OffsetDateTime,
) -> Result<Vec<Recorded>, sqlx::Error> {
    let tenant = scope.tenant_id();
    // One employee's through the (tenant_id, employee_id, at) index: every
    // clock-out reads them.
    let employee_condition =
        kernel::db::optional_filter("p.employee_id = $2", "$2", employee.is_some());
    let sql = format!(
        "SELECT p.id, p.employee_id, p.location_id, p.kind, p.at, p.received_at, p.edit_id \
         FROM punches p WHERE p.tenant_id = $1 AND p.outcome = 'recorded' \
         AND {employee_condition} AND p.at >= $3 AND p.at < $4 \
         AND NOT EXISTS (SELECT 1 FROM punch_voids v WHERE v.tenant_id = p.tenant_id AND v.punch_id = p.id) \
         ORDER BY p.employee_id, p.at, p.id"
    );
    let rows: Vec<RecordedRow> = on_tx!(scope.tx(), |conn| {
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(tenant)
            .bind(employee)
            .bind(from)
            .bind(to)
            .fetch_all(conn)
            .await
    })?;
    Ok(rows
        .into_iter()
        .map(|row| Recorded {
            id: row.id,
            employee_id: row.employee_id,
            location_id: row.location_id,
            kind: Kind::parse(&row.kind),
            at: row.at,
            received_at: row.received_at,
            edit_id: row.edit_id,
        })
        .collect())
}

/// "7 h 58 min".
pub fn duration_label(minutes: i64) -> String {
    format!("{} h {} min", minutes / 60, minutes % 60)
}
