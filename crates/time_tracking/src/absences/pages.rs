//! The absences page: a month's paid absences of the employees the member
//! manages, the form that records one, and removing.

use askama::Template;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use time::Date;
use tower_sessions::Session;

use super::{Absence, AbsenceKind, NewAbsence};
use crate::pages::{Month, Tabs, refusal};
use crate::permissions::TimeAction;
use crate::shifts::duration_label;
use crate::{AbsenceId, dates, employees};
use kernel::access::InTenant;
use kernel::error::AppError;
use kernel::http::extract::{Form, Path, Query};
use kernel::http::routes::{Access, Routes, get, post};
use kernel::pages::{Layout, TenantNav, render};
use kernel::sessions::flash::{self, Flash};
use kernel::validation;

pub fn routes() -> Routes {
    Routes::new()
        .add(
            "/t/{slug}/time/absences",
            Access::Tenant,
            get(index).post(add),
        )
        .add(
            "/t/{slug}/time/absences/{absence_id}/delete",
            Access::Tenant,
            post(remove),
        )
}

#[derive(Template)]
#[template(path = "time_tracking/absences.html")]
struct IndexPage {
    layout: Layout,
    nav: TenantNav,
    tabs: Tabs,
    month: Month,
    absences: Vec<(Absence, String)>,
    employees: Vec<(String, String)>,
    kinds: Vec<(String, String)>,
}

#[derive(Debug, Default, Deserialize)]
struct MonthQuery {
    #[serde(default)]
    month: Option<String>,
}

async fn index(
    layout: Layout,
    mut t: InTenant,
    Query(query): Query<MonthQuery>,
) -> Result<Html<String>, AppError> {
    t.member.authorize(TimeAction::RecordAbsences)?;
    let today = dates::today(&t.tenant.time_zone);
    let month = Month::parse(query.month.as_deref()).unwrap_or_else(|| Month::of(today));
    // By name, active first.
    let managed: Vec<_> = employees::list(&mut t.scope, t.member.location_visibility())
        .await?
        .into_iter()
        .filter(|e| e.active)
        .map(|e| (e.id, e.name))
        .collect();
    let readable = employees::readable_all(&mut t).await?;
    let absences = super::list(&mut t.scope, None, month.first, month.last)
        .await?
        .into_iter()
        .filter(|a| readable.contains_key(&a.employee_id))
        .map(|a| {
            let hours = duration_label(i64::from(a.minutes));
            (a, hours)
        })
        .collect();
    render(&IndexPage {
        layout,
        nav: TenantNav::new(&t),
        tabs: Tabs::new(&t.tenant.slug, &t.member, "time/absences"),
        month,
        absences,
        employees: managed
            .into_iter()
            .map(|(id, name)| (id.to_string(), name))
            .collect(),
        kinds: AbsenceKind::ALL
            .into_iter()
            .map(|k| (k.as_str().to_owned(), k.label().to_owned()))
            .collect(),
    })
}

fn back_to(slug: &str, day: Date) -> Response {
    Redirect::to(&format!(
        "/t/{slug}/time/absences?month={}",
        Month::of(day).key
    ))
    .into_response()
}

#[derive(Debug, Default, Deserialize)]
struct AddForm {
    #[serde(default)]
    employee_id: String,
    #[serde(default)]
    day: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    hours: String,
    #[serde(default)]
    note: String,
}

impl AddForm {
    /// The absence the form describes, or what is wrong with it.
    fn absence(&self) -> Result<NewAbsence, &'static str> {
        let employee_id = self.employee_id.parse().map_err(|_| "Pick an employee.")?;
        let day = validation::parse_date(&self.day).ok_or("Pick the day.")?;
        let kind = AbsenceKind::parse(&self.kind).ok_or("Pick the kind of absence.")?;
        let minutes = dates::parse_hours(&self.hours, 24)
            .filter(|m| *m > 0)
            .ok_or("Give the paid hours, such as 8 or 7:30.")?;
        Ok(NewAbsence {
            employee_id,
            day,
            kind,
            minutes,
            note: self.note.clone(),
        })
    }
}

async fn add(
    session: Session,
    mut t: InTenant,
    Form(form): Form<AddForm>,
) -> Result<Response, AppError> {
    t.member.authorize(TimeAction::RecordAbsences)?;
    let today = dates::today(&t.tenant.time_zone);
    let input = match form.absence() {
        Ok(input) => input,
        Err(problem) => {
            flash::push(&session, Flash::error(problem)).await?;
            return Ok(back_to(&t.tenant.slug, today));
        }
    };
    let employee = employees::find(
        &mut t.scope,
        t.member.location_visibility(),
        input.employee_id,
    )
    .await?
    .ok_or(AppError::NotFound)?;
    let message = match super::record(&mut t.scope, t.member.author(), &employee, &input).await {
        Ok(absence) => {
            t.scope.commit().await?;
            Flash::success(format!(
                "Recorded {} for {} on {}.",
                absence.kind.label().to_lowercase(),
                absence.employee_name,
                absence.day
            ))
        }
        Err(error) => refusal(error)?,
    };
    flash::push(&session, message).await?;
    Ok(back_to(&t.tenant.slug, input.day))
}

async fn remove(
    session: Session,
    mut t: InTenant,
    Path((_, id)): Path<(String, AbsenceId)>,
) -> Result<Response, AppError> {
    let absence = super::removable(&mut t, id).await?;
    super::remove(&mut t.scope, id).await?;
    t.scope.commit().await?;
    flash::push(
        &session,
        Flash::success(format!(
            "Removed {}'s absence on {}.",
            absence.employee_name, absence.day
        )),
    )
    .await?;
    Ok(back_to(&t.tenant.slug, absence.day))
}
