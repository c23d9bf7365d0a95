//! Inviting from the members page: the invitation form, and resending or
//! revoking a pending invitation.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use tower_sessions::Session;

use super::{InvitationInput, Sender};
use crate::access::InTenant;
use crate::error::AppError;
use crate::http::AppState;
use crate::http::extract::{Form, Path};
use crate::http::routes::{Access, Routes, get, post};
use crate::ids::InvitationId;
use crate::locations::{self, Location, Page};
use crate::pages::{Layout, TenantNav, render};
use crate::sessions::flash::{self, Flash};
use crate::tenancy::{Action, Role};
use crate::validation::FieldErrors;

pub fn routes() -> Routes {
    Routes::new()
        .add("/t/{slug}/invitations", Access::Tenant, post(create))
        .add("/t/{slug}/invitations/new", Access::Tenant, get(new))
        .add(
            "/t/{slug}/invitations/{invitation_id}/resend",
            Access::Tenant,
            post(resend),
        )
        .add(
            "/t/{slug}/invitations/{invitation_id}/revoke",
            Access::Tenant,
            post(revoke),
        )
}

#[derive(Template)]
#[template(path = "invitations/new.html")]
struct NewPage {
    layout: Layout,
    nav: TenantNav,
    email: String,
    role: Role,
    location_ids: Vec<crate::ids::LocationId>,
    roles: Vec<Role>,
    locations: Vec<Location>,
    errors: FieldErrors,
}

async fn form_page(
    layout: Layout,
    t: &mut InTenant,
    input: InvitationInput,
    errors: FieldErrors,
) -> Result<Html<String>, AppError> {
    let locations = locations::list(&mut t.scope, t.member.location_visibility(), Page::ALL)
        .await?
        .into_iter()
        .filter(|location| location.archived_at.is_none())
        .collect();
    let can_invite_owners = t.member.authorize(Action::ManageOwners).is_ok();
    render(&NewPage {
        layout,
        nav: TenantNav::new(t),
        email: input.email,
        role: input.role,
        location_ids: input.location_ids,
        roles: Role::ALL
            .into_iter()
            .filter(|role| can_invite_owners || *role != Role::Owner)
            .collect(),
        locations,
        errors,
    })
}

async fn new(layout: Layout, mut t: InTenant) -> Result<Html<String>, AppError> {
    t.member.authorize(Action::ManageMembers)?;
    form_page(
        layout,
        &mut t,
        InvitationInput::default(),
        FieldErrors::default(),
    )
    .await
}

/// The form: `email`, `role`, and one `location_ids` per ticked location
/// (repeated keys, hence a list of pairs).
fn parse_form(fields: Vec<(String, String)>) -> Result<InvitationInput, AppError> {
    let mut input = InvitationInput::default();
    for (name, value) in fields {
        match name.as_str() {
            "email" => input.email = value,
            "role" => input.role = Role::parse(&value)?,
            "location_ids" => input.location_ids.push(value.parse().map_err(|_| {
                AppError::Unprocessable(format!("location_ids: {value:?} is not a location id"))
            })?),
            _ => {}
        }
    }
    Ok(input)
}

async fn create(
    State(state): State<AppState>,
    layout: Layout,
    session: Session,
    mut t: InTenant,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let input = parse_form(fields)?;
    let sender = Sender::new(&t.member, &t.tenant, &state).await?;
    match super::invite(&mut t.scope, &sender, &input).await? {
        Ok(invitation) => {
            t.scope.commit().await?;
            let message = format!("Invitation sent to {}.", invitation.email);
            flash::push(&session, Flash::success(message)).await?;
            Ok(Redirect::to(&format!("/t/{}/members", t.tenant.slug)).into_response())
        }
        Err(errors) => {
            let page = form_page(layout, &mut t, input, errors).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
    }
}

async fn resend(
    State(state): State<AppState>,
    session: Session,
    mut t: InTenant,
    Path((_, id)): Path<(String, InvitationId)>,
) -> Result<Redirect, AppError> {
    let sender = Sender::new(&t.member, &t.tenant, &state).await?;
    let invitation = super::resend(&mut t.scope, &sender, id).await?;
    t.scope.commit().await?;
    let message = format!(
        "Sent the invitation to {} again, with a new link.",
        invitation.email
    );
    flash::push(&session, Flash::success(message)).await?;
    Ok(Redirect::to(&format!("/t/{}/members", t.tenant.slug)))
}

async fn revoke(
    session: Session,
    mut t: InTenant,
    Path((_, id)): Path<(String, InvitationId)>,
) -> Result<Redirect, AppError> {
    let invitation = super::revoke(&mut t.scope, &t.member, id).await?;
    t.scope.commit().await?;
    let message = format!("Revoked the invitation to {}.", invitation.email);
    flash::push(&session, Flash::success(message)).await?;
    Ok(Redirect::to(&format!("/t/{}/members", t.tenant.slug)))
}
