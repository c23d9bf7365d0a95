//! The API-token JSON API, under `/api/v1/t/{slug}/api-tokens` (owners and
//! admins).

use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::routes;

use super::{ApiToken, CreatedApiToken, NewApiToken};
use crate::access::InTenant;
use crate::api::ErrorBody;
use crate::error::AppError;
use crate::http::AppState;
use crate::http::extract::{Json, Path};
use crate::http::routes::{Access, Routes};
use crate::ids::ApiTokenId;
use crate::tenancy::Action;

pub fn routes() -> Routes {
    Routes::new()
        .api(Access::Tenant, routes!(list, create))
        .api(Access::Tenant, routes!(revoke))
}

/// The tenant's API tokens, live ones first (never their secrets).
#[utoipa::path(get, path = "/api/v1/t/{slug}/api-tokens", tag = "api-tokens",
    params(("slug" = String, Path, description = "The tenant's URL slug")),
    responses((status = 200, body = [ApiToken]), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn list(mut t: InTenant) -> Result<Json<Vec<ApiToken>>, AppError> {
    t.member.authorize(Action::ManageApiTokens)?;
    Ok(Json(super::list(&mut t.scope).await?))
}

/// Creates a token with a name and a role no higher than the caller's,
/// given the caller's password (signed in in person: a token can't make
/// tokens). Its `secret` is in this response only: send it as
/// `Authorization: Bearer`.
#[utoipa::path(post, path = "/api/v1/t/{slug}/api-tokens", tag = "api-tokens",
    params(("slug" = String, Path, description = "The tenant's URL slug")),
    request_body = NewApiToken,
    responses((status = 201, body = CreatedApiToken), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub(crate) async fn create(
    State(state): State<AppState>,
    mut t: InTenant,
    Json(input): Json<NewApiToken>,
) -> Result<(StatusCode, Json<CreatedApiToken>), AppError> {
    t.member.authorize(Action::ManageApiTokens)?;
    t.reauthenticate(&state, &input.password).await??;
    let created = super::create(&mut t.scope, &t.member, &input).await??;
    t.scope.commit().await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// Revokes a token: from now on it gets 401.
#[utoipa::path(delete, path = "/api/v1/t/{slug}/api-tokens/{api_token_id}", tag = "api-tokens",
    params(
        ("slug" = String, Path, description = "The tenant's URL slug"),
        ("api_token_id" = ApiTokenId, Path),
    ),
    responses((status = 200, body = ApiToken), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn revoke(
    mut t: InTenant,
    Path((_, id)): Path<(String, ApiTokenId)>,
) -> Result<Json<ApiToken>, AppError> {
    let revoked = super::revoke(&mut t.scope, &t.member, id).await?;
    t.scope.commit().await?;
    Ok(Json(revoked))
}
