//! Locations: a tenant's sites (a café, a store). Owners and admins manage
//! them all; a manager edits the ones granted to them; staff see theirs.
//! Every query takes the tenant scope and the member's visibility, so a
//! location outside either is simply not found.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::access::InTenant;
use crate::billing::Quota;
use crate::error::AppError;
use crate::ids::LocationId;
use crate::tenancy::TenantScope;
use crate::tenancy::permissions::LocationVisibility;
use crate::tenancy::{Permission, Role};
use crate::validation::{self, FieldErrors, WriteError};
use crate::{on_tx, row};

/// Active locations: what a plan's limit on locations counts.
pub const LOCATIONS: Quota = Quota {
    key: "locations",
    noun: "active locations",
    one: "active location",
    count: |scope| Box::pin(count_active(scope)),
};

async fn count_active(scope: &mut TenantScope) -> Result<i64, sqlx::Error> {
    let tenant = scope.tenant_id();
    on_tx!(scope.tx(), |conn| sqlx::query_scalar(
        "SELECT count(*) FROM locations WHERE tenant_id = $1 AND archived_at IS NULL"
    )
    .bind(tenant)
    .fetch_one(conn)
    .await)
}

/// What each role may do with locations, answered by the core's decision
/// point: `member.authorize(LocationAction::…)`. Which locations a member
/// reaches at all is the other question, answered in SQL by
/// [`LocationVisibility`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LocationAction {
    Create,
    /// Managers edit the locations granted to them.
    Edit,
    Archive,
}

impl LocationAction {
    pub const ALL: [LocationAction; 3] = [Self::Create, Self::Edit, Self::Archive];
}

impl Permission for LocationAction {
    fn allowed(self, role: Role) -> bool {
        match self {
            Self::Create | Self::Archive => matches!(role, Role::Owner | Role::Admin),
            Self::Edit => role != Role::Staff,
        }
    }

    fn refusal(self) -> &'static str {
        match self {
            Self::Create => "Only owners and admins can add locations.",
            Self::Edit => "Your role does not allow changing locations.",
            Self::Archive => "Only owners and admins can archive locations.",
        }
    }
}

row! {
    columns: location_columns;
    #[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
    pub struct Location {
        pub id: LocationId,
        pub name: String,
        pub address: String,
        /// An IANA time zone name: the location's days begin at its midnight.
        pub time_zone: String,
        /// Archived locations keep their history but take no new work.
        #[serde(with = "time::serde::rfc3339::option")]
        pub archived_at: Option<OffsetDateTime>,
        #[serde(with = "time::serde::rfc3339")]
        pub created_at: OffsetDateTime,
    }
}

/// A location's editable fields, as a form or JSON body sends them. The
/// example is also how the isolation suite creates one.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[schema(examples(json!({"name": "Harbour Café", "address": "1 Quay Street", "time_zone": "Europe/Lisbon"})))]
pub struct LocationInput {
    pub name: String,
    #[serde(default)]
    pub address: String,
    pub time_zone: String,
}

/// A location's fields, trimmed and checked: what the repository writes.
#[derive(Clone, Debug)]
pub struct ValidLocation {
    pub name: String,
    pub address: String,
    pub time_zone: String,
}

impl LocationInput {
    /// # Errors
    /// Each field that is wrong, with a message.
    pub fn validate(&self) -> Result<ValidLocation, FieldErrors> {
        let mut errors = FieldErrors::default();
        let valid = ValidLocation {
            name: validation::text(&mut errors, "name", &self.name, true, 100),
            address: validation::text(&mut errors, "address", &self.address, false, 300),
            time_zone: validation::time_zone(&mut errors, "time_zone", &self.time_zone),
        };
        errors.or_ok(valid)
    }
}

/// A slice of a list: at most `limit` rows after skipping `offset`.
#[derive(Clone, Copy, Debug)]
pub struct Page {
    pub limit: i64,
    pub offset: i64,
}

impl Page {
    pub const ALL: Page = Page {
        limit: i64::MAX,
        offset: 0,
    };
}

/// The locations the member sees, active ones first, by name.
pub async fn list(
    scope: &mut TenantScope,
    visibility: LocationVisibility,
    page: Page,
) -> Result<Vec<Location>, sqlx::Error> {
    let tenant = scope.tenant_id();
    on_tx!(scope.tx(), |conn| sqlx::query_as(concat!(
        "SELECT ",
        location_columns!(),
        " FROM locations l \
         WHERE tenant_id = $1 AND ($2 OR EXISTS (SELECT 1 FROM location_grants g \
             WHERE g.tenant_id = l.tenant_id AND g.location_id = l.id AND g.membership_id = $3)) \
         ORDER BY archived_at IS NOT NULL, lower(name), id LIMIT $4 OFFSET $5"
    ))
    .bind(tenant)
    .bind(visibility.all)
    .bind(visibility.membership)
    .bind(page.limit)
    .bind(page.offset)
    .fetch_all(conn)
    .await)
}

/// One location, if the member sees it.
pub async fn find(
    scope: &mut TenantScope,
    visibility: LocationVisibility,
    id: LocationId,
) -> Result<Option<Location>, sqlx::Error> {
    let tenant = scope.tenant_id();
    on_tx!(scope.tx(), |conn| sqlx::query_as(concat!(
        "SELECT ",
        location_columns!(),
        " FROM locations l \
         WHERE tenant_id = $1 AND id = $4 AND ($2 OR EXISTS (SELECT 1 FROM location_grants g \
             WHERE g.tenant_id = l.tenant_id AND g.location_id = l.id AND g.membership_id = $3))"
    ))
    .bind(tenant)
    .bind(visibility.all)
    .bind(visibility.membership)
    .bind(id)
    .fetch_optional(conn)
    .await)
}

/// A unique violation is the name check losing a race with another
/// request's write: still a taken name, not a fault.
fn taken_in_a_race(error: sqlx::Error) -> WriteError {
    match &error {
        sqlx::Error::Database(e) if e.is_unique_violation() => name_taken(),
        _ => error.into(),
    }
}

/// The answer when a name is taken. Writes detect it without a failed
/// statement (ON CONFLICT, NOT EXISTS), which on PostgreSQL would abort the
/// request's transaction and with it the page that shows the error.
fn name_taken() -> WriteError {
    WriteError::Invalid(FieldErrors::single(
        "name",
        "Another active location already has this name.",
    ))
}

/// The location at `id` if the request's member sees it; otherwise the same
/// 404 as a location that doesn't exist.
///
/// # Errors
/// 404, or a database failure.
pub async fn visible(t: &mut InTenant, id: LocationId) -> Result<Location, AppError> {
    find(&mut t.scope, t.member.location_visibility(), id)
        .await?
        .ok_or(AppError::NotFound)
}

/// # Errors
/// A name already used by an active location, or a database failure.
pub async fn create(
    scope: &mut TenantScope,
    input: &ValidLocation,
) -> Result<Location, WriteError> {
    let tenant = scope.tenant_id();
    let created: Option<Location> = on_tx!(scope.tx(), |conn| sqlx::query_as(concat!(
        "INSERT INTO locations (tenant_id, id, name, address, time_zone, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING ",
        location_columns!(),
        ""
    ))
    .bind(tenant)
    .bind(LocationId::new())
    .bind(&input.name)
    .bind(&input.address)
    .bind(&input.time_zone)
    .bind(OffsetDateTime::now_utc())
    .fetch_optional(conn)
    .await)
    .map_err(taken_in_a_race)?;
    created.ok_or_else(name_taken)
}

/// Changes a location the caller has already found (so sees).
///
/// # Errors
/// A name already used by another active location, or a database failure.
pub async fn update(
    scope: &mut TenantScope,
    id: LocationId,
    input: &ValidLocation,
) -> Result<Location, WriteError> {
    let tenant = scope.tenant_id();
    let updated: Option<Location> = on_tx!(scope.tx(), |conn| sqlx::query_as(concat!(
        "UPDATE locations SET name = $3, address = $4, time_zone = $5 \
         WHERE tenant_id = $1 AND id = $2 AND NOT (archived_at IS NULL AND EXISTS ( \
             SELECT 1 FROM locations other WHERE other.tenant_id = $1 AND other.id <> $2 \
             AND other.archived_at IS NULL AND lower(other.name) = lower($3))) \
         RETURNING ",
        location_columns!(),
        ""
    ))
    .bind(tenant)
    .bind(id)
    .bind(&input.name)
    .bind(&input.address)
    .bind(&input.time_zone)
    .fetch_optional(conn)
    .await)
    .map_err(taken_in_a_race)?;
    updated.ok_or_else(name_taken)
}

/// Archives a location the caller has already found; archiving twice keeps
/// the first date.
pub async fn archive(scope: &mut TenantScope, id: LocationId) -> Result<Location, sqlx::Error> {
    let tenant = scope.tenant_id();
    on_tx!(scope.tx(), |conn| sqlx::query_as(concat!(
        "UPDATE locations SET archived_at = COALESCE(archived_at, $3) \
         WHERE tenant_id = $1 AND id = $2 RETURNING ",
        location_columns!(),
        ""
    ))
    .bind(tenant)
    .bind(id)
    .bind(OffsetDateTime::now_utc())
    .fetch_one(conn)
    .await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cell_of_the_locations_matrix() {
        crate::tenancy::permissions::assert_matrix(
            &[
                (LocationAction::Create, [true, true, false, false]),
                (LocationAction::Edit, [true, true, true, false]),
                (LocationAction::Archive, [true, true, false, false]),
            ],
            &LocationAction::ALL,
        );
    }
}
