//! The locations JSON API, under `/api/v1/t/{slug}/locations`.

use axum::http::StatusCode;
use serde::Deserialize;
use utoipa_axum::routes;

use super::{Location, LocationAction, LocationInput, Page};
use crate::access::InTenant;
use crate::api::ErrorBody;
use crate::error::AppError;
use crate::http::extract::{Json, Path, Query};
use crate::http::routes::{Access, Routes};
use crate::ids::LocationId;

pub fn routes() -> Routes {
    Routes::new()
        .api(Access::Tenant, routes!(list, create))
        .api(Access::Tenant, routes!(show, update))
        .api(Access::Tenant, routes!(archive))
}

/// Which slice of a list to return.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// At most this many (1 to 200, default 50).
    pub limit: Option<i64>,
    /// Skip this many first (default 0).
    pub offset: Option<i64>,
}

impl PageQuery {
    fn page(&self) -> Result<Page, AppError> {
        let limit = self.limit.unwrap_or(50);
        let offset = self.offset.unwrap_or(0);
        if !(1..=200).contains(&limit) {
            return Err(AppError::Unprocessable("limit: from 1 to 200".to_owned()));
        }
        if offset < 0 {
            return Err(AppError::Unprocessable("offset: 0 or more".to_owned()));
        }
        Ok(Page { limit, offset })
    }
}

/// The locations the caller sees (all of them for owners and admins, the
/// granted ones for managers and staff), active ones first, by name.
#[utoipa::path(get, path = "/api/v1/t/{slug}/locations", tag = "locations",
    params(("slug" = String, Path, description = "The tenant's URL slug"), PageQuery),
    responses(
        (status = 200, body = [Location]),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
    ))]
pub(crate) async fn list(
    mut t: InTenant,
    Query(query): Query<PageQuery>,
) -> Result<Json<Vec<Location>>, AppError> {
    let page = query.page()?;
    Ok(Json(
        super::list(&mut t.scope, t.member.location_visibility(), page).await?,
    ))
}

/// Adds a location (owners and admins).
#[utoipa::path(post, path = "/api/v1/t/{slug}/locations", tag = "locations",
    params(("slug" = String, Path, description = "The tenant's URL slug")),
    request_body = LocationInput,
    responses(
        (status = 201, body = Location),
        (status = 403, description = "Not the role for it, or the plan's limit (plan_limit)", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, description = "A field is invalid, or the name is taken", body = ErrorBody),
    ))]
pub(crate) async fn create(
    mut t: InTenant,
    Json(input): Json<LocationInput>,
) -> Result<(StatusCode, Json<Location>), AppError> {
    t.member.authorize(LocationAction::Create)?;
    let valid = input.validate()?;
    crate::billing::ensure_room(&mut t.scope, t.plans, &t.tenant.slug, &super::LOCATIONS).await?;
    let location = super::create(&mut t.scope, &valid).await?;
    t.scope.commit().await?;
    Ok((StatusCode::CREATED, Json(location)))
}

#[utoipa::path(get, path = "/api/v1/t/{slug}/locations/{location_id}", tag = "locations",
    params(
        ("slug" = String, Path, description = "The tenant's URL slug"),
        ("location_id" = LocationId, Path),
    ),
    responses((status = 200, body = Location), (status = 404, body = ErrorBody)))]
pub(crate) async fn show(
    mut t: InTenant,
    Path((_, id)): Path<(String, LocationId)>,
) -> Result<Json<Location>, AppError> {
    Ok(Json(super::visible(&mut t, id).await?))
}

/// The fields to change; those left out keep their value.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct LocationPatch {
    pub name: Option<String>,
    pub address: Option<String>,
    pub time_zone: Option<String>,
}

/// Changes a location (owners, admins, and managers for their granted ones).
#[utoipa::path(patch, path = "/api/v1/t/{slug}/locations/{location_id}", tag = "locations",
    params(
        ("slug" = String, Path, description = "The tenant's URL slug"),
        ("location_id" = LocationId, Path),
    ),
    request_body = LocationPatch,
    responses(
        (status = 200, body = Location),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
    ))]
pub(crate) async fn update(
    mut t: InTenant,
    Path((_, id)): Path<(String, LocationId)>,
    Json(patch): Json<LocationPatch>,
) -> Result<Json<Location>, AppError> {
    let current = super::visible(&mut t, id).await?;
    t.member.authorize(LocationAction::Edit)?;
    let input = LocationInput {
        name: patch.name.unwrap_or(current.name),
        address: patch.address.unwrap_or(current.address),
        time_zone: patch.time_zone.unwrap_or(current.time_zone),
    };
    let location = super::update(&mut t.scope, id, &input.validate()?).await?;
    t.scope.commit().await?;
    Ok(Json(location))
}

/// Archives a location (owners and admins): it keeps its history.
#[utoipa::path(post, path = "/api/v1/t/{slug}/locations/{location_id}/archive", tag = "locations",
    params(
        ("slug" = String, Path, description = "The tenant's URL slug"),
        ("location_id" = LocationId, Path),
    ),
    responses((status = 200, body = Location), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn archive(
    mut t: InTenant,
    Path((_, id)): Path<(String, LocationId)>,
) -> Result<Json<Location>, AppError> {
    super::visible(&mut t, id).await?;
    t.member.authorize(LocationAction::Archive)?;
    let location = super::archive(&mut t.scope, id).await?;
    t.scope.commit().await?;
    Ok(Json(location))
}
