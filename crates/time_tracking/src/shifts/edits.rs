//! Edits: managers (at their locations), admins and owners add, correct and
//! delete shifts, always with a reason. An edit never overwrites history:
//! it voids the shift's punches (they stay, listed in `punch_voids`), adds
//! punches that carry its id, and keeps the shift before and after. The
//! edit and the punches it adds go into the tamper-evident log.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

use super::super::punches::{self, Kind, MAX_CLOCK_AHEAD};
use super::super::settings::{self, Settings};
use super::super::{CorrectionId, EditId, EmployeeId, PunchId, SubjectId, VoidId, employees, log};
use super::{Flag, Shift, around, corrections};
use kernel::error::AppError;
use kernel::ids::{LocationId, UserId};
use kernel::tenancy::{Member, TenantScope};
use kernel::validation::{self, FieldErrors};
use kernel::{on_tx, row};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    #[default]
    Add,
    Correct,
    Delete,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Add => "add",
            Self::Correct => "correct",
            Self::Delete => "delete",
        }
    }

    fn parse(text: &str) -> Self {
        match text {
            "add" => Self::Add,
            "correct" => Self::Correct,
            _ => Self::Delete,
        }
    }
}

/// A shift as an edit keeps it, before or after.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
pub struct Snapshot {
    pub location_id: LocationId,
    #[serde(with = "time::serde::rfc3339::option")]
    pub start: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub end: Option<OffsetDateTime>,
    pub minutes: i64,
    pub flags: Vec<Flag>,
}

impl From<&Shift> for Snapshot {
    fn from(shift: &Shift) -> Self {
        Self {
            location_id: shift.location_id,
            start: shift.start,
            end: shift.end,
            minutes: shift.minutes,
            flags: shift.flags.clone(),
        }
    }
}

/// An edit, as the API and forms send it.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
pub struct EditInput {
    pub action: Action,
    /// For `add`: whose shift it is (for the others, if given, it must be
    /// the shift's employee).
    #[serde(default)]
    pub employee_id: Option<EmployeeId>,
    /// For `correct` and `delete`: the shift's id.
    #[serde(default)]
    pub shift_id: Option<PunchId>,
    /// For `add`; for `correct`, default the shift's own.
    #[serde(default)]
    pub location_id: Option<LocationId>,
    /// For `add` and `correct`: RFC 3339 with an offset (seconds and below
    /// are dropped).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub start: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub end: Option<OffsetDateTime>,
    /// Why: kept with the edit, and shown in the owners' feed.
    pub reason: String,
    /// The correction request this edit answers: it is resolved with it.
    #[serde(default)]
    pub correction_request_id: Option<CorrectionId>,
}

/// A stored edit.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ShiftEdit {
    pub id: EditId,
    pub employee_id: EmployeeId,
    pub employee_name: String,
    pub location_id: LocationId,
    pub action: Action,
    pub reason: String,
    /// `null` for an addition.
    pub before: Option<Snapshot>,
    /// `null` for a deletion.
    pub after: Option<Snapshot>,
    pub edited_by: UserId,
    /// The editor's email (`null` once their account is deleted).
    pub editor_email: Option<String>,
    pub correction_request_id: Option<CorrectionId>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// Applies an edit by `member`, in the scope's transaction (the caller
/// commits). The tenant's settings row is locked first: edits and punches
/// in a tenant are serialised, so the shift an edit replaces is the one it
/// read.
///
/// # Errors
/// 422 for input that doesn't make a shift, 404 for a shift or employee
/// the member doesn't see, 403 for a location they don't manage, 409 for
/// an overlap with another shift.
pub async fn apply(
    scope: &mut TenantScope,
    member: &Member,
    input: &EditInput,
    now: OffsetDateTime,
) -> Result<ShiftEdit, AppError> {
    let reason = {
        let mut errors = FieldErrors::default();
        let reason = validation::paragraph(&mut errors, "reason", &input.reason, true, 500);
        errors.or_ok(reason)?
    };
    let mut head = settings::lock(scope).await?;
    let cap = head.shift_cap();
    let before = match input.action {
        Action::Add => None,
        Action::Correct | Action::Delete => {
            let id = input
                .shift_id
                .ok_or_else(|| FieldErrors::single("shift_id", "Which shift? Give its id."))?;
            Some(find(scope, id, cap, now).await?.ok_or(AppError::NotFound)?)
        }
    };
    let employee_id = match (&before, input.employee_id) {
        (Some(shift), Some(named)) if shift.employee_id != named => return Err(AppError::NotFound),
        (Some(shift), _) => shift.employee_id,
        (None, Some(id)) => id,
        (None, None) => {
            return Err(FieldErrors::single("employee_id", "Whose shift? Give their id.").into());
        }
    };
    let visibility = member.location_visibility();
    let employee = employees::find(scope, visibility, employee_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let managed = kernel::locations::list(scope, visibility, kernel::locations::Page::ALL).await?;
    if let Some(shift) = &before
        && !managed.iter().any(|l| l.id == shift.location_id)
    {
        return Err(AppError::Forbidden(
            "This shift is at a location you don't manage.".to_owned(),
        ));
    }
    let after = match input.action {
        Action::Delete => None,
        Action::Add | Action::Correct => {
            let location_id = input
                .location_id
                .or(before.as_ref().map(|s| s.location_id))
                .filter(|id| {
                    managed
                        .iter()
                        .any(|l| l.id == *id && l.archived_at.is_none())
                })
                .ok_or_else(|| {
                    FieldErrors::single("location_id", "Pick an active location you manage.")
                })?;
            let (start, end) = times(input, cap, now)?;
            let replaced = before.as_ref().map(|s| s.id);
            if let Some(other) =
                overlapping(scope, employee_id, replaced, start, end, cap, now).await?
            {
                return Err(AppError::Conflict(format!(
                    "It overlaps another shift of {} (id {}): correct that one instead.",
                    employee.name, other.id
                )));
            }
            Some(Snapshot {
                location_id,
                start: Some(start),
                end: Some(end),
                minutes: (end - start).whole_minutes(),
                flags: Vec::new(),
            })
        }
    };
    if let Some(request) = input.correction_request_id {
        corrections::check_open(scope, request, employee_id).await?;
    }
    let before_snapshot = before.as_ref().map(Snapshot::from);
    let Some(location_id) = after
        .as_ref()
        .or(before_snapshot.as_ref())
        .map(|s| s.location_id)
    else {
        return Err(AppError::NotFound);
    };
    let edit = Edit {
        id: EditId::new(),
        employee_id,
        location_id,
        action: input.action,
        reason,
        before: before_snapshot,
        after,
        edited_by: member.author(),
        correction_request_id: input.correction_request_id,
    };
    record(scope, &mut head, &edit, before.as_ref(), now).await?;
    if let Some(request) = edit.correction_request_id {
        corrections::close(
            scope,
            request,
            corrections::Status::Resolved,
            member.author(),
            None,
            now,
        )
        .await?;
    }
    settings::advance_log(scope, &head).await?;
    let mut stored = feed(scope, Some(edit.id), None).await?;
    stored.pop().ok_or(AppError::NotFound)
}

/// The start and end an addition or correction asks for, checked: in
/// order, no longer than the cap, not in the future.
fn times(
    input: &EditInput,
    cap: Duration,
    now: OffsetDateTime,
) -> Result<(OffsetDateTime, OffsetDateTime), FieldErrors> {
    let mut errors = FieldErrors::default();
    let to_minute = |at: OffsetDateTime| {
        at.replace_second(0)
            .and_then(|at| at.replace_nanosecond(0))
            .unwrap_or(at)
            .to_offset(time::UtcOffset::UTC)
    };
    let (Some(start), Some(end)) = (input.start.map(to_minute), input.end.map(to_minute)) else {
        errors.add("start", "Give the shift's start and end.");
        return Err(errors);
    };
    if end <= start {
        errors.add("end", "The end must be after the start.");
    } else if end - start > cap {
        errors.add(
            "end",
            format!(
                "A shift can't be longer than the cap of {} h: split it in two.",
                cap.whole_hours()
            ),
        );
    }
    if end > now + MAX_CLOCK_AHEAD {
        errors.add("end", "A shift can't end in the future.");
    }
    errors.or_ok((start, end))
}

/// The shift whose first punch is `id`, as it is now (`None` when no
/// shift begins with it, or an edit replaced it).
pub async fn find(
    scope: &mut TenantScope,
    id: PunchId,
    cap: Duration,
    now: OffsetDateTime,
) -> Result<Option<Shift>, sqlx::Error> {
    let Some(punches::Counted {
        employee_id: employee,
        at,
    }) = punches::counted(scope, id).await?
    else {
        return Ok(None);
    };
    Ok(around(scope, employee, (at, at), cap, now)
        .await?
        .into_iter()
        .find(|shift| shift.id == id))
}

/// Another shift of the employee that `start..end` would overlap.
async fn overlapping(
    scope: &mut TenantScope,
    employee: EmployeeId,
    replaced: Option<PunchId>,
    start: OffsetDateTime,
    end: OffsetDateTime,
    cap: Duration,
    now: OffsetDateTime,
) -> Result<Option<Shift>, sqlx::Error> {
    let shifts = around(scope, employee, (start, end), cap, now).await?;
    Ok(shifts.into_iter().find(|shift| {
        let (from, until) = (shift.anchor(), shift.end.unwrap_or(now));
        Some(shift.id) != replaced && from < end && until > start
    }))
}

/// A snapshot as stored (JSON text).
fn snapshot(json: Option<String>) -> Option<Snapshot> {
    json.and_then(|json| serde_json::from_str(&json).ok())
}

/// An edit, ready to store.
struct Edit {
    id: EditId,
    employee_id: EmployeeId,
    location_id: LocationId,
    action: Action,
    reason: String,
    before: Option<Snapshot>,
    after: Option<Snapshot>,
    edited_by: UserId,
    correction_request_id: Option<CorrectionId>,
}

/// The log's record of an edit: ids, times and a digest of the reason (a
/// free text that may name people).
#[derive(Serialize)]
struct LogContent<'a> {
    edit_id: EditId,
    employee_id: EmployeeId,
    location_id: LocationId,
    action: Action,
    before: Option<&'a Snapshot>,
    after: Option<&'a Snapshot>,
    reason_sha256: String,
    edited_by: UserId,
    correction_request_id: Option<CorrectionId>,
    voided: &'a [PunchId],
    added: &'a [PunchId],
}

impl Edit {
    fn log_content<'a>(&'a self, voided: &'a [PunchId], added: &'a [PunchId]) -> LogContent<'a> {
        LogContent {
            edit_id: self.id,
            employee_id: self.employee_id,
            location_id: self.location_id,
            action: self.action,
            before: self.before.as_ref(),
            after: self.after.as_ref(),
            reason_sha256: hex::encode(Sha256::digest(self.reason.as_bytes())),
            edited_by: self.edited_by,
            correction_request_id: self.correction_request_id,
            voided,
            added,
        }
    }
}

/// Stores the edit, voids the replaced shift's punches, adds the new ones,
/// and appends all of it to the log.
async fn record(
    scope: &mut TenantScope,
    head: &mut Settings,
    edit: &Edit,
    replaced: Option<&Shift>,
    now: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    let tenant = scope.tenant_id();
    let json = |snapshot: &Option<Snapshot>| {
        snapshot
            .as_ref()
            .map(|s| serde_json::to_string(s).unwrap_or_default())
    };
    on_tx!(scope.tx(), |conn| {
        sqlx::query(
        "INSERT INTO shift_edits (tenant_id, id, employee_id, location_id, action, reason, before, after, \
             edited_by, correction_request_id, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    )
    .bind(tenant)
    .bind(edit.id)
    .bind(edit.employee_id)
    .bind(edit.location_id)
    .bind(edit.action.as_str())
    .bind(&edit.reason)
    .bind(json(&edit.before))
    .bind(json(&edit.after))
    .bind(edit.edited_by)
    .bind(edit.correction_request_id)
    .bind(now)
    .execute(conn)
    .await
    .map(drop)
    })?;
    let mut voided = replaced.map(|s| s.punch_ids.clone()).unwrap_or_default();
    voided.sort();
    for punch in &voided {
        on_tx!(scope.tx(), |conn| sqlx::query(
            "INSERT INTO punch_voids (tenant_id, id, punch_id, edit_id) VALUES ($1, $2, $3, $4)"
        )
        .bind(tenant)
        .bind(VoidId::new())
        .bind(*punch)
        .bind(edit.id)
        .execute(conn)
        .await
        .map(drop))?;
    }
    let added: Vec<(PunchId, Kind, OffsetDateTime)> = edit
        .after
        .iter()
        .flat_map(|s| [(Kind::In, s.start), (Kind::Out, s.end)])
        .filter_map(|(kind, at)| Some((PunchId::new(), kind, at?)))
        .collect();
    let mut added_ids: Vec<PunchId> = added.iter().map(|(id, ..)| *id).collect();
    added_ids.sort();
    log::append(
        scope,
        head,
        log::Kind::Edit,
        SubjectId::from(edit.id.as_uuid()),
        &edit.log_content(&voided, &added_ids),
    )
    .await?;
    for (id, kind, at) in added {
        let punch = punches::EditPunch {
            id,
            edit_id: edit.id,
            employee_id: edit.employee_id,
            location_id: edit.location_id,
            kind,
            at,
        };
        punches::add_by_edit(scope, head, &punch, now).await?;
    }
    Ok(())
}

row! {
    /// An edit with its employee's name and its editor's email, as stored.
    struct EditRow {
        id: EditId,
        employee_id: EmployeeId,
        employee_name: String,
        location_id: LocationId,
        action: String,
        reason: String,
        before: Option<String>,
        after: Option<String>,
        edited_by: UserId,
        editor_email: Option<String>,
        correction_request_id: Option<CorrectionId>,
        created_at: OffsetDateTime,
    }
}

row! {
    /// What the log holds of an edit, as stored.
    struct LoggedEdit {
        id: EditId,
        employee_id: EmployeeId,
        location_id: LocationId,
        action: String,
        reason: String,
        before: Option<String>,
        after: Option<String>,
        edited_by: UserId,
        correction_request_id: Option<CorrectionId>,
    }
}

row! {
    /// A punch an edit voided (`voided`) or added.
    struct EditLink {
        edit_id: EditId,
        punch_id: PunchId,
        voided: bool,
    }
}

/// Edits, newest first (at most 200): one, or an employee's, or all.
pub async fn feed(
    scope: &mut TenantScope,
    only: Option<EditId>,
    employee: Option<EmployeeId>,
) -> Result<Vec<ShiftEdit>, sqlx::Error> {
    let tenant = scope.tenant_id();
    let by_id = kernel::db::optional_filter("e.id = $2", "$2", only.is_some());
    let by_employee = kernel::db::optional_filter("e.employee_id = $3", "$3", employee.is_some());
    let sql = format!(
        "SELECT e.id, e.employee_id, emp.name AS employee_name, e.location_id, e.action, e.reason, \
             e.before, e.after, e.edited_by, u.email AS editor_email, e.correction_request_id, \
             e.created_at \
         FROM shift_edits e \
         JOIN employees emp ON emp.tenant_id = e.tenant_id AND emp.id = e.employee_id \
         LEFT JOIN users u ON u.id = e.edited_by \
         WHERE e.tenant_id = $1 AND {by_id} AND {by_employee} \
         ORDER BY e.created_at DESC, e.id DESC LIMIT 200"
    );
    let rows: Vec<EditRow> = on_tx!(scope.tx(), |conn| {
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(tenant)
            .bind(only)
            .bind(employee)
            .fetch_all(conn)
            .await
    })?;
    Ok(rows
        .into_iter()
        .map(|row| ShiftEdit {
            id: row.id,
            employee_id: row.employee_id,
            employee_name: row.employee_name,
            location_id: row.location_id,
            action: Action::parse(&row.action),
            reason: row.reason,
            before: snapshot(row.before),
            after: snapshot(row.after),
            edited_by: row.edited_by,
            editor_email: row.editor_email,
            correction_request_id: row.correction_request_id,
            created_at: row.created_at,
        })
        .collect())
}

/// Every edit's log content, recomputed from its rows as they are now (for
/// [`log::verify`]).
pub async fn log_contents(
    scope: &mut TenantScope,
) -> Result<Vec<(SubjectId, String)>, sqlx::Error> {
    let tenant = scope.tenant_id();
    let rows: Vec<LoggedEdit> = on_tx!(scope.tx(), |conn| {
        sqlx::query_as(
        "SELECT id, employee_id, location_id, action, reason, before, after, edited_by, correction_request_id \
         FROM shift_edits WHERE tenant_id = $1"
    )
    .bind(tenant)
    .fetch_all(conn)
    .await
    })?;
    let links: Vec<EditLink> = on_tx!(scope.tx(), |conn| {
        sqlx::query_as(
        "SELECT edit_id, punch_id, true AS voided FROM punch_voids WHERE tenant_id = $1 \
         UNION ALL SELECT edit_id, id, false FROM punches WHERE tenant_id = $1 AND edit_id IS NOT NULL \
         ORDER BY 2"
    )
    .bind(tenant)
    .fetch_all(conn)
    .await
    })?;
    let mut punches: HashMap<EditId, (Vec<PunchId>, Vec<PunchId>)> = HashMap::new();
    for link in links {
        let (voids, adds) = punches.entry(link.edit_id).or_default();
        if link.voided { voids } else { adds }.push(link.punch_id);
    }
    Ok(rows
        .into_iter()
        .map(|row| {
            let edit = Edit {
                id: row.id,
                employee_id: row.employee_id,
                location_id: row.location_id,
                action: Action::parse(&row.action),
                reason: row.reason,
                before: snapshot(row.before),
                after: snapshot(row.after),
                edited_by: row.edited_by,
                correction_request_id: row.correction_request_id,
            };
            let (voided, added) = punches.remove(&row.id).unwrap_or_default();
            let content = serde_json::to_string(&edit.log_content(&voided, &added));
            (
                SubjectId::from(row.id.as_uuid()),
                content.unwrap_or_default(),
            )
        })
        .collect())
}
