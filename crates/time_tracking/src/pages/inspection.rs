//! The labour inspection export: every employee's days on a range,
//! printable and as CSV.

use std::collections::HashSet;

use askama::Template;
use axum::extract::State;
use axum::response::{Html, Response};
use serde::Deserialize;
use time::OffsetDateTime;

use super::{Places, ShiftView, Tabs};
use crate::dates;
use crate::employees::{self, Employee};
use crate::permissions::TimeAction;
use crate::shifts::api::Range;
use crate::shifts::{self, Days};
use kernel::access::InTenant;
use kernel::crypto::Keys;
use kernel::error::AppError;
use kernel::http::AppState;
use kernel::http::extract::Query;
use kernel::http::routes::{Access, Routes, get};
use kernel::ids::LocationId;
use kernel::pages::{Layout, TenantNav, attachment, render};

pub(super) fn routes() -> Routes {
    Routes::new()
        .add("/t/{slug}/time/inspection", Access::Tenant, get(page))
        .add("/t/{slug}/time/inspection.csv", Access::Tenant, get(csv))
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
    let visible: HashSet<LocationId> = kernel::locations::list(
        &mut t.scope,
        t.member.location_visibility(),
        kernel::locations::Page::ALL,
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

async fn page(
    State(state): State<AppState>,
    layout: Layout,
    mut t: InTenant,
    Query(query): Query<InspectionQuery>,
) -> Result<Html<String>, AppError> {
    let inspection = inspection_of(&mut t, state.keys()?, &query).await?;
    let mut locations = vec![(String::new(), "All locations".to_owned())];
    locations.extend(
        kernel::locations::list(
            &mut t.scope,
            t.member.location_visibility(),
            kernel::locations::Page::ALL,
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
async fn csv(
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
