//! Acting as a tenant's owner, to see what they see: a super-admin gives a
//! reason (audited), the session becomes the owner's with a marker that
//! keeps the super-admin's id, every page shows a banner, and "End
//! impersonation" (audited too) signs the super-admin back in.

use axum::extract::State;
use axum::response::Redirect;
use tower_sessions::Session;

use super::pages::{ReasonForm, act_on};
use crate::accounts::{start_session, two_factor};
use crate::error::AppError;
use crate::http::AppState;
use crate::http::extract::{Form, Path};
use crate::http::routes::{Access, Routes, post};
use crate::ids::{TenantId, UserId};
use crate::sessions::USER_ID_KEY;
use crate::sessions::flash::{self, Flash};
use crate::tenancy::super_admin::{IMPERSONATOR_KEY, SuperAdmin, audit, mark_panel_confirmed};

pub fn routes() -> Routes {
    Routes::new()
        .add(
            "/admin/tenants/{tenant_id}/impersonate",
            Access::SuperAdmin,
            post(start),
        )
        .add("/admin/impersonation/end", Access::SignedIn, post(end))
}

async fn start(
    State(state): State<AppState>,
    session: Session,
    admin: SuperAdmin,
    Path(id): Path<TenantId>,
    Form(form): Form<ReasonForm>,
) -> Result<Redirect, AppError> {
    let Some(admin_id) = admin.user_id() else {
        return Err(AppError::NotFound);
    };
    let (mut scope, tenant) =
        act_on(&state, &admin, id, "impersonated the owner", &form.reason).await?;
    let owners = super::owners(&mut scope, id).await?;
    scope.commit().await?;
    let Some((owner, email)) = owners.into_iter().next() else {
        return Err(AppError::Conflict(format!("{} has no owner.", tenant.name)));
    };
    start_session(&session, owner).await?;
    session.insert(IMPERSONATOR_KEY, admin_id).await?;
    flash::push(
        &session,
        Flash::info(format!(
            "You are acting as {email}, an owner of {}. End it from the banner.",
            tenant.name
        )),
    )
    .await?;
    Ok(Redirect::to(&format!("/t/{}/locations", tenant.slug)))
}

/// Signs the super-admin back in (their second factor and the panel's
/// password passed before they started). A session that isn't an impersonation gets a 404.
async fn end(State(state): State<AppState>, session: Session) -> Result<Redirect, AppError> {
    let Some(admin) = SuperAdmin::behind_impersonation(&session, &state.db).await? else {
        return Err(AppError::NotFound);
    };
    let (Some(admin_id), Some(acted_as)) =
        (admin.user_id(), session.get::<UserId>(USER_ID_KEY).await?)
    else {
        return Err(AppError::NotFound);
    };
    audit(
        &state.db,
        &admin,
        &format!("ended the impersonation of user {acted_as}"),
    )
    .await?;
    start_session(&session, admin_id).await?;
    two_factor::mark_verified(&session, admin_id).await?;
    mark_panel_confirmed(&session, admin_id).await?;
    flash::push(&session, Flash::success("Impersonation ended.")).await?;
    Ok(Redirect::to("/admin/tenants"))
}
