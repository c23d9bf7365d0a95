//! Kiosk PINs: four digits, generated (never chosen by a person: two people
//! picking 1234 is the classic failure), unique among the active employees
//! of every location the employee works at, and shown once.
//!
//! Only a keyed hash is stored ([`kernel::crypto::LookupKey`], HMAC-SHA256
//! with a server secret), the same on each of the employee's
//! `employee_locations` rows, where a unique index on (location, digest)
//! both enforces the uniqueness and lets a punch find its employee with one
//! indexed lookup. A salted slow hash per employee would need one
//! verification per employee per punch.

use serde::Serialize;

use super::super::{EmployeeId, settings};
use kernel::crypto::LookupKey;
use kernel::error::AppError;
use kernel::ids::{LocationId, TenantId};
use kernel::tenancy::TenantScope;
use kernel::{on_tx, row};

/// A freshly issued PIN, to show once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(transparent)]
#[schema(value_type = String, example = "4821")]
pub struct Pin(String);

impl Pin {
    fn random() -> Self {
        loop {
            let mut bytes = [0u8; 2];
            getrandom::fill(&mut bytes).expect("the operating system's random source works");
            // Below 60,000 every four-digit value is equally likely.
            let value = u16::from_be_bytes(bytes);
            if value < 60_000 {
                return Self(format!("{:04}", value % 10_000));
            }
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Whether `text` has the shape of a PIN (four ASCII digits).
pub fn is_well_formed(text: &str) -> bool {
    text.len() == 4 && text.bytes().all(|b| b.is_ascii_digit())
}

/// The stored form of `pin` in `tenant`: the same PIN in two tenants has
/// unrelated digests.
pub fn digest(key: &LookupKey, tenant: TenantId, pin: &str) -> String {
    key.digest(&format!("kiosk-pin:{tenant}"), pin)
}

/// How many random PINs to try before giving up: a location would need
/// thousands of active employees for this to fail.
const ATTEMPTS: usize = 64;

/// Issues a new PIN to the employee, at all of their locations.
///
/// # Errors
/// No free PIN at these locations, or a database failure.
pub async fn issue(
    scope: &mut TenantScope,
    key: &LookupKey,
    employee: EmployeeId,
) -> Result<Pin, AppError> {
    // Serialises PIN issuing in the tenant, so the check below can't race.
    settings::lock(scope).await?;
    for _ in 0..ATTEMPTS {
        let pin = Pin::random();
        let digest = digest(key, scope.tenant_id(), pin.as_str());
        if fits(scope, employee, &digest).await? {
            assign(scope, employee, &digest).await?;
            return Ok(pin);
        }
    }
    Err(AppError::Conflict(
        "No free PIN is left at these locations. Deactivate employees who left.".to_owned(),
    ))
}

/// Gives the employee's locations the PIN they had (`kept`), or a new one
/// (returned) when it is taken at one of them or they had none.
///
/// # Errors
/// No free PIN at these locations, or a database failure.
pub async fn keep_or_issue(
    scope: &mut TenantScope,
    key: &LookupKey,
    employee: EmployeeId,
    kept: Option<String>,
) -> Result<Option<Pin>, AppError> {
    settings::lock(scope).await?;
    if let Some(digest) = kept
        && fits(scope, employee, &digest).await?
    {
        assign(scope, employee, &digest).await?;
        return Ok(None);
    }
    issue(scope, key, employee).await.map(Some)
}

/// Whether no other employee of the employee's locations has `digest`.
async fn fits(
    scope: &mut TenantScope,
    employee: EmployeeId,
    digest: &str,
) -> Result<bool, sqlx::Error> {
    let tenant = scope.tenant_id();
    on_tx!(scope.tx(), |conn| sqlx::query_scalar(
        "SELECT NOT EXISTS (SELECT 1 FROM employee_locations other \
             WHERE other.tenant_id = $1 AND other.pin_digest = $3 AND other.employee_id <> $2 \
             AND other.location_id IN (SELECT location_id FROM employee_locations \
                 WHERE tenant_id = $1 AND employee_id = $2))"
    )
    .bind(tenant)
    .bind(employee)
    .bind(digest)
    .fetch_one(conn)
    .await)
}

async fn assign(
    scope: &mut TenantScope,
    employee: EmployeeId,
    digest: &str,
) -> Result<(), sqlx::Error> {
    let tenant = scope.tenant_id();
    on_tx!(scope.tx(), |conn| sqlx::query(
        "UPDATE employee_locations SET pin_digest = $3 WHERE tenant_id = $1 AND employee_id = $2"
    )
    .bind(tenant)
    .bind(employee)
    .bind(digest)
    .execute(conn)
    .await
    .map(drop))
}

/// Takes the PIN away (an employee made inactive).
pub async fn clear(scope: &mut TenantScope, employee: EmployeeId) -> Result<(), sqlx::Error> {
    let tenant = scope.tenant_id();
    on_tx!(scope.tx(), |conn| sqlx::query(
        "UPDATE employee_locations SET pin_digest = NULL WHERE tenant_id = $1 AND employee_id = $2"
    )
    .bind(tenant)
    .bind(employee)
    .execute(conn)
    .await
    .map(drop))
}

/// The digest the employee's PIN has now, if any.
pub async fn current_digest(
    scope: &mut TenantScope,
    employee: EmployeeId,
) -> Result<Option<String>, sqlx::Error> {
    let tenant = scope.tenant_id();
    let digest: Option<Option<String>> = on_tx!(scope.tx(), |conn| {
        sqlx::query_scalar(
        "SELECT pin_digest FROM employee_locations WHERE tenant_id = $1 AND employee_id = $2 LIMIT 1"
    )
    .bind(tenant)
    .bind(employee)
    .fetch_optional(conn)
    .await
    })?;
    Ok(digest.flatten())
}

row! {
    /// The employee a PIN belongs to at a location.
    pub struct Holder {
        pub id: EmployeeId,
        pub name: String,
    }
}

/// The active employee with this PIN at `location`: one indexed lookup.
pub async fn employee_at(
    scope: &mut TenantScope,
    key: &LookupKey,
    location: LocationId,
    pin: &str,
) -> Result<Option<Holder>, sqlx::Error> {
    let tenant = scope.tenant_id();
    let digest = digest(key, tenant, pin);
    on_tx!(scope.tx(), |conn| sqlx::query_as(
        "SELECT e.id, e.name FROM employee_locations el \
         JOIN employees e ON e.tenant_id = el.tenant_id AND e.id = el.employee_id \
         WHERE el.tenant_id = $1 AND el.location_id = $2 AND el.pin_digest = $3"
    )
    .bind(tenant)
    .bind(location)
    .bind(digest)
    .fetch_optional(conn)
    .await)
}
