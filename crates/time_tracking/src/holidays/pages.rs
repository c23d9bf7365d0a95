//! The holidays page: one location's calendar for a year, the form that
//! adds a day, and the button that loads a shipped calendar.

use askama::Template;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use tower_sessions::Session;

use super::{Holiday, NewHoliday};
use crate::pages::{Tabs, location_options, refusal};
use crate::permissions::TimeAction;
use crate::{HolidayId, dates};
use kernel::access::InTenant;
use kernel::error::AppError;
use kernel::http::extract::{Form, Path, Query};
use kernel::http::routes::{Access, Routes, get, post};
use kernel::ids::LocationId;
use kernel::pages::{Layout, TenantNav, render};
use kernel::sessions::flash::{self, Flash};
use kernel::validation;

pub fn routes() -> Routes {
    Routes::new()
        .add(
            "/t/{slug}/time/holidays",
            Access::Tenant,
            get(index).post(add),
        )
        .add("/t/{slug}/time/holidays/load", Access::Tenant, post(load))
        .add(
            "/t/{slug}/time/holidays/{holiday_id}/delete",
            Access::Tenant,
            post(remove),
        )
}

#[derive(Template)]
#[template(path = "time_tracking/holidays.html")]
struct IndexPage {
    layout: Layout,
    nav: TenantNav,
    tabs: Tabs,
    locations: Vec<(String, String)>,
    /// The location shown, as the select's value.
    location: String,
    year: i32,
    holidays: Vec<Holiday>,
    calendars: Vec<(String, String)>,
}

/// Which calendar the page shows: `?location_id=…&year=2027`.
#[derive(Debug, Default, Deserialize)]
struct Shown {
    #[serde(default)]
    location_id: Option<LocationId>,
    #[serde(default)]
    year: Option<i32>,
}

async fn index(
    layout: Layout,
    mut t: InTenant,
    Query(shown): Query<Shown>,
) -> Result<Html<String>, AppError> {
    t.member.authorize(TimeAction::ManagePayRules)?;
    let locations = location_options(&mut t, |_| true).await?;
    let location = match shown.location_id {
        Some(id) => Some(id),
        None => locations.first().and_then(|(id, _)| id.parse().ok()),
    };
    let year = shown
        .year
        .unwrap_or_else(|| dates::today(&t.tenant.time_zone).year());
    let holidays = match location {
        Some(id) => {
            kernel::locations::visible(&mut t, id).await?;
            super::list(&mut t.scope, id, Some(year)).await?
        }
        None => Vec::new(),
    };
    render(&IndexPage {
        layout,
        nav: TenantNav::new(&t),
        tabs: Tabs::new(&t.tenant.slug, &t.member, "time/holidays"),
        locations,
        location: location.map(|id| id.to_string()).unwrap_or_default(),
        year,
        holidays,
        calendars: super::calendars()
            .into_iter()
            .map(|c| {
                (
                    c.id.to_owned(),
                    format!("{} ({} days)", c.name, c.holidays.len()),
                )
            })
            .collect(),
    })
}

/// The page showing `location`'s calendar for `year`.
fn back_to(slug: &str, location: LocationId, year: i32) -> Response {
    Redirect::to(&format!(
        "/t/{slug}/time/holidays?location_id={location}&year={year}"
    ))
    .into_response()
}

#[derive(Debug, Deserialize)]
struct AddForm {
    location_id: LocationId,
    #[serde(default)]
    day: String,
    #[serde(default)]
    name: String,
}

async fn add(
    session: Session,
    mut t: InTenant,
    Form(form): Form<AddForm>,
) -> Result<Response, AppError> {
    let location = kernel::locations::visible(&mut t, form.location_id).await?;
    t.member.authorize(TimeAction::ManagePayRules)?;
    let today = dates::today(&t.tenant.time_zone);
    let Some(day) = validation::parse_date(&form.day) else {
        flash::push(&session, Flash::error("Pick the holiday's date.")).await?;
        return Ok(back_to(&t.tenant.slug, location.id, today.year()));
    };
    let input = NewHoliday {
        day,
        name: form.name,
    };
    let message = match super::add(&mut t.scope, &location, &input).await {
        Ok(holiday) => {
            t.scope.commit().await?;
            Flash::success(format!("Added {} on {}.", holiday.name, holiday.day))
        }
        Err(error) => refusal(error)?,
    };
    flash::push(&session, message).await?;
    Ok(back_to(&t.tenant.slug, location.id, day.year()))
}

#[derive(Debug, Deserialize)]
struct LoadForm {
    location_id: LocationId,
    #[serde(default)]
    calendar: String,
}

async fn load(
    session: Session,
    mut t: InTenant,
    Form(form): Form<LoadForm>,
) -> Result<Response, AppError> {
    let location = kernel::locations::visible(&mut t, form.location_id).await?;
    t.member.authorize(TimeAction::ManagePayRules)?;
    let year = dates::today(&t.tenant.time_zone).year();
    let loaded = match super::calendar(&form.calendar) {
        Ok(calendar) => super::load(&mut t.scope, &location, &calendar)
            .await
            .map(|added| (calendar, added)),
        Err(error) => Err(error),
    };
    let message = match loaded {
        Ok((calendar, added)) => {
            t.scope.commit().await?;
            Flash::success(format!(
                "Loaded {} into {}: {added} holidays added.",
                calendar.name, location.name
            ))
        }
        Err(error) => refusal(error)?,
    };
    flash::push(&session, message).await?;
    Ok(back_to(&t.tenant.slug, location.id, year))
}

async fn remove(
    session: Session,
    mut t: InTenant,
    Path((_, id)): Path<(String, HolidayId)>,
) -> Result<Response, AppError> {
    t.member.authorize(TimeAction::ManagePayRules)?;
    let holiday = super::remove(&mut t.scope, id).await?;
    t.scope.commit().await?;
    flash::push(
        &session,
        Flash::success(format!("Removed {} on {}.", holiday.name, holiday.day)),
    )
    .await?;
    Ok(back_to(
        &t.tenant.slug,
        holiday.location_id,
        holiday.day.year(),
    ))
}
