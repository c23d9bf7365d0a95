//! The kiosk API: pairing, the device's own details, and punches, one at a
//! time or in batches (an offline queue draining).

use std::sync::LazyLock;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa_axum::routes;

use super::{Kiosk, WrongPins};
use crate::ClientId;
use crate::devices::{self, Paired};
use crate::punches::{self, Outcome, Punch, PunchInput};
use axum::extract::State;
use kernel::api::{ErrorBody, ErrorDetail};
use kernel::error::AppError;
use kernel::http::AppState;
use kernel::http::client_address::ClientAddress;
use kernel::http::extract::Json;
use kernel::http::routes::{Access, Routes};
use kernel::rate_limits::Limit;
use kernel::tenancy::{Intent, for_tenant};

/// At most this many punches in one batch.
pub const MAX_BATCH: usize = 500;

static WRONG_PINS: LazyLock<WrongPins> = LazyLock::new(WrongPins::default);

pub fn routes() -> Routes {
    Routes::new()
        .api(Access::Public, routes!(pair))
        .api(Access::Credential, routes!(device))
        .api(Access::Credential, routes!(punch))
        .api(Access::Credential, routes!(batch))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct PairRequest {
    /// The code of the pairing link (`kp_…`).
    pub code: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PairResponse {
    /// The device token, shown only now: the kiosk keeps it and sends it as
    /// `Authorization: Bearer` with every request.
    pub token: String,
    pub device: Paired,
}

/// Exchanges a one-time pairing code for the device's token.
#[utoipa::path(post, path = "/api/v1/kiosk/pair", tag = "kiosk",
    request_body = PairRequest,
    responses(
        (status = 201, body = PairResponse),
        (status = 400, description = "The code is unknown, used or expired (invalid_link)", body = ErrorBody),
        (status = 429, description = "Too many codes tried from this address", body = ErrorBody),
    ))]
pub(crate) async fn pair(
    State(state): State<AppState>,
    client: ClientAddress,
    Json(request): Json<PairRequest>,
) -> Result<(StatusCode, Json<PairResponse>), AppError> {
    state
        .rate_limits
        .check_address(Limit::LinkSecret, client.0)?;
    let code = request.code.trim();
    let tenant = devices::tenant_of_pairing_code(code).ok_or(AppError::InvalidLink)?;
    let mut scope = for_tenant(&state.db, tenant, Intent::Write).await?;
    let token = devices::pair(&mut scope, code)
        .await?
        .ok_or(AppError::InvalidLink)?;
    let device = devices::authenticate(&mut scope, &token)
        .await?
        .ok_or(AppError::InvalidLink)?;
    scope.commit().await?;
    Ok((StatusCode::CREATED, Json(PairResponse { token, device })))
}

/// The calling device: its name and location (the kiosk shows them, and
/// learns whether it is still paired).
#[utoipa::path(get, path = "/api/v1/kiosk/device", tag = "kiosk",
    security(("device_token" = [])),
    responses((status = 200, body = Paired), (status = 401, body = ErrorBody)))]
pub(crate) async fn device(kiosk: Kiosk) -> Result<Json<Paired>, AppError> {
    // The scope recorded when the device was last seen.
    kiosk.scope.commit().await?;
    Ok(Json(kiosk.device))
}

/// The status of a punch's answer, on either endpoint.
fn status(outcome: &Outcome) -> StatusCode {
    match outcome {
        Outcome::Recorded(_) => StatusCode::CREATED,
        Outcome::Refused(error) if error.code == RATE_LIMITED => StatusCode::TOO_MANY_REQUESTS,
        Outcome::Refused(_) => StatusCode::UNPROCESSABLE_ENTITY,
    }
}

/// A batch's punch past the device's wrong-PIN limit: not recorded, to be
/// sent again.
const RATE_LIMITED: &str = "rate_limited";

/// The answer to one punch, as the single endpoint gives it.
fn respond(outcome: Outcome) -> Response {
    let status = status(&outcome);
    match outcome {
        Outcome::Recorded(punch) => (status, Json(punch)).into_response(),
        Outcome::Refused(error) => (status, Json(ErrorBody { error })).into_response(),
    }
}

/// Records one punch. The same `client_id` again, at any time, answers as
/// the first time did and records nothing. Wrong PINs are limited per
/// device (429 beyond ten a minute).
#[utoipa::path(post, path = "/api/v1/kiosk/punches", tag = "kiosk",
    security(("device_token" = [])),
    request_body = PunchInput,
    responses(
        (status = 201, body = Punch),
        (status = 401, body = ErrorBody),
        (status = 422, description = "unknown_pin; clock_ahead (the device's clock is more than 5 minutes ahead); too_old (the punch is more than 14 days old: not recorded, kept for a manager's review); or an invalid body", body = ErrorBody),
        (status = 429, body = ErrorBody),
    ))]
pub(crate) async fn punch(
    State(state): State<AppState>,
    mut kiosk: Kiosk,
    Json(input): Json<PunchInput>,
) -> Result<Response, AppError> {
    let key = state.lookup_key()?;
    if let Some(wait) = WRONG_PINS.wait(kiosk.device.id) {
        return Err(AppError::RateLimited(wait));
    }
    let mut results = punches::record(
        &mut kiosk.scope,
        key,
        &kiosk.device,
        &[input],
        OffsetDateTime::now_utc(),
    )
    .await?;
    kiosk.scope.commit().await?;
    let (outcome, fresh) = results
        .pop()
        .ok_or_else(|| AppError::Internal("no result".to_owned()))?;
    count_wrong_pin(&kiosk.device, &outcome, fresh);
    Ok(respond(outcome))
}

fn count_wrong_pin(device: &Paired, outcome: &Outcome, fresh: bool) {
    if fresh && matches!(outcome, Outcome::Refused(e) if e.code == punches::UNKNOWN_PIN) {
        WRONG_PINS.count(device.id);
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct BatchRequest {
    /// Up to 500 punches, each as the single endpoint takes it. One that
    /// can't be read gets its own error; the others are recorded.
    #[schema(value_type = Vec<PunchInput>)]
    pub punches: Vec<serde_json::Value>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BatchResponse {
    /// One per punch sent, in the same order.
    pub results: Vec<BatchResult>,
}

/// One punch's result: the status the single endpoint would have answered
/// with, and its body.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BatchResult {
    pub client_id: Option<ClientId>,
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub punch: Option<Punch>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorDetail>,
}

impl BatchResult {
    fn new(client_id: Option<ClientId>, outcome: Outcome) -> Self {
        let status = status(&outcome).as_u16();
        let (punch, error) = match outcome {
            Outcome::Recorded(punch) => (Some(punch), None),
            Outcome::Refused(error) => (None, Some(error)),
        };
        Self {
            client_id,
            status,
            punch,
            error,
        }
    }
}

/// Records up to 500 punches (a kiosk's offline queue), each exactly once,
/// with a result per punch (each as the single endpoint answers it:
/// `unknown_pin`, `clock_ahead`, `too_old`). The batch as a whole is never
/// refused for one punch's sake: not for an unknown PIN, nor for one that
/// can't be read.
/// Wrong PINs count as on the single endpoint: past the device's limit,
/// each remaining punch is answered 429 (`rate_limited`), not recorded, and
/// is to be sent again later.
#[utoipa::path(post, path = "/api/v1/kiosk/punches/batch", tag = "kiosk",
    security(("device_token" = [])),
    request_body = BatchRequest,
    responses(
        (status = 200, body = BatchResponse),
        (status = 401, body = ErrorBody),
        (status = 422, description = "More than 500 punches, or not a batch", body = ErrorBody),
    ))]
pub(crate) async fn batch(
    State(state): State<AppState>,
    mut kiosk: Kiosk,
    Json(request): Json<BatchRequest>,
) -> Result<Json<BatchResponse>, AppError> {
    let key = state.lookup_key()?;
    if request.punches.len() > MAX_BATCH {
        return Err(AppError::Unprocessable(format!(
            "punches: at most {MAX_BATCH} in one batch; send the rest in another"
        )));
    }
    let mut results: Vec<Option<BatchResult>> = Vec::with_capacity(request.punches.len());
    let mut readable = Vec::new();
    for item in request.punches {
        let client_id = item
            .get("client_id")
            .and_then(|id| serde_json::from_value::<ClientId>(id.clone()).ok());
        match serde_json::from_value::<PunchInput>(item) {
            Ok(input) => {
                readable.push(input);
                results.push(None);
            }
            Err(error) => results.push(Some(BatchResult::new(
                client_id,
                Outcome::Refused(ErrorDetail {
                    code: "invalid",
                    message: format!("This punch can't be read: {error}"),
                }),
            ))),
        }
    }
    // In runs no longer than the wrong PINs the device has left, so the
    // limit falls exactly where the single endpoint's would: punches past
    // it are refused (429) and stay in the kiosk's queue.
    let now = OffsetDateTime::now_utc();
    let mut recorded = Vec::with_capacity(readable.len());
    while recorded.len() < readable.len() {
        let left = WRONG_PINS.left(kiosk.device.id) as usize;
        if left == 0 {
            let wait = WRONG_PINS.wait(kiosk.device.id).unwrap_or_default();
            let refused = ErrorDetail {
                code: RATE_LIMITED,
                message: format!(
                    "Too many wrong PINs on this tablet: this punch is sent again in {} s.",
                    wait.as_secs().max(1)
                ),
            };
            recorded.resize_with(readable.len(), || {
                (Outcome::Refused(refused.clone()), false)
            });
            break;
        }
        let run = &readable[recorded.len()..(recorded.len() + left).min(readable.len())];
        for (outcome, fresh) in
            punches::record(&mut kiosk.scope, key, &kiosk.device, run, now).await?
        {
            count_wrong_pin(&kiosk.device, &outcome, fresh);
            recorded.push((outcome, fresh));
        }
    }
    kiosk.scope.commit().await?;
    let mut recorded = readable.iter().zip(recorded);
    let results = results
        .into_iter()
        .map(|result| {
            result.unwrap_or_else(|| {
                let (input, (outcome, _)) =
                    recorded.next().expect("one outcome per readable punch");
                BatchResult::new(Some(input.client_id), outcome)
            })
        })
        .collect();
    Ok(Json(BatchResponse { results }))
}
