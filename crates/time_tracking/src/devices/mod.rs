//! Kiosk devices: a tablet paired with one location. A manager adds a
//! device and gets a one-time pairing link (valid for a day); opening it on
//! the tablet exchanges the pairing code for a long-lived device token,
//! which the kiosk keeps and sends with every punch until the device is
//! revoked. Both secrets name their tenant (`kernel::tokens::tenant_secret`)
//! and only their digests are stored.

pub mod api;
pub mod pages;

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use super::DeviceId;
use kernel::error::AppError;
use kernel::ids::{LocationId, TenantId};
use kernel::tenancy::TenantScope;
use kernel::tenancy::permissions::LocationVisibility;
use kernel::tokens::{digest, tenant_secret};
use kernel::validation::{self, FieldErrors, WriteError};
use kernel::{on_tx, row};

/// How long a pairing link works.
pub const PAIRING_VALIDITY: Duration = Duration::hours(24);

const PAIRING_PREFIX: &str = "kp_";
const TOKEN_PREFIX: &str = "kd_";

/// How stale `last_seen_at` may get before a request records it again.
const LAST_SEEN_PRECISION: Duration = Duration::minutes(1);

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Device {
    pub id: DeviceId,
    pub name: String,
    pub location_id: LocationId,
    pub location_name: String,
    /// `pending` (waiting for its pairing link), `paired`, `expired` (the
    /// link was never used) or `revoked`.
    pub status: &'static str,
    #[serde(with = "time::serde::rfc3339::option")]
    pub pairing_expires_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub paired_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_seen_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

row! {
    /// A device with its location's name, as stored.
    struct DeviceRow {
        id: DeviceId,
        name: String,
        location_id: LocationId,
        location_name: String,
        pairing_expires_at: Option<OffsetDateTime>,
        paired_at: Option<OffsetDateTime>,
        last_seen_at: Option<OffsetDateTime>,
        revoked_at: Option<OffsetDateTime>,
        created_at: OffsetDateTime,
    }
}

row! {
    /// A live device's token holder, with its location.
    struct PairedRow {
        id: DeviceId,
        name: String,
        location_id: LocationId,
        location_name: String,
        time_zone: String,
        last_seen_at: Option<OffsetDateTime>,
    }
}

impl From<DeviceRow> for Device {
    fn from(row: DeviceRow) -> Self {
        let status = if row.revoked_at.is_some() {
            "revoked"
        } else if row.paired_at.is_some() {
            "paired"
        } else if row
            .pairing_expires_at
            .is_some_and(|at| at > OffsetDateTime::now_utc())
        {
            "pending"
        } else {
            "expired"
        };
        Self {
            id: row.id,
            name: row.name,
            location_id: row.location_id,
            location_name: row.location_name,
            status,
            pairing_expires_at: row.pairing_expires_at,
            paired_at: row.paired_at,
            last_seen_at: row.last_seen_at,
            revoked_at: row.revoked_at,
            created_at: row.created_at,
        }
    }
}

/// The devices of the locations the member sees, live ones first, newest
/// first.
pub async fn list(
    scope: &mut TenantScope,
    visibility: LocationVisibility,
) -> Result<Vec<Device>, sqlx::Error> {
    select(scope, visibility, None).await
}

/// One device, if the member sees its location.
pub async fn find(
    scope: &mut TenantScope,
    visibility: LocationVisibility,
    id: DeviceId,
) -> Result<Option<Device>, sqlx::Error> {
    Ok(select(scope, visibility, Some(id)).await?.pop())
}

async fn select(
    scope: &mut TenantScope,
    visibility: LocationVisibility,
    only: Option<DeviceId>,
) -> Result<Vec<Device>, sqlx::Error> {
    let tenant = scope.tenant_id();
    let by_id = kernel::db::optional_filter("d.id = $4", "$4", only.is_some());
    let sql = format!(
        "SELECT d.id, d.name, d.location_id, l.name AS location_name, d.pairing_expires_at, d.paired_at, \
             d.last_seen_at, d.revoked_at, d.created_at \
         FROM kiosk_devices d JOIN locations l ON l.tenant_id = d.tenant_id AND l.id = d.location_id \
         WHERE d.tenant_id = $1 AND {by_id} \
         AND ($2 OR EXISTS (SELECT 1 FROM location_grants g \
             WHERE g.tenant_id = d.tenant_id AND g.location_id = d.location_id AND g.membership_id = $3)) \
         ORDER BY d.revoked_at IS NOT NULL, d.created_at DESC, d.id"
    );
    let rows: Vec<DeviceRow> = on_tx!(scope.tx(), |conn| {
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(tenant)
            .bind(visibility.all)
            .bind(visibility.membership)
            .bind(only)
            .fetch_all(conn)
            .await
    })?;
    Ok(rows.into_iter().map(Device::from).collect())
}

/// A kiosk to add, as the API and the form send it.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct NewDevice {
    pub location_id: LocationId,
    /// What the staff call it ("Bar tablet").
    pub name: String,
}

/// Adds a kiosk at a location the member manages; its one-time pairing
/// code is returned with it.
///
/// # Errors
/// 422 for a missing name or a location the member doesn't manage.
pub async fn add(
    scope: &mut TenantScope,
    visibility: LocationVisibility,
    input: &NewDevice,
) -> Result<(Device, String), WriteError> {
    let mut errors = FieldErrors::default();
    let name = validation::text(&mut errors, "name", &input.name, true, 100);
    let location = kernel::locations::find(scope, visibility, input.location_id).await?;
    if location.as_ref().is_none_or(|l| l.archived_at.is_some()) {
        errors.add("location_id", "Not an active location you manage.");
    }
    errors.or_ok(())?;
    let (id, code) = create(scope, input.location_id, &name).await?;
    let device = find(scope, visibility, id)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok((device, code))
}

/// Adds a device at a location the caller has already found (so sees), and
/// returns it with its one-time pairing code.
pub async fn create(
    scope: &mut TenantScope,
    location: LocationId,
    name: &str,
) -> Result<(DeviceId, String), sqlx::Error> {
    let tenant = scope.tenant_id();
    let id = DeviceId::new();
    let code = tenant_secret(PAIRING_PREFIX, tenant);
    let now = OffsetDateTime::now_utc();
    on_tx!(scope.tx(), |conn| {
        sqlx::query(
        "INSERT INTO kiosk_devices (tenant_id, id, location_id, name, pairing_digest, pairing_expires_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)"
    )
    .bind(tenant)
    .bind(id)
    .bind(location)
    .bind(name)
    .bind(digest(&code))
    .bind(now + PAIRING_VALIDITY)
    .bind(now)
    .execute(conn)
    .await
    .map(drop)
    })?;
    Ok((id, code))
}

/// Revokes a device the caller has already found: its token stops working
/// at once, and an unused pairing link with it.
pub async fn revoke(scope: &mut TenantScope, id: DeviceId) -> Result<(), sqlx::Error> {
    let tenant = scope.tenant_id();
    on_tx!(scope.tx(), |conn| sqlx::query(
        "UPDATE kiosk_devices SET revoked_at = COALESCE(revoked_at, $3), pairing_digest = NULL \
         WHERE tenant_id = $1 AND id = $2"
    )
    .bind(tenant)
    .bind(id)
    .bind(OffsetDateTime::now_utc())
    .execute(conn)
    .await
    .map(drop))
}

/// The tenant a pairing code or device token names.
pub fn tenant_of_pairing_code(code: &str) -> Option<TenantId> {
    kernel::tokens::tenant_of(PAIRING_PREFIX, code)
}

pub fn tenant_of_token(token: &str) -> Option<TenantId> {
    kernel::tokens::tenant_of(TOKEN_PREFIX, token)
}

/// Exchanges a live pairing code for a device token, once: the code is
/// cleared in the same statement that checks it.
pub async fn pair(scope: &mut TenantScope, code: &str) -> Result<Option<String>, sqlx::Error> {
    let tenant = scope.tenant_id();
    let token = tenant_secret(TOKEN_PREFIX, tenant);
    let now = OffsetDateTime::now_utc();
    let paired: Option<DeviceId> = on_tx!(scope.tx(), |conn| {
        sqlx::query_scalar(
        "UPDATE kiosk_devices SET pairing_digest = NULL, pairing_expires_at = NULL, \
             token_digest = $3, paired_at = $4, last_seen_at = $4 \
         WHERE tenant_id = $1 AND pairing_digest = $2 AND pairing_expires_at > $4 AND revoked_at IS NULL \
         RETURNING id"
    )
    .bind(tenant)
    .bind(digest(code))
    .bind(digest(&token))
    .bind(now)
    .fetch_optional(conn)
    .await
    })?;
    Ok(paired.map(|_| token))
}

/// A paired, unrevoked device, as its requests see it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Paired {
    pub id: DeviceId,
    pub name: String,
    pub location_id: LocationId,
    pub location_name: String,
    /// The location's IANA time zone: punches are shown in it.
    pub time_zone: String,
}

/// The live device whose token this is; its location must be active.
/// Records when it was last seen (at most once a minute).
pub async fn authenticate(
    scope: &mut TenantScope,
    token: &str,
) -> Result<Option<Paired>, AppError> {
    let tenant = scope.tenant_id();
    let row: Option<PairedRow> = on_tx!(scope.tx(), |conn| {
        sqlx::query_as(
            "SELECT d.id, d.name, d.location_id, l.name AS location_name, l.time_zone, d.last_seen_at \
             FROM kiosk_devices d JOIN locations l ON l.tenant_id = d.tenant_id AND l.id = d.location_id \
             WHERE d.tenant_id = $1 AND d.token_digest = $2 AND d.revoked_at IS NULL \
               AND l.archived_at IS NULL"
        )
        .bind(tenant)
        .bind(digest(token))
        .fetch_optional(conn)
        .await
    })?;
    let Some(PairedRow {
        id,
        name,
        location_id,
        location_name,
        time_zone,
        last_seen_at,
    }) = row
    else {
        return Ok(None);
    };
    let now = OffsetDateTime::now_utc();
    if last_seen_at.is_none_or(|at| now - at >= LAST_SEEN_PRECISION) {
        on_tx!(scope.tx(), |conn| sqlx::query(
            "UPDATE kiosk_devices SET last_seen_at = $3 WHERE tenant_id = $1 AND id = $2"
        )
        .bind(tenant)
        .bind(id)
        .bind(now)
        .execute(conn)
        .await
        .map(drop))?;
    }
    Ok(Some(Paired {
        id,
        name,
        location_id,
        location_name,
        time_zone,
    }))
}
