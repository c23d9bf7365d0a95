//! What a paired kiosk tablet calls: its requests carry the device token
//! (`Authorization: Bearer kd_…`), which names its tenant and location, and
//! nothing else: no session, no slug in the URL. The [`Kiosk`] extractor
//! opens the tenant's scope and checks the token in it, so a device of one
//! tenant can't reach another's data, and punches land at the device's own
//! location.

pub mod api;
pub mod shell;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;

use super::DeviceId;
use super::devices::{self, Paired};
use kernel::error::AppError;
use kernel::http::AppState;
use kernel::http::extract::bearer_token;
use kernel::tenancy::{Intent, TenantScope, for_tenant};

/// A request from a paired device, inside its tenant's scope.
pub struct Kiosk {
    pub device: Paired,
    pub scope: TenantScope,
}

fn invalid_token() -> AppError {
    AppError::Refused {
        status: StatusCode::UNAUTHORIZED,
        code: "invalid_device_token",
        message: "This kiosk is not paired, or was revoked: pair it again from the Kiosks page."
            .to_owned(),
    }
}

impl FromRequestParts<AppState> for Kiosk {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let token = bearer_token(parts).ok_or_else(invalid_token)?;
        let tenant = devices::tenant_of_token(&token).ok_or_else(invalid_token)?;
        let mut scope = for_tenant(&state.db, tenant, Intent::Write).await?;
        let device = devices::authenticate(&mut scope, &token)
            .await?
            .ok_or_else(invalid_token)?;
        Ok(Self { device, scope })
    }
}

/// Wrong PINs a device may send in a [`WRONG_PIN_WINDOW`] before its
/// punches are refused (429) until the window ends: enough for fat fingers,
/// far too few to walk through 10,000 PINs. Both endpoints count and refuse
/// alike: the batch endpoint, never refused whole (one mistyped PIN must not
/// jam an offline queue), answers 429 for each punch past the limit, and the
/// kiosk keeps those queued and sends them again later.
const WRONG_PINS_ALLOWED: u32 = 10;
const WRONG_PIN_WINDOW: Duration = Duration::from_secs(60);

/// Wrong-PIN counts per device, in memory: a fixed window each. Each app
/// instance counts on its own (as the core's per-address limits do).
#[derive(Default)]
pub struct WrongPins(Mutex<HashMap<DeviceId, (Instant, u32)>>);

impl WrongPins {
    /// How many more wrong PINs the device may send in its window.
    pub fn left(&self, device: DeviceId) -> u32 {
        let counts = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match counts.get(&device) {
            Some((start, count)) if start.elapsed() < WRONG_PIN_WINDOW => {
                WRONG_PINS_ALLOWED.saturating_sub(*count)
            }
            _ => WRONG_PINS_ALLOWED,
        }
    }

    /// How long the device must wait, if it is over the limit.
    pub fn wait(&self, device: DeviceId) -> Option<Duration> {
        let counts = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (start, count) = counts.get(&device)?;
        let elapsed = start.elapsed();
        (elapsed < WRONG_PIN_WINDOW && *count >= WRONG_PINS_ALLOWED)
            .then(|| WRONG_PIN_WINDOW - elapsed)
    }

    pub fn count(&self, device: DeviceId) {
        let mut counts = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        counts.retain(|_, (start, _)| now.duration_since(*start) < WRONG_PIN_WINDOW);
        let (_, count) = counts.entry(device).or_insert((now, 0));
        *count += 1;
    }
}
