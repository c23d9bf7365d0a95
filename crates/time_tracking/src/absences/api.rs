//! Paid absences: `/api/v1/t/{slug}/absences`.

use axum::http::StatusCode;
use serde::Deserialize;
use utoipa_axum::routes;

use super::{Absence, NewAbsence};
use crate::permissions::TimeAction;
use crate::shifts::api::Range;
use crate::{AbsenceId, EmployeeId, dates, employees};
use kernel::access::InTenant;
use kernel::api::ErrorBody;
use kernel::error::AppError;
use kernel::http::extract::{Json, Path, Query};
use kernel::http::routes::{Access, Routes};

pub fn routes() -> Routes {
    Routes::new()
        .api(Access::Tenant, routes!(list, create))
        .api(Access::Tenant, routes!(remove))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct EmployeeFilter {
    /// Only this employee's.
    #[serde(default)]
    pub employee_id: Option<EmployeeId>,
}

/// Absences on a range of days: everyone's the caller sees (owners,
/// admins, managers at their locations), or their own.
#[utoipa::path(get, path = "/api/v1/t/{slug}/absences", tag = "time-tracking",
    params(("slug" = String, Path, description = "The tenant's URL slug"), Range, EmployeeFilter),
    responses((status = 200, body = [Absence]), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub(crate) async fn list(
    mut t: InTenant,
    Query(range): Query<Range>,
    Query(filter): Query<EmployeeFilter>,
) -> Result<Json<Vec<Absence>>, AppError> {
    let days = range.days(dates::today(&t.tenant.time_zone))?;
    if let Some(id) = filter.employee_id {
        employees::readable(&mut t, id).await?;
    }
    let readable = employees::readable_all(&mut t).await?;
    let absences = super::list(&mut t.scope, filter.employee_id, days.first, days.last).await?;
    Ok(Json(
        absences
            .into_iter()
            .filter(|a| readable.contains_key(&a.employee_id))
            .collect(),
    ))
}

/// Records a paid absence (owners, admins, and managers at the employee's
/// locations); one per employee and day.
#[utoipa::path(post, path = "/api/v1/t/{slug}/absences", tag = "time-tracking",
    params(("slug" = String, Path, description = "The tenant's URL slug")),
    request_body = NewAbsence,
    responses(
        (status = 201, body = Absence), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
    ))]
pub(crate) async fn create(
    mut t: InTenant,
    Json(input): Json<NewAbsence>,
) -> Result<(StatusCode, Json<Absence>), AppError> {
    t.member.authorize(TimeAction::RecordAbsences)?;
    let employee = employees::find(
        &mut t.scope,
        t.member.location_visibility(),
        input.employee_id,
    )
    .await?
    .ok_or_else(|| AppError::Unprocessable("employee_id: Not an employee you manage.".into()))?;
    let absence = super::record(&mut t.scope, t.member.author(), &employee, &input).await?;
    t.scope.commit().await?;
    Ok((StatusCode::CREATED, Json(absence)))
}

/// Removes an absence.
#[utoipa::path(delete, path = "/api/v1/t/{slug}/absences/{absence_id}", tag = "time-tracking",
    params(("slug" = String, Path, description = "The tenant's URL slug"), ("absence_id" = AbsenceId, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn remove(
    mut t: InTenant,
    Path((_, id)): Path<(String, AbsenceId)>,
) -> Result<StatusCode, AppError> {
    super::removable(&mut t, id).await?;
    super::remove(&mut t.scope, id).await?;
    t.scope.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
