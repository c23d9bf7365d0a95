//! Members: who belongs to a tenant, with which role, at which locations.
//! Owners and admins manage members; only owners make, demote or remove
//! owners; a tenant always keeps at least one owner.

pub mod api;
pub mod pages;

use std::collections::HashMap;

use serde::Serialize;

use crate::error::AppError;
use crate::ids::{LocationGrantId, LocationId, MembershipId, UserId};
use crate::on_tx;
use crate::tenancy::scope::Tx;
use crate::tenancy::{Action, Member, Role, TenantScope};

/// A member as the member list shows it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct MemberEntry {
    pub id: MembershipId,
    pub user_id: UserId,
    pub email: String,
    pub role: Role,
    /// The locations a manager or staff member works at (owners and admins
    /// see every location whatever is listed here).
    pub location_ids: Vec<LocationId>,
}

/// Every member of the scope's tenant, by email.
///
/// # Errors
/// When the database fails.
pub async fn list(scope: &mut TenantScope) -> Result<Vec<MemberEntry>, AppError> {
    select(scope, None).await
}

/// One member, if the scope's tenant has it.
///
/// # Errors
/// When the database fails.
pub async fn find(
    scope: &mut TenantScope,
    id: MembershipId,
) -> Result<Option<MemberEntry>, AppError> {
    Ok(select(scope, Some(id)).await?.pop())
}

async fn select(
    scope: &mut TenantScope,
    only: Option<MembershipId>,
) -> Result<Vec<MemberEntry>, AppError> {
    let tenant = scope.tenant_id();
    let rows: Vec<(MembershipId, UserId, String, String)> = on_tx!(scope.tx(), |conn| {
        sqlx::query_as(
            "SELECT m.id, m.user_id, u.email, m.role FROM memberships m JOIN users u ON u.id = m.user_id \
             WHERE m.tenant_id = $1 AND ($2 IS NULL OR m.id = $2) ORDER BY lower(u.email), m.id",
        )
        .bind(tenant)
        .bind(only)
        .fetch_all(conn)
        .await
    })?;
    let grants: Vec<(MembershipId, LocationId)> = on_tx!(scope.tx(), |conn| {
        sqlx::query_as(
            "SELECT membership_id, location_id FROM location_grants \
             WHERE tenant_id = $1 AND ($2 IS NULL OR membership_id = $2) ORDER BY location_id",
        )
        .bind(tenant)
        .bind(only)
        .fetch_all(conn)
        .await
    })?;
    let mut granted: HashMap<MembershipId, Vec<LocationId>> = HashMap::new();
    for (membership, location) in grants {
        granted.entry(membership).or_default().push(location);
    }
    rows.into_iter()
        .map(|(id, user_id, email, role)| {
            Ok(MemberEntry {
                id,
                user_id,
                email,
                role: Role::parse(&role)?,
                location_ids: granted.remove(&id).unwrap_or_default(),
            })
        })
        .collect()
}

/// What to change about a member; `None` keeps the current value.
#[derive(Debug, Default)]
pub struct MemberChange {
    pub role: Option<Role>,
    pub location_ids: Option<Vec<LocationId>>,
}

/// Changes a member's role or location grants, as `actor`.
///
/// # Errors
/// 404 for a member the tenant doesn't have, 403 when the actor's role may
/// not, 409 when it would leave the tenant without an owner, 422 for a
/// location the tenant doesn't have.
pub async fn change(
    scope: &mut TenantScope,
    actor: &Member,
    id: MembershipId,
    change: MemberChange,
) -> Result<MemberEntry, AppError> {
    let target = find(scope, id).await?.ok_or(AppError::NotFound)?;
    actor.authorize(Action::ManageMembers)?;
    let tenant = scope.tenant_id();
    if let Some(role) = change.role.filter(|role| *role != target.role) {
        if role == Role::Owner || target.role == Role::Owner {
            actor.authorize(Action::ManageOwners)?;
        }
        if target.role == Role::Owner {
            keep_an_owner(scope, id).await?;
        }
        on_tx!(scope.tx(), |conn| sqlx::query(
            "UPDATE memberships SET role = $3 WHERE tenant_id = $1 AND id = $2"
        )
        .bind(tenant)
        .bind(id)
        .bind(role.as_str())
        .execute(conn)
        .await
        .map(drop))?;
    }
    if let Some(locations) = change.location_ids {
        replace_grants(scope, id, &locations).await?;
    }
    find(scope, id).await?.ok_or(AppError::NotFound)
}

/// Removes a member from the tenant (their account stays), as `actor`.
///
/// # Errors
/// As [`change`].
pub async fn remove(
    scope: &mut TenantScope,
    actor: &Member,
    id: MembershipId,
) -> Result<MemberEntry, AppError> {
    let target = find(scope, id).await?.ok_or(AppError::NotFound)?;
    actor.authorize(Action::ManageMembers)?;
    if target.role == Role::Owner {
        actor.authorize(Action::ManageOwners)?;
        keep_an_owner(scope, id).await?;
    }
    let tenant = scope.tenant_id();
    on_tx!(scope.tx(), |conn| sqlx::query(
        "DELETE FROM memberships WHERE tenant_id = $1 AND id = $2"
    )
    .bind(tenant)
    .bind(id)
    .execute(conn)
    .await
    .map(drop))?;
    Ok(target)
}

/// Refuses to let `leaving` (an owner) stop being one if no other owner
/// remains. The owners' rows are locked (PostgreSQL) or the whole database
/// is (SQLite's writing scopes begin IMMEDIATE), so two owners demoting each
/// other at once can't both succeed.
async fn keep_an_owner(scope: &mut TenantScope, leaving: MembershipId) -> Result<(), AppError> {
    let tenant = scope.tenant_id();
    let owners: Vec<MembershipId> = match scope.tx() {
        Tx::Postgres(tx) => {
            sqlx::query_scalar(
                "SELECT id FROM memberships WHERE tenant_id = $1 AND role = 'owner' FOR UPDATE",
            )
            .bind(tenant)
            .fetch_all(&mut **tx)
            .await?
        }
        Tx::Sqlite(tx) => {
            sqlx::query_scalar("SELECT id FROM memberships WHERE tenant_id = $1 AND role = 'owner'")
                .bind(tenant)
                .fetch_all(&mut **tx)
                .await?
        }
    };
    if owners.iter().any(|owner| *owner != leaving) {
        Ok(())
    } else {
        Err(AppError::Conflict(
            "This is the organisation's last owner: make someone else an owner first.".to_owned(),
        ))
    }
}

async fn replace_grants(
    scope: &mut TenantScope,
    membership: MembershipId,
    locations: &[LocationId],
) -> Result<(), AppError> {
    let tenant = scope.tenant_id();
    let known: Vec<LocationId> = on_tx!(scope.tx(), |conn| sqlx::query_scalar(
        "SELECT id FROM locations WHERE tenant_id = $1"
    )
    .bind(tenant)
    .fetch_all(conn)
    .await)?;
    if let Some(unknown) = locations.iter().find(|id| !known.contains(id)) {
        return Err(AppError::Unprocessable(format!(
            "location_ids: {unknown} is not a location of this organisation"
        )));
    }
    on_tx!(scope.tx(), |conn| sqlx::query(
        "DELETE FROM location_grants WHERE tenant_id = $1 AND membership_id = $2"
    )
    .bind(tenant)
    .bind(membership)
    .execute(conn)
    .await
    .map(drop))?;
    let mut granted: Vec<LocationId> = locations.to_vec();
    granted.sort();
    granted.dedup();
    for location in granted {
        on_tx!(scope.tx(), |conn| sqlx::query(
            "INSERT INTO location_grants (tenant_id, id, membership_id, location_id, created_at) \
             VALUES ($1, $2, $3, $4, $5)"
        )
        .bind(tenant)
        .bind(LocationGrantId::new())
        .bind(membership)
        .bind(location)
        .bind(time::OffsetDateTime::now_utc())
        .execute(conn)
        .await
        .map(drop))?;
    }
    Ok(())
}
