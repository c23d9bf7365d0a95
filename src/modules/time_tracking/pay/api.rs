//! Pay rules: `/api/v1/t/{slug}/pay-rules`, and a location's own at
//! `/api/v1/t/{slug}/locations/{location_id}/pay-rules`.

use super::rules::{self, AllRules, LocationRules, Rules};
use crate::api::ErrorBody;
use crate::error::AppError;
use crate::http::extract::{Json, Path};
use crate::http::routes::{Access, Routes, get, put};
use crate::ids::LocationId;
use crate::modules::time_tracking::holidays::seen_location;
use crate::modules::time_tracking::permissions::TimeAction;
use crate::tenancy::InTenant;

pub fn routes() -> Routes {
    Routes::new()
        .add(
            "/api/v1/t/{slug}/pay-rules",
            Access::Tenant,
            get(show).put(update),
        )
        .add(
            "/api/v1/t/{slug}/locations/{location_id}/pay-rules",
            Access::Tenant,
            put(update_location).delete(reset_location),
        )
}

/// The tenant's pay rules and each location's (owners and admins).
#[utoipa::path(get, path = "/api/v1/t/{slug}/pay-rules", tag = "time-tracking",
    params(("slug" = String, Path, description = "The tenant's URL slug")),
    responses((status = 200, body = AllRules), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn show(mut t: InTenant) -> Result<Json<AllRules>, AppError> {
    t.member.authorize(TimeAction::ManagePayRules)?;
    Ok(Json(
        rules::all(&mut t.scope, t.member.location_visibility()).await?,
    ))
}

/// Sets the tenant's pay rules (owners and admins): every location without
/// its own uses them.
#[utoipa::path(put, path = "/api/v1/t/{slug}/pay-rules", tag = "time-tracking",
    params(("slug" = String, Path, description = "The tenant's URL slug")),
    request_body = Rules,
    responses((status = 200, body = AllRules), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub(crate) async fn update(
    mut t: InTenant,
    Json(input): Json<Rules>,
) -> Result<Json<AllRules>, AppError> {
    t.member.authorize(TimeAction::ManagePayRules)?;
    rules::set_tenant(&mut t.scope, &input).await?;
    let all = rules::all(&mut t.scope, t.member.location_visibility()).await?;
    t.scope.commit().await?;
    Ok(Json(all))
}

/// Gives a location its own pay rules (owners and admins).
#[utoipa::path(put, path = "/api/v1/t/{slug}/locations/{location_id}/pay-rules", tag = "time-tracking",
    params(("slug" = String, Path, description = "The tenant's URL slug"), ("location_id" = LocationId, Path)),
    request_body = Rules,
    responses((status = 200, body = LocationRules), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub(crate) async fn update_location(
    t: InTenant,
    Path((_, location)): Path<(String, LocationId)>,
    body: Result<Json<Rules>, AppError>,
) -> Result<Json<LocationRules>, AppError> {
    set_location(t, location, Some(body)).await
}

/// Returns a location to the tenant's pay rules (owners and admins).
#[utoipa::path(delete, path = "/api/v1/t/{slug}/locations/{location_id}/pay-rules", tag = "time-tracking",
    params(("slug" = String, Path, description = "The tenant's URL slug"), ("location_id" = LocationId, Path)),
    responses((status = 200, body = LocationRules), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn reset_location(
    t: InTenant,
    Path((_, location)): Path<(String, LocationId)>,
) -> Result<Json<LocationRules>, AppError> {
    set_location(t, location, None).await
}

/// Sets (`Some`, from a request's body) or clears a location's own rules,
/// once the location is found: one the caller doesn't see is a 404
/// whatever the body.
async fn set_location(
    mut t: InTenant,
    location: LocationId,
    body: Option<Result<Json<Rules>, AppError>>,
) -> Result<Json<LocationRules>, AppError> {
    let visibility = t.member.location_visibility();
    seen_location(&mut t.scope, visibility, location).await?;
    t.member.authorize(TimeAction::ManagePayRules)?;
    let input = body.transpose()?.map(|Json(rules)| rules);
    rules::set_location(&mut t.scope, location, input.as_ref()).await?;
    let shown = rules::all(&mut t.scope, visibility)
        .await?
        .locations
        .into_iter()
        .find(|l| l.location_id == location)
        .ok_or_else(|| {
            AppError::Unprocessable("This location is archived: its pay rules are kept.".into())
        })?;
    t.scope.commit().await?;
    Ok(Json(shown))
}
