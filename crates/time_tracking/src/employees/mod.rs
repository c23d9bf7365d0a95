//! Employees: the people whose working time is recorded. An employee works
//! at one or more locations, may be linked to a member account (so they can
//! sign in, see their own records and download them: [`records`]), and
//! punches at a kiosk with a PIN ([`pin`]). A manager reaches the employees
//! of the locations granted to them; owners and admins reach all.

pub mod api;
pub mod pages;
pub mod pin;
pub mod records;
pub mod timesheet;

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};

use super::EmployeeId;
use super::EmployeeLocationId;
use super::permissions::TimeAction;
use kernel::access::InTenant;
use kernel::billing::Quota;
use kernel::crypto::{Keys, LookupKey};
use kernel::error::AppError;
use kernel::ids::{LocationId, MembershipId};
use kernel::tenancy::TenantScope;
use kernel::tenancy::permissions::LocationVisibility;
use kernel::validation::{self, FieldErrors, WriteError};
use kernel::{on_tx, row};

/// Active employees: what a plan's limit on employees counts, and what
/// this module sells by (the seat of per-seat plans, `Capability::seat`).
pub const ACTIVE_EMPLOYEES: Quota = Quota {
    key: "active_employees",
    noun: "active employees",
    one: "active employee",
    count: |scope| Box::pin(count_active(scope)),
};

async fn count_active(scope: &mut TenantScope) -> Result<i64, sqlx::Error> {
    let tenant = scope.tenant_id();
    on_tx!(scope.tx(), |conn| sqlx::query_scalar(
        "SELECT count(*) FROM employees WHERE tenant_id = $1 AND active"
    )
    .bind(tenant)
    .fetch_one(conn)
    .await)
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Employee {
    pub id: EmployeeId,
    pub name: String,
    /// The tenant's own number for the employee (payroll), unique in it.
    pub employee_number: String,
    /// A national identity number (DNI, SSN), as the labour inspector asks:
    /// as stored (encrypted), read with [`Employee::national_id`].
    #[serde(skip)]
    sealed_national_id: String,
    #[serde(with = "super::dates::date")]
    pub hire_date: Date,
    #[serde(with = "super::dates::option_date")]
    pub leave_date: Option<Date>,
    /// Contracted working time per week, in minutes (40 h = 2400).
    pub weekly_minutes: i32,
    /// Gross pay per hour, in the tenant's currency's minor unit (cents).
    pub hourly_rate_cents: i64,
    /// Inactive employees keep their records but have no PIN.
    pub active: bool,
    /// The member account linked to the employee, if any.
    pub membership_id: Option<MembershipId>,
    pub location_ids: Vec<LocationId>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

row! {
    /// An employee as [`select`] reads them (without their locations).
    struct EmployeeRow {
        id: EmployeeId,
        name: String,
        employee_number: String,
        national_id: String,
        hire_date: Date,
        leave_date: Option<Date>,
        weekly_minutes: i32,
        hourly_rate_cents: i64,
        active: bool,
        membership_id: Option<MembershipId>,
        created_at: OffsetDateTime,
    }
}

row! {
    /// A location an employee works at.
    struct EmployeeLocation {
        employee_id: EmployeeId,
        location_id: LocationId,
    }
}

row! {
    /// Whether another employee already has the number, or the membership.
    struct Taken {
        number: bool,
        member: bool,
    }
}

/// National ids are personal data: encrypted by the app before they reach
/// the database (`crypto::sealed`), and found by their blind index.
pub mod national_id {
    use kernel::crypto::sealed::{BlindIndex, SealedColumn};

    pub const SEALED: SealedColumn = SealedColumn {
        table: "employees",
        column: "national_id",
        purpose: "national_id",
        tenant_owned: true,
        blind_index: Some(BlindIndex {
            column: "national_id_index",
            normalize,
        }),
        credential: false,
    };

    /// "12.345.678-z" and "12345678Z" are the same id.
    fn normalize(id: &str) -> String {
        id.chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_uppercase())
            .collect()
    }
}

impl Employee {
    /// The employee's national identity number (DNI, SSN), decrypted.
    ///
    /// # Errors
    /// When it was encrypted with a key no longer configured, or changed.
    pub fn national_id(&self, keys: &Keys) -> Result<String, AppError> {
        national_id::SEALED
            .open(keys, self.id, &self.sealed_national_id)
            .map_err(|error| AppError::Internal(format!("national id of {}: {error}", self.id)))
    }

    fn from_row(row: EmployeeRow, location_ids: Vec<LocationId>) -> Self {
        Self {
            id: row.id,
            name: row.name,
            employee_number: row.employee_number,
            sealed_national_id: row.national_id,
            hire_date: row.hire_date,
            leave_date: row.leave_date,
            weekly_minutes: row.weekly_minutes,
            hourly_rate_cents: row.hourly_rate_cents,
            active: row.active,
            membership_id: row.membership_id,
            location_ids,
            created_at: row.created_at,
        }
    }
}

/// An employee's editable fields, as the JSON API and forms send them.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct EmployeeInput {
    pub name: String,
    pub employee_number: String,
    #[serde(default)]
    pub national_id: String,
    /// Default: today.
    #[serde(default, with = "super::dates::option_date")]
    pub hire_date: Option<Date>,
    #[serde(default, with = "super::dates::option_date")]
    pub leave_date: Option<Date>,
    #[serde(default)]
    pub weekly_minutes: i32,
    #[serde(default)]
    pub hourly_rate_cents: i64,
    /// At least one location, each one the caller sees.
    pub location_ids: Vec<LocationId>,
    #[serde(default)]
    pub membership_id: Option<MembershipId>,
}

/// Checked input, ready to store.
#[derive(Clone, Debug)]
pub struct ValidEmployee {
    pub name: String,
    pub employee_number: String,
    pub national_id: String,
    pub hire_date: Date,
    pub leave_date: Option<Date>,
    pub weekly_minutes: i32,
    pub hourly_rate_cents: i64,
    pub location_ids: Vec<LocationId>,
    pub membership_id: Option<MembershipId>,
}

impl EmployeeInput {
    /// Trimmed and checked (the locations' visibility is checked on write).
    ///
    /// # Errors
    /// Each field that is wrong, with a message.
    pub fn validate(&self, today: Date) -> Result<ValidEmployee, FieldErrors> {
        let mut errors = FieldErrors::default();
        let hire_date = self.hire_date.unwrap_or(today);
        if self.leave_date.is_some_and(|leave| leave < hire_date) {
            errors.add(
                "leave_date",
                "The leave date can't be before the hire date.",
            );
        }
        if !(0..=7 * 24 * 60).contains(&self.weekly_minutes) {
            errors.add("weekly_minutes", "From 0 to 10080 minutes (a whole week).");
        }
        if self.hourly_rate_cents < 0 {
            errors.add("hourly_rate_cents", "Can't be negative.");
        }
        let mut location_ids = self.location_ids.clone();
        location_ids.sort();
        location_ids.dedup();
        if location_ids.is_empty() {
            errors.add("location_ids", "Pick at least one location.");
        }
        let valid = ValidEmployee {
            name: validation::text(&mut errors, "name", &self.name, true, 100),
            employee_number: validation::text(
                &mut errors,
                "employee_number",
                &self.employee_number,
                true,
                30,
            ),
            national_id: validation::text(&mut errors, "national_id", &self.national_id, false, 30),
            hire_date,
            leave_date: self.leave_date,
            weekly_minutes: self.weekly_minutes,
            hourly_rate_cents: self.hourly_rate_cents,
            location_ids,
            membership_id: self.membership_id,
        };
        errors.or_ok(valid)
    }
}

/// The employees the member sees, active ones first, by name.
pub async fn list(
    scope: &mut TenantScope,
    visibility: LocationVisibility,
) -> Result<Vec<Employee>, sqlx::Error> {
    select(scope, visibility, Only::All).await
}

/// One employee, if the member sees them.
pub async fn find(
    scope: &mut TenantScope,
    visibility: LocationVisibility,
    id: EmployeeId,
) -> Result<Option<Employee>, sqlx::Error> {
    Ok(select(scope, visibility, Only::Id(id)).await?.pop())
}

/// The employees the member sees with this national id (however it is
/// written: see [`national_id::SEALED`]), found by its blind index.
pub async fn with_national_id(
    scope: &mut TenantScope,
    lookup: &LookupKey,
    visibility: LocationVisibility,
    national_id: &str,
) -> Result<Vec<Employee>, sqlx::Error> {
    match national_id::SEALED.digest(lookup, national_id) {
        Some(digest) => select(scope, visibility, Only::NationalId(digest)).await,
        None => Ok(Vec::new()),
    }
}

/// Which employees [`select`] reads.
enum Only {
    All,
    Id(EmployeeId),
    /// By the blind index of their national id.
    NationalId(String),
}

/// The employees the member sees (owners and admins all, others those
/// working at a location granted to them), or just `only`.
async fn select(
    scope: &mut TenantScope,
    visibility: LocationVisibility,
    only: Only,
) -> Result<Vec<Employee>, sqlx::Error> {
    let tenant = scope.tenant_id();
    let (id, digest) = match only {
        Only::All => (None, None),
        Only::Id(id) => (Some(id), None),
        Only::NationalId(digest) => (None, Some(digest)),
    };
    let by_id = kernel::db::optional_filter("e.id = $4", "$4", id.is_some());
    let by_national_id =
        kernel::db::optional_filter("e.national_id_index = $5", "$5", digest.is_some());
    let sql = format!(
        "SELECT e.id, e.name, e.employee_number, e.national_id, e.hire_date, e.leave_date, \
             e.weekly_minutes, e.hourly_rate_cents, e.active, e.membership_id, e.created_at \
         FROM employees e WHERE e.tenant_id = $1 AND {by_id} AND {by_national_id} \
         AND ($2 OR EXISTS (SELECT 1 FROM employee_locations el \
             JOIN location_grants g ON g.tenant_id = el.tenant_id AND g.location_id = el.location_id \
             WHERE el.tenant_id = e.tenant_id AND el.employee_id = e.id AND g.membership_id = $3)) \
         ORDER BY e.active DESC, lower(e.name), e.id"
    );
    let rows: Vec<EmployeeRow> = on_tx!(scope.tx(), |conn| {
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(tenant)
            .bind(visibility.all)
            .bind(visibility.membership)
            .bind(id)
            .bind(&digest)
            .fetch_all(conn)
            .await
    })?;
    let mut locations = locations_of(scope, id).await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let ids = locations.remove(&row.id).unwrap_or_default();
            Employee::from_row(row, ids)
        })
        .collect())
}

/// The locations of one employee, or of all, by employee.
async fn locations_of(
    scope: &mut TenantScope,
    employee: Option<EmployeeId>,
) -> Result<std::collections::HashMap<EmployeeId, Vec<LocationId>>, sqlx::Error> {
    let tenant = scope.tenant_id();
    let by_employee = kernel::db::optional_filter("employee_id = $2", "$2", employee.is_some());
    let sql = format!(
        "SELECT employee_id, location_id FROM employee_locations \
         WHERE tenant_id = $1 AND {by_employee} ORDER BY employee_id, location_id"
    );
    let rows: Vec<EmployeeLocation> = on_tx!(scope.tx(), |conn| {
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(tenant)
            .bind(employee)
            .fetch_all(conn)
            .await
    })?;
    let mut by_employee = std::collections::HashMap::<_, Vec<_>>::new();
    for row in rows {
        by_employee
            .entry(row.employee_id)
            .or_default()
            .push(row.location_id);
    }
    Ok(by_employee)
}

/// Checks that each location exists in the tenant, is active, and is seen
/// by the member, and that a linked membership exists.
async fn check_references(
    scope: &mut TenantScope,
    visibility: LocationVisibility,
    input: &ValidEmployee,
) -> Result<(), WriteError> {
    let visible = kernel::locations::list(scope, visibility, kernel::locations::Page::ALL).await?;
    for id in &input.location_ids {
        if !visible
            .iter()
            .any(|l| l.id == *id && l.archived_at.is_none())
        {
            return Err(FieldErrors::single(
                "location_ids",
                format!("{id} is not an active location you manage."),
            )
            .into());
        }
    }
    if let Some(membership) = input.membership_id {
        let tenant = scope.tenant_id();
        // Locked from now, not only once the employee is written (as the
        // foreign key locks it): a member removed in between would fail
        // the write with the key's error instead of this answer.
        macro_rules! member {
            ($lock:literal) => {
                concat!(
                    "SELECT id FROM memberships WHERE tenant_id = $1 AND id = $2",
                    $lock
                )
            };
        }
        let exists: Option<MembershipId> =
            kernel::on_tx_locking!(scope.tx(), member!(" FOR KEY SHARE"), |conn, sql| {
                sqlx::query_scalar(sql)
                    .bind(tenant)
                    .bind(membership)
                    .fetch_optional(conn)
                    .await
            })?;
        if exists.is_none() {
            return Err(
                FieldErrors::single("membership_id", "Not a member of this organisation.").into(),
            );
        }
    }
    Ok(())
}

/// The answer when a unique field is taken. Writes detect it without a
/// failed statement, which on PostgreSQL would abort the request's
/// transaction.
async fn taken(
    scope: &mut TenantScope,
    input: &ValidEmployee,
    except: Option<EmployeeId>,
) -> Result<Option<FieldErrors>, sqlx::Error> {
    let tenant = scope.tenant_id();
    let other = kernel::db::optional_filter("id <> $4", "$4", except.is_some());
    let sql = format!(
        "SELECT \
           EXISTS (SELECT 1 FROM employees WHERE tenant_id = $1 AND employee_number = $2 \
                   AND {other}) AS number, \
           EXISTS (SELECT 1 FROM employees WHERE tenant_id = $1 AND membership_id = $3 \
                   AND {other}) AS member"
    );
    let Taken { number, member } =
        on_tx!(scope.tx(), |conn| sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(tenant)
            .bind(&input.employee_number)
            .bind(input.membership_id)
            .bind(except)
            .fetch_one(conn)
            .await)?;
    Ok(if number {
        Some(FieldErrors::single(
            "employee_number",
            "Another employee already has this number.",
        ))
    } else if member {
        Some(FieldErrors::single(
            "membership_id",
            "This member is already linked to another employee.",
        ))
    } else {
        None
    })
}

/// Hires an employee, and issues their PIN (returned: it is shown once).
///
/// # Errors
/// A location the member doesn't see, a taken number, or a database failure.
pub async fn create(
    scope: &mut TenantScope,
    keys: &Keys,
    visibility: LocationVisibility,
    key: &LookupKey,
    input: &ValidEmployee,
) -> Result<(Employee, pin::Pin), WriteError> {
    check_references(scope, visibility, input).await?;
    if let Some(errors) = taken(scope, input, None).await? {
        return Err(errors.into());
    }
    let tenant = scope.tenant_id();
    let id = EmployeeId::new();
    on_tx!(scope.tx(), |conn| sqlx::query(
        "INSERT INTO employees (tenant_id, id, name, employee_number, national_id, hire_date, \
             leave_date, weekly_minutes, hourly_rate_cents, active, membership_id, created_at, \
             national_id_index) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
    )
    .bind(tenant)
    .bind(id)
    .bind(&input.name)
    .bind(&input.employee_number)
    .bind(national_id::SEALED.seal(keys, id, &input.national_id))
    .bind(input.hire_date)
    .bind(input.leave_date)
    .bind(input.weekly_minutes)
    .bind(input.hourly_rate_cents)
    .bind(true)
    .bind(input.membership_id)
    .bind(OffsetDateTime::now_utc())
    .bind(national_id::SEALED.digest(key, &input.national_id))
    .execute(conn)
    .await
    .map(drop))?;
    set_locations(scope, id, &input.location_ids).await?;
    kernel::billing::seats::changed(scope).await?;
    let pin = pin::issue(scope, key, id).await?;
    let employee = find(scope, LocationVisibility::every_location(), id)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok((employee, pin))
}

/// Changes an employee the caller has already found. Keeps the PIN; new
/// locations get it too (a new PIN is issued, and returned, when it is taken
/// at one of them).
///
/// A manager acts only where they manage: the employee's locations they
/// don't see stay as they are, whatever `input` lists, and an employee who
/// also works at one of those keeps their pay and stays active unless an
/// owner or admin changes it.
///
/// # Errors
/// A location the member doesn't see, a taken number, a manager changing
/// the pay or the activity of an employee who also works elsewhere (403),
/// or a database failure.
pub async fn update(
    scope: &mut TenantScope,
    keys: &Keys,
    visibility: LocationVisibility,
    key: &LookupKey,
    current: &Employee,
    input: &ValidEmployee,
    active: bool,
) -> Result<(Employee, Option<pin::Pin>), WriteError> {
    let seen: Vec<LocationId> =
        kernel::locations::list(scope, visibility, kernel::locations::Page::ALL)
            .await?
            .into_iter()
            .map(|location| location.id)
            .collect();
    let elsewhere: Vec<LocationId> = current
        .location_ids
        .iter()
        .filter(|id| !seen.contains(id))
        .copied()
        .collect();
    if !elsewhere.is_empty()
        && (active != current.active || input.hourly_rate_cents != current.hourly_rate_cents)
    {
        return Err(AppError::Forbidden(format!(
            "{} also works at locations you don't manage: ask an owner or admin to change \
             their pay or to deactivate them.",
            current.name
        ))
        .into());
    }
    // What the member asked for where they manage, and the rest as it is.
    let mut input = input.clone();
    input.location_ids.retain(|id| !elsewhere.contains(id));
    check_references(scope, visibility, &input).await?;
    input.location_ids.extend(&elsewhere);
    input.location_ids.sort();
    let input = &input;
    if let Some(errors) = taken(scope, input, Some(current.id)).await? {
        return Err(errors.into());
    }
    let tenant = scope.tenant_id();
    on_tx!(scope.tx(), |conn| {
        sqlx::query(
        "UPDATE employees SET name = $3, employee_number = $4, national_id = $5, hire_date = $6, \
             leave_date = $7, weekly_minutes = $8, hourly_rate_cents = $9, active = $10, membership_id = $11, \
             national_id_index = $12 \
         WHERE tenant_id = $1 AND id = $2"
    )
    .bind(tenant)
    .bind(current.id)
    .bind(&input.name)
    .bind(&input.employee_number)
    .bind(national_id::SEALED.seal(keys, current.id, &input.national_id))
    .bind(input.hire_date)
    .bind(input.leave_date)
    .bind(input.weekly_minutes)
    .bind(input.hourly_rate_cents)
    .bind(active)
    .bind(input.membership_id)
    .bind(national_id::SEALED.digest(key, &input.national_id))
    .execute(conn)
    .await
    .map(drop)
    })?;
    if active != current.active {
        kernel::billing::seats::changed(scope).await?;
    }
    let kept = pin::current_digest(scope, current.id).await?;
    set_locations(scope, current.id, &input.location_ids).await?;
    let new_pin = if active {
        pin::keep_or_issue(scope, key, current.id, kept).await?
    } else {
        pin::clear(scope, current.id).await?;
        None
    };
    let employee = find(scope, LocationVisibility::every_location(), current.id)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok((employee, new_pin))
}

/// Replaces the employee's locations (their PIN digests are set again by
/// the caller).
async fn set_locations(
    scope: &mut TenantScope,
    employee: EmployeeId,
    locations: &[LocationId],
) -> Result<(), sqlx::Error> {
    let tenant = scope.tenant_id();
    on_tx!(scope.tx(), |conn| sqlx::query(
        "DELETE FROM employee_locations WHERE tenant_id = $1 AND employee_id = $2"
    )
    .bind(tenant)
    .bind(employee)
    .execute(conn)
    .await
    .map(drop))?;
    for location in locations {
        on_tx!(scope.tx(), |conn| {
            sqlx::query(
            "INSERT INTO employee_locations (tenant_id, id, employee_id, location_id) VALUES ($1, $2, $3, $4)"
        )
        .bind(tenant)
        .bind(EmployeeLocationId::new())
        .bind(employee)
        .bind(location)
        .execute(conn)
        .await
        .map(drop)
        })?;
    }
    Ok(())
}

/// An employee whose time records the caller may read: their own, or
/// (for owners, admins and managers) one they see.
///
/// # Errors
/// 404 for an employee not in the tenant or not seen, 403 for another's
/// records to staff.
pub async fn readable(t: &mut InTenant, id: EmployeeId) -> Result<Employee, AppError> {
    let employee = find(&mut t.scope, LocationVisibility::every_location(), id)
        .await?
        .ok_or(AppError::NotFound)?;
    if employee.membership_id == Some(t.member.membership_id) {
        return Ok(employee);
    }
    t.member.authorize(TimeAction::ViewTeamRecords)?;
    find(&mut t.scope, t.member.location_visibility(), id)
        .await?
        .ok_or(AppError::NotFound)
}

/// The employees whose time records the caller may read, by id: their own,
/// and (for owners, admins and managers) those they see.
pub async fn readable_all(t: &mut InTenant) -> Result<HashMap<EmployeeId, Employee>, AppError> {
    let visibility = t.member.location_visibility();
    let team = t.member.authorize(TimeAction::ViewTeamRecords).is_ok();
    let everyone = list(&mut t.scope, LocationVisibility::every_location()).await?;
    let seen: HashSet<EmployeeId> = if team {
        list(&mut t.scope, visibility)
            .await?
            .into_iter()
            .map(|e| e.id)
            .collect()
    } else {
        HashSet::new()
    };
    Ok(everyone
        .into_iter()
        .filter(|e| seen.contains(&e.id) || e.membership_id == Some(visibility.membership))
        .map(|e| (e.id, e))
        .collect())
}
