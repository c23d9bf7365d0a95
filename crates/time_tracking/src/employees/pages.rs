//! The employees page: the list with the hire form (each employee's
//! timesheet is [`super::timesheet`]).

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;

use super::pin::Pin;
use super::{Employee, EmployeeInput};
use crate::dates;
use crate::pages::{Places, Tabs, location_options};
use crate::permissions::TimeAction;
use kernel::access::InTenant;
use kernel::error::AppError;
use kernel::http::AppState;
use kernel::http::extract::Form;
use kernel::http::routes::{Access, Routes, get};
use kernel::pages::{Layout, TenantNav, render};
use kernel::validation::{self, FieldErrors, WriteError};

pub fn routes() -> Routes {
    Routes::new().add("/t/{slug}/employees", Access::Tenant, get(index).post(hire))
}

/// The hire form, as text (numbers and dates are checked here).
#[derive(Debug, Default, Deserialize)]
struct HireForm {
    name: String,
    employee_number: String,
    #[serde(default)]
    national_id: String,
    #[serde(default)]
    hire_date: String,
    /// Hours a week, "40" or "37.5".
    #[serde(default)]
    weekly_hours: String,
    /// Per hour, "12.50".
    #[serde(default)]
    hourly_rate: String,
    #[serde(default)]
    location_id: String,
}

/// "12.5" as 1250: a non-negative amount with at most two decimals.
fn hundredths(text: &str) -> Option<i64> {
    let text = text.trim();
    if text.is_empty() {
        return Some(0);
    }
    let (whole, fraction) = text.split_once(['.', ',']).unwrap_or((text, ""));
    if fraction.len() > 2 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole: i64 = whole.parse().ok().filter(|w| *w >= 0)?;
    let fraction: i64 = format!("{fraction:0<2}").parse().ok()?;
    whole.checked_mul(100)?.checked_add(fraction)
}

impl HireForm {
    /// The fields the form shows an error beside.
    const FIELDS: &[&str] = &[
        "name",
        "employee_number",
        "national_id",
        "hire_date",
        "weekly_hours",
        "hourly_rate",
        "location_id",
    ];

    fn input(&self) -> Result<EmployeeInput, FieldErrors> {
        let mut errors = FieldErrors::default();
        let hire_date = match self.hire_date.trim() {
            "" => None,
            text => validation::parse_date(text).or_else(|| {
                errors.add("hire_date", "A date, such as 2026-11-23.");
                None
            }),
        };
        let weekly_minutes = match self.weekly_hours.trim() {
            "" => Some(0),
            text => dates::parse_hours(text, 168),
        }
        .unwrap_or_else(|| {
            errors.add("weekly_hours", "Hours a week, such as 40 or 37.5.");
            0
        });
        let hourly_rate_cents = hundredths(&self.hourly_rate).unwrap_or_else(|| {
            errors.add("hourly_rate", "An amount, such as 12.50.");
            0
        });
        let location_ids = self
            .location_id
            .parse()
            .map(|id| vec![id])
            .unwrap_or_else(|_| {
                errors.add("location_id", "Pick a location.");
                Vec::new()
            });
        errors.or_ok(EmployeeInput {
            name: self.name.clone(),
            employee_number: self.employee_number.clone(),
            national_id: self.national_id.clone(),
            hire_date,
            leave_date: None,
            weekly_minutes,
            hourly_rate_cents,
            location_ids,
            membership_id: None,
        })
    }
}

#[derive(Template)]
#[template(path = "time_tracking/employees.html")]
struct IndexPage {
    layout: Layout,
    nav: TenantNav,
    tabs: Tabs,
    employees: Vec<(Employee, String)>,
    locations: Vec<(String, String)>,
    form: HireForm,
    errors: FieldErrors,
    /// The employee just hired, with their PIN: shown this once.
    hired: Option<(Employee, Pin)>,
}

async fn index_page(
    layout: Layout,
    t: &mut InTenant,
    form: HireForm,
    errors: FieldErrors,
    hired: Option<(Employee, Pin)>,
) -> Result<Html<String>, AppError> {
    t.member.authorize(TimeAction::ManageEmployees)?;
    let places = Places::load(&mut t.scope).await?;
    let employees = super::list(&mut t.scope, t.member.location_visibility())
        .await?
        .into_iter()
        .map(|e| {
            let names: Vec<String> = e.location_ids.iter().map(|id| places.name(*id)).collect();
            (e, names.join(", "))
        })
        .collect();
    let locations = location_options(t, |_| true).await?;
    render(&IndexPage {
        layout,
        nav: TenantNav::new(t),
        tabs: Tabs::new(&t.tenant.slug, &t.member, "employees"),
        employees,
        locations,
        form,
        errors,
        hired,
    })
}

async fn index(layout: Layout, mut t: InTenant) -> Result<Html<String>, AppError> {
    index_page(
        layout,
        &mut t,
        HireForm::default(),
        FieldErrors::default(),
        None,
    )
    .await
}

/// Hires from the form and shows the new PIN on the page that answers (it
/// is never stored in plaintext, not even in the session).
async fn hire(
    State(state): State<AppState>,
    layout: Layout,
    mut t: InTenant,
    Form(form): Form<HireForm>,
) -> Result<Response, AppError> {
    t.member.authorize(TimeAction::ManageEmployees)?;
    let (keys, key) = (state.keys()?, state.lookup_key()?);
    let today = dates::today(&t.tenant.time_zone);
    let valid = match form.input().and_then(|input| input.validate(today)) {
        Ok(valid) => valid,
        Err(errors) => {
            let page = index_page(layout, &mut t, form, errors, None).await?;
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
        }
    };
    kernel::billing::ensure_room(
        &mut t.scope,
        t.plans,
        &t.tenant.slug,
        &super::ACTIVE_EMPLOYEES,
    )
    .await?;
    match super::create(
        &mut t.scope,
        keys,
        t.member.location_visibility(),
        key,
        &valid,
    )
    .await
    {
        Ok(hired) => {
            let page = index_page(
                layout,
                &mut t,
                HireForm::default(),
                FieldErrors::default(),
                Some(hired),
            )
            .await?;
            t.scope.commit().await?;
            Ok((StatusCode::CREATED, page).into_response())
        }
        Err(WriteError::Invalid(errors)) => {
            let errors = errors.beside(HireForm::FIELDS);
            let page = index_page(layout, &mut t, form, errors, None).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(WriteError::Failed(error)) => Err(error),
    }
}
