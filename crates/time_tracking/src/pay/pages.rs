//! The pay rules page: the tenant's rules, and each location's (its own, or
//! the tenant's); and the payroll page: a month's summary, with the
//! workbook and CSV to download.

use askama::Template;
use axum::extract::State;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use tower_sessions::Session;

use super::api::MonthQuery;
use super::payroll::{self, Line};
use super::rules::{self, Rules};
use crate::dates;
use crate::pages::{Month, Tabs, refusal};
use crate::permissions::TimeAction;
use kernel::access::InTenant;
use kernel::error::AppError;
use kernel::http::AppState;
use kernel::http::extract::{Form, Path, Query};
use kernel::http::routes::{Access, Routes, get, post};
use kernel::ids::LocationId;
use kernel::pages::{Layout, TenantNav, render};
use kernel::sessions::flash::{self, Flash};

pub fn routes() -> Routes {
    Routes::new()
        .add(
            "/t/{slug}/time/pay-rules",
            Access::Tenant,
            get(index).post(update),
        )
        .add(
            "/t/{slug}/time/pay-rules/{location_id}",
            Access::Tenant,
            post(update_location),
        )
        .add(
            "/t/{slug}/time/pay-rules/{location_id}/reset",
            Access::Tenant,
            post(reset_location),
        )
        .add("/t/{slug}/time/payroll", Access::Tenant, get(payroll))
        .add(
            "/t/{slug}/time/payroll/email",
            Access::Tenant,
            post(set_payroll_email),
        )
}

/// A set of rules as the page shows it: a sentence, and the form's
/// (name, label, value) fields.
struct RulesView {
    summary: String,
    fields: [(&'static str, &'static str, String); 4],
}

impl RulesView {
    fn of(rules: Rules) -> Self {
        let limit = |minutes: Option<i32>, per: &str, period: &str| {
            minutes.map_or_else(
                || format!("no {period} limit"),
                |m| format!("{} {per}", hours_text(m)),
            )
        };
        Self {
            summary: format!(
                "Overtime past {} and {}, paid at {} %; Sundays and holidays at {} %.",
                limit(rules.daily_overtime_minutes, "a day", "daily"),
                limit(rules.weekly_overtime_minutes, "a week", "weekly"),
                rules.overtime_percent,
                rules.sunday_holiday_percent
            ),
            fields: [
                (
                    "daily_hours",
                    "Overtime after, hours a day (empty: no daily limit)",
                    rules
                        .daily_overtime_minutes
                        .map(hours_text)
                        .unwrap_or_default(),
                ),
                (
                    "weekly_hours",
                    "Overtime after, hours a week (empty: no weekly limit)",
                    rules
                        .weekly_overtime_minutes
                        .map(hours_text)
                        .unwrap_or_default(),
                ),
                (
                    "overtime_percent",
                    "Overtime pay, % of the hourly rate",
                    rules.overtime_percent.to_string(),
                ),
                (
                    "sunday_holiday_percent",
                    "Sunday and holiday pay, % of the hourly rate",
                    rules.sunday_holiday_percent.to_string(),
                ),
            ],
        }
    }
}

/// "9 h", "7:30 h".
fn hours_text(minutes: i32) -> String {
    match minutes % 60 {
        0 => format!("{} h", minutes / 60),
        rest => format!("{}:{rest:02} h", minutes / 60),
    }
}

#[derive(Template)]
#[template(path = "time_tracking/pay_rules.html")]
struct IndexPage {
    layout: Layout,
    nav: TenantNav,
    tabs: Tabs,
    tenant: RulesView,
    /// (location id, name, whether it has its own rules, its rules in force)
    locations: Vec<(String, String, bool, RulesView)>,
}

async fn index(layout: Layout, mut t: InTenant) -> Result<Html<String>, AppError> {
    t.member.authorize(TimeAction::ManagePayRules)?;
    let all = rules::all(&mut t.scope, t.member.location_visibility()).await?;
    render(&IndexPage {
        layout,
        nav: TenantNav::new(&t),
        tabs: Tabs::new(&t.tenant.slug, &t.member, "time/pay-rules"),
        tenant: RulesView::of(all.tenant),
        locations: all
            .locations
            .into_iter()
            .map(|l| {
                (
                    l.location_id.to_string(),
                    l.location_name,
                    l.own.is_some(),
                    RulesView::of(l.effective),
                )
            })
            .collect(),
    })
}

/// The rules form: hours (`9`, `7:30`; empty for no limit) and percents.
#[derive(Debug, Default, Deserialize)]
struct RulesForm {
    #[serde(default)]
    daily_hours: String,
    #[serde(default)]
    weekly_hours: String,
    #[serde(default)]
    overtime_percent: String,
    #[serde(default)]
    sunday_holiday_percent: String,
}

impl RulesForm {
    fn rules(&self) -> Result<Rules, &'static str> {
        let limit = |text: &str, max_hours| {
            let text = text.trim().trim_end_matches('h').trim();
            if text.is_empty() {
                Ok(None)
            } else {
                dates::parse_hours(text, max_hours).map(Some).ok_or(())
            }
        };
        let percent = |text: &str| text.trim().trim_end_matches('%').trim().parse().ok();
        Ok(Rules {
            daily_overtime_minutes: limit(&self.daily_hours, 24)
                .map_err(|()| "Hours a day: a number of hours up to 24, or empty for no limit.")?,
            weekly_overtime_minutes: limit(&self.weekly_hours, 168).map_err(
                |()| "Hours a week: a number of hours up to 168, or empty for no limit.",
            )?,
            overtime_percent: percent(&self.overtime_percent)
                .ok_or("Overtime pay: a percentage, such as 125.")?,
            sunday_holiday_percent: percent(&self.sunday_holiday_percent)
                .ok_or("Sunday and holiday pay: a percentage, such as 175.")?,
        })
    }
}

/// Applies a form's change and says how it went, as a flash on the page.
async fn apply(
    session: &Session,
    mut t: InTenant,
    change: Result<Option<LocationId>, &'static str>,
    form: &RulesForm,
    done: String,
) -> Result<Response, AppError> {
    let page = format!("/t/{}/time/pay-rules", t.tenant.slug);
    let outcome = match (change, form.rules()) {
        (Err(problem), _) | (_, Err(problem)) => Err(AppError::Unprocessable(problem.into())),
        (Ok(None), Ok(rules)) => rules::set_tenant(&mut t.scope, &rules).await,
        (Ok(Some(location)), Ok(rules)) => {
            rules::set_location(&mut t.scope, location, Some(&rules)).await
        }
    };
    let message = match outcome {
        Ok(()) => {
            t.scope.commit().await?;
            Flash::success(done)
        }
        Err(error) => refusal(error)?,
    };
    flash::push(session, message).await?;
    Ok(Redirect::to(&page).into_response())
}

async fn update(
    session: Session,
    t: InTenant,
    Form(form): Form<RulesForm>,
) -> Result<Response, AppError> {
    t.member.authorize(TimeAction::ManagePayRules)?;
    apply(
        &session,
        t,
        Ok(None),
        &form,
        "Saved the pay rules.".to_owned(),
    )
    .await
}

async fn update_location(
    session: Session,
    mut t: InTenant,
    Path((_, location)): Path<(String, LocationId)>,
    Form(form): Form<RulesForm>,
) -> Result<Response, AppError> {
    let found = kernel::locations::visible(&mut t, location).await?;
    t.member.authorize(TimeAction::ManagePayRules)?;
    let change = match found.archived_at {
        Some(_) => Err(rules::ARCHIVED),
        None => Ok(Some(location)),
    };
    let done = format!("{} now has its own pay rules.", found.name);
    apply(&session, t, change, &form, done).await
}

async fn reset_location(
    session: Session,
    mut t: InTenant,
    Path((_, location)): Path<(String, LocationId)>,
) -> Result<Response, AppError> {
    let found = kernel::locations::visible(&mut t, location).await?;
    t.member.authorize(TimeAction::ManagePayRules)?;
    rules::set_location(&mut t.scope, location, None).await?;
    t.scope.commit().await?;
    flash::push(
        &session,
        Flash::success(format!("{} uses the company's pay rules.", found.name)),
    )
    .await?;
    Ok(Redirect::to(&format!("/t/{}/time/pay-rules", t.tenant.slug)).into_response())
}

/// A payroll line as the page shows it.
struct LineView {
    national_id: String,
    name: String,
    base: String,
    overtime: String,
    holiday: String,
    sunday_holiday: String,
    gross: String,
}

impl LineView {
    fn of(line: &Line, currency: &str) -> Self {
        let hours = crate::shifts::duration_label;
        Self {
            national_id: line.national_id.clone(),
            name: line.name.clone(),
            base: hours(line.base_minutes),
            overtime: hours(line.overtime_minutes),
            holiday: hours(line.holiday_minutes),
            sunday_holiday: hours(line.sunday_holiday_minutes),
            gross: money(line.gross_cents, currency),
        }
    }
}

/// "1,234.56 EUR".
pub fn money(cents: i64, currency: &str) -> String {
    let units = (cents / 100).to_string();
    let mut grouped = String::new();
    for (i, digit) in units.chars().enumerate() {
        if i > 0 && (units.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    format!("{grouped}.{:02} {currency}", cents % 100)
}

#[derive(Template)]
#[template(path = "time_tracking/payroll.html")]
struct PayrollPage {
    layout: Layout,
    nav: TenantNav,
    tabs: Tabs,
    month: Month,
    summary: Vec<LineView>,
    total: LineView,
    /// (location, its total)
    locations: Vec<(String, LineView)>,
    accountant_email: String,
}

async fn payroll(
    State(state): State<AppState>,
    layout: Layout,
    mut t: InTenant,
    Query(query): Query<MonthQuery>,
) -> Result<Html<String>, AppError> {
    t.member.authorize(TimeAction::Payroll)?;
    let month = query.month(&t.tenant.time_zone, Month::preceding)?;
    let keys = state.keys()?;
    let payroll = payroll::compute(&mut t.scope, keys, month.first, month.last).await?;
    let accountant_email = super::email::accountant(&mut t.scope)
        .await?
        .accountant_email
        .unwrap_or_default();
    let currency = payroll.currency;
    render(&PayrollPage {
        layout,
        nav: TenantNav::new(&t),
        tabs: Tabs::new(&t.tenant.slug, &t.member, "time/payroll"),
        month,
        summary: payroll
            .summary
            .iter()
            .map(|line| LineView::of(line, currency))
            .collect(),
        total: LineView::of(&payroll.total, currency),
        locations: payroll
            .sheets
            .iter()
            .map(|sheet| {
                (
                    sheet.location_name.clone(),
                    LineView::of(&sheet.total, currency),
                )
            })
            .collect(),
        accountant_email,
    })
}

#[derive(Debug, Default, Deserialize)]
struct AccountantForm {
    #[serde(default)]
    accountant_email: String,
}

async fn set_payroll_email(
    session: Session,
    mut t: InTenant,
    Form(form): Form<AccountantForm>,
) -> Result<Response, AppError> {
    t.member.authorize(TimeAction::Payroll)?;
    let input = super::email::PayrollEmail {
        accountant_email: Some(form.accountant_email),
    };
    let message = match super::email::set_accountant(&mut t.scope, &input).await {
        Ok(saved) => {
            t.scope.commit().await?;
            Flash::success(match saved.accountant_email {
                Some(to) => {
                    format!("The payroll will be emailed to {to} on the 1st of each month.")
                }
                None => "The payroll won't be emailed.".to_owned(),
            })
        }
        Err(error) => refusal(error)?,
    };
    flash::push(&session, message).await?;
    Ok(Redirect::to(&format!("/t/{}/time/payroll", t.tenant.slug)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_is_grouped_by_thousands() {
        assert_eq!(money(0, "EUR"), "0.00 EUR");
        assert_eq!(money(91_200, "EUR"), "912.00 EUR");
        assert_eq!(money(123_456_789, "EUR"), "1,234,567.89 EUR");
    }
}
