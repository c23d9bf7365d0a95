//! Invitations: owners and admins invite people by email, with a role and,
//! for managers and staff, the locations they will work at. The emailed
//! link works for a new user (who signs up through it) and for an existing
//! one (who joins one more tenant), once, for [`LIFETIME`]; it can be
//! revoked and resent (a resend replaces the link). Only owners invite
//! owners. The invitation is the tenant's data: every query here takes the
//! tenant's scope, and the link names the tenant so that its scope can be
//! opened before the token is looked up. Long-expired ones are purged
//! daily ([`PURGE_EXPIRED`]).

pub mod accept;

use std::time::Duration;

use askama::Template;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::accounts::email::Email;
use crate::accounts::global::find_user;
use crate::error::AppError;
use crate::http::AppState;
use crate::ids::{InvitationId, InvitationLocationId, LocationId};
use crate::jobs::scheduled::{self, Run, RunFuture, Schedule};
use crate::mail::{self, Mail};
use crate::rate_limits::{self, Limit};
use crate::tenancy::{Action, Intent, Member, Role, Tenant, TenantScope, for_tenant};
use crate::text_body;
use crate::tokens::{digest, random_token};
use crate::validation::FieldErrors;
use crate::{on_tx, row};

/// How long a link works.
pub const LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);

/// A pending invitation, as the members page and the API show it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Invitation {
    pub id: InvitationId,
    pub email: String,
    pub role: Role,
    /// Where a manager or staff member will work once they accept.
    pub location_ids: Vec<LocationId>,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// Past its expiry: resend it, or revoke it.
    pub expired: bool,
}

/// What an invitation form or JSON body sends.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[schema(examples(json!({"email": "new.hire@example.com", "role": "staff"})))]
pub struct InvitationInput {
    pub email: String,
    pub role: Role,
    /// Locations of the tenant (for managers and staff).
    #[serde(default)]
    pub location_ids: Vec<LocationId>,
}

impl Default for InvitationInput {
    /// The blank form: staff, no locations.
    fn default() -> Self {
        Self {
            email: String::new(),
            role: Role::Staff,
            location_ids: Vec::new(),
        }
    }
}

#[derive(Template)]
#[template(path = "mail/invitation.html")]
pub struct InvitationMail {
    pub app_name: &'static str,
    pub tenant_name: String,
    pub inviter: String,
    pub role: &'static str,
    pub link: String,
    pub days: u64,
}

text_body!(InvitationMail, "mail/invitation.txt");

impl Mail for InvitationMail {
    fn subject(&self) -> String {
        format!(
            "{} invited you to {} on {}",
            self.inviter, self.tenant_name, self.app_name
        )
    }
}

/// The path of an invitation's link.
pub fn link_path(tenant: impl std::fmt::Display, token: &str) -> String {
    format!("/invitations/{tenant}/{token}")
}

/// Who sends an invitation (a member, or an API token acting as its
/// creator), and from where links start.
pub struct Sender<'a> {
    pub member: &'a Member,
    pub email: String,
    pub tenant: &'a Tenant,
    pub base_url: &'a str,
    /// Whose limit on members applies.
    pub plans: crate::billing::Catalog,
}

impl<'a> Sender<'a> {
    pub async fn new(
        member: &'a Member,
        tenant: &'a Tenant,
        state: &'a AppState,
    ) -> Result<Self, AppError> {
        let email = find_user(&state.db, member.author())
            .await?
            .map(|user| user.email)
            .unwrap_or_default();
        Ok(Self {
            member,
            email,
            tenant,
            base_url: &state.config.base_url,
            plans: state.plans,
        })
    }
}

/// The pending invitations of the scope's tenant, newest first.
pub async fn list(scope: &mut TenantScope) -> Result<Vec<Invitation>, AppError> {
    select(scope, None).await
}

row! {
    /// A pending invitation as [`select`] reads it.
    struct InvitationRow {
        id: InvitationId,
        email: String,
        role: String,
        expires_at: i64,
    }
}

row! {
    /// A location an invitation grants.
    struct Place {
        invitation_id: InvitationId,
        location_id: LocationId,
    }
}

async fn select(
    scope: &mut TenantScope,
    only: Option<InvitationId>,
) -> Result<Vec<Invitation>, AppError> {
    let tenant = scope.tenant_id();
    let by_id = crate::db::optional_filter("id = $2", "$2", only.is_some());
    let sql = format!(
        "SELECT id, email, role, expires_at FROM invitations \
         WHERE tenant_id = $1 AND accepted_at IS NULL AND {by_id} ORDER BY id DESC"
    );
    let rows: Vec<InvitationRow> =
        on_tx!(scope.tx(), |conn| sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(tenant)
            .bind(only)
            .fetch_all(conn)
            .await)?;
    let by_invitation = crate::db::optional_filter("invitation_id = $2", "$2", only.is_some());
    let sql = format!(
        "SELECT invitation_id, location_id FROM invitation_locations \
         WHERE tenant_id = $1 AND {by_invitation} ORDER BY location_id"
    );
    let places: Vec<Place> = on_tx!(scope.tx(), |conn| sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(tenant)
        .bind(only)
        .fetch_all(conn)
        .await)?;
    let now = OffsetDateTime::now_utc();
    rows.into_iter()
        .map(|row| {
            let expires_at = OffsetDateTime::from_unix_timestamp(row.expires_at)
                .map_err(|e| AppError::Internal(format!("invitation expiry: {e}")))?;
            Ok(Invitation {
                id: row.id,
                email: row.email,
                role: Role::parse(&row.role)?,
                location_ids: places
                    .iter()
                    .filter(|place| place.invitation_id == row.id)
                    .map(|place| place.location_id)
                    .collect(),
                expires_at,
                expired: expires_at <= now,
            })
        })
        .collect()
}

/// Invites `input.email` into the scope's tenant and queues the email, in
/// the scope's transaction (commit it). The inner error names the field to
/// fix: a malformed email, someone already a member or already invited, a
/// location the tenant doesn't have.
///
/// # Errors
/// 403 when the sender may not invite (or not with this role); a database
/// failure.
pub async fn invite(
    scope: &mut TenantScope,
    sender: &Sender<'_>,
    input: &InvitationInput,
) -> Result<Result<Invitation, FieldErrors>, AppError> {
    authorize(sender.member, input.role)?;
    let email = match Email::parse(&input.email) {
        Ok(email) => email,
        Err(message) => return Ok(Err(FieldErrors::single("email", message))),
    };
    if is_member(scope, &email).await? {
        return Ok(Err(FieldErrors::single(
            "email",
            "This person is already a member.",
        )));
    }
    if let Err(errors) = check_locations(scope, &input.location_ids).await? {
        return Ok(Err(errors));
    }
    if is_invited(scope, &email).await? {
        return Ok(Err(FieldErrors::single("email", ALREADY_INVITED)));
    }
    crate::billing::ensure_room(
        scope,
        sender.plans,
        &sender.tenant.slug,
        &crate::members::MEMBERS,
    )
    .await?;
    let tenant = scope.tenant_id();
    let id = InvitationId::new();
    let token = random_token();
    let inserted = on_tx!(scope.tx(), |conn| {
        sqlx::query(
        "INSERT INTO invitations (tenant_id, id, email, role, token_digest, invited_by, expires_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING"
    )
    .bind(tenant)
    .bind(id)
    .bind(email.as_str())
    .bind(input.role.as_str())
    .bind(digest(&token))
    .bind(sender.member.author())
    .bind(expiry())
    .bind(OffsetDateTime::now_utc())
    .execute(conn)
    .await
    .map(|done| done.rows_affected())
    })?;
    if inserted == 0 {
        return Ok(Err(FieldErrors::single("email", ALREADY_INVITED)));
    }
    let mut locations = input.location_ids.clone();
    locations.sort();
    locations.dedup();
    for location in locations {
        on_tx!(scope.tx(), |conn| {
            sqlx::query(
            "INSERT INTO invitation_locations (tenant_id, id, invitation_id, location_id) VALUES ($1, $2, $3, $4)"
        )
        .bind(tenant)
        .bind(InvitationLocationId::new())
        .bind(id)
        .bind(location)
        .execute(conn)
        .await
        .map(drop)
        })?;
    }
    crate::billing::seats::changed(scope).await?;
    let invitation = find(scope, id).await?.ok_or(AppError::NotFound)?;
    send(scope, sender, &invitation, &token).await?;
    Ok(Ok(invitation))
}

/// Gives a pending invitation a new link and a new expiry, and mails it;
/// the old link stops working.
///
/// # Errors
/// 403 for a sender who may not; 404 for an invitation the tenant doesn't
/// have pending; a database failure.
pub async fn resend(
    scope: &mut TenantScope,
    sender: &Sender<'_>,
    id: InvitationId,
) -> Result<Invitation, AppError> {
    sender.member.authorize(Action::ManageMembers)?;
    let invitation = find(scope, id).await?.ok_or(AppError::NotFound)?;
    authorize(sender.member, invitation.role)?;
    let tenant = scope.tenant_id();
    let token = random_token();
    on_tx!(scope.tx(), |conn| sqlx::query(
        "UPDATE invitations SET token_digest = $3, expires_at = $4 \
         WHERE tenant_id = $1 AND id = $2 AND accepted_at IS NULL"
    )
    .bind(tenant)
    .bind(id)
    .bind(digest(&token))
    .bind(expiry())
    .execute(conn)
    .await
    .map(drop))?;
    let invitation = find(scope, id).await?.ok_or(AppError::NotFound)?;
    send(scope, sender, &invitation, &token).await?;
    Ok(invitation)
}

/// Withdraws a pending invitation: its link stops working.
///
/// # Errors
/// As [`resend`].
pub async fn revoke(
    scope: &mut TenantScope,
    member: &Member,
    id: InvitationId,
) -> Result<Invitation, AppError> {
    member.authorize(Action::ManageMembers)?;
    let invitation = find(scope, id).await?.ok_or(AppError::NotFound)?;
    authorize(member, invitation.role)?;
    let tenant = scope.tenant_id();
    on_tx!(scope.tx(), |conn| sqlx::query(
        "DELETE FROM invitations WHERE tenant_id = $1 AND id = $2 AND accepted_at IS NULL"
    )
    .bind(tenant)
    .bind(id)
    .execute(conn)
    .await
    .map(drop))?;
    crate::billing::seats::changed(scope).await?;
    Ok(invitation)
}

/// Each tenant's long-expired invitations are purged once a day on its own
/// clock, by a scheduled run that names the tenant: no query reaches
/// across tenants.
pub const PURGE_EXPIRED: Schedule = Schedule {
    name: "purge_expired_invitations",
    due: scheduled::every_day,
    run: purge_run,
};

fn purge_run(run: &Run) -> RunFuture<'_> {
    Box::pin(async move {
        let mut scope = for_tenant(&run.state.db, run.tenant, Intent::Write).await?;
        let purged = purge_expired(&mut scope).await?;
        if purged > 0 {
            crate::billing::seats::changed(&mut scope).await?;
        }
        scope.commit().await?;
        tracing::info!(tenant = %run.tenant, purged, "expired invitations purged");
        Ok(())
    })
}

/// Deletes the scope's tenant's invitations that expired more than a
/// `LIFETIME` ago (recently expired ones stay, so an admin can resend
/// them), returning how many.
pub async fn purge_expired(scope: &mut TenantScope) -> Result<u64, sqlx::Error> {
    let tenant = scope.tenant_id();
    let lifetime = i64::try_from(LIFETIME.as_secs()).unwrap_or(i64::MAX);
    let before = OffsetDateTime::now_utc().unix_timestamp() - lifetime;
    on_tx!(scope.tx(), |conn| sqlx::query(
        "DELETE FROM invitations WHERE tenant_id = $1 AND accepted_at IS NULL AND expires_at <= $2"
    )
    .bind(tenant)
    .bind(before)
    .execute(conn)
    .await
    .map(|done| done.rows_affected()))
}

async fn find(scope: &mut TenantScope, id: InvitationId) -> Result<Option<Invitation>, AppError> {
    Ok(select(scope, Some(id)).await?.pop())
}

/// Inviting needs `ManageMembers`, and inviting an owner `ManageOwners`.
fn authorize(member: &Member, role: Role) -> Result<(), AppError> {
    member.authorize(Action::ManageMembers)?;
    if role == Role::Owner {
        member.authorize(Action::ManageOwners)?;
    }
    Ok(())
}

fn expiry() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
        + i64::try_from(LIFETIME.as_secs()).unwrap_or(i64::MAX)
}

const ALREADY_INVITED: &str =
    "This email is already invited: resend or revoke that invitation below.";

async fn is_invited(scope: &mut TenantScope, email: &Email) -> Result<bool, sqlx::Error> {
    let tenant = scope.tenant_id();
    on_tx!(scope.tx(), |conn| {
        sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM invitations WHERE tenant_id = $1 AND email = $2 AND accepted_at IS NULL)"
    )
    .bind(tenant)
    .bind(email.as_str())
    .fetch_one(conn)
    .await
    })
}

async fn is_member(scope: &mut TenantScope, email: &Email) -> Result<bool, sqlx::Error> {
    let tenant = scope.tenant_id();
    on_tx!(scope.tx(), |conn| sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM memberships m JOIN users u ON u.id = m.user_id \
                        WHERE m.tenant_id = $1 AND lower(u.email) = $2)"
    )
    .bind(tenant)
    .bind(email.as_str())
    .fetch_one(conn)
    .await)
}

async fn check_locations(
    scope: &mut TenantScope,
    locations: &[LocationId],
) -> Result<Result<(), FieldErrors>, sqlx::Error> {
    let tenant = scope.tenant_id();
    let active: Vec<LocationId> = on_tx!(scope.tx(), |conn| sqlx::query_scalar(
        "SELECT id FROM locations WHERE tenant_id = $1 AND archived_at IS NULL"
    )
    .bind(tenant)
    .fetch_all(conn)
    .await)?;
    Ok(match locations.iter().find(|id| !active.contains(id)) {
        Some(unknown) => Err(FieldErrors::single(
            "location_ids",
            format!("{unknown} is not an active location of this organisation."),
        )),
        None => Ok(()),
    })
}

/// Mails the invitation's link, under the limits on invitation emails: per
/// tenant (new and resent) and per invitation, each a day.
async fn send(
    scope: &mut TenantScope,
    sender: &Sender<'_>,
    invitation: &Invitation,
    token: &str,
) -> Result<(), AppError> {
    let tenant = scope.tenant_id().to_string();
    rate_limits::count_in(scope, Limit::InvitationEmails, &tenant).await?;
    rate_limits::count_in(scope, Limit::InvitationResends, &invitation.id.to_string()).await?;
    let mail = InvitationMail {
        app_name: crate::brand::APP_NAME,
        tenant_name: sender.tenant.name.clone(),
        inviter: sender.email.clone(),
        role: invitation.role.label(),
        link: format!("{}{}", sender.base_url, link_path(sender.tenant.id, token)),
        days: LIFETIME.as_secs() / 86_400,
    };
    let to = Email::parse(&invitation.email).map_err(|e| AppError::Internal(e.to_owned()))?;
    mail::send_in(scope, &to, &mail).await
}
