//! Recording punches exactly once. A kiosk gives every punch a client id
//! before it stores it, and may send it any number of times (retries,
//! replays of an offline queue, two tabs at once): the first arrival is
//! recorded under a unique constraint on (tenant, client id), and every
//! later one finds that row and gets the same answer, whatever its body.
//! Refusals (an unknown PIN, a device clock far ahead) are stored the same
//! way, so a replay can't turn a refused punch into a recorded one.

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use super::devices::Paired;
use super::employees::pin;
use super::settings::{self, Settings};
use super::{ClientId, EmployeeId, PunchId, SubjectId, log};
use crate::api::ErrorDetail;
use crate::crypto::LookupKey;
use crate::ids::LocationId;
use crate::on_tx;
use crate::tenancy::TenantScope;

/// How far ahead of the server's clock a device's time may be: further is
/// a wrong clock, refused so it can't record tomorrow's shift today.
pub const MAX_CLOCK_AHEAD: Duration = Duration::minutes(5);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    In,
    Out,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::In => "in",
            Self::Out => "out",
        }
    }

    fn parse(text: &str) -> Self {
        if text == "in" { Self::In } else { Self::Out }
    }
}

/// A punch as a kiosk sends it.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
pub struct PunchInput {
    /// A UUID the kiosk made for this punch: the same punch sent again
    /// carries the same one.
    pub client_id: ClientId,
    /// The employee's four-digit PIN.
    pub pin: String,
    pub kind: Kind,
    /// The device's time of the punch, RFC 3339 with its offset.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime, example = "2026-11-23T08:02:00+01:00")]
    pub at: OffsetDateTime,
}

/// A recorded punch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Punch {
    pub id: PunchId,
    pub client_id: ClientId,
    pub employee_id: EmployeeId,
    pub location_id: LocationId,
    pub kind: Kind,
    /// The device's time (what the punch counts for).
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub at: OffsetDateTime,
    /// When the server first received it.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub received_at: OffsetDateTime,
    /// For the kiosk's screen: "Clocked in 08:02 — Maria".
    pub message: String,
}

/// What a punch came to: the same on every replay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Recorded(Punch),
    /// Stored with its error code (`unknown_pin`, `clock_ahead`).
    Refused(ErrorDetail),
}

/// How a refusal is stored: its code, and its message.
pub const UNKNOWN_PIN: &str = "unknown_pin";
const CLOCK_AHEAD: &str = "clock_ahead";
const RECORDED: &str = "recorded";

type PunchRow = (
    PunchId,
    ClientId,
    Option<EmployeeId>,
    LocationId,
    String,
    OffsetDateTime,
    OffsetDateTime,
    String,
    String,
);

const RETURNING: &str =
    "id, client_id, employee_id, location_id, kind, at, received_at, outcome, message";

fn outcome(
    (id, client_id, employee, location_id, kind, at, received_at, outcome, message): PunchRow,
) -> Outcome {
    match (outcome.as_str(), employee) {
        (RECORDED, Some(employee_id)) => Outcome::Recorded(Punch {
            id,
            client_id,
            employee_id,
            location_id,
            kind: Kind::parse(&kind),
            at,
            received_at,
            message,
        }),
        _ => Outcome::Refused(ErrorDetail {
            code: if outcome == CLOCK_AHEAD {
                CLOCK_AHEAD
            } else {
                UNKNOWN_PIN
            },
            message,
        }),
    }
}

/// The log's record of a punch: ids and times, no names.
#[derive(Serialize)]
struct LogContent {
    punch_id: PunchId,
    client_id: ClientId,
    employee_id: EmployeeId,
    location_id: LocationId,
    device_id: Option<super::DeviceId>,
    kind: Kind,
    #[serde(with = "time::serde::rfc3339")]
    at: OffsetDateTime,
}

/// Records punches from one device, in order, in the scope's transaction
/// (the caller commits). Each result is the punch's first outcome: a
/// client id seen before is not recorded again.
///
/// The tenant's settings row is locked first, so punch writers in a tenant
/// take their locks in one order (no deadlock between two batches that
/// share client ids) and the log has one writer.
///
/// # Errors
/// When the database fails (then nothing is recorded).
pub async fn record(
    scope: &mut TenantScope,
    key: &LookupKey,
    device: &Paired,
    punches: &[PunchInput],
) -> Result<Vec<(Outcome, bool)>, sqlx::Error> {
    let mut head = settings::lock(scope).await?;
    let mut results = Vec::with_capacity(punches.len());
    for punch in punches {
        results.push(record_one(scope, key, device, &mut head, punch).await?);
    }
    settings::advance_log(scope, &head).await?;
    Ok(results)
}

/// One punch; `true` with the outcome when this call recorded it (not a
/// replay).
async fn record_one(
    scope: &mut TenantScope,
    key: &LookupKey,
    device: &Paired,
    head: &mut Settings,
    punch: &PunchInput,
) -> Result<(Outcome, bool), sqlx::Error> {
    let received_at = OffsetDateTime::now_utc();
    let employee = if punch.at - received_at > MAX_CLOCK_AHEAD {
        Err(CLOCK_AHEAD)
    } else if pin::is_well_formed(&punch.pin) {
        pin::employee_at(scope, key, device.location_id, &punch.pin)
            .await?
            .ok_or(UNKNOWN_PIN)
    } else {
        Err(UNKNOWN_PIN)
    };
    let (outcome, employee_id, message) = match employee {
        Err(CLOCK_AHEAD) => (
            CLOCK_AHEAD,
            None,
            "This tablet's clock is ahead of the real time: punches can't be saved until \
             its date and time are set right."
                .to_owned(),
        ),
        Err(_) => (
            UNKNOWN_PIN,
            None,
            "Unknown PIN. Try again, or ask your manager.".to_owned(),
        ),
        Ok((id, name)) => (
            RECORDED,
            Some(id),
            greeting(punch, &name, &device.time_zone),
        ),
    };
    let tenant = scope.tenant_id();
    let id = PunchId::new();
    let sql = format!(
        "INSERT INTO punches (tenant_id, id, client_id, location_id, device_id, employee_id, kind, at, \
             received_at, outcome, message) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
         ON CONFLICT (tenant_id, client_id) DO NOTHING RETURNING {RETURNING}"
    );
    let inserted: Option<PunchRow> =
        on_tx!(scope.tx(), |conn| sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(tenant)
            .bind(id)
            .bind(punch.client_id)
            .bind(device.location_id)
            .bind(device.id)
            .bind(employee_id)
            .bind(punch.kind.as_str())
            .bind(punch.at.to_offset(time::UtcOffset::UTC))
            .bind(received_at)
            .bind(outcome)
            .bind(&message)
            .fetch_optional(conn)
            .await)?;
    let Some(row) = inserted else {
        return Ok((stored(scope, punch.client_id).await?, false));
    };
    let outcome = self::outcome(row);
    if let Outcome::Recorded(recorded) = &outcome {
        let content = LogContent {
            punch_id: recorded.id,
            client_id: recorded.client_id,
            employee_id: recorded.employee_id,
            location_id: recorded.location_id,
            device_id: Some(device.id),
            kind: recorded.kind,
            at: recorded.at,
        };
        log::append(
            scope,
            head,
            log::Kind::Punch,
            SubjectId::from(recorded.id.as_uuid()),
            &content,
        )
        .await?;
    }
    Ok((outcome, true))
}

/// The first outcome of a client id already recorded.
async fn stored(scope: &mut TenantScope, client_id: ClientId) -> Result<Outcome, sqlx::Error> {
    let tenant = scope.tenant_id();
    let sql = format!("SELECT {RETURNING} FROM punches WHERE tenant_id = $1 AND client_id = $2");
    let row: PunchRow = on_tx!(scope.tx(), |conn| sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(tenant)
        .bind(client_id)
        .fetch_one(conn)
        .await)?;
    Ok(outcome(row))
}

/// "Clocked in 08:02 — Maria", in the location's time zone.
fn greeting(punch: &PunchInput, name: &str, time_zone: &str) -> String {
    let verb = match punch.kind {
        Kind::In => "Clocked in",
        Kind::Out => "Clocked out",
    };
    format!("{verb} {} — {name}", local_time(punch.at, time_zone))
}

/// `at` as HH:MM on the wall clock of `time_zone` (UTC if unknown).
fn local_time(at: OffsetDateTime, time_zone: &str) -> String {
    jiff::Timestamp::from_second(at.unix_timestamp())
        .map(|ts| {
            ts.to_zoned(super::dates::zone(time_zone))
                .strftime("%H:%M")
                .to_string()
        })
        .unwrap_or_default()
}
