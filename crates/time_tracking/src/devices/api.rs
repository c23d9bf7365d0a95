//! Managing kiosk devices: `/api/v1/t/{slug}/kiosks`.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa_axum::routes;

use super::{Device, NewDevice};
use crate::DeviceId;
use crate::permissions::TimeAction;
use kernel::access::InTenant;
use kernel::api::ErrorBody;
use kernel::error::AppError;
use kernel::http::AppState;
use kernel::http::extract::{Json, Path};
use kernel::http::routes::{Access, Routes};

pub fn routes() -> Routes {
    Routes::new()
        .api(Access::Tenant, routes!(list, create))
        .api(Access::Tenant, routes!(revoke))
}

/// The kiosks of the locations the caller sees, live ones first.
#[utoipa::path(get, path = "/api/v1/t/{slug}/kiosks", tag = "time-tracking",
    params(("slug" = String, Path, description = "The tenant's URL slug")),
    responses((status = 200, body = [Device]), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn list(mut t: InTenant) -> Result<Json<Vec<Device>>, AppError> {
    t.member.authorize(TimeAction::ManageDevices)?;
    Ok(Json(
        super::list(&mut t.scope, t.member.location_visibility()).await?,
    ))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedDevice {
    pub device: Device,
    /// Open this link on the tablet, within a day, to pair it (once).
    pub pairing_url: String,
    /// The code inside the link.
    pub pairing_code: String,
}

/// The link that pairs a tablet: the kiosk page reads the code from the
/// fragment, which never reaches a server log.
pub fn pairing_url(base_url: &str, code: &str) -> String {
    format!("{}/kiosk#pair={code}", base_url.trim_end_matches('/'))
}

/// Adds a kiosk at a location and returns its one-time pairing link
/// (owners, admins, and managers at their locations).
#[utoipa::path(post, path = "/api/v1/t/{slug}/kiosks", tag = "time-tracking",
    params(("slug" = String, Path, description = "The tenant's URL slug")),
    request_body = NewDevice,
    responses(
        (status = 201, body = CreatedDevice),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
    ))]
pub(crate) async fn create(
    State(state): State<AppState>,
    mut t: InTenant,
    Json(input): Json<NewDevice>,
) -> Result<(StatusCode, Json<CreatedDevice>), AppError> {
    t.member.authorize(TimeAction::ManageDevices)?;
    let (device, code) = super::add(&mut t.scope, t.member.location_visibility(), &input).await?;
    t.scope.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedDevice {
            device,
            pairing_url: pairing_url(&state.config.base_url, &code),
            pairing_code: code,
        }),
    ))
}

/// Revokes a kiosk: its token stops working at once.
#[utoipa::path(post, path = "/api/v1/t/{slug}/kiosks/{device_id}/revoke", tag = "time-tracking",
    params(("slug" = String, Path, description = "The tenant's URL slug"), ("device_id" = DeviceId, Path)),
    responses((status = 200, body = Device), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn revoke(
    mut t: InTenant,
    Path((_, id)): Path<(String, DeviceId)>,
) -> Result<Json<Device>, AppError> {
    let visibility = t.member.location_visibility();
    super::find(&mut t.scope, visibility, id)
        .await?
        .ok_or(AppError::NotFound)?;
    t.member.authorize(TimeAction::ManageDevices)?;
    super::revoke(&mut t.scope, id).await?;
    let device = super::find(&mut t.scope, visibility, id)
        .await?
        .ok_or(AppError::NotFound)?;
    t.scope.commit().await?;
    Ok(Json(device))
}
