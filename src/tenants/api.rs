//! The tenants JSON API: the caller's tenants, creating one, and a tenant's
//! settings.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;

use super::{TenantChoice, TenantInput};
use crate::accounts::CurrentUser;
use crate::api::ErrorBody;
use crate::error::AppError;
use crate::http::AppState;
use crate::http::extract::Json;
use crate::http::routes::{Access, Routes, get};
use crate::tenancy::scope::for_user;
use crate::tenancy::{Action, InTenant, Tenant};

pub fn routes() -> Routes {
    Routes::new()
        .add("/api/v1/tenants", Access::SignedIn, get(list).post(create))
        .add(
            "/api/v1/t/{slug}/settings",
            Access::Tenant,
            get(settings).patch(update_settings),
        )
}

/// The tenants the caller belongs to, with their role in each.
#[utoipa::path(get, path = "/api/v1/tenants", tag = "tenants",
    responses((status = 200, body = [TenantChoice]), (status = 401, body = ErrorBody)))]
pub(crate) async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Json<Vec<TenantChoice>>, AppError> {
    let mut scope = for_user(&state.db, user.id).await?;
    Ok(Json(super::choices(&mut scope).await?))
}

/// Creates a tenant owned by the caller, with a first location.
#[utoipa::path(post, path = "/api/v1/tenants", tag = "tenants",
    request_body = TenantInput,
    responses((status = 201, body = Tenant), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn create(
    State(state): State<AppState>,
    user: CurrentUser,
    Json(input): Json<TenantInput>,
) -> Result<(StatusCode, Json<Tenant>), AppError> {
    let valid = input.validate()?;
    let tenant = super::create(&state.db, user.id, &valid).await?;
    Ok((StatusCode::CREATED, Json(tenant)))
}

#[utoipa::path(get, path = "/api/v1/t/{slug}/settings", tag = "tenants",
    params(("slug" = String, Path, description = "The tenant's URL slug")),
    responses((status = 200, body = Tenant), (status = 404, body = ErrorBody)))]
pub(crate) async fn settings(t: InTenant) -> Result<Json<Tenant>, AppError> {
    Ok(Json(t.tenant))
}

/// The settings to change; those left out keep their value.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct TenantPatch {
    pub name: Option<String>,
    pub time_zone: Option<String>,
}

/// Changes the tenant's name or time zone (owners and admins).
#[utoipa::path(patch, path = "/api/v1/t/{slug}/settings", tag = "tenants",
    params(("slug" = String, Path, description = "The tenant's URL slug")),
    request_body = TenantPatch,
    responses(
        (status = 200, body = Tenant),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
    ))]
pub(crate) async fn update_settings(
    mut t: InTenant,
    Json(patch): Json<TenantPatch>,
) -> Result<Json<Tenant>, AppError> {
    t.member.authorize(Action::EditTenantSettings)?;
    let input = TenantInput {
        name: patch.name.unwrap_or(t.tenant.name),
        time_zone: patch.time_zone.unwrap_or(t.tenant.time_zone),
    }
    .validate()?;
    super::update_settings(&mut t.scope, &input).await?;
    t.scope.commit().await?;
    Ok(Json(Tenant {
        name: input.name,
        time_zone: input.time_zone,
        ..t.tenant
    }))
}
