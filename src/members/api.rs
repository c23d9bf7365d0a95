//! The members JSON API, under `/api/v1/t/{slug}/members`.

use axum::http::StatusCode;
use serde::Deserialize;
use utoipa_axum::routes;

use super::{MemberChange, MemberEntry};
use crate::access::InTenant;
use crate::api::ErrorBody;
use crate::error::AppError;
use crate::http::extract::{Json, Path};
use crate::http::routes::{Access, Routes};
use crate::ids::{LocationId, MembershipId};
use crate::tenancy::{Action, Role};

pub fn routes() -> Routes {
    Routes::new()
        .api(Access::Tenant, routes!(list))
        .api(Access::Tenant, routes!(show, update, remove))
        .api(Access::Tenant, routes!(leave))
}

/// Every member with their role and locations (owners and admins).
#[utoipa::path(get, path = "/api/v1/t/{slug}/members", tag = "members",
    params(("slug" = String, Path, description = "The tenant's URL slug")),
    responses((status = 200, body = [MemberEntry]), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn list(mut t: InTenant) -> Result<Json<Vec<MemberEntry>>, AppError> {
    t.member.authorize(Action::ViewMembers)?;
    Ok(Json(super::list(&mut t.scope).await?))
}

#[utoipa::path(get, path = "/api/v1/t/{slug}/members/{membership_id}", tag = "members",
    params(
        ("slug" = String, Path, description = "The tenant's URL slug"),
        ("membership_id" = MembershipId, Path),
    ),
    responses((status = 200, body = MemberEntry), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn show(
    mut t: InTenant,
    Path((_, id)): Path<(String, MembershipId)>,
) -> Result<Json<MemberEntry>, AppError> {
    let member = super::find(&mut t.scope, id)
        .await?
        .ok_or(AppError::NotFound)?;
    t.member.authorize(Action::ViewMembers)?;
    Ok(Json(member))
}

/// The fields to change; those left out keep their value.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct MemberPatch {
    pub role: Option<Role>,
    /// Replaces the member's location grants.
    pub location_ids: Option<Vec<LocationId>>,
}

/// Changes a member's role or locations (owners and admins; only owners
/// touch the owner role; the last owner stays an owner).
#[utoipa::path(patch, path = "/api/v1/t/{slug}/members/{membership_id}", tag = "members",
    params(
        ("slug" = String, Path, description = "The tenant's URL slug"),
        ("membership_id" = MembershipId, Path),
    ),
    request_body = MemberPatch,
    responses(
        (status = 200, body = MemberEntry),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "It would leave no owner", body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
pub(crate) async fn update(
    mut t: InTenant,
    Path((_, id)): Path<(String, MembershipId)>,
    Json(patch): Json<MemberPatch>,
) -> Result<Json<MemberEntry>, AppError> {
    let change = MemberChange {
        role: patch.role,
        location_ids: patch.location_ids,
    };
    let member = super::change(&mut t.scope, &t.member, id, change).await?;
    t.scope.commit().await?;
    Ok(Json(member))
}

/// Removes a member from the tenant (their account stays).
#[utoipa::path(delete, path = "/api/v1/t/{slug}/members/{membership_id}", tag = "members",
    params(
        ("slug" = String, Path, description = "The tenant's URL slug"),
        ("membership_id" = MembershipId, Path),
    ),
    responses(
        (status = 200, body = MemberEntry),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "It would leave no owner", body = ErrorBody),
    ))]
pub(crate) async fn remove(
    mut t: InTenant,
    Path((_, id)): Path<(String, MembershipId)>,
) -> Result<Json<MemberEntry>, AppError> {
    let removed = super::remove(&mut t.scope, &t.member, id).await?;
    t.scope.commit().await?;
    Ok(Json(removed))
}

/// Leaves the tenant (any role), unless the caller is its last owner (409).
#[utoipa::path(post, path = "/api/v1/t/{slug}/leave", tag = "tenants",
    params(("slug" = String, Path, description = "The tenant's URL slug")),
    responses((status = 204), (status = 403, description = "Sent with an API token", body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(crate) async fn leave(mut t: InTenant) -> Result<StatusCode, AppError> {
    t.require_person()?;
    super::leave(&mut t.scope, t.member.membership_id).await?;
    t.scope.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
