//! Shifts, edits, correction requests, the review queue and the log's
//! check, under `/api/v1/t/{slug}/`.

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};
use utoipa_axum::routes;

use super::corrections::{self, CorrectionInput, CorrectionRequest, Status};
use super::edits::{self, EditInput, ShiftEdit};
use super::{Days, Shift};
use crate::employees;
use crate::permissions::TimeAction;
use crate::punches::{self, TooOld};
use crate::{CorrectionId, EmployeeId, dates, log};
use kernel::access::InTenant;
use kernel::api::ErrorBody;
use kernel::error::AppError;
use kernel::http::extract::{Json, Path, Query};
use kernel::http::routes::{Access, Routes};
use kernel::validation::FieldErrors;

pub fn routes() -> Routes {
    Routes::new()
        .api(Access::Tenant, routes!(shifts))
        .api(Access::Tenant, routes!(edit_feed, edit))
        .api(Access::Tenant, routes!(request_correction))
        .api(Access::Tenant, routes!(correction_requests))
        .api(Access::Tenant, routes!(dismiss))
        .api(Access::Tenant, routes!(review))
        .api(Access::Tenant, routes!(verify_log))
}

/// The longest range one request reads.
const MAX_DAYS: i64 = 366;

/// Calendar days, as a query string: `?from=2026-11-01&to=2026-11-30`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct Range {
    /// The first day (default: six days before `to`).
    #[serde(default, with = "crate::dates::option_date")]
    pub from: Option<Date>,
    /// The last day, included (default: today, in the tenant's time zone).
    #[serde(default, with = "crate::dates::option_date")]
    pub to: Option<Date>,
}

impl Range {
    /// # Errors
    /// 422 when `from` is after `to` or the range is longer than a year.
    pub fn days(&self, today: Date) -> Result<Days, FieldErrors> {
        let last = self.to.unwrap_or(today);
        let first = self.from.unwrap_or(last - time::Duration::days(6));
        if first > last {
            return Err(FieldErrors::single("from", "`from` can't be after `to`."));
        }
        if (last - first).whole_days() >= MAX_DAYS {
            return Err(FieldErrors::single(
                "from",
                format!("Ask for at most {MAX_DAYS} days at a time."),
            ));
        }
        Ok(Days { first, last })
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EmployeeShifts {
    pub employee_id: EmployeeId,
    #[serde(with = "crate::dates::date")]
    pub from: Date,
    #[serde(with = "crate::dates::date")]
    pub to: Date,
    /// Each shift on the day it began, in its location's time zone.
    pub shifts: Vec<Shift>,
    /// The shifts' counted minutes.
    pub total_minutes: i64,
}

/// An employee's shifts on a range of days (their own for anyone; others'
/// for owners, admins, and managers at their locations).
#[utoipa::path(get, path = "/api/v1/t/{slug}/employees/{employee_id}/shifts", tag = "time-tracking",
    params(("slug" = String, Path, description = "The tenant's URL slug"), ("employee_id" = EmployeeId, Path), Range),
    responses((status = 200, body = EmployeeShifts), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub(crate) async fn shifts(
    mut t: InTenant,
    Path((_, id)): Path<(String, EmployeeId)>,
    Query(range): Query<Range>,
) -> Result<Json<EmployeeShifts>, AppError> {
    let employee = employees::readable(&mut t, id).await?;
    let days = range.days(dates::today(&t.tenant.time_zone))?;
    let shifts = super::on_days(
        &mut t.scope,
        Some(employee.id),
        days,
        OffsetDateTime::now_utc(),
    )
    .await?;
    Ok(Json(EmployeeShifts {
        employee_id: employee.id,
        from: days.first,
        to: days.last,
        total_minutes: shifts.iter().map(|s| s.minutes).sum(),
        shifts,
    }))
}

/// Adds, corrects or deletes a shift, with a reason (owners, admins, and
/// managers at their locations). Nothing is overwritten: the shift before
/// and after are kept, and the edit goes into the tamper-evident log.
#[utoipa::path(post, path = "/api/v1/t/{slug}/shift-edits", tag = "time-tracking",
    params(("slug" = String, Path, description = "The tenant's URL slug")),
    request_body = EditInput,
    responses(
        (status = 201, body = ShiftEdit),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
pub(crate) async fn edit(
    mut t: InTenant,
    Json(input): Json<EditInput>,
) -> Result<(StatusCode, Json<ShiftEdit>), AppError> {
    t.member.authorize(TimeAction::EditShifts)?;
    let edit = edits::apply(&mut t.scope, &t.member, &input, OffsetDateTime::now_utc()).await?;
    t.scope.commit().await?;
    Ok((StatusCode::CREATED, Json(edit)))
}

/// Who made which edit, newest first: the owners' feed of edited shifts.
#[utoipa::path(get, path = "/api/v1/t/{slug}/shift-edits", tag = "time-tracking",
    params(("slug" = String, Path, description = "The tenant's URL slug")),
    responses((status = 200, body = [ShiftEdit]), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn edit_feed(mut t: InTenant) -> Result<Json<Vec<ShiftEdit>>, AppError> {
    t.member.authorize(TimeAction::ViewEditFeed)?;
    Ok(Json(edits::feed(&mut t.scope, None, None).await?))
}

/// Asks for a correction of one's own record (anyone with a linked
/// employee record; managers edit instead).
#[utoipa::path(post, path = "/api/v1/t/{slug}/employees/{employee_id}/correction-requests", tag = "time-tracking",
    params(("slug" = String, Path, description = "The tenant's URL slug"), ("employee_id" = EmployeeId, Path)),
    request_body = CorrectionInput,
    responses(
        (status = 201, body = CorrectionRequest),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
    ))]
pub(crate) async fn request_correction(
    mut t: InTenant,
    Path((_, id)): Path<(String, EmployeeId)>,
    Json(input): Json<CorrectionInput>,
) -> Result<(StatusCode, Json<CorrectionRequest>), AppError> {
    let employee = employees::readable(&mut t, id).await?;
    if employee.membership_id != Some(t.member.membership_id) {
        return Err(AppError::Forbidden(
            "You can request corrections of your own records only: edit the shift instead."
                .to_owned(),
        ));
    }
    let request = corrections::create(
        &mut t.scope,
        &employee,
        t.member.author(),
        &input,
        OffsetDateTime::now_utc(),
    )
    .await?;
    t.scope.commit().await?;
    Ok((StatusCode::CREATED, Json(request)))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct StatusFilter {
    /// Only requests in this state.
    pub status: Option<Status>,
}

/// Correction requests, newest first: one's own, and (for owners, admins,
/// and managers at their locations) the team's.
#[utoipa::path(get, path = "/api/v1/t/{slug}/correction-requests", tag = "time-tracking",
    params(("slug" = String, Path, description = "The tenant's URL slug"), StatusFilter),
    responses((status = 200, body = [CorrectionRequest]), (status = 404, body = ErrorBody)))]
pub(crate) async fn correction_requests(
    mut t: InTenant,
    Query(filter): Query<StatusFilter>,
) -> Result<Json<Vec<CorrectionRequest>>, AppError> {
    let readable = employees::readable_all(&mut t).await?;
    let mut requests = corrections::list(&mut t.scope, filter.status).await?;
    requests.retain(|r| readable.contains_key(&r.employee_id));
    Ok(Json(requests))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct Dismissal {
    /// Why nothing changes: the employee sees it.
    pub note: String,
}

/// Dismisses an open correction request with a note (those who may edit
/// the employee's shifts).
#[utoipa::path(post, path = "/api/v1/t/{slug}/correction-requests/{request_id}/dismiss", tag = "time-tracking",
    params(("slug" = String, Path, description = "The tenant's URL slug"), ("request_id" = CorrectionId, Path)),
    request_body = Dismissal,
    responses(
        (status = 200, body = CorrectionRequest),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
pub(crate) async fn dismiss(
    mut t: InTenant,
    Path((_, id)): Path<(String, CorrectionId)>,
    Json(input): Json<Dismissal>,
) -> Result<Json<CorrectionRequest>, AppError> {
    let request = corrections::find(&mut t.scope, id)
        .await?
        .ok_or(AppError::NotFound)?;
    employees::readable(&mut t, request.employee_id).await?;
    t.member.authorize(TimeAction::EditShifts)?;
    let request = corrections::dismiss(
        &mut t.scope,
        id,
        t.member.author(),
        &input.note,
        OffsetDateTime::now_utc(),
    )
    .await?;
    t.scope.commit().await?;
    Ok(Json(request))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReviewQueue {
    #[serde(with = "crate::dates::date")]
    pub from: Date,
    #[serde(with = "crate::dates::date")]
    pub to: Date,
    /// Flagged shifts (missing clock-outs and other anomalies), by employee
    /// and start.
    pub shifts: Vec<Shift>,
    /// Open correction requests, newest first.
    pub correction_requests: Vec<CorrectionRequest>,
    /// Punches that arrived on these days more than 14 days after their
    /// time: not recorded, to be added by an edit if they are right.
    pub too_old_punches: Vec<TooOld>,
}

/// What needs a manager's look: flagged shifts on a range of days, punches
/// that arrived on those days too old to record, and every open correction
/// request (owners, admins, and managers at their locations).
#[utoipa::path(get, path = "/api/v1/t/{slug}/review", tag = "time-tracking",
    params(("slug" = String, Path, description = "The tenant's URL slug"), Range),
    responses((status = 200, body = ReviewQueue), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub(crate) async fn review(
    mut t: InTenant,
    Query(range): Query<Range>,
) -> Result<Json<ReviewQueue>, AppError> {
    t.member.authorize(TimeAction::ViewTeamRecords)?;
    let days = range.days(dates::today(&t.tenant.time_zone))?;
    let readable = employees::readable_all(&mut t).await?;
    let mut shifts = super::on_days(&mut t.scope, None, days, OffsetDateTime::now_utc()).await?;
    shifts.retain(|s| !s.flags.is_empty() && readable.contains_key(&s.employee_id));
    let mut requests = corrections::list(&mut t.scope, Some(Status::Open)).await?;
    requests.retain(|r| readable.contains_key(&r.employee_id));
    let zone = dates::zone(&t.tenant.time_zone);
    let mut too_old = punches::too_old(&mut t.scope, days, &zone).await?;
    too_old.retain(|p| readable.contains_key(&p.employee_id));
    Ok(Json(ReviewQueue {
        from: days.first,
        to: days.last,
        shifts,
        correction_requests: requests,
        too_old_punches: too_old,
    }))
}

/// Recomputes the tenant's tamper-evident log and names the first broken
/// entry (owners).
#[utoipa::path(get, path = "/api/v1/t/{slug}/time-log/verification", tag = "time-tracking",
    params(("slug" = String, Path, description = "The tenant's URL slug")),
    responses((status = 200, body = log::Verification), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn verify_log(mut t: InTenant) -> Result<Json<log::Verification>, AppError> {
    t.member.authorize(TimeAction::VerifyLog)?;
    Ok(Json(log::verify(&mut t.scope).await?))
}
