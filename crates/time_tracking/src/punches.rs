//! Recording punches exactly once. A kiosk gives every punch a client id
//! before it stores it, and may send it any number of times (retries,
//! replays of an offline queue, two tabs at once): the first arrival is
//! recorded under a unique constraint on (tenant, client id), and every
//! later one finds that row and gets the same answer, whatever its body.
//! Refusals (an unknown PIN, a device clock far ahead, a punch too old to
//! record) are stored the same way, so a replay can't turn a refused punch
//! into a recorded one.

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use jiff::tz::TimeZone;

use super::devices::Paired;
use super::employees::pin;
use super::settings::{self, Settings};
use super::shifts::{self, Days, Flag, Recorded};
use super::{ClientId, DeviceId, EditId, EmployeeId, PunchId, SubjectId, dates, log};
use kernel::api::ErrorDetail;
use kernel::crypto::LookupKey;
use kernel::ids::LocationId;
use kernel::tenancy::TenantScope;
use kernel::{on_tx, row};

/// How far ahead of the server's clock a device's time may be: further is
/// a wrong clock, refused so it can't record tomorrow's shift today.
pub const MAX_CLOCK_AHEAD: Duration = Duration::minutes(5);

/// How old a punch may be when it arrives: the longest a kiosk is expected
/// to wait offline (a fortnight without network, its queue kept in the
/// tablet). An older punch is not recorded, so a device token can't
/// rewrite closed weeks, but it is kept, with its employee, for a manager
/// to add by hand from Review ([`too_old`]).
pub const MAX_AGE: Duration = Duration::days(14);

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

    pub fn parse(text: &str) -> Self {
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
    #[schema(example = "2026-11-23T08:02:00+01:00")]
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
    pub at: OffsetDateTime,
    /// When the server first received it.
    #[serde(with = "time::serde::rfc3339")]
    pub received_at: OffsetDateTime,
    /// For the kiosk's screen: "Clocked in 08:02 — Maria".
    pub message: String,
}

/// What a punch came to: the same on every replay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Recorded(Punch),
    /// Stored with its error code (`unknown_pin`, `clock_ahead`,
    /// `too_old`).
    Refused(ErrorDetail),
}

/// How a refusal is stored: its code, and its message.
pub const UNKNOWN_PIN: &str = "unknown_pin";
const CLOCK_AHEAD: &str = "clock_ahead";
const TOO_OLD: &str = "too_old";
const RECORDED: &str = "recorded";

row! {
    columns: punch_columns;
    /// A punch as stored, whatever its outcome.
    struct PunchRow {
        id: PunchId,
        client_id: ClientId,
        employee_id: Option<EmployeeId>,
        location_id: LocationId,
        kind: String,
        at: OffsetDateTime,
        received_at: OffsetDateTime,
        outcome: String,
        message: String,
    }
}

fn outcome(row: PunchRow) -> Outcome {
    match (row.outcome.as_str(), row.employee_id) {
        (RECORDED, Some(employee_id)) => Outcome::Recorded(Punch {
            id: row.id,
            client_id: row.client_id,
            employee_id,
            location_id: row.location_id,
            kind: Kind::parse(&row.kind),
            at: row.at,
            received_at: row.received_at,
            message: row.message,
        }),
        _ => Outcome::Refused(ErrorDetail {
            code: [CLOCK_AHEAD, TOO_OLD]
                .into_iter()
                .find(|code| *code == row.outcome)
                .unwrap_or(UNKNOWN_PIN),
            message: row.message,
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
    device_id: Option<DeviceId>,
    kind: Kind,
    #[serde(with = "time::serde::rfc3339")]
    at: OffsetDateTime,
    /// Set for punches an edit added.
    #[serde(skip_serializing_if = "Option::is_none")]
    edit_id: Option<EditId>,
}

impl LogContent {
    fn of(punch: &Punch, device_id: Option<DeviceId>, edit_id: Option<EditId>) -> Self {
        Self {
            punch_id: punch.id,
            client_id: punch.client_id,
            employee_id: punch.employee_id,
            location_id: punch.location_id,
            device_id,
            kind: punch.kind,
            at: punch.at,
            edit_id,
        }
    }
}

/// A punch to insert.
struct NewPunch<'a> {
    id: PunchId,
    client_id: ClientId,
    location_id: LocationId,
    device_id: Option<DeviceId>,
    employee_id: Option<EmployeeId>,
    kind: Kind,
    at: OffsetDateTime,
    received_at: OffsetDateTime,
    outcome: &'a str,
    message: &'a str,
    edit_id: Option<EditId>,
}

/// Inserts a punch unless its client id is taken (then `None`); a recorded
/// one is appended to the log.
async fn insert(
    scope: &mut TenantScope,
    head: &mut Settings,
    new: &NewPunch<'_>,
) -> Result<Option<Outcome>, sqlx::Error> {
    let tenant = scope.tenant_id();
    let inserted: Option<PunchRow> = on_tx!(scope.tx(), |conn| {
        sqlx::query_as(concat!(
        "INSERT INTO punches (tenant_id, id, client_id, location_id, device_id, employee_id, kind, at, \
             received_at, outcome, message, edit_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
         ON CONFLICT (tenant_id, client_id) DO NOTHING RETURNING ",
        punch_columns!()
    ))
            .bind(tenant)
            .bind(new.id)
            .bind(new.client_id)
            .bind(new.location_id)
            .bind(new.device_id)
            .bind(new.employee_id)
            .bind(new.kind.as_str())
            .bind(new.at.to_offset(time::UtcOffset::UTC))
            .bind(new.received_at)
            .bind(new.outcome)
            .bind(new.message)
            .bind(new.edit_id)
            .fetch_optional(conn)
            .await
    })?;
    let Some(row) = inserted else {
        return Ok(None);
    };
    let outcome = outcome(row);
    if let Outcome::Recorded(punch) = &outcome {
        log::append(
            scope,
            head,
            log::Kind::Punch,
            SubjectId::from(punch.id.as_uuid()),
            &LogContent::of(punch, new.device_id, new.edit_id),
        )
        .await?;
    }
    Ok(Some(outcome))
}

/// Records punches from one device, in order, in the scope's transaction
/// (the caller commits), as received at `now` (the kiosk endpoints pass
/// the server's clock; seeding a history passes when the kiosk would have
/// sent them). Each result is the punch's first outcome: a client id seen
/// before is not recorded again.
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
    now: OffsetDateTime,
) -> Result<Vec<(Outcome, bool)>, sqlx::Error> {
    let mut head = settings::lock(scope).await?;
    let mut results = Vec::with_capacity(punches.len());
    for punch in punches {
        results.push(record_one(scope, key, device, &mut head, punch, now).await?);
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
    received_at: OffsetDateTime,
) -> Result<(Outcome, bool), sqlx::Error> {
    let id = PunchId::new();
    let zone = dates::zone(&device.time_zone);
    let ahead = punch.at - received_at > MAX_CLOCK_AHEAD;
    let employee = if !ahead && pin::is_well_formed(&punch.pin) {
        pin::employee_at(scope, key, device.location_id, &punch.pin).await?
    } else {
        None
    };
    let (outcome, employee_id, message) = match employee {
        None if ahead => (
            CLOCK_AHEAD,
            None,
            "This tablet's clock is ahead of the real time: punches can't be saved until \
             its date and time are set right."
                .to_owned(),
        ),
        None => (
            UNKNOWN_PIN,
            None,
            "Unknown PIN. Try again, or ask your manager.".to_owned(),
        ),
        Some(pin::Holder {
            id: employee_id,
            name,
        }) if received_at - punch.at > MAX_AGE => (
            TOO_OLD,
            Some(employee_id),
            format!(
                "{name}'s clock-{} of {} {} is more than {} days old: it was not recorded, \
                 and is kept for your manager to add by hand.",
                punch.kind.as_str(),
                dates::local_date(punch.at, &zone),
                dates::clock(punch.at, &zone),
                MAX_AGE.whole_days()
            ),
        ),
        Some(pin::Holder {
            id: employee_id,
            name,
        }) => {
            let mut message = greeting(punch, &name, &zone);
            if punch.kind == Kind::Out {
                let out = Recorded {
                    id,
                    employee_id,
                    location_id: device.location_id,
                    kind: punch.kind,
                    at: punch.at,
                    received_at,
                    edit_id: None,
                };
                let today = worked_today(scope, head.shift_cap(), &out, &zone).await?;
                message = format!("{message} · {today}");
            }
            (RECORDED, Some(employee_id), message)
        }
    };
    let new = NewPunch {
        id,
        client_id: punch.client_id,
        location_id: device.location_id,
        device_id: Some(device.id),
        employee_id,
        kind: punch.kind,
        at: punch.at,
        received_at,
        outcome,
        message: &message,
        edit_id: None,
    };
    Ok(match insert(scope, head, &new).await? {
        Some(outcome) => (outcome, true),
        None => (stored(scope, punch.client_id).await?, false),
    })
}

/// A punch that arrived more than [`MAX_AGE`] after its time: not
/// recorded, kept for a manager to add by hand.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct TooOld {
    pub id: PunchId,
    pub employee_id: EmployeeId,
    pub location_id: LocationId,
    pub kind: Kind,
    /// The device's time of the punch.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// When it reached the server.
    #[serde(with = "time::serde::rfc3339")]
    pub received_at: OffsetDateTime,
}

row! {
    /// A punch refused as too old, as stored.
    struct TooOldRow {
        id: PunchId,
        employee_id: EmployeeId,
        location_id: LocationId,
        kind: String,
        at: OffsetDateTime,
        received_at: OffsetDateTime,
    }
}

/// The punches refused as too old that arrived on `days` (on the clock of
/// `zone`), in order of arrival.
pub async fn too_old(
    scope: &mut TenantScope,
    days: Days,
    zone: &TimeZone,
) -> Result<Vec<TooOld>, sqlx::Error> {
    let tenant = scope.tenant_id();
    let from = dates::start_of(days.first, zone);
    let to = dates::start_of(days.last.next_day().unwrap_or(days.last), zone);
    let rows: Vec<TooOldRow> = on_tx!(scope.tx(), |conn| sqlx::query_as(
        "SELECT id, employee_id, location_id, kind, at, received_at FROM punches \
         WHERE tenant_id = $1 AND outcome = 'too_old' AND received_at >= $2 AND received_at < $3 \
         ORDER BY received_at, id"
    )
    .bind(tenant)
    .bind(from)
    .bind(to)
    .fetch_all(conn)
    .await)?;
    Ok(rows
        .into_iter()
        .map(|row| TooOld {
            id: row.id,
            employee_id: row.employee_id,
            location_id: row.location_id,
            kind: Kind::parse(&row.kind),
            at: row.at,
            received_at: row.received_at,
        })
        .collect())
}

/// A punch an edit adds.
pub struct EditPunch {
    pub id: PunchId,
    pub edit_id: EditId,
    pub employee_id: EmployeeId,
    pub location_id: LocationId,
    pub kind: Kind,
    pub at: OffsetDateTime,
}

/// Records a punch an edit adds (under the settings lock the edit holds).
pub async fn add_by_edit(
    scope: &mut TenantScope,
    head: &mut Settings,
    punch: &EditPunch,
    now: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    let new = NewPunch {
        id: punch.id,
        client_id: ClientId::new(),
        location_id: punch.location_id,
        device_id: None,
        employee_id: Some(punch.employee_id),
        kind: punch.kind,
        at: punch.at,
        received_at: now,
        outcome: RECORDED,
        message: "Added by an edit.",
        edit_id: Some(punch.edit_id),
    };
    insert(scope, head, &new).await.map(drop)
}

row! {
    /// Whose a counted punch is, and its device time.
    pub struct Counted {
        pub employee_id: EmployeeId,
        pub at: OffsetDateTime,
    }
}

/// The employee and device time of a punch that counts (recorded, and not
/// voided by an edit).
pub async fn counted(scope: &mut TenantScope, id: PunchId) -> Result<Option<Counted>, sqlx::Error> {
    let tenant = scope.tenant_id();
    on_tx!(scope.tx(), |conn| {
        sqlx::query_as(
        "SELECT p.employee_id, p.at FROM punches p \
         WHERE p.tenant_id = $1 AND p.id = $2 AND p.outcome = 'recorded' \
         AND NOT EXISTS (SELECT 1 FROM punch_voids v WHERE v.tenant_id = p.tenant_id AND v.punch_id = p.id)"
    )
    .bind(tenant)
    .bind(id)
    .fetch_optional(conn)
    .await
    })
}

/// The first outcome of a client id already recorded.
async fn stored(scope: &mut TenantScope, client_id: ClientId) -> Result<Outcome, sqlx::Error> {
    let tenant = scope.tenant_id();
    let row: PunchRow = on_tx!(scope.tx(), |conn| sqlx::query_as(concat!(
        "SELECT ",
        punch_columns!(),
        " FROM punches WHERE tenant_id = $1 AND client_id = $2"
    ))
    .bind(tenant)
    .bind(client_id)
    .fetch_one(conn)
    .await)?;
    Ok(outcome(row))
}

/// "Clocked in 08:02 — Maria", on the location's clock.
fn greeting(punch: &PunchInput, name: &str, zone: &TimeZone) -> String {
    let verb = match punch.kind {
        Kind::In => "Clocked in",
        Kind::Out => "Clocked out",
    };
    format!("{verb} {} — {name}", dates::clock(punch.at, zone))
}

/// For a clock-out's message: "7 h 58 min today", the time counted on the
/// day the closed shift began, or why it counts nothing.
async fn worked_today(
    scope: &mut TenantScope,
    cap: Duration,
    out: &Recorded,
    zone: &TimeZone,
) -> Result<String, sqlx::Error> {
    let mut punches = shifts::recorded(
        scope,
        Some(out.employee_id),
        out.at - Duration::DAY - cap,
        out.at,
    )
    .await?;
    punches.push(out.clone());
    let shifts = shifts::derive::derive(&punches, cap, out.received_at);
    let Some(closed) = shifts.iter().find(|s| s.punch_ids.contains(&out.id)) else {
        return Ok(String::new());
    };
    if closed.flags.contains(&Flag::MissingClockIn) {
        return Ok("no clock-in found: your manager will check it".to_owned());
    }
    let day = closed.day(zone);
    let minutes = shifts
        .iter()
        .filter(|s| s.day(zone) == day)
        .map(|s| s.minutes)
        .sum();
    Ok(format!("{} today", shifts::duration_label(minutes)))
}

row! {
    /// What the log holds of a recorded punch, as stored.
    struct LoggedRow {
        punch_id: PunchId,
        client_id: ClientId,
        employee_id: EmployeeId,
        location_id: LocationId,
        device_id: Option<DeviceId>,
        kind: String,
        at: OffsetDateTime,
        edit_id: Option<EditId>,
    }
}

/// Every recorded punch's log content, recomputed from its row as it is
/// now (for [`log::verify`]).
pub async fn log_contents(
    scope: &mut TenantScope,
) -> Result<Vec<(SubjectId, String)>, sqlx::Error> {
    let tenant = scope.tenant_id();
    let rows: Vec<LoggedRow> = on_tx!(scope.tx(), |conn| {
        sqlx::query_as(
        "SELECT id AS punch_id, client_id, employee_id, location_id, device_id, kind, at, edit_id \
         FROM punches WHERE tenant_id = $1 AND outcome = 'recorded'"
    )
    .bind(tenant)
    .fetch_all(conn)
    .await
    })?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let content = LogContent {
                punch_id: row.punch_id,
                client_id: row.client_id,
                employee_id: row.employee_id,
                location_id: row.location_id,
                device_id: row.device_id,
                kind: Kind::parse(&row.kind),
                at: row.at,
                edit_id: row.edit_id,
            };
            (
                SubjectId::from(row.punch_id.as_uuid()),
                serde_json::to_string(&content).unwrap_or_default(),
            )
        })
        .collect())
}
