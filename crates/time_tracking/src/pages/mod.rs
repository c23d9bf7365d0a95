//! The module's pages under `/t/{slug}/time`: today's board here, with the
//! kit the module's pages share (tabs, months, places, shift views); the
//! review queue ([`review`]), the owners' feed of edited shifts
//! ([`edit_feed`]), the log's check ([`log_check`]) and the inspection
//! export, printable and CSV ([`inspection`]). Employees and their
//! timesheets are in [`super::employees::timesheet`], kiosks in
//! [`super::devices::pages`]. Pages call the same functions as the JSON
//! API; what they add is presentation: times on each location's wall clock.

use std::collections::HashMap;

use askama::Template;
use axum::response::{IntoResponse, Redirect, Response};
use jiff::tz::TimeZone;
use time::{Date, OffsetDateTime};

use super::employees::{self, Employee};
use super::permissions::TimeAction;
use super::shifts::{self, Days, Shift};
use super::{EmployeeId, dates};
use kernel::access::InTenant;
use kernel::error::AppError;
use kernel::http::routes::{Access, Routes, get};
use kernel::ids::LocationId;
use kernel::pages::{Layout, TenantNav, render};
use kernel::sessions::flash::Flash;
use kernel::tenancy::permissions::LocationVisibility;
use kernel::tenancy::{Member, TenantScope};

mod edit_feed;
mod inspection;
mod log_check;
mod review;

pub fn routes() -> Routes {
    Routes::new()
        .add("/t/{slug}/time", Access::Tenant, get(board))
        .merge(review::routes())
        .merge(edit_feed::routes())
        .merge(log_check::routes())
        .merge(inspection::routes())
}

/// The module's tabs, as this member sees them.
pub struct Tabs {
    pub links: Vec<(&'static str, String, bool)>,
}

impl Tabs {
    pub fn new(slug: &str, member: &Member, current: &str) -> Self {
        let tabs = [
            ("Today", "time", TimeAction::ViewTeamRecords),
            ("Employees", "employees", TimeAction::ManageEmployees),
            ("Kiosks", "kiosks", TimeAction::ManageDevices),
            ("Review", "time/review", TimeAction::ViewTeamRecords),
            ("Absences", "time/absences", TimeAction::RecordAbsences),
            ("Holidays", "time/holidays", TimeAction::ManagePayRules),
            ("Pay rules", "time/pay-rules", TimeAction::ManagePayRules),
            ("Payroll", "time/payroll", TimeAction::Payroll),
            ("Inspection", "time/inspection", TimeAction::ViewTeamRecords),
            ("Edited shifts", "time/edits", TimeAction::ViewEditFeed),
            ("Log", "time/log", TimeAction::VerifyLog),
        ];
        Self {
            links: tabs
                .into_iter()
                .filter(|(_, _, action)| member.authorize(*action).is_ok())
                .map(|(label, path, _)| (label, format!("/t/{slug}/{path}"), path == current))
                .collect(),
        }
    }
}

/// A calendar month, as pages link to it: `?month=2026-11`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Month {
    /// `2026-11`.
    pub key: String,
    /// `November 2026`.
    pub label: String,
    pub first: Date,
    pub last: Date,
    pub previous: String,
    pub next: String,
}

impl Month {
    /// The month `day` falls in.
    pub fn of(day: Date) -> Self {
        let first = day.replace_day(1).unwrap_or(day);
        let last = first
            .replace_day(day.month().length(day.year()))
            .unwrap_or(first);
        let key = |d: Date| format!("{}-{:02}", d.year(), u8::from(d.month()));
        Self {
            key: key(first),
            label: format!("{} {}", first.month(), first.year()),
            first,
            last,
            previous: key(first.previous_day().unwrap_or(first)),
            next: key(last.next_day().unwrap_or(last)),
        }
    }

    /// The month before.
    pub fn preceding(&self) -> Self {
        Self::of(self.first.previous_day().unwrap_or(self.first))
    }

    /// The month after.
    pub fn following(&self) -> Self {
        Self::of(self.last.next_day().unwrap_or(self.last))
    }

    /// `2026-11`, or `None` for anything else.
    pub fn parse(key: Option<&str>) -> Option<Self> {
        kernel::validation::parse_date(&format!("{}-01", key?.trim())).map(Self::of)
    }
}

/// What a form's refusal tells the person (shown as a flash on the page
/// the form returns to), or the error to answer with.
///
/// # Errors
/// Anything but a 422 or a 409, unchanged.
pub fn refusal(error: AppError) -> Result<Flash, AppError> {
    match error {
        AppError::Unprocessable(message) | AppError::Conflict(message) => Ok(Flash::error(message)),
        other => Err(other),
    }
}

/// The active locations the member manages, as a select's (value, label)
/// options, keeping those `keep` accepts.
pub async fn location_options(
    t: &mut InTenant,
    keep: impl Fn(LocationId) -> bool,
) -> Result<Vec<(String, String)>, AppError> {
    Ok(kernel::locations::list(
        &mut t.scope,
        t.member.location_visibility(),
        kernel::locations::Page::ALL,
    )
    .await?
    .into_iter()
    .filter(|l| l.archived_at.is_none() && keep(l.id))
    .map(|l| (l.id.to_string(), l.name))
    .collect())
}

/// Location names and time zones, to show times on each location's clock.
pub struct Places {
    zones: HashMap<LocationId, TimeZone>,
    names: HashMap<LocationId, String>,
}

impl Places {
    pub async fn load(scope: &mut TenantScope) -> Result<Self, sqlx::Error> {
        let all = kernel::locations::list(
            scope,
            LocationVisibility::every_location(),
            kernel::locations::Page::ALL,
        )
        .await?;
        Ok(Self {
            zones: all
                .iter()
                .map(|l| (l.id, dates::zone(&l.time_zone)))
                .collect(),
            names: all.into_iter().map(|l| (l.id, l.name)).collect(),
        })
    }

    pub fn zone(&self, location: LocationId) -> TimeZone {
        self.zones.get(&location).cloned().unwrap_or(TimeZone::UTC)
    }

    pub fn name(&self, location: LocationId) -> String {
        self.names.get(&location).cloned().unwrap_or_default()
    }

    /// A shift as the pages show it.
    pub fn view(&self, shift: &Shift, employee: &str) -> ShiftView {
        let zone = self.zone(shift.location_id);
        let clock = |at: Option<OffsetDateTime>| at.map(|at| dates::clock(at, &zone));
        ShiftView {
            id: shift.id.to_string(),
            employee_id: shift.employee_id.to_string(),
            employee: employee.to_owned(),
            location: self.name(shift.location_id),
            day: shift.day(&zone),
            start: clock(shift.start).unwrap_or_default(),
            end: clock(shift.end).unwrap_or_default(),
            open: shift.is_open(),
            minutes: shift.minutes,
            duration: shifts::duration_label(shift.minutes),
            flags: shift.flags.iter().map(|f| f.label()).collect(),
            edited: shift.edited,
        }
    }
}

/// A shift on its location's wall clock.
pub struct ShiftView {
    pub id: String,
    pub employee_id: String,
    pub employee: String,
    pub location: String,
    /// The day it began.
    pub day: Date,
    /// HH:MM, or empty for a missing clock-in.
    pub start: String,
    /// HH:MM, or empty while open.
    pub end: String,
    pub open: bool,
    pub minutes: i64,
    pub duration: String,
    pub flags: Vec<&'static str>,
    pub edited: bool,
}

/// The tenant's employees by id (names for lists).
async fn names(t: &mut InTenant) -> Result<HashMap<EmployeeId, Employee>, AppError> {
    Ok(
        employees::list(&mut t.scope, LocationVisibility::every_location())
            .await?
            .into_iter()
            .map(|e| (e.id, e))
            .collect(),
    )
}

fn name_of(people: &HashMap<EmployeeId, Employee>, id: EmployeeId) -> &str {
    people.get(&id).map_or("", |e| e.name.as_str())
}

struct BoardLocation {
    name: String,
    in_now: Vec<ShiftView>,
}

#[derive(Template)]
#[template(path = "time_tracking/board.html")]
struct BoardPage {
    layout: Layout,
    nav: TenantNav,
    tabs: Tabs,
    today: Date,
    locations: Vec<BoardLocation>,
    /// Next month's labour-cost forecast, for those who see payroll.
    forecast: Option<ForecastView>,
}

struct ForecastView {
    month: Month,
    /// (location, "N working days", expected cost)
    locations: Vec<(String, u32, String)>,
    total: String,
}

/// Next month's forecast, if the member sees payroll.
async fn next_month_forecast(
    t: &mut InTenant,
    today: Date,
) -> Result<Option<ForecastView>, AppError> {
    if t.member.authorize(TimeAction::Payroll).is_err() {
        return Ok(None);
    }
    let month = Month::of(today).following();
    let forecast = super::pay::forecast::compute(
        &mut t.scope,
        t.member.location_visibility(),
        month.first,
        month.last,
    )
    .await?;
    let (locations, total) = forecast.labelled();
    Ok(Some(ForecastView {
        month,
        total,
        locations,
    }))
}

/// Today's board: who is in at each location, since when. Staff go to
/// their own timesheet.
async fn board(layout: Layout, mut t: InTenant) -> Result<Response, AppError> {
    if t.member.authorize(TimeAction::ViewTeamRecords).is_err() {
        let own = names(&mut t)
            .await?
            .into_values()
            .find(|e| e.membership_id == Some(t.member.membership_id));
        return match own {
            Some(employee) => Ok(Redirect::to(&format!(
                "/t/{}/employees/{}",
                t.tenant.slug, employee.id
            ))
            .into_response()),
            None => Err(AppError::Forbidden(
                "No employee record is linked to your account: ask your manager to link it."
                    .to_owned(),
            )),
        };
    }
    let today = dates::today(&t.tenant.time_zone);
    let now = OffsetDateTime::now_utc();
    let places = Places::load(&mut t.scope).await?;
    let people = names(&mut t).await?;
    let days = Days {
        first: today.previous_day().unwrap_or(today),
        last: today,
    };
    let open: Vec<Shift> = shifts::on_days(&mut t.scope, None, days, now)
        .await?
        .into_iter()
        .filter(Shift::is_open)
        .collect();
    let locations = kernel::locations::list(
        &mut t.scope,
        t.member.location_visibility(),
        kernel::locations::Page::ALL,
    )
    .await?
    .into_iter()
    .filter(|l| l.archived_at.is_none())
    .map(|l| BoardLocation {
        in_now: open
            .iter()
            .filter(|s| s.location_id == l.id)
            .map(|s| places.view(s, name_of(&people, s.employee_id)))
            .collect(),
        name: l.name,
    })
    .collect();
    let forecast = next_month_forecast(&mut t, today).await?;
    Ok(render(&BoardPage {
        layout,
        nav: TenantNav::new(&t),
        tabs: Tabs::new(&t.tenant.slug, &t.member, "time"),
        today,
        locations,
        forecast,
    })?
    .into_response())
}
