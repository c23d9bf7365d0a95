//! A tenant's time-tracking settings (the shift cap) and the head of its
//! log's hash chain: one row per tenant, created on first use.

use time::Duration;

use super::SettingsId;
use kernel::tenancy::TenantScope;
use kernel::{on_tx, row};

/// The cap a tenant starts with (the column's default): 12 hours.
const DEFAULT_SHIFT_CAP_MINUTES: i32 = 720;

row! {
    /// The settings row, as locked.
    #[derive(Clone, Debug)]
    pub struct Settings {
        /// A shift open longer than this counts as closed at the cap.
        pub shift_cap_minutes: i32,
        /// The last log entry's sequence number and hash ('' before the
        /// first).
        pub log_seq: i64,
        pub log_hash: String,
    }
}

/// The tenant's settings row, created with the defaults if missing, and
/// locked until the scope ends: whoever holds it is the only one issuing
/// PINs or appending to the log in this tenant. One statement on both
/// backends (an upsert that touches the row takes its lock on PostgreSQL;
/// SQLite's writing scopes are serial anyway).
pub async fn lock(scope: &mut TenantScope) -> Result<Settings, sqlx::Error> {
    let tenant = scope.tenant_id();
    on_tx!(scope.tx(), |conn| sqlx::query_as(
        "INSERT INTO time_tracking_settings (tenant_id, id) VALUES ($1, $2) \
         ON CONFLICT (tenant_id) DO UPDATE SET log_seq = time_tracking_settings.log_seq \
         RETURNING shift_cap_minutes, log_seq, log_hash"
    )
    .bind(tenant)
    .bind(SettingsId::new())
    .fetch_one(conn)
    .await)
}

impl Settings {
    pub fn shift_cap(&self) -> Duration {
        Duration::minutes(i64::from(self.shift_cap_minutes))
    }
}

/// The tenant's settings, read without locking (the defaults before the
/// row exists).
pub async fn read(scope: &mut TenantScope) -> Result<Settings, sqlx::Error> {
    let tenant = scope.tenant_id();
    let row: Option<Settings> = on_tx!(scope.tx(), |conn| {
        sqlx::query_as(
        "SELECT shift_cap_minutes, log_seq, log_hash FROM time_tracking_settings WHERE tenant_id = $1"
    )
    .bind(tenant)
    .fetch_optional(conn)
    .await
    })?;
    Ok(row.unwrap_or(Settings {
        shift_cap_minutes: DEFAULT_SHIFT_CAP_MINUTES,
        log_seq: 0,
        log_hash: String::new(),
    }))
}

/// Stores the log's head after appends (under [`lock`]).
pub async fn advance_log(scope: &mut TenantScope, head: &Settings) -> Result<(), sqlx::Error> {
    let tenant = scope.tenant_id();
    on_tx!(scope.tx(), |conn| sqlx::query(
        "UPDATE time_tracking_settings SET log_seq = $2, log_hash = $3 WHERE tenant_id = $1"
    )
    .bind(tenant)
    .bind(head.log_seq)
    .bind(&head.log_hash)
    .execute(conn)
    .await
    .map(drop))
}
