//! Members: who belongs to a tenant, with which role, at which locations.
//! Owners and admins manage members; only owners make, demote or remove
//! owners; a tenant always keeps at least one owner.

use std::collections::HashMap;

use serde::Serialize;

use crate::billing::Quota;
use crate::error::AppError;
use crate::ids::{LocationGrantId, LocationId, MembershipId, UserId};
use crate::tenancy::{Action, Member, Role, TenantScope};
use crate::{on_tx, row};

/// Members, pending invitations included: what a plan's limit on members
/// counts, and the seat a per-seat plan bills by unless a module sells by
/// something else.
pub const MEMBERS: Quota = Quota {
    key: "members",
    noun: "members (pending invitations count)",
    one: "member",
    count: |scope| Box::pin(count(scope)),
};

async fn count(scope: &mut TenantScope) -> Result<i64, sqlx::Error> {
    let tenant = scope.tenant_id();
    on_tx!(scope.tx(), |conn| sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM memberships WHERE tenant_id = $1) \
              + (SELECT count(*) FROM invitations WHERE tenant_id = $1 AND accepted_at IS NULL)"
    )
    .bind(tenant)
    .fetch_one(conn)
    .await)
}

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
pub async fn list(scope: &mut TenantScope) -> Result<Vec<MemberEntry>, AppError> {
    select(scope, None).await
}

/// One member, if the scope's tenant has it.
pub async fn find(
    scope: &mut TenantScope,
    id: MembershipId,
) -> Result<Option<MemberEntry>, AppError> {
    Ok(select(scope, Some(id)).await?.pop())
}

row! {
    /// A member as [`select`] reads them, their role as stored.
    struct MemberRow {
        id: MembershipId,
        user_id: UserId,
        email: String,
        role: String,
    }
}

row! {
    /// A location a member is granted.
    struct Grant {
        membership_id: MembershipId,
        location_id: LocationId,
    }
}

row! {
    /// A membership's role as stored.
    struct RoleRow {
        id: MembershipId,
        role: String,
    }
}

async fn select(
    scope: &mut TenantScope,
    only: Option<MembershipId>,
) -> Result<Vec<MemberEntry>, AppError> {
    let tenant = scope.tenant_id();
    let by_id = crate::db::optional_filter("m.id = $2", "$2", only.is_some());
    let sql = format!(
        "SELECT m.id, m.user_id, u.email, m.role FROM memberships m JOIN users u ON u.id = m.user_id \
         WHERE m.tenant_id = $1 AND {by_id} ORDER BY lower(u.email), m.id"
    );
    let rows: Vec<MemberRow> = on_tx!(scope.tx(), |conn| {
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(tenant)
            .bind(only)
            .fetch_all(conn)
            .await
    })?;
    let by_member = crate::db::optional_filter("membership_id = $2", "$2", only.is_some());
    let sql = format!(
        "SELECT membership_id, location_id FROM location_grants \
         WHERE tenant_id = $1 AND {by_member} ORDER BY location_id"
    );
    let grants: Vec<Grant> = on_tx!(scope.tx(), |conn| {
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(tenant)
            .bind(only)
            .fetch_all(conn)
            .await
    })?;
    let mut granted: HashMap<MembershipId, Vec<LocationId>> = HashMap::new();
    for grant in grants {
        granted
            .entry(grant.membership_id)
            .or_default()
            .push(grant.location_id);
    }
    rows.into_iter()
        .map(|row| {
            Ok(MemberEntry {
                id: row.id,
                user_id: row.user_id,
                email: row.email,
                role: Role::parse(&row.role)?,
                location_ids: granted.remove(&row.id).unwrap_or_default(),
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
/// 403 when the actor's role may not (asked first, so it reveals nothing
/// about which ids exist), 404 for a member the tenant doesn't have, 409 when
/// it would leave the tenant without an owner, 422 for a location the tenant
/// doesn't have.
pub async fn change(
    scope: &mut TenantScope,
    actor: &Member,
    id: MembershipId,
    change: MemberChange,
) -> Result<MemberEntry, AppError> {
    actor.authorize(Action::ManageMembers)?;
    let locked = lock_target_and_owners(scope, id).await?;
    let tenant = scope.tenant_id();
    if let Some(role) = change.role.filter(|role| *role != locked.role) {
        if role == Role::Owner || locked.role == Role::Owner {
            actor.authorize(Action::ManageOwners)?;
        }
        if locked.role == Role::Owner {
            locked.keep_an_owner()?;
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
    actor.authorize(Action::ManageMembers)?;
    let locked = lock_target_and_owners(scope, id).await?;
    if locked.role == Role::Owner {
        actor.authorize(Action::ManageOwners)?;
        locked.keep_an_owner()?;
    }
    let removed = find(scope, id).await?.ok_or(AppError::NotFound)?;
    delete(scope, id).await?;
    Ok(removed)
}

/// The member leaves the tenant (any role may), unless they are its last
/// owner (409).
///
/// # Errors
/// 409 for the last owner; a database failure.
pub async fn leave(scope: &mut TenantScope, membership: MembershipId) -> Result<(), AppError> {
    let locked = lock_target_and_owners(scope, membership).await?;
    if locked.role == Role::Owner {
        locked.keep_an_owner()?;
    }
    delete(scope, membership).await
}

/// `user`'s membership in the scope's tenant, if any.
pub async fn membership_id(
    scope: &mut TenantScope,
    user: UserId,
) -> Result<Option<MembershipId>, AppError> {
    let tenant = scope.tenant_id();
    Ok(on_tx!(scope.tx(), |conn| sqlx::query_scalar(
        "SELECT id FROM memberships WHERE tenant_id = $1 AND user_id = $2"
    )
    .bind(tenant)
    .bind(user)
    .fetch_optional(conn)
    .await)?)
}

/// Whether `user` is the only owner of the scope's tenant.
pub async fn is_last_owner(scope: &mut TenantScope, user: UserId) -> Result<bool, AppError> {
    let tenant = scope.tenant_id();
    let owners: Vec<UserId> = on_tx!(scope.tx(), |conn| sqlx::query_scalar(
        "SELECT user_id FROM memberships WHERE tenant_id = $1 AND role = 'owner'"
    )
    .bind(tenant)
    .fetch_all(conn)
    .await)?;
    Ok(owners == [user])
}

async fn delete(scope: &mut TenantScope, id: MembershipId) -> Result<(), AppError> {
    let tenant = scope.tenant_id();
    on_tx!(scope.tx(), |conn| sqlx::query(
        "DELETE FROM memberships WHERE tenant_id = $1 AND id = $2"
    )
    .bind(tenant)
    .bind(id)
    .execute(conn)
    .await
    .map(drop))?;
    crate::billing::seats::changed(scope).await?;
    Ok(())
}

/// Adds `user` to the scope's tenant with `role`; `None` (and no change)
/// when they are a member already.
pub(crate) async fn add(
    scope: &mut TenantScope,
    user: UserId,
    role: Role,
) -> Result<Option<MembershipId>, sqlx::Error> {
    let tenant = scope.tenant_id();
    let id = MembershipId::new();
    let inserted = on_tx!(scope.tx(), |conn| {
        sqlx::query(
        "INSERT INTO memberships (tenant_id, id, user_id, role, created_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT DO NOTHING"
    )
    .bind(tenant)
    .bind(id)
    .bind(user)
    .bind(role.as_str())
    .bind(time::OffsetDateTime::now_utc())
    .execute(conn)
    .await
    .map(|done| done.rows_affected())
    })?;
    Ok((inserted == 1).then_some(id))
}

/// A member about to change, and the tenant's owners, as of the lock.
struct Locked {
    id: MembershipId,
    role: Role,
    owners: Vec<MembershipId>,
}

impl Locked {
    /// Refuses to let the member, an owner, stop being one if no other
    /// owner remains.
    fn keep_an_owner(&self) -> Result<(), AppError> {
        if self.owners.iter().any(|owner| *owner != self.id) {
            Ok(())
        } else {
            Err(AppError::Conflict(
                "This is the organisation's last owner: make someone else an owner first."
                    .to_owned(),
            ))
        }
    }
}

/// Reads the member and the owners under a lock held to the end of the
/// scope, so every decision about roles is made on rows nobody else can
/// change meanwhile: on PostgreSQL `FOR UPDATE` (in id order, so two such
/// changes can't deadlock), on SQLite the write lock that writing scopes take
/// with `BEGIN IMMEDIATE`.
async fn lock_target_and_owners(
    scope: &mut TenantScope,
    id: MembershipId,
) -> Result<Locked, AppError> {
    let tenant = scope.tenant_id();
    macro_rules! target_and_owners {
        ($lock:literal) => {
            concat!(
                "SELECT id, role FROM memberships \
                 WHERE tenant_id = $1 AND (role = 'owner' OR id = $2) ORDER BY id",
                $lock
            )
        };
    }
    let rows: Vec<RoleRow> = crate::on_tx_locking!(
        scope.tx(),
        target_and_owners!(" FOR UPDATE"),
        |conn, sql| {
            sqlx::query_as(sql)
                .bind(tenant)
                .bind(id)
                .fetch_all(conn)
                .await
        }
    )?;
    let mut role = None;
    let mut owners = Vec::new();
    for RoleRow {
        id: member,
        role: member_role,
    } in rows
    {
        let member_role = Role::parse(&member_role)?;
        if member == id {
            role = Some(member_role);
        }
        if member_role == Role::Owner {
            owners.push(member);
        }
    }
    Ok(Locked {
        id,
        role: role.ok_or(AppError::NotFound)?,
        owners,
    })
}

pub(crate) async fn replace_grants(
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
