//! Pay rules: `/api/v1/t/{slug}/pay-rules`, and a location's own at
//! `/api/v1/t/{slug}/locations/{location_id}/pay-rules`; and a month's
//! payroll at `/api/v1/t/{slug}/payroll` (JSON, `.xlsx` or `.csv`).

use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use utoipa_axum::routes;

use super::email::{self, PayrollEmail};
use super::forecast::{self, Forecast};
use super::payroll::{self, Payroll};
use super::rules::{self, AllRules, LocationRules, Rules};
use super::workbook;
use crate::dates;
use crate::pages::Month;
use crate::permissions::TimeAction;
use kernel::access::InTenant;
use kernel::api::ErrorBody;
use kernel::error::AppError;
use kernel::http::AppState;
use kernel::http::extract::{Json, Path, Query};
use kernel::http::routes::{Access, Routes};
use kernel::ids::LocationId;
use kernel::pages::attachment;

pub fn routes() -> Routes {
    Routes::new()
        .api(Access::Tenant, routes!(show, update))
        .api(Access::Tenant, routes!(update_location, reset_location))
        .api(Access::Tenant, routes!(payroll))
        .api(Access::Tenant, routes!(payroll_xlsx))
        .api(Access::Tenant, routes!(payroll_csv))
        .api(Access::Tenant, routes!(forecast))
        .api(Access::Tenant, routes!(payroll_email, set_payroll_email))
}

/// The tenant's pay rules and each location's (owners and admins).
#[utoipa::path(get, path = "/api/v1/t/{slug}/pay-rules", tag = "time-tracking",
    params(("slug" = String, Path, description = "The tenant's URL slug")),
    responses((status = 200, body = AllRules), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn show(mut t: InTenant) -> Result<Json<AllRules>, AppError> {
    t.member.authorize(TimeAction::ManagePayRules)?;
    Ok(Json(
        rules::all(&mut t.scope, t.member.location_visibility()).await?,
    ))
}

/// Sets the tenant's pay rules (owners and admins): every location without
/// its own uses them.
#[utoipa::path(put, path = "/api/v1/t/{slug}/pay-rules", tag = "time-tracking",
    params(("slug" = String, Path, description = "The tenant's URL slug")),
    request_body = Rules,
    responses((status = 200, body = AllRules), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub(crate) async fn update(
    mut t: InTenant,
    Json(input): Json<Rules>,
) -> Result<Json<AllRules>, AppError> {
    t.member.authorize(TimeAction::ManagePayRules)?;
    rules::set_tenant(&mut t.scope, &input).await?;
    let all = rules::all(&mut t.scope, t.member.location_visibility()).await?;
    t.scope.commit().await?;
    Ok(Json(all))
}

/// Gives a location its own pay rules (owners and admins).
#[utoipa::path(put, path = "/api/v1/t/{slug}/locations/{location_id}/pay-rules", tag = "time-tracking",
    params(("slug" = String, Path, description = "The tenant's URL slug"), ("location_id" = LocationId, Path)),
    request_body = Rules,
    responses((status = 200, body = LocationRules), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub(crate) async fn update_location(
    t: InTenant,
    Path((_, location)): Path<(String, LocationId)>,
    body: Result<Json<Rules>, AppError>,
) -> Result<Json<LocationRules>, AppError> {
    set_location(t, location, Some(body)).await
}

/// Returns a location to the tenant's pay rules (owners and admins).
#[utoipa::path(delete, path = "/api/v1/t/{slug}/locations/{location_id}/pay-rules", tag = "time-tracking",
    params(("slug" = String, Path, description = "The tenant's URL slug"), ("location_id" = LocationId, Path)),
    responses((status = 200, body = LocationRules), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn reset_location(
    t: InTenant,
    Path((_, location)): Path<(String, LocationId)>,
) -> Result<Json<LocationRules>, AppError> {
    set_location(t, location, None).await
}

/// Sets (`Some`, from a request's body) or clears a location's own rules,
/// once the location is found: one the caller doesn't see is a 404
/// whatever the body.
async fn set_location(
    mut t: InTenant,
    location: LocationId,
    body: Option<Result<Json<Rules>, AppError>>,
) -> Result<Json<LocationRules>, AppError> {
    let visibility = t.member.location_visibility();
    let found = kernel::locations::visible(&mut t, location).await?;
    t.member.authorize(TimeAction::ManagePayRules)?;
    if found.archived_at.is_some() {
        return Err(AppError::Unprocessable(rules::ARCHIVED.into()));
    }
    let input = body.transpose()?.map(|Json(rules)| rules);
    rules::set_location(&mut t.scope, location, input.as_ref()).await?;
    let shown = rules::all(&mut t.scope, visibility)
        .await?
        .locations
        .into_iter()
        .find(|l| l.location_id == location)
        .ok_or(AppError::NotFound)?;
    t.scope.commit().await?;
    Ok(Json(shown))
}

/// Which month: `?month=2026-11` (the payroll's default is last month,
/// the forecast's next month, on the tenant's clock).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct MonthQuery {
    /// `YYYY-MM`.
    #[serde(default)]
    pub month: Option<String>,
}

impl MonthQuery {
    /// The month asked for, or `default` of this month.
    ///
    /// # Errors
    /// 422 for anything but a month.
    pub fn month(&self, time_zone: &str, default: fn(&Month) -> Month) -> Result<Month, AppError> {
        match self.month.as_deref() {
            None | Some("") => Ok(default(&Month::of(dates::today(time_zone)))),
            Some(text) => Month::parse(Some(text))
                .ok_or_else(|| AppError::Unprocessable("month: A month, such as 2026-11.".into())),
        }
    }
}

/// The month's payroll, computed (owners and admins).
async fn computed(
    state: &AppState,
    t: &mut InTenant,
    query: &MonthQuery,
) -> Result<(Month, Payroll), AppError> {
    t.member.authorize(TimeAction::Payroll)?;
    let month = query.month(&t.tenant.time_zone, Month::preceding)?;
    let keys = state.keys()?;
    let payroll = payroll::compute(&mut t.scope, keys, month.first, month.last).await?;
    Ok((month, payroll))
}

/// A month's payroll: each location's lines, and each employee's across
/// locations (owners and admins).
#[utoipa::path(get, path = "/api/v1/t/{slug}/payroll", tag = "time-tracking",
    params(("slug" = String, Path, description = "The tenant's URL slug"), MonthQuery),
    responses((status = 200, body = Payroll), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub(crate) async fn payroll(
    State(state): State<AppState>,
    mut t: InTenant,
    Query(query): Query<MonthQuery>,
) -> Result<Json<Payroll>, AppError> {
    Ok(Json(computed(&state, &mut t, &query).await?.1))
}

/// The month's payroll workbook: a summary sheet and one sheet per
/// location (owners and admins).
#[utoipa::path(get, path = "/api/v1/t/{slug}/payroll.xlsx", tag = "time-tracking",
    params(("slug" = String, Path, description = "The tenant's URL slug"), MonthQuery),
    responses((status = 200, content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", body = Vec<u8>),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn payroll_xlsx(
    State(state): State<AppState>,
    mut t: InTenant,
    Query(query): Query<MonthQuery>,
) -> Result<Response, AppError> {
    kernel::billing::ensure_feature(
        &t.entitlement(),
        &t.tenant.slug,
        &workbook::PAYROLL_WORKBOOK,
    )?;
    let (month, payroll) = computed(&state, &mut t, &query).await?;
    let body = workbook::xlsx(&payroll).map_err(|e| AppError::Internal(e.to_string()))?;
    Ok(attachment(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        &format!("payroll-{}-{}.xlsx", t.tenant.slug, month.key),
        body,
    ))
}

/// The month's payroll as CSV: one row per location and employee (owners
/// and admins).
#[utoipa::path(get, path = "/api/v1/t/{slug}/payroll.csv", tag = "time-tracking",
    params(("slug" = String, Path, description = "The tenant's URL slug"), MonthQuery),
    responses((status = 200, content_type = "text/csv", body = String),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn payroll_csv(
    State(state): State<AppState>,
    mut t: InTenant,
    Query(query): Query<MonthQuery>,
) -> Result<Response, AppError> {
    let (month, payroll) = computed(&state, &mut t, &query).await?;
    let body = workbook::csv(&payroll).map_err(|e| AppError::Internal(e.to_string()))?;
    Ok(attachment(
        "text/csv; charset=utf-8",
        &format!("payroll-{}-{}.csv", t.tenant.slug, month.key),
        body,
    ))
}

/// A month's labour-cost forecast per location: working days by the
/// holiday calendar, and the contracted hours' cost at base rates (owners
/// and admins; default: next month).
#[utoipa::path(get, path = "/api/v1/t/{slug}/forecast", tag = "time-tracking",
    params(("slug" = String, Path, description = "The tenant's URL slug"), MonthQuery),
    responses((status = 200, body = Forecast), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub(crate) async fn forecast(
    mut t: InTenant,
    Query(query): Query<MonthQuery>,
) -> Result<Json<Forecast>, AppError> {
    t.member.authorize(TimeAction::Payroll)?;
    let month = query.month(&t.tenant.time_zone, Month::following)?;
    Ok(Json(
        forecast::compute(
            &mut t.scope,
            t.member.location_visibility(),
            month.first,
            month.last,
        )
        .await?,
    ))
}

/// Where the payroll workbook is emailed on the 1st of each month (owners
/// and admins).
#[utoipa::path(get, path = "/api/v1/t/{slug}/payroll/email", tag = "time-tracking",
    params(("slug" = String, Path, description = "The tenant's URL slug")),
    responses((status = 200, body = PayrollEmail), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn payroll_email(mut t: InTenant) -> Result<Json<PayrollEmail>, AppError> {
    t.member.authorize(TimeAction::Payroll)?;
    Ok(Json(email::accountant(&mut t.scope).await?))
}

/// Sets the accountant's address (`null` stops the monthly email).
#[utoipa::path(put, path = "/api/v1/t/{slug}/payroll/email", tag = "time-tracking",
    params(("slug" = String, Path, description = "The tenant's URL slug")),
    request_body = PayrollEmail,
    responses((status = 200, body = PayrollEmail), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub(crate) async fn set_payroll_email(
    mut t: InTenant,
    Json(input): Json<PayrollEmail>,
) -> Result<Json<PayrollEmail>, AppError> {
    t.member.authorize(TimeAction::Payroll)?;
    let saved = email::set_accountant(&mut t.scope, &input).await?;
    t.scope.commit().await?;
    Ok(Json(saved))
}
