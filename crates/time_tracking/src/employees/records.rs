//! An employee's records, to download: everything the tenant holds about
//! them (personal data, shifts, paid absences, correction requests) as
//! JSON, and their days (shifts and absences) as CSV. Employees download
//! their own from their timesheet; owners, admins and managers download
//! those of the employees they see, to answer a request from someone
//! without an account.

use axum::extract::State;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};
use utoipa_axum::routes;

use super::api::EmployeeDetails;
use crate::absences::{self, Absence};
use crate::pages::Places;
use crate::shifts::corrections::{self, CorrectionRequest};
use crate::shifts::{self, Days, Shift};
use crate::{EmployeeId, dates};
use kernel::access::InTenant;
use kernel::api::ErrorBody;
use kernel::error::AppError;
use kernel::http::AppState;
use kernel::http::extract::{Path, Query};
use kernel::http::routes::{Access, Routes};
use kernel::pages::attachment;
use kernel::validation::FieldErrors;

pub fn routes() -> Routes {
    Routes::new()
        .api(Access::Tenant, routes!(json))
        .api(Access::Tenant, routes!(csv))
}

/// The days to include: `?from=2026-01-01&to=2026-12-31`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct Period {
    /// The first day (default: the hire date).
    #[serde(default, with = "crate::dates::option_date")]
    pub from: Option<Date>,
    /// The last day, included (default: today, in the tenant's time zone).
    #[serde(default, with = "crate::dates::option_date")]
    pub to: Option<Date>,
}

/// Everything held about one employee on a range of days.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Records {
    /// The employer (the tenant's name).
    pub employer: String,
    #[serde(with = "time::serde::rfc3339")]
    pub generated_at: OffsetDateTime,
    #[serde(with = "dates::date")]
    pub from: Date,
    #[serde(with = "dates::date")]
    pub to: Date,
    pub employee: EmployeeDetails,
    /// The names of the employee's locations.
    pub locations: Vec<String>,
    pub shifts: Vec<RecordedShift>,
    pub absences: Vec<Absence>,
    pub correction_requests: Vec<CorrectionRequest>,
    /// The shifts' counted minutes.
    pub worked_minutes: i64,
    /// The paid absences' minutes.
    pub absence_minutes: i64,
}

/// A shift, with the day and the times its location's clock showed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RecordedShift {
    #[serde(flatten)]
    pub shift: Shift,
    /// The day it began, on its location's clock.
    #[serde(with = "dates::date")]
    pub day: Date,
    pub location: String,
    /// HH:MM on the location's clock (`None` for a missing clock-in).
    pub local_start: Option<String>,
    /// HH:MM on the location's clock (`None` while open).
    pub local_end: Option<String>,
}

/// The records of employee `id` the caller may read (their own, or those
/// of an employee they see), on the days `period` names.
///
/// # Errors
/// 403/404 as for the employee's timesheet; 422 when `from` is after `to`;
/// 503 when the national id can't be decrypted without the keys.
pub async fn gather(
    t: &mut InTenant,
    keys: &kernel::crypto::Keys,
    id: EmployeeId,
    period: &Period,
) -> Result<Records, AppError> {
    let employee = super::readable(t, id).await?;
    let to = period
        .to
        .unwrap_or_else(|| dates::today(&t.tenant.time_zone));
    let from = period.from.unwrap_or(employee.hire_date.min(to));
    if from > to {
        return Err(FieldErrors::single("from", "`from` can't be after `to`.").into());
    }
    let days = Days {
        first: from,
        last: to,
    };
    let places = Places::load(&mut t.scope).await?;
    let now = OffsetDateTime::now_utc();
    let shifts: Vec<RecordedShift> = shifts::on_days(&mut t.scope, Some(id), days, now)
        .await?
        .into_iter()
        .map(|shift| {
            let zone = places.zone(shift.location_id);
            let clock = |at: Option<OffsetDateTime>| at.map(|at| dates::clock(at, &zone));
            RecordedShift {
                day: shift.day(&zone),
                location: places.name(shift.location_id),
                local_start: clock(shift.start),
                local_end: clock(shift.end),
                shift,
            }
        })
        .collect();
    let absences = absences::list(&mut t.scope, Some(id), from, to).await?;
    let mut correction_requests = corrections::of_employee(&mut t.scope, id).await?;
    correction_requests.retain(|r| days.contains(r.day));
    Ok(Records {
        employer: t.tenant.name.clone(),
        generated_at: now,
        from,
        to,
        locations: employee
            .location_ids
            .iter()
            .map(|&l| places.name(l))
            .collect(),
        employee: EmployeeDetails::of(employee, keys)?,
        worked_minutes: shifts.iter().map(|s| s.shift.minutes).sum(),
        absence_minutes: absences.iter().map(|a| i64::from(a.minutes)).sum(),
        shifts,
        absences,
        correction_requests,
    })
}

impl Records {
    /// `records-E-7-2026-01-05-2026-11-23.json`: the employee number,
    /// with only the characters a file name can safely hold.
    fn file_name(&self, extension: &str) -> String {
        let number: String = self
            .employee
            .employee
            .employee_number
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        format!("records-{number}-{}-{}.{extension}", self.from, self.to)
    }

    /// The days as CSV, a row per shift and per absence, by day.
    ///
    /// # Errors
    /// When writing fails (it doesn't, into memory).
    pub fn csv(&self) -> Result<Vec<u8>, csv::Error> {
        let mut rows: Vec<(Date, String, [String; 9])> = Vec::new();
        for recorded in &self.shifts {
            let shift = &recorded.shift;
            let start = recorded.local_start.clone().unwrap_or_default();
            rows.push((
                recorded.day,
                start.clone(),
                [
                    recorded.day.to_string(),
                    "shift".to_owned(),
                    recorded.location.clone(),
                    start,
                    recorded.local_end.clone().unwrap_or_default(),
                    shift.minutes.to_string(),
                    shift
                        .flags
                        .iter()
                        .map(|f| f.label())
                        .collect::<Vec<_>>()
                        .join("; "),
                    if shift.edited { "yes" } else { "no" }.to_owned(),
                    String::new(),
                ],
            ));
        }
        for absence in &self.absences {
            rows.push((
                absence.day,
                String::new(),
                [
                    absence.day.to_string(),
                    absence.kind.as_str().to_owned(),
                    String::new(),
                    String::new(),
                    String::new(),
                    absence.minutes.to_string(),
                    String::new(),
                    String::new(),
                    absence.note.clone(),
                ],
            ));
        }
        rows.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        let mut out = csv::Writer::from_writer(Vec::new());
        out.write_record([
            "date", "record", "location", "start", "end", "minutes", "flags", "edited", "note",
        ])?;
        for (_, _, row) in rows {
            out.write_record(row)?;
        }
        out.into_inner().map_err(|e| e.into_error().into())
    }
}

/// Everything held about an employee on a range of days (default: since
/// their hire): personal data with the national id decrypted, shifts on
/// their locations' clocks, paid absences and correction requests. Sent
/// as a download. Employees read their own; owners, admins, and managers
/// at their locations, those of the employees they see.
#[utoipa::path(get, path = "/api/v1/t/{slug}/employees/{employee_id}/records", tag = "time-tracking",
    params(("slug" = String, Path, description = "The tenant's URL slug"), ("employee_id" = EmployeeId, Path), Period),
    responses((status = 200, body = Records), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub(crate) async fn json(
    State(state): State<AppState>,
    mut t: InTenant,
    Path((_, id)): Path<(String, EmployeeId)>,
    Query(period): Query<Period>,
) -> Result<Response, AppError> {
    let records = gather(&mut t, state.keys()?, id, &period).await?;
    let body =
        serde_json::to_vec_pretty(&records).map_err(|e| AppError::Internal(e.to_string()))?;
    Ok(attachment(
        "application/json",
        &records.file_name("json"),
        body,
    ))
}

/// The employee's days as CSV: a row per shift (times on the location's
/// clock) and per paid absence, by day. Who may read it, as for the JSON.
#[utoipa::path(get, path = "/api/v1/t/{slug}/employees/{employee_id}/records.csv", tag = "time-tracking",
    params(("slug" = String, Path, description = "The tenant's URL slug"), ("employee_id" = EmployeeId, Path), Period),
    responses((status = 200, content_type = "text/csv", body = String),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn csv(
    State(state): State<AppState>,
    mut t: InTenant,
    Path((_, id)): Path<(String, EmployeeId)>,
    Query(period): Query<Period>,
) -> Result<Response, AppError> {
    let records = gather(&mut t, state.keys()?, id, &period).await?;
    let body = records
        .csv()
        .map_err(|e| AppError::Internal(e.to_string()))?;
    Ok(attachment(
        "text/csv; charset=utf-8",
        &records.file_name("csv"),
        body,
    ))
}
