//! Correction requests: staff see their own records but can't edit them,
//! so they ask. A request names the day (and the shift, when there is one)
//! and says what is wrong; a manager answers with an edit, which resolves
//! it, or dismisses it with a note.

use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};

use super::super::employees::Employee;
use super::super::{CorrectionId, EmployeeId, PunchId, settings};
use super::{edits, zones};
use kernel::error::AppError;
use kernel::ids::UserId;
use kernel::tenancy::TenantScope;
use kernel::validation::{self, FieldErrors};
use kernel::{on_tx, row};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Open,
    /// An edit answered it.
    Resolved,
    Dismissed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Resolved => "resolved",
            Self::Dismissed => "dismissed",
        }
    }

    fn parse(text: &str) -> Self {
        match text {
            "open" => Self::Open,
            "resolved" => Self::Resolved,
            _ => Self::Dismissed,
        }
    }
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct CorrectionRequest {
    pub id: CorrectionId,
    pub employee_id: EmployeeId,
    pub employee_name: String,
    /// The shift it is about, if it names one.
    pub shift_id: Option<PunchId>,
    #[serde(with = "super::super::dates::date")]
    pub day: Date,
    pub message: String,
    pub status: Status,
    pub requested_by: UserId,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub closed_by: Option<UserId>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub closed_at: Option<OffsetDateTime>,
    /// Why it was dismissed.
    pub closing_note: Option<String>,
}

/// A request, as staff send it.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
pub struct CorrectionInput {
    /// The shift that is wrong; leave it out for a shift that is missing.
    #[serde(default)]
    pub shift_id: Option<PunchId>,
    /// The day it is about (default: the shift's day).
    #[serde(default, with = "super::super::dates::option_date")]
    pub day: Option<Date>,
    /// What is wrong, and what is right.
    pub message: String,
}

/// Files `employee`'s request (the caller checked it is their own).
///
/// # Errors
/// 422 for a missing message or day, or a shift that isn't theirs.
pub async fn create(
    scope: &mut TenantScope,
    employee: &Employee,
    by: UserId,
    input: &CorrectionInput,
    now: OffsetDateTime,
) -> Result<CorrectionRequest, AppError> {
    let mut errors = FieldErrors::default();
    let message = validation::paragraph(&mut errors, "message", &input.message, true, 1000);
    let shift_day = match input.shift_id {
        Some(id) => {
            let cap = settings::read(scope).await?.shift_cap();
            let shift = edits::find(scope, id, cap, now)
                .await?
                .filter(|shift| shift.employee_id == employee.id);
            if shift.is_none() {
                errors.add("shift_id", "Not one of your current shifts.");
            }
            let zones = zones(scope).await?;
            shift.map(|s| {
                s.day(
                    zones
                        .get(&s.location_id)
                        .unwrap_or(&jiff::tz::TimeZone::UTC),
                )
            })
        }
        None => None,
    };
    let day = input.day.or(shift_day);
    if day.is_none() && input.shift_id.is_none() {
        errors.add("day", "Which day is it about?");
    }
    let day = errors.or_ok(day.unwrap_or(now.date()))?;
    let id = CorrectionId::new();
    let tenant = scope.tenant_id();
    on_tx!(scope.tx(), |conn| {
        sqlx::query(
        "INSERT INTO correction_requests (tenant_id, id, employee_id, shift_id, day, message, requested_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    )
    .bind(tenant)
    .bind(id)
    .bind(employee.id)
    .bind(input.shift_id)
    .bind(day)
    .bind(&message)
    .bind(by)
    .bind(now)
    .execute(conn)
    .await
    .map(drop)
    })?;
    find(scope, id).await?.ok_or(AppError::NotFound)
}

/// Checks that `id` is an open request of `employee`, for the edit that
/// answers it.
///
/// # Errors
/// 422 naming the field otherwise.
pub async fn check_open(
    scope: &mut TenantScope,
    id: CorrectionId,
    employee: EmployeeId,
) -> Result<(), AppError> {
    match find(scope, id).await? {
        Some(request) if request.employee_id == employee && request.status == Status::Open => {
            Ok(())
        }
        _ => Err(FieldErrors::single(
            "correction_request_id",
            "Not an open correction request of this employee.",
        )
        .into()),
    }
}

/// Resolves or dismisses an open request.
///
/// # Errors
/// 409 when it is no longer open.
pub async fn close(
    scope: &mut TenantScope,
    id: CorrectionId,
    status: Status,
    by: UserId,
    note: Option<&str>,
    now: OffsetDateTime,
) -> Result<(), AppError> {
    let tenant = scope.tenant_id();
    let closed = on_tx!(scope.tx(), |conn| {
        sqlx::query(
        "UPDATE correction_requests SET status = $3, closed_by = $4, closed_at = $5, closing_note = $6 \
         WHERE tenant_id = $1 AND id = $2 AND status = 'open'"
    )
    .bind(tenant)
    .bind(id)
    .bind(status.as_str())
    .bind(by)
    .bind(now)
    .bind(note)
    .execute(conn)
    .await
    .map(|done| done.rows_affected())
    })?;
    if closed == 0 {
        return Err(AppError::Conflict(
            "This request was already answered.".to_owned(),
        ));
    }
    Ok(())
}

/// Dismisses an open request with a note the employee sees.
///
/// # Errors
/// 422 without a note, 409 when it is no longer open.
pub async fn dismiss(
    scope: &mut TenantScope,
    id: CorrectionId,
    by: UserId,
    note: &str,
    now: OffsetDateTime,
) -> Result<CorrectionRequest, AppError> {
    let mut errors = FieldErrors::default();
    let note = validation::paragraph(&mut errors, "note", note, true, 500);
    errors.or_ok(())?;
    close(scope, id, Status::Dismissed, by, Some(&note), now).await?;
    find(scope, id).await?.ok_or(AppError::NotFound)
}

row! {
    /// A request with its employee's name, as stored.
    struct RequestRow {
        id: CorrectionId,
        employee_id: EmployeeId,
        employee_name: String,
        shift_id: Option<PunchId>,
        day: Date,
        message: String,
        status: String,
        requested_by: UserId,
        created_at: OffsetDateTime,
        closed_by: Option<UserId>,
        closed_at: Option<OffsetDateTime>,
        closing_note: Option<String>,
    }
}

/// One request.
pub async fn find(
    scope: &mut TenantScope,
    id: CorrectionId,
) -> Result<Option<CorrectionRequest>, sqlx::Error> {
    Ok(select(scope, Some(id), None, None).await?.pop())
}

/// Requests, newest first (at most 500), of some status or any.
pub async fn list(
    scope: &mut TenantScope,
    status: Option<Status>,
) -> Result<Vec<CorrectionRequest>, sqlx::Error> {
    select(scope, None, None, status).await
}

/// One employee's requests, newest first (at most 500).
pub async fn of_employee(
    scope: &mut TenantScope,
    employee: EmployeeId,
) -> Result<Vec<CorrectionRequest>, sqlx::Error> {
    select(scope, None, Some(employee), None).await
}

async fn select(
    scope: &mut TenantScope,
    only: Option<CorrectionId>,
    employee: Option<EmployeeId>,
    status: Option<Status>,
) -> Result<Vec<CorrectionRequest>, sqlx::Error> {
    let tenant = scope.tenant_id();
    let by_id = kernel::db::optional_filter("r.id = $2", "$2", only.is_some());
    let by_employee = kernel::db::optional_filter("r.employee_id = $3", "$3", employee.is_some());
    let by_status = kernel::db::optional_filter("r.status = $4", "$4", status.is_some());
    let sql = format!(
        "SELECT r.id, r.employee_id, e.name AS employee_name, r.shift_id, r.day, r.message, r.status, r.requested_by, \
             r.created_at, r.closed_by, r.closed_at, r.closing_note \
         FROM correction_requests r JOIN employees e ON e.tenant_id = r.tenant_id AND e.id = r.employee_id \
         WHERE r.tenant_id = $1 AND {by_id} AND {by_employee} AND {by_status} \
         ORDER BY r.created_at DESC, r.id DESC LIMIT 500"
    );
    let rows: Vec<RequestRow> = on_tx!(scope.tx(), |conn| {
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(tenant)
            .bind(only)
            .bind(employee)
            .bind(status.map(Status::as_str))
            .fetch_all(conn)
            .await
    })?;
    Ok(rows
        .into_iter()
        .map(|row| CorrectionRequest {
            id: row.id,
            employee_id: row.employee_id,
            employee_name: row.employee_name,
            shift_id: row.shift_id,
            day: row.day,
            message: row.message,
            status: Status::parse(&row.status),
            requested_by: row.requested_by,
            created_at: row.created_at,
            closed_by: row.closed_by,
            closed_at: row.closed_at,
            closing_note: row.closing_note,
        })
        .collect())
}
