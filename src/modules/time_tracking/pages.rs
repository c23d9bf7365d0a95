//! The module's pages under `/t/{slug}/time`: today's board, the review
//! queue, the owners' feed of edited shifts, the log's check and the
//! inspection export (printable and CSV). Employees and their timesheets
//! are in [`super::employees::pages`], kiosks in [`super::devices::pages`].
//! Pages call the same functions as the JSON API; what they add is
//! presentation: times on each location's wall clock.

use std::collections::{HashMap, HashSet};

use askama::Template;
use axum::extract::State;
use axum::response::{Html, IntoResponse, Redirect, Response};
use jiff::tz::TimeZone;
use serde::Deserialize;
use time::{Date, OffsetDateTime};
use tower_sessions::Session;

use super::employees::{self, Employee};
use super::permissions::TimeAction;
use super::punches::{self, Kind};
use super::shifts::api::Range;
use super::shifts::corrections::{self, CorrectionRequest, Status};
use super::shifts::{self, Days, Shift, edits};
use super::{CorrectionId, EmployeeId, dates, log};
use crate::access::InTenant;
use crate::crypto::Keys;
use crate::error::AppError;
use crate::http::AppState;
use crate::http::extract::{Form, Path, Query};
use crate::http::routes::{Access, Routes, get, post};
use crate::ids::LocationId;
use crate::pages::{Layout, TenantNav, attachment, render};
use crate::sessions::flash::{self, Flash};
use crate::tenancy::permissions::LocationVisibility;
use crate::tenancy::{Member, TenantScope};

pub fn routes() -> Routes {
    Routes::new()
        .add("/t/{slug}/time", Access::Tenant, get(board))
        .add("/t/{slug}/time/review", Access::Tenant, get(review))
        .add(
            "/t/{slug}/time/requests/{request_id}/dismiss",
            Access::Tenant,
            post(dismiss),
        )
        .add("/t/{slug}/time/edits", Access::Tenant, get(edit_feed))
        .add("/t/{slug}/time/log", Access::Tenant, get(log_check))
        .add("/t/{slug}/time/inspection", Access::Tenant, get(inspection))
        .add(
            "/t/{slug}/time/inspection.csv",
            Access::Tenant,
            get(inspection_csv),
        )
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
        crate::validation::parse_date(&format!("{}-01", key?.trim())).map(Self::of)
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
///
/// # Errors
/// When the database fails.
pub async fn location_options(
    t: &mut InTenant,
    keep: impl Fn(LocationId) -> bool,
) -> Result<Vec<(String, String)>, AppError> {
    Ok(crate::locations::list(
        &mut t.scope,
        t.member.location_visibility(),
        crate::locations::Page::ALL,
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
    /// # Errors
    /// When the database fails.
    pub async fn load(scope: &mut TenantScope) -> Result<Self, sqlx::Error> {
        let all = crate::locations::list(
            scope,
            LocationVisibility::every_location(),
            crate::locations::Page::ALL,
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
    let locations = crate::locations::list(
        &mut t.scope,
        t.member.location_visibility(),
        crate::locations::Page::ALL,
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

#[derive(Template)]
#[template(path = "time_tracking/review.html")]
struct ReviewPage {
    layout: Layout,
    nav: TenantNav,
    tabs: Tabs,
    days: Days,
    shifts: Vec<ShiftView>,
    requests: Vec<CorrectionRequest>,
    too_old: Vec<TooOldView>,
    /// [`punches::MAX_AGE`], for the page to say.
    max_age_days: i64,
    can_edit: bool,
}

/// A punch too old to record, on its location's wall clock.
struct TooOldView {
    employee_id: EmployeeId,
    employee: String,
    location: String,
    kind: &'static str,
    day: Date,
    time: String,
    received: Date,
}

/// What needs a look: flagged shifts and punches that arrived too old to
/// record (the last two weeks by default), and open correction requests.
async fn review(
    layout: Layout,
    mut t: InTenant,
    Query(range): Query<Range>,
) -> Result<Html<String>, AppError> {
    t.member.authorize(TimeAction::ViewTeamRecords)?;
    let today = dates::today(&t.tenant.time_zone);
    let range = Range {
        from: range.from.or(Some(today - time::Duration::days(13))),
        ..range
    };
    let days = range.days(today)?;
    let readable = employees::readable_all(&mut t).await?;
    let places = Places::load(&mut t.scope).await?;
    let shifts = shifts::on_days(&mut t.scope, None, days, OffsetDateTime::now_utc())
        .await?
        .iter()
        .filter(|s| !s.flags.is_empty())
        .filter_map(|s| Some(places.view(s, &readable.get(&s.employee_id)?.name)))
        .collect();
    let mut requests = corrections::list(&mut t.scope, Some(Status::Open)).await?;
    requests.retain(|r| readable.contains_key(&r.employee_id));
    let tenant_zone = dates::zone(&t.tenant.time_zone);
    let too_old = punches::too_old(&mut t.scope, days, &tenant_zone)
        .await?
        .into_iter()
        .filter_map(|punch| {
            let zone = places.zone(punch.location_id);
            Some(TooOldView {
                employee_id: punch.employee_id,
                employee: readable.get(&punch.employee_id)?.name.clone(),
                location: places.name(punch.location_id),
                kind: match punch.kind {
                    Kind::In => "Clock-in",
                    Kind::Out => "Clock-out",
                },
                day: dates::local_date(punch.at, &zone),
                time: dates::clock(punch.at, &zone),
                received: dates::local_date(punch.received_at, &tenant_zone),
            })
        })
        .collect();
    render(&ReviewPage {
        layout,
        nav: TenantNav::new(&t),
        tabs: Tabs::new(&t.tenant.slug, &t.member, "time/review"),
        days,
        shifts,
        requests,
        too_old,
        max_age_days: punches::MAX_AGE.whole_days(),
        can_edit: t.member.authorize(TimeAction::EditShifts).is_ok(),
    })
}

#[derive(Debug, Default, Deserialize)]
struct DismissForm {
    note: String,
}

async fn dismiss(
    session: Session,
    mut t: InTenant,
    Path((_, id)): Path<(String, CorrectionId)>,
    Form(form): Form<DismissForm>,
) -> Result<Response, AppError> {
    let request = corrections::find(&mut t.scope, id)
        .await?
        .ok_or(AppError::NotFound)?;
    employees::readable(&mut t, request.employee_id).await?;
    t.member.authorize(TimeAction::EditShifts)?;
    let message = match corrections::dismiss(
        &mut t.scope,
        id,
        t.member.author(),
        &form.note,
        OffsetDateTime::now_utc(),
    )
    .await
    {
        Ok(_) => {
            t.scope.commit().await?;
            Flash::success(format!("Dismissed {}'s request.", request.employee_name))
        }
        Err(error) => refusal(error)?,
    };
    flash::push(&session, message).await?;
    Ok(Redirect::to(&format!("/t/{}/time/review", t.tenant.slug)).into_response())
}

#[derive(Template)]
#[template(path = "time_tracking/edits.html")]
struct EditFeedPage {
    layout: Layout,
    nav: TenantNav,
    tabs: Tabs,
    edits: Vec<EditView>,
}

struct EditView {
    edit: edits::ShiftEdit,
    when: String,
    before: String,
    after: String,
}

/// A snapshot as "Fri 20 Nov 08:00–16:00 (8 h 0 min)".
fn describe(snapshot: Option<&edits::Snapshot>, places: &Places) -> String {
    let Some(s) = snapshot else {
        return "—".to_owned();
    };
    let zone = places.zone(s.location_id);
    let clock =
        |at: Option<OffsetDateTime>| at.map_or("?".to_owned(), |at| dates::clock(at, &zone));
    let day = s.start.or(s.end).map(|at| dates::local_date(at, &zone));
    format!(
        "{} {}–{} ({})",
        day.map(|d| d.to_string()).unwrap_or_default(),
        clock(s.start),
        clock(s.end),
        shifts::duration_label(s.minutes)
    )
}

async fn edit_feed(layout: Layout, mut t: InTenant) -> Result<Html<String>, AppError> {
    t.member.authorize(TimeAction::ViewEditFeed)?;
    let places = Places::load(&mut t.scope).await?;
    let zone = dates::zone(&t.tenant.time_zone);
    let edits = edits::feed(&mut t.scope, None, None)
        .await?
        .into_iter()
        .map(|edit| EditView {
            when: format!(
                "{} {}",
                dates::local_date(edit.created_at, &zone),
                dates::clock(edit.created_at, &zone)
            ),
            before: describe(edit.before.as_ref(), &places),
            after: describe(edit.after.as_ref(), &places),
            edit,
        })
        .collect();
    render(&EditFeedPage {
        layout,
        nav: TenantNav::new(&t),
        tabs: Tabs::new(&t.tenant.slug, &t.member, "time/edits"),
        edits,
    })
}

#[derive(Template)]
#[template(path = "time_tracking/log.html")]
struct LogPage {
    layout: Layout,
    nav: TenantNav,
    tabs: Tabs,
    verification: log::Verification,
}

async fn log_check(layout: Layout, mut t: InTenant) -> Result<Html<String>, AppError> {
    t.member.authorize(TimeAction::VerifyLog)?;
    let verification = log::verify(&mut t.scope).await?;
    render(&LogPage {
        layout,
        nav: TenantNav::new(&t),
        tabs: Tabs::new(&t.tenant.slug, &t.member, "time/log"),
        verification,
    })
}

/// The inspection export's choices: a range of days, and one location or
/// all the member sees.
#[derive(Debug, Default, Deserialize)]
struct InspectionQuery {
    #[serde(flatten)]
    range: Range,
    #[serde(default, deserialize_with = "empty_as_none")]
    location_id: Option<LocationId>,
}

/// A form's empty select ("All locations") as `None`.
fn empty_as_none<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<LocationId>, D::Error> {
    let text = Option::<String>::deserialize(deserializer)?.unwrap_or_default();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse().map(Some).map_err(serde::de::Error::custom)
}

/// One employee's daily records in the export.
struct InspectionEmployee {
    employee: Employee,
    /// Decrypted, for the inspector.
    national_id: String,
    shifts: Vec<ShiftView>,
    total: String,
}

struct Inspection {
    days: Days,
    location: Option<String>,
    employees: Vec<InspectionEmployee>,
}

/// The daily start and end of every shift per employee on the range, at
/// one location or all the member sees: what a labour inspector asks for.
async fn inspection_of(
    t: &mut InTenant,
    keys: &Keys,
    query: &InspectionQuery,
) -> Result<Inspection, AppError> {
    t.member.authorize(TimeAction::ViewTeamRecords)?;
    let today = dates::today(&t.tenant.time_zone);
    let range = Range {
        from: query
            .range
            .from
            .or(Some(today.replace_day(1).unwrap_or(today))),
        ..query.range
    };
    let days = range.days(today)?;
    let visible: HashSet<LocationId> = crate::locations::list(
        &mut t.scope,
        t.member.location_visibility(),
        crate::locations::Page::ALL,
    )
    .await?
    .into_iter()
    .map(|l| l.id)
    .collect();
    if query.location_id.is_some_and(|id| !visible.contains(&id)) {
        return Err(AppError::NotFound);
    }
    let readable = employees::readable_all(t).await?;
    let places = Places::load(&mut t.scope).await?;
    let all = shifts::on_days(&mut t.scope, None, days, OffsetDateTime::now_utc()).await?;
    let mut by_employee: Vec<InspectionEmployee> = Vec::new();
    for shift in all.iter().filter(|s| {
        visible.contains(&s.location_id) && query.location_id.is_none_or(|id| id == s.location_id)
    }) {
        let Some(employee) = readable.get(&shift.employee_id) else {
            continue;
        };
        let view = places.view(shift, &employee.name);
        match by_employee.last_mut() {
            Some(last) if last.employee.id == shift.employee_id => last.shifts.push(view),
            _ => by_employee.push(InspectionEmployee {
                national_id: employee.national_id(keys)?,
                employee: employee.clone(),
                shifts: vec![view],
                total: String::new(),
            }),
        }
    }
    for entry in &mut by_employee {
        entry.total = shifts::duration_label(entry.shifts.iter().map(|s| s.minutes).sum());
    }
    by_employee.sort_by(|a, b| {
        a.employee
            .name
            .to_lowercase()
            .cmp(&b.employee.name.to_lowercase())
    });
    Ok(Inspection {
        days,
        location: query.location_id.map(|id| places.name(id)),
        employees: by_employee,
    })
}

#[derive(Template)]
#[template(path = "time_tracking/inspection.html")]
struct InspectionPage {
    layout: Layout,
    nav: TenantNav,
    tabs: Tabs,
    tenant_name: String,
    inspection: Inspection,
    locations: Vec<(String, String)>,
    selected_location: String,
    csv_query: String,
    generated: String,
}

async fn inspection(
    State(state): State<AppState>,
    layout: Layout,
    mut t: InTenant,
    Query(query): Query<InspectionQuery>,
) -> Result<Html<String>, AppError> {
    let inspection = inspection_of(&mut t, state.keys()?, &query).await?;
    let mut locations = vec![(String::new(), "All locations".to_owned())];
    locations.extend(
        crate::locations::list(
            &mut t.scope,
            t.member.location_visibility(),
            crate::locations::Page::ALL,
        )
        .await?
        .into_iter()
        .map(|l| (l.id.to_string(), l.name)),
    );
    let selected_location = query
        .location_id
        .map(|id| id.to_string())
        .unwrap_or_default();
    let zone = dates::zone(&t.tenant.time_zone);
    let now = OffsetDateTime::now_utc();
    render(&InspectionPage {
        layout,
        nav: TenantNav::new(&t),
        tabs: Tabs::new(&t.tenant.slug, &t.member, "time/inspection"),
        tenant_name: t.tenant.name.clone(),
        csv_query: format!(
            "from={}&to={}&location_id={selected_location}",
            inspection.days.first, inspection.days.last
        ),
        inspection,
        locations,
        selected_location,
        generated: format!(
            "{} {} ({})",
            dates::local_date(now, &zone),
            dates::clock(now, &zone),
            t.tenant.time_zone
        ),
    })
}

/// The same records as CSV, one row per shift.
async fn inspection_csv(
    State(state): State<AppState>,
    mut t: InTenant,
    Query(query): Query<InspectionQuery>,
) -> Result<Response, AppError> {
    let inspection = inspection_of(&mut t, state.keys()?, &query).await?;
    let mut csv = csv::Writer::from_writer(Vec::new());
    let header = [
        "employee_number",
        "employee",
        "national_id",
        "location",
        "date",
        "start",
        "end",
        "minutes",
        "flags",
        "edited",
    ];
    let written: Result<(), csv::Error> = (|| {
        csv.write_record(header)?;
        for entry in &inspection.employees {
            for shift in &entry.shifts {
                csv.write_record([
                    entry.employee.employee_number.as_str(),
                    entry.employee.name.as_str(),
                    entry.national_id.as_str(),
                    shift.location.as_str(),
                    &shift.day.to_string(),
                    shift.start.as_str(),
                    shift.end.as_str(),
                    &shift.minutes.to_string(),
                    &shift.flags.join("; "),
                    if shift.edited { "yes" } else { "no" },
                ])?;
            }
        }
        Ok(())
    })();
    written.map_err(|e| AppError::Internal(e.to_string()))?;
    let body = csv
        .into_inner()
        .map_err(|e| AppError::Internal(e.to_string()))?;
    Ok(attachment(
        "text/csv; charset=utf-8",
        &format!(
            "time-records-{}-{}-{}.csv",
            t.tenant.slug, inspection.days.first, inspection.days.last
        ),
        body,
    ))
}
