//! Employees: `/api/v1/t/{slug}/employees`.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa_axum::routes;

use super::pin::Pin;
use super::{Employee, EmployeeInput};
use crate::permissions::TimeAction;
use crate::{EmployeeId, dates};
use kernel::access::InTenant;
use kernel::api::ErrorBody;
use kernel::crypto::Keys;
use kernel::error::AppError;
use kernel::http::AppState;
use kernel::http::extract::{Json, Path, Query};
use kernel::http::routes::{Access, Routes};
use kernel::ids::{LocationId, MembershipId};

pub fn routes() -> Routes {
    Routes::new()
        .api(Access::Tenant, routes!(list, create))
        .api(Access::Tenant, routes!(show, update))
        .api(Access::Tenant, routes!(new_pin))
}

/// An employee as the API shows them: with their national id, decrypted.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EmployeeDetails {
    #[serde(flatten)]
    pub employee: Employee,
    /// A national identity number (DNI, SSN); stored encrypted.
    pub national_id: String,
}

impl EmployeeDetails {
    pub(crate) fn of(employee: Employee, keys: &Keys) -> Result<Self, AppError> {
        Ok(Self {
            national_id: employee.national_id(keys)?,
            employee,
        })
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ListQuery {
    /// Only the employees with this national id, however it is written
    /// ("12.345.678-z" finds "12345678Z").
    pub national_id: Option<String>,
}

/// The employees the caller manages (all for owners and admins; those of
/// their locations for managers).
#[utoipa::path(get, path = "/api/v1/t/{slug}/employees", tag = "time-tracking",
    params(("slug" = String, Path, description = "The tenant's URL slug"), ListQuery),
    responses((status = 200, body = [EmployeeDetails]), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn list(
    State(state): State<AppState>,
    mut t: InTenant,
    Query(query): Query<ListQuery>,
) -> Result<Json<Vec<EmployeeDetails>>, AppError> {
    t.member.authorize(TimeAction::ManageEmployees)?;
    let keys = state.keys()?;
    let visibility = t.member.location_visibility();
    let employees = match query.national_id {
        Some(national_id) => {
            let lookup = state.lookup_key()?;
            super::with_national_id(&mut t.scope, lookup, visibility, &national_id).await?
        }
        None => super::list(&mut t.scope, visibility).await?,
    };
    employees
        .into_iter()
        .map(|employee| EmployeeDetails::of(employee, keys))
        .collect::<Result<_, _>>()
        .map(Json)
}

/// An employee, with a PIN that is shown only in this response.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WithPin {
    pub employee: EmployeeDetails,
    /// Four digits, generated; tell the employee, it can't be shown again.
    pub pin: Option<Pin>,
}

/// Hires an employee and issues their kiosk PIN.
#[utoipa::path(post, path = "/api/v1/t/{slug}/employees", tag = "time-tracking",
    params(("slug" = String, Path, description = "The tenant's URL slug")),
    request_body = EmployeeInput,
    responses(
        (status = 201, body = WithPin),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
    ))]
pub(crate) async fn create(
    State(state): State<AppState>,
    mut t: InTenant,
    Json(input): Json<EmployeeInput>,
) -> Result<(StatusCode, Json<WithPin>), AppError> {
    t.member.authorize(TimeAction::ManageEmployees)?;
    let (keys, key) = (state.keys()?, state.lookup_key()?);
    let valid = input.validate(dates::today(&t.tenant.time_zone))?;
    kernel::billing::ensure_room(
        &mut t.scope,
        t.plans,
        &t.tenant.slug,
        &super::ACTIVE_EMPLOYEES,
    )
    .await?;
    let (employee, pin) = super::create(
        &mut t.scope,
        keys,
        t.member.location_visibility(),
        key,
        &valid,
    )
    .await?;
    t.scope.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(WithPin {
            employee: EmployeeDetails::of(employee, keys)?,
            pin: Some(pin),
        }),
    ))
}

async fn visible(t: &mut InTenant, id: EmployeeId) -> Result<Employee, AppError> {
    super::find(&mut t.scope, t.member.location_visibility(), id)
        .await?
        .ok_or(AppError::NotFound)
}

#[utoipa::path(get, path = "/api/v1/t/{slug}/employees/{employee_id}", tag = "time-tracking",
    params(("slug" = String, Path, description = "The tenant's URL slug"), ("employee_id" = EmployeeId, Path)),
    responses((status = 200, body = EmployeeDetails), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn show(
    State(state): State<AppState>,
    mut t: InTenant,
    Path((_, id)): Path<(String, EmployeeId)>,
) -> Result<Json<EmployeeDetails>, AppError> {
    let employee = visible(&mut t, id).await?;
    t.member.authorize(TimeAction::ManageEmployees)?;
    EmployeeDetails::of(employee, state.keys()?).map(Json)
}

/// The fields to change; those left out keep their value.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct EmployeePatch {
    pub name: Option<String>,
    pub employee_number: Option<String>,
    pub national_id: Option<String>,
    #[serde(default, with = "crate::dates::option_date")]
    pub hire_date: Option<time::Date>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "crate::dates::patch_date::deserialize")]
    #[schema(value_type = Option<String>, format = Date)]
    pub leave_date: Option<Option<time::Date>>,
    pub weekly_minutes: Option<i32>,
    pub hourly_rate_cents: Option<i64>,
    pub location_ids: Option<Vec<LocationId>>,
    /// `null` unlinks the member account.
    #[serde(default, deserialize_with = "present")]
    pub membership_id: Option<Option<MembershipId>>,
    /// `false` deactivates (the PIN stops working); `true` again issues a
    /// new PIN.
    pub active: Option<bool>,
}

/// A field that is present, even as `null`: `Some(None)`.
fn present<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Option<MembershipId>>, D::Error> {
    Option::<MembershipId>::deserialize(deserializer).map(Some)
}

/// Changes an employee. A new PIN is returned when one had to be issued
/// (reactivated, or the PIN is taken at a new location).
#[utoipa::path(patch, path = "/api/v1/t/{slug}/employees/{employee_id}", tag = "time-tracking",
    params(("slug" = String, Path, description = "The tenant's URL slug"), ("employee_id" = EmployeeId, Path)),
    request_body = EmployeePatch,
    responses(
        (status = 200, body = WithPin),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
    ))]
pub(crate) async fn update(
    State(state): State<AppState>,
    mut t: InTenant,
    Path((_, id)): Path<(String, EmployeeId)>,
    Json(patch): Json<EmployeePatch>,
) -> Result<Json<WithPin>, AppError> {
    let current = visible(&mut t, id).await?;
    t.member.authorize(TimeAction::ManageEmployees)?;
    let (keys, key) = (state.keys()?, state.lookup_key()?);
    let national_id = match patch.national_id {
        Some(national_id) => national_id,
        None => current.national_id(keys)?,
    };
    let input = EmployeeInput {
        name: patch.name.unwrap_or_else(|| current.name.clone()),
        employee_number: patch
            .employee_number
            .unwrap_or_else(|| current.employee_number.clone()),
        national_id,
        hire_date: Some(patch.hire_date.unwrap_or(current.hire_date)),
        leave_date: patch.leave_date.unwrap_or(current.leave_date),
        weekly_minutes: patch.weekly_minutes.unwrap_or(current.weekly_minutes),
        hourly_rate_cents: patch.hourly_rate_cents.unwrap_or(current.hourly_rate_cents),
        location_ids: patch
            .location_ids
            .unwrap_or_else(|| current.location_ids.clone()),
        membership_id: patch.membership_id.unwrap_or(current.membership_id),
    };
    let valid = input.validate(dates::today(&t.tenant.time_zone))?;
    let active = patch.active.unwrap_or(current.active);
    let (employee, pin) = super::update(
        &mut t.scope,
        keys,
        t.member.location_visibility(),
        key,
        &current,
        &valid,
        active,
    )
    .await?;
    t.scope.commit().await?;
    Ok(Json(WithPin {
        employee: EmployeeDetails::of(employee, keys)?,
        pin,
    }))
}

/// Issues a new PIN to an active employee (the old one stops working).
#[utoipa::path(post, path = "/api/v1/t/{slug}/employees/{employee_id}/pin", tag = "time-tracking",
    params(("slug" = String, Path, description = "The tenant's URL slug"), ("employee_id" = EmployeeId, Path)),
    responses(
        (status = 201, body = WithPin),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
    ))]
pub(crate) async fn new_pin(
    State(state): State<AppState>,
    mut t: InTenant,
    Path((_, id)): Path<(String, EmployeeId)>,
) -> Result<(StatusCode, Json<WithPin>), AppError> {
    let employee = visible(&mut t, id).await?;
    t.member.authorize(TimeAction::ManageEmployees)?;
    if !employee.active {
        return Err(AppError::Conflict(
            "This employee is inactive: reactivate them to issue a PIN.".to_owned(),
        ));
    }
    let (keys, key) = (state.keys()?, state.lookup_key()?);
    let employee = EmployeeDetails::of(employee, keys)?;
    let pin = super::pin::issue(&mut t.scope, key, id).await?;
    t.scope.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(WithPin {
            employee,
            pin: Some(pin),
        }),
    ))
}
