//! An employee's timesheet (by week or month, with totals and paid
//! absences), where managers edit shifts, the employee asks for
//! corrections, and both download the records ([`super::records`]); and a
//! new PIN, shown on the timesheet that answers.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::State;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use time::{Date, Duration, OffsetDateTime};
use tower_sessions::Session;

use super::Employee;
use super::pin::Pin;
use crate::absences;
use crate::pages::{Month, Places, ShiftView, Tabs, location_options, refusal};
use crate::permissions::TimeAction;
use crate::shifts::corrections::{self, CorrectionInput, CorrectionRequest};
use crate::shifts::edits::{self, Action, EditInput};
use crate::shifts::{self, Days};
use crate::{CorrectionId, EmployeeId, PunchId, dates};
use kernel::access::InTenant;
use kernel::error::AppError;
use kernel::http::AppState;
use kernel::http::extract::{Form, Path, Query};
use kernel::http::routes::{Access, Routes, get, post};
use kernel::ids::LocationId;
use kernel::pages::{Layout, TenantNav, render};
use kernel::sessions::flash::{self, Flash};
use kernel::validation::{self, FieldErrors};

pub fn routes() -> Routes {
    Routes::new()
        .add(
            "/t/{slug}/employees/{employee_id}",
            Access::Tenant,
            get(timesheet),
        )
        .add(
            "/t/{slug}/employees/{employee_id}/shifts",
            Access::Tenant,
            post(edit_shift),
        )
        .add(
            "/t/{slug}/employees/{employee_id}/correction-requests",
            Access::Tenant,
            post(request_correction),
        )
        .add(
            "/t/{slug}/employees/{employee_id}/pin",
            Access::Tenant,
            post(new_pin),
        )
}

/// Which period a timesheet shows: `?period=week|month&day=YYYY-MM-DD`.
#[derive(Debug, Default, Deserialize)]
struct PeriodQuery {
    #[serde(default)]
    period: Option<String>,
    #[serde(default, with = "crate::dates::option_date")]
    day: Option<Date>,
}

/// The week (Monday to Sunday) or month around `day`, and the days before
/// and after it for the links.
fn period(monthly: bool, day: Date) -> (Days, Date, Date) {
    if monthly {
        let month = Month::of(day);
        let days = Days {
            first: month.first,
            last: month.last,
        };
        (
            days,
            month.first.previous_day().unwrap_or(month.first),
            month.last.next_day().unwrap_or(month.last),
        )
    } else {
        let week = Days::week_of(day);
        (
            week,
            week.first - Duration::days(7),
            week.first + Duration::days(7),
        )
    }
}

struct DayRow {
    date: Date,
    weekday: &'static str,
    shifts: Vec<ShiftView>,
    /// Worked on this calendar day (an overnight shift's hours fall on
    /// both days it spans).
    total: String,
    /// A paid absence: "Vacation · 8 h 0 min".
    absence: Option<String>,
}

#[derive(Template)]
#[template(path = "time_tracking/timesheet.html")]
struct TimesheetPage {
    layout: Layout,
    nav: TenantNav,
    tabs: Tabs,
    employee: Employee,
    monthly: bool,
    days: Days,
    previous: Date,
    next: Date,
    rows: Vec<DayRow>,
    total: String,
    contracted: String,
    can_edit: bool,
    is_own: bool,
    can_issue_pin: bool,
    /// The employee's locations the member manages, for the add form.
    locations: Vec<(String, String)>,
    requests: Vec<CorrectionRequest>,
    open_requests: Vec<(String, String)>,
    pin: Option<Pin>,
}

async fn timesheet_page(
    layout: Layout,
    t: &mut InTenant,
    id: EmployeeId,
    query: &PeriodQuery,
    pin: Option<Pin>,
) -> Result<Html<String>, AppError> {
    let employee = super::readable(t, id).await?;
    let monthly = query.period.as_deref() == Some("month");
    let today = dates::today(&t.tenant.time_zone);
    let (days, previous, next) = period(monthly, query.day.unwrap_or(today));
    let places = Places::load(&mut t.scope).await?;
    let now = OffsetDateTime::now_utc();
    // From the day before, for the hours an overnight shift brings in.
    let reach = Days {
        first: days.first.previous_day().unwrap_or(days.first),
        ..days
    };
    let shifts = shifts::on_days(&mut t.scope, Some(id), reach, now).await?;
    let mut worked: BTreeMap<Date, i64> = BTreeMap::new();
    for shift in &shifts {
        for (day, minutes) in shift.minutes_by_day(&places.zone(shift.location_id)) {
            *worked.entry(day).or_default() += minutes;
        }
    }
    let absences: BTreeMap<Date, String> =
        absences::list(&mut t.scope, Some(id), days.first, days.last)
            .await?
            .into_iter()
            .map(|a| {
                let label = format!(
                    "{} · {}",
                    a.kind.label(),
                    shifts::duration_label(i64::from(a.minutes))
                );
                (a.day, label)
            })
            .collect();
    let mut rows = Vec::new();
    let mut day = days.first;
    while day <= days.last {
        rows.push(DayRow {
            date: day,
            weekday: weekday_name(day),
            shifts: shifts
                .iter()
                .map(|s| places.view(s, &employee.name))
                .filter(|view| view.day == day)
                .collect(),
            total: worked
                .get(&day)
                .map(|m| shifts::duration_label(*m))
                .unwrap_or_default(),
            absence: absences.get(&day).cloned(),
        });
        let Some(following) = day.next_day() else {
            break;
        };
        day = following;
    }
    let total: i64 = worked
        .iter()
        .filter(|(day, _)| days.contains(**day))
        .map(|(_, minutes)| minutes)
        .sum();
    let day_count = (days.last - days.first).whole_days() + 1;
    let contracted = shifts::duration_label(i64::from(employee.weekly_minutes) * day_count / 7);
    let is_own = employee.membership_id == Some(t.member.membership_id);
    let sees = super::find(&mut t.scope, t.member.location_visibility(), id)
        .await?
        .is_some();
    let can_edit = sees && t.member.authorize(TimeAction::EditShifts).is_ok();
    let locations = location_options(t, |id| employee.location_ids.contains(&id)).await?;
    let requests = corrections::of_employee(&mut t.scope, id).await?;
    let open_requests = requests
        .iter()
        .filter(|r| r.status == corrections::Status::Open)
        .map(|r| (r.id.to_string(), format!("{}: {}", r.day, r.message)))
        .collect();
    render(&TimesheetPage {
        layout,
        nav: TenantNav::new(t),
        tabs: Tabs::new(&t.tenant.slug, &t.member, "employees"),
        monthly,
        days,
        previous,
        next,
        rows,
        total: shifts::duration_label(total),
        contracted,
        can_edit,
        is_own,
        can_issue_pin: sees
            && employee.active
            && t.member.authorize(TimeAction::ManageEmployees).is_ok(),
        locations,
        requests,
        open_requests,
        pin,
        employee,
    })
}

fn weekday_name(day: Date) -> &'static str {
    match day.weekday() {
        time::Weekday::Monday => "Mon",
        time::Weekday::Tuesday => "Tue",
        time::Weekday::Wednesday => "Wed",
        time::Weekday::Thursday => "Thu",
        time::Weekday::Friday => "Fri",
        time::Weekday::Saturday => "Sat",
        time::Weekday::Sunday => "Sun",
    }
}

async fn timesheet(
    layout: Layout,
    mut t: InTenant,
    Path((_, id)): Path<(String, EmployeeId)>,
    Query(query): Query<PeriodQuery>,
) -> Result<Html<String>, AppError> {
    timesheet_page(layout, &mut t, id, &query, None).await
}

/// An edit from the timesheet: times on the location's clock, an end at or
/// before the start meaning the next day.
#[derive(Debug, Default, Deserialize)]
struct EditForm {
    action: Action,
    #[serde(default)]
    shift_id: Option<PunchId>,
    #[serde(default)]
    location_id: String,
    #[serde(default)]
    date: String,
    #[serde(default)]
    start: String,
    #[serde(default)]
    end: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    correction_request_id: String,
}

/// The form as an edit: the location's time zone turns its times into
/// instants.
async fn edit_input(
    t: &mut InTenant,
    employee: EmployeeId,
    form: &EditForm,
) -> Result<EditInput, AppError> {
    let places = Places::load(&mut t.scope).await?;
    let location_id: Option<LocationId> = form.location_id.parse().ok();
    let zone_location = match (location_id, form.shift_id) {
        (Some(id), _) => Some(id),
        (None, Some(shift)) => {
            let cap = crate::settings::read(&mut t.scope).await?.shift_cap();
            edits::find(&mut t.scope, shift, cap, OffsetDateTime::now_utc())
                .await?
                .map(|s| s.location_id)
        }
        (None, None) => None,
    };
    let zone = zone_location.map_or(jiff::tz::TimeZone::UTC, |id| places.zone(id));
    let date = validation::parse_date(&form.date);
    let start = date.and_then(|d| dates::at_local(d, &form.start, &zone));
    let end = date
        .and_then(|d| dates::at_local(d, &form.end, &zone))
        .map(|end| match start {
            Some(start) if end <= start => end + Duration::DAY,
            _ => end,
        });
    if form.action != Action::Delete && (start.is_none() || end.is_none()) {
        return Err(FieldErrors::single(
            "start",
            "Give the day, and the start and end times (HH:MM).",
        )
        .into());
    }
    Ok(EditInput {
        action: form.action,
        employee_id: Some(employee),
        shift_id: form.shift_id,
        location_id,
        start,
        end,
        reason: form.reason.clone(),
        correction_request_id: form.correction_request_id.parse::<CorrectionId>().ok(),
    })
}

async fn edit_shift(
    session: Session,
    mut t: InTenant,
    Path((_, id)): Path<(String, EmployeeId)>,
    Form(form): Form<EditForm>,
) -> Result<Response, AppError> {
    t.member.authorize(TimeAction::EditShifts)?;
    // An employee this member can't see is a 404, as on every other route.
    super::readable(&mut t, id).await?;
    let applied = match edit_input(&mut t, id, &form).await {
        Ok(input) => edits::apply(&mut t.scope, &t.member, &input, OffsetDateTime::now_utc()).await,
        Err(error) => Err(error),
    };
    let message = match applied {
        Ok(edit) => {
            t.scope.commit().await?;
            Flash::success(format!(
                "Saved: the shift was {}.",
                match edit.action {
                    Action::Add => "added",
                    Action::Correct => "corrected",
                    Action::Delete => "deleted",
                }
            ))
        }
        Err(error) => refusal(error)?,
    };
    flash::push(&session, message).await?;
    Ok(Redirect::to(&format!(
        "/t/{}/employees/{id}?day={}",
        t.tenant.slug, form.date
    ))
    .into_response())
}

async fn request_correction(
    session: Session,
    mut t: InTenant,
    Path((_, id)): Path<(String, EmployeeId)>,
    Form(form): Form<CorrectionForm>,
) -> Result<Response, AppError> {
    let employee = super::readable(&mut t, id).await?;
    if employee.membership_id != Some(t.member.membership_id) {
        return Err(AppError::Forbidden(
            "You can request corrections of your own records only.".to_owned(),
        ));
    }
    let input = CorrectionInput {
        shift_id: form.shift_id.parse().ok(),
        day: validation::parse_date(&form.day),
        message: form.message.clone(),
    };
    let created = corrections::create(
        &mut t.scope,
        &employee,
        t.member.author(),
        &input,
        OffsetDateTime::now_utc(),
    )
    .await;
    let message = match created {
        Ok(_) => {
            t.scope.commit().await?;
            Flash::success("Sent: your manager will look at it.")
        }
        Err(error) => refusal(error)?,
    };
    flash::push(&session, message).await?;
    Ok(Redirect::to(&format!(
        "/t/{}/employees/{id}?day={}",
        t.tenant.slug, form.day
    ))
    .into_response())
}

#[derive(Debug, Default, Deserialize)]
struct CorrectionForm {
    #[serde(default)]
    shift_id: String,
    #[serde(default)]
    day: String,
    #[serde(default)]
    message: String,
}

/// Issues a new PIN and shows it on the timesheet that answers.
async fn new_pin(
    State(state): State<AppState>,
    layout: Layout,
    mut t: InTenant,
    Path((_, id)): Path<(String, EmployeeId)>,
) -> Result<Response, AppError> {
    let employee = super::find(&mut t.scope, t.member.location_visibility(), id)
        .await?
        .ok_or(AppError::NotFound)?;
    t.member.authorize(TimeAction::ManageEmployees)?;
    if !employee.active {
        return Err(AppError::Conflict(
            "This employee is inactive: reactivate them to issue a PIN.".to_owned(),
        ));
    }
    let key = state.lookup_key()?;
    let pin = super::pin::issue(&mut t.scope, key, id).await?;
    let page = timesheet_page(layout, &mut t, id, &PeriodQuery::default(), Some(pin)).await?;
    t.scope.commit().await?;
    Ok(page.into_response())
}
