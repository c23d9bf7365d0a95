//! Holiday calendars: `/api/v1/t/{slug}/locations/{location_id}/holidays`,
//! and the calendars the app ships. Handlers find the location before
//! reading the body: one the caller doesn't see is a 404 whatever is sent.

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa_axum::routes;

use super::{Calendar, Holiday, NewHoliday};
use crate::HolidayId;
use crate::permissions::TimeAction;
use kernel::access::InTenant;
use kernel::api::ErrorBody;
use kernel::error::AppError;
use kernel::http::extract::{Json, Path, Query};
use kernel::http::routes::{Access, Routes};
use kernel::ids::LocationId;

pub fn routes() -> Routes {
    Routes::new()
        .api(Access::Tenant, routes!(calendars))
        .api(Access::Tenant, routes!(list, create))
        .api(Access::Tenant, routes!(load))
        .api(Access::Tenant, routes!(remove))
}

/// The calendars the app ships (Spain's national holidays; with
/// Catalonia's), to load into a location.
#[utoipa::path(get, path = "/api/v1/t/{slug}/holiday-calendars", tag = "time-tracking",
    params(("slug" = String, Path, description = "The tenant's URL slug")),
    responses((status = 200, body = [Calendar]), (status = 404, body = ErrorBody)))]
pub(crate) async fn calendars(_t: InTenant) -> Json<Vec<Calendar>> {
    Json(super::calendars())
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct YearQuery {
    /// Only this year's holidays.
    #[serde(default)]
    pub year: Option<i32>,
}

/// A location's holidays, by day (everyone who sees the location).
#[utoipa::path(get, path = "/api/v1/t/{slug}/locations/{location_id}/holidays", tag = "time-tracking",
    params(("slug" = String, Path, description = "The tenant's URL slug"), ("location_id" = LocationId, Path), YearQuery),
    responses((status = 200, body = [Holiday]), (status = 404, body = ErrorBody)))]
pub(crate) async fn list(
    mut t: InTenant,
    Path((_, location)): Path<(String, LocationId)>,
    Query(query): Query<YearQuery>,
) -> Result<Json<Vec<Holiday>>, AppError> {
    kernel::locations::visible(&mut t, location).await?;
    Ok(Json(super::list(&mut t.scope, location, query.year).await?))
}

/// Adds a holiday at a location (owners and admins).
#[utoipa::path(post, path = "/api/v1/t/{slug}/locations/{location_id}/holidays", tag = "time-tracking",
    params(("slug" = String, Path, description = "The tenant's URL slug"), ("location_id" = LocationId, Path)),
    request_body = NewHoliday,
    responses(
        (status = 201, body = Holiday), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
    ))]
pub(crate) async fn create(
    mut t: InTenant,
    Path((_, location)): Path<(String, LocationId)>,
    body: Result<Json<NewHoliday>, AppError>,
) -> Result<(StatusCode, Json<Holiday>), AppError> {
    let location = kernel::locations::visible(&mut t, location).await?;
    t.member.authorize(TimeAction::ManagePayRules)?;
    let Json(input) = body?;
    let holiday = super::add(&mut t.scope, &location, &input).await?;
    t.scope.commit().await?;
    Ok((StatusCode::CREATED, Json(holiday)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct LoadCalendar {
    /// A shipped calendar's id (`es`, `es-ct`).
    pub calendar: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Loaded {
    /// How many holidays were added (days the location already had are
    /// kept as they were).
    pub added: usize,
    /// The location's holidays now.
    pub holidays: Vec<Holiday>,
}

/// Loads a shipped calendar into a location (owners and admins).
#[utoipa::path(post, path = "/api/v1/t/{slug}/locations/{location_id}/holidays/load", tag = "time-tracking",
    params(("slug" = String, Path, description = "The tenant's URL slug"), ("location_id" = LocationId, Path)),
    request_body = LoadCalendar,
    responses(
        (status = 200, body = Loaded), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
pub(crate) async fn load(
    mut t: InTenant,
    Path((_, location)): Path<(String, LocationId)>,
    body: Result<Json<LoadCalendar>, AppError>,
) -> Result<Json<Loaded>, AppError> {
    let location = kernel::locations::visible(&mut t, location).await?;
    t.member.authorize(TimeAction::ManagePayRules)?;
    let Json(input) = body?;
    let calendar = super::calendar(&input.calendar)?;
    let added = super::load(&mut t.scope, &location, &calendar).await?;
    let holidays = super::list(&mut t.scope, location.id, None).await?;
    t.scope.commit().await?;
    Ok(Json(Loaded { added, holidays }))
}

/// Removes a holiday (owners and admins).
#[utoipa::path(delete, path = "/api/v1/t/{slug}/holidays/{holiday_id}", tag = "time-tracking",
    params(("slug" = String, Path, description = "The tenant's URL slug"), ("holiday_id" = HolidayId, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn remove(
    mut t: InTenant,
    Path((_, id)): Path<(String, HolidayId)>,
) -> Result<StatusCode, AppError> {
    t.member.authorize(TimeAction::ManagePayRules)?;
    super::remove(&mut t.scope, id).await?;
    t.scope.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
