//! The invitations JSON API, under `/api/v1/t/{slug}/invitations` (owners
//! and admins). Accepting is `/api/v1/invitations/accept` (see `accept`).

use axum::http::StatusCode;
use utoipa_axum::routes;

use super::{Invitation, InvitationInput, Sender};
use crate::access::InTenant;
use crate::api::ErrorBody;
use crate::error::AppError;
use crate::http::AppState;
use crate::http::extract::{Json, Path};
use crate::http::routes::{Access, Routes};
use crate::ids::InvitationId;
use crate::tenancy::Action;
use axum::extract::State;

pub fn routes() -> Routes {
    Routes::new()
        .api(Access::Tenant, routes!(list, create))
        .api(Access::Tenant, routes!(revoke))
        .api(Access::Tenant, routes!(resend))
}

/// The pending invitations, newest first (expired ones say so).
#[utoipa::path(get, path = "/api/v1/t/{slug}/invitations", tag = "members",
    params(("slug" = String, Path, description = "The tenant's URL slug")),
    responses((status = 200, body = [Invitation]), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn list(mut t: InTenant) -> Result<Json<Vec<Invitation>>, AppError> {
    t.member.authorize(Action::ManageMembers)?;
    Ok(Json(super::list(&mut t.scope).await?))
}

/// Invites an email with a role (only owners invite owners) and, for
/// managers and staff, locations; mails the link, valid 7 days.
#[utoipa::path(post, path = "/api/v1/t/{slug}/invitations", tag = "members",
    params(("slug" = String, Path, description = "The tenant's URL slug")),
    request_body = InvitationInput,
    responses((status = 201, body = Invitation), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, description = "A malformed email, a member already, already invited, an unknown location", body = ErrorBody)))]
pub(crate) async fn create(
    State(state): State<AppState>,
    mut t: InTenant,
    Json(input): Json<InvitationInput>,
) -> Result<(StatusCode, Json<Invitation>), AppError> {
    let sender = Sender::new(&t.member, &t.tenant, &state).await?;
    let invitation = super::invite(&mut t.scope, &sender, &input).await??;
    t.scope.commit().await?;
    Ok((StatusCode::CREATED, Json(invitation)))
}

/// Mails a pending invitation again with a new link (the old one stops
/// working) and a new 7-day expiry.
#[utoipa::path(post, path = "/api/v1/t/{slug}/invitations/{invitation_id}/resend", tag = "members",
    params(
        ("slug" = String, Path, description = "The tenant's URL slug"),
        ("invitation_id" = InvitationId, Path),
    ),
    responses((status = 200, body = Invitation), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn resend(
    State(state): State<AppState>,
    mut t: InTenant,
    Path((_, id)): Path<(String, InvitationId)>,
) -> Result<Json<Invitation>, AppError> {
    let sender = Sender::new(&t.member, &t.tenant, &state).await?;
    let invitation = super::resend(&mut t.scope, &sender, id).await?;
    t.scope.commit().await?;
    Ok(Json(invitation))
}

/// Revokes a pending invitation: its link stops working.
#[utoipa::path(delete, path = "/api/v1/t/{slug}/invitations/{invitation_id}", tag = "members",
    params(
        ("slug" = String, Path, description = "The tenant's URL slug"),
        ("invitation_id" = InvitationId, Path),
    ),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn revoke(
    mut t: InTenant,
    Path((_, id)): Path<(String, InvitationId)>,
) -> Result<StatusCode, AppError> {
    super::revoke(&mut t.scope, &t.member, id).await?;
    t.scope.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
