//! The members page: roles and locations, changed and removed in place.

use askama::Template;
use axum::response::{Html, Redirect};
use tower_sessions::Session;

use super::{MemberChange, MemberEntry};
use crate::access::InTenant;
use crate::error::AppError;
use crate::http::extract::{Form, Path};
use crate::http::routes::{Access, Routes, get, post};
use crate::ids::MembershipId;
use crate::invitations::{self, Invitation};
use crate::locations::{self, Location, Page};
use crate::pages::{Layout, TenantNav, render};
use crate::sessions::flash::{self, Flash};
use crate::tenancy::{Action, Role};

pub fn routes() -> Routes {
    Routes::new()
        .add("/t/{slug}/members", Access::Tenant, get(index))
        .add(
            "/t/{slug}/members/{membership_id}",
            Access::Tenant,
            post(update),
        )
        .add(
            "/t/{slug}/members/{membership_id}/remove",
            Access::Tenant,
            post(remove),
        )
        .add("/t/{slug}/leave", Access::Tenant, post(leave))
}

#[derive(Template)]
#[template(path = "members/index.html")]
struct IndexPage {
    layout: Layout,
    nav: TenantNav,
    members: Vec<MemberEntry>,
    /// Pending, for those who may manage members.
    invitations: Vec<Invitation>,
    locations: Vec<Location>,
    roles: [Role; 4],
    can_manage: bool,
    can_manage_owners: bool,
}

async fn index(layout: Layout, mut t: InTenant) -> Result<Html<String>, AppError> {
    t.member.authorize(Action::ViewMembers)?;
    let members = super::list(&mut t.scope).await?;
    let can_manage = t.member.authorize(Action::ManageMembers).is_ok();
    let invitations = if can_manage {
        invitations::list(&mut t.scope).await?
    } else {
        Vec::new()
    };
    let locations =
        locations::list(&mut t.scope, t.member.location_visibility(), Page::ALL).await?;
    render(&IndexPage {
        layout,
        nav: TenantNav::new(&t),
        members,
        invitations,
        locations: locations
            .into_iter()
            .filter(|l| l.archived_at.is_none())
            .collect(),
        roles: Role::ALL,
        can_manage,
        can_manage_owners: t.member.authorize(Action::ManageOwners).is_ok(),
    })
}

/// The member form: `role`, and one `location_ids` per ticked location
/// (repeated keys, hence a list of pairs rather than a struct).
async fn update(
    session: Session,
    mut t: InTenant,
    Path((_, id)): Path<(String, MembershipId)>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Redirect, AppError> {
    let mut change = MemberChange {
        location_ids: Some(Vec::new()),
        ..MemberChange::default()
    };
    for (name, value) in fields {
        match name.as_str() {
            "role" => change.role = Some(Role::parse(&value)?),
            "location_ids" => {
                let location = value.parse().map_err(|_| {
                    AppError::Unprocessable(format!("location_ids: {value:?} is not a location id"))
                })?;
                change.location_ids.get_or_insert_default().push(location);
            }
            _ => {}
        }
    }
    let member = super::change(&mut t.scope, &t.member, id, change).await?;
    t.scope.commit().await?;
    flash::push(&session, Flash::success(format!("Saved {}.", member.email))).await?;
    Ok(Redirect::to(&format!("/t/{}/members", t.tenant.slug)))
}

async fn remove(
    session: Session,
    mut t: InTenant,
    Path((_, id)): Path<(String, MembershipId)>,
) -> Result<Redirect, AppError> {
    let removed = super::remove(&mut t.scope, &t.member, id).await?;
    t.scope.commit().await?;
    flash::push(
        &session,
        Flash::success(format!("Removed {} from {}.", removed.email, t.tenant.name)),
    )
    .await?;
    if removed.user_id == t.member.user_id {
        return Ok(Redirect::to("/tenants"));
    }
    Ok(Redirect::to(&format!("/t/{}/members", t.tenant.slug)))
}

/// Leaves the tenant (any role), unless the caller is its last owner.
async fn leave(session: Session, mut t: InTenant) -> Result<Redirect, AppError> {
    t.require_person()?;
    super::leave(&mut t.scope, t.member.membership_id).await?;
    t.scope.commit().await?;
    flash::push(
        &session,
        Flash::success(format!("You left {}.", t.tenant.name)),
    )
    .await?;
    Ok(Redirect::to("/account"))
}
