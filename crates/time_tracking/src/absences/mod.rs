//! Paid absences: an employee's hours of vacation, sickness or other paid
//! leave on a day, as a manager records them. The payroll workbook pays
//! them at the employee's base rate, in its "holiday hours" column (worked
//! time on public holidays is another column). One entry per employee and
//! day.

pub mod api;
pub mod pages;

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};

use super::employees::Employee;
use super::permissions::TimeAction;
use super::{AbsenceId, EmployeeId, dates};
use kernel::access::InTenant;
use kernel::error::AppError;
use kernel::ids::UserId;
use kernel::tenancy::TenantScope;
use kernel::validation::{self, FieldErrors};
use kernel::{on_tx, row};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AbsenceKind {
    Vacation,
    Sick,
    Other,
}

impl AbsenceKind {
    pub const ALL: [AbsenceKind; 3] = [Self::Vacation, Self::Sick, Self::Other];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Vacation => "vacation",
            Self::Sick => "sick",
            Self::Other => "other",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Vacation => "Vacation",
            Self::Sick => "Sick leave",
            Self::Other => "Other paid leave",
        }
    }

    /// The kind named `text` (`vacation`, `sick`, `other`).
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == text)
    }
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Absence {
    pub id: AbsenceId,
    pub employee_id: EmployeeId,
    pub employee_name: String,
    #[serde(with = "dates::date")]
    pub day: Date,
    pub kind: AbsenceKind,
    /// Paid minutes (7 h 30 min = 450).
    pub minutes: i32,
    pub note: String,
    pub recorded_by: UserId,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// An absence to record, as the API and the form send it.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewAbsence {
    pub employee_id: EmployeeId,
    #[serde(with = "dates::date")]
    pub day: Date,
    pub kind: AbsenceKind,
    /// Paid minutes, 1 to 1,440.
    pub minutes: i32,
    #[serde(default)]
    pub note: String,
}

row! {
    /// An absence with its employee's name, as stored.
    struct AbsenceRow {
        id: AbsenceId,
        employee_id: EmployeeId,
        employee_name: String,
        day: Date,
        kind: String,
        minutes: i32,
        note: String,
        recorded_by: UserId,
        created_at: OffsetDateTime,
    }
}

row! {
    /// An employee's absent minutes over a range.
    struct AbsentMinutes {
        employee_id: EmployeeId,
        minutes: i64,
    }
}

fn from_row(row: AbsenceRow) -> Absence {
    Absence {
        id: row.id,
        employee_id: row.employee_id,
        employee_name: row.employee_name,
        day: row.day,
        // The column's CHECK allows only the three names.
        kind: AbsenceKind::parse(&row.kind).unwrap_or(AbsenceKind::Other),
        minutes: row.minutes,
        note: row.note,
        recorded_by: row.recorded_by,
        created_at: row.created_at,
    }
}

/// Absences on `first..=last`, of one employee or all, by day and name.
pub async fn list(
    scope: &mut TenantScope,
    employee: Option<EmployeeId>,
    first: Date,
    last: Date,
) -> Result<Vec<Absence>, sqlx::Error> {
    select(scope, employee, None, Some((first, last))).await
}

/// One absence.
pub async fn find(scope: &mut TenantScope, id: AbsenceId) -> Result<Option<Absence>, sqlx::Error> {
    Ok(select(scope, None, Some(id), None).await?.pop())
}

async fn select(
    scope: &mut TenantScope,
    employee: Option<EmployeeId>,
    only: Option<AbsenceId>,
    days: Option<(Date, Date)>,
) -> Result<Vec<Absence>, sqlx::Error> {
    let tenant = scope.tenant_id();
    let (first, last) = days.unzip();
    let filters = [
        kernel::db::optional_filter("a.employee_id = $2", "$2", employee.is_some()),
        kernel::db::optional_filter("a.id = $3", "$3", only.is_some()),
        kernel::db::optional_filter("a.day >= $4", "$4", first.is_some()),
        kernel::db::optional_filter("a.day <= $5", "$5", last.is_some()),
    ]
    .join(" AND ");
    let sql = format!(
        "SELECT a.id, a.employee_id, e.name AS employee_name, a.day, a.kind, a.minutes, a.note, a.recorded_by, a.created_at \
         FROM absences a JOIN employees e ON e.tenant_id = a.tenant_id AND e.id = a.employee_id \
         WHERE a.tenant_id = $1 AND {filters} ORDER BY a.day, lower(e.name), a.id"
    );
    let rows: Vec<AbsenceRow> = on_tx!(scope.tx(), |conn| {
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(tenant)
            .bind(employee)
            .bind(only)
            .bind(first)
            .bind(last)
            .fetch_all(conn)
            .await
    })?;
    Ok(rows.into_iter().map(from_row).collect())
}

/// Paid absence minutes on `first..=last`, by employee.
pub async fn minutes_by_employee(
    scope: &mut TenantScope,
    first: Date,
    last: Date,
) -> Result<HashMap<EmployeeId, i64>, sqlx::Error> {
    let tenant = scope.tenant_id();
    let rows: Vec<AbsentMinutes> = on_tx!(scope.tx(), |conn| sqlx::query_as(
        "SELECT employee_id, CAST(SUM(minutes) AS BIGINT) AS minutes FROM absences \
         WHERE tenant_id = $1 AND day >= $2 AND day <= $3 GROUP BY employee_id"
    )
    .bind(tenant)
    .bind(first)
    .bind(last)
    .fetch_all(conn)
    .await)?;
    Ok(rows
        .into_iter()
        .map(|row| (row.employee_id, row.minutes))
        .collect())
}

/// Records an absence of an employee the caller has found (so manages).
///
/// # Errors
/// 422 for minutes out of range, a long note, or a day outside the
/// employment; 409 when the employee already has an absence that day.
pub async fn record(
    scope: &mut TenantScope,
    recorded_by: UserId,
    employee: &Employee,
    input: &NewAbsence,
) -> Result<Absence, AppError> {
    let mut errors = FieldErrors::default();
    if !(1..=1440).contains(&input.minutes) {
        errors.add("minutes", "Between 1 minute and 24 hours.");
    }
    if input.day < employee.hire_date || employee.leave_date.is_some_and(|l| input.day > l) {
        errors.add("day", "Outside the employee's employment.");
    }
    let note = validation::paragraph(&mut errors, "note", &input.note, false, 200);
    errors.or_ok(())?;
    let tenant = scope.tenant_id();
    let id = AbsenceId::new();
    let inserted: Option<AbsenceId> = on_tx!(scope.tx(), |conn| {
        sqlx::query_scalar(
        "INSERT INTO absences (tenant_id, id, employee_id, day, kind, minutes, note, recorded_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         ON CONFLICT (tenant_id, employee_id, day) DO NOTHING RETURNING id"
    )
    .bind(tenant)
    .bind(id)
    .bind(employee.id)
    .bind(input.day)
    .bind(input.kind.as_str())
    .bind(input.minutes)
    .bind(&note)
    .bind(recorded_by)
    .bind(OffsetDateTime::now_utc())
    .fetch_optional(conn)
    .await
    })?;
    if inserted.is_none() {
        return Err(AppError::Conflict(format!(
            "{} already has an absence on {}: remove it first.",
            employee.name, input.day
        )));
    }
    find(scope, id).await?.ok_or(AppError::NotFound)
}

/// An absence the caller may remove: of an employee they manage.
///
/// # Errors
/// 404 for an absence not in the tenant or of an employee not seen, 403
/// for staff.
pub async fn removable(t: &mut InTenant, id: AbsenceId) -> Result<Absence, AppError> {
    let absence = find(&mut t.scope, id).await?.ok_or(AppError::NotFound)?;
    super::employees::readable(t, absence.employee_id).await?;
    t.member.authorize(TimeAction::RecordAbsences)?;
    Ok(absence)
}

/// Removes an absence the caller has found.
pub async fn remove(scope: &mut TenantScope, id: AbsenceId) -> Result<(), sqlx::Error> {
    let tenant = scope.tenant_id();
    on_tx!(scope.tx(), |conn| sqlx::query(
        "DELETE FROM absences WHERE tenant_id = $1 AND id = $2"
    )
    .bind(tenant)
    .bind(id)
    .execute(conn)
    .await
    .map(drop))
}
