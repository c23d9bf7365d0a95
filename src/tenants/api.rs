//! The tenants JSON API: the caller's tenants, creating one, and a tenant's
//! settings.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa_axum::routes;

use super::{TenantChoice, TenantInput};
use crate::access::InTenant;
use crate::accounts::CurrentUser;
use crate::api::ErrorBody;
use crate::error::AppError;
use crate::http::AppState;
use crate::http::extract::Json;
use crate::http::routes::{Access, Routes};
use crate::tenancy::scope::for_user;
use crate::tenancy::{Action, Tenant};

pub fn routes() -> Routes {
    Routes::new()
        .api(Access::SignedIn, routes!(list, create))
        .api(Access::Tenant, routes!(settings, update_settings))
        .api(Access::Tenant, routes!(remove))
        .api(Access::Tenant, routes!(export))
}

/// The slug, typed again: a deletion can't be undone.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct DeleteConfirmation {
    /// The organisation's slug, typed.
    pub confirm: String,
    /// The owner's current password.
    #[serde(default)]
    pub password: String,
}

/// Deletes the organisation and everything it holds (owners, signed in in
/// person: not with an API token). Its Stripe subscription is canceled
/// first; if that fails, nothing is deleted.
#[utoipa::path(delete, path = "/api/v1/t/{slug}", tag = "tenants",
    params(("slug" = String, Path, description = "The tenant's URL slug")),
    request_body = DeleteConfirmation,
    responses(
        (status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 502, body = ErrorBody),
    ))]
pub(crate) async fn remove(
    State(state): State<AppState>,
    mut t: InTenant,
    Json(body): Json<DeleteConfirmation>,
) -> Result<StatusCode, AppError> {
    t.member.authorize(Action::DeleteTenant)?;
    super::confirm_deletion(&state, &mut t, &body.confirm, &body.password).await??;
    // The request's own transaction ends first: it would hold SQLite's lock.
    t.scope.commit().await?;
    super::delete(&state, t.tenant.id, &t.billing).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The archive of all the organisation's data (owners): a zip of JSON Lines
/// with a manifest, as `export-tenant` writes it. It holds personal data in
/// plaintext.
#[utoipa::path(get, path = "/api/v1/t/{slug}/export", tag = "tenants",
    params(("slug" = String, Path, description = "The tenant's URL slug")),
    responses(
        (status = 200, content_type = "application/zip", body = Vec<u8>),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    ))]
pub(crate) async fn export(
    State(state): State<AppState>,
    t: InTenant,
) -> Result<axum::response::Response, AppError> {
    t.member.authorize(Action::ExportTenant)?;
    let keys = state.keys()?;
    t.scope.commit().await?;
    let lookup = state.lookup_key()?;
    let (bytes, name) =
        super::portability::export::to_bytes(&state.db, keys, lookup, &state.sealed, t.tenant.id)
            .await?;
    Ok(crate::pages::attachment("application/zip", &name, bytes))
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
