//! Acting as a tenant's owner, to see what they see: a super-admin gives a
//! reason (audited), the session becomes the owner's with a marker that
//! keeps the super-admin's id, every page shows a banner, and "End
//! impersonation" (audited too) signs the super-admin back in. What they
//! change meanwhile is theirs: audited as theirs ([`audit_changes`]), and
//! recorded with them as its author ([`crate::tenancy::Member::author`]).

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{Redirect, Response};
use tower_sessions::Session;

use super::pages::{ReasonForm, act_on};
use crate::access::super_admin::{
    behind_impersonation, door_reads_session, impersonation_ended, mark_panel_confirmed,
};
use crate::accounts::global::find_user;
use crate::accounts::start_session;
use crate::error::AppError;
use crate::http::AppState;
use crate::http::extract::{Form, Path};
use crate::http::routes::{Access, Routes, post};
use crate::ids::{TenantId, UserId};
use crate::sessions::USER_ID_KEY;
use crate::sessions::flash::{self, Flash};
use crate::tenancy::super_admin::{IMPERSONATOR_KEY, SuperAdmin, audit};

const END_PATH: &str = "/admin/impersonation/end";

pub fn routes() -> Routes {
    Routes::new()
        .add(
            "/admin/tenants/{tenant_id}/impersonate",
            Access::SuperAdmin,
            post(start),
        )
        .add(END_PATH, Access::SignedIn, post(end))
}

/// [`audit_changes`] around every route (`Capability::around`).
pub fn around(routes: Router<AppState>, state: AppState) -> Router<AppState> {
    routes.layer(axum::middleware::from_fn_with_state(state, audit_changes))
}

/// Around every request of an impersonating session: the impersonation
/// lasts only while its super-admin still is one (else the session is
/// cleared and the request refused), and each change (any method but GET,
/// HEAD and OPTIONS) is written to the audit log as the super-admin's,
/// naming the owner acted as, before it runs (committed on its own, so it
/// stays whatever the request then does). A read inside a tenant is checked
/// by its door instead, in the query that reads the session.
///
/// # Errors
/// 403 for an impersonation that has ended; a database or session failure.
pub async fn audit_changes(
    State(state): State<AppState>,
    session: Session,
    request: Request,
    next: Next,
) -> Result<Response, AppError> {
    if door_reads_session(&request) || session.get::<UserId>(IMPERSONATOR_KEY).await?.is_none() {
        return Ok(next.run(request).await);
    }
    let Some(admin) = behind_impersonation(&session, &state.db).await? else {
        return Err(impersonation_ended(&session).await);
    };
    if !request.method().is_safe() && request.uri().path() != END_PATH {
        let acted_as = match session.get::<UserId>(USER_ID_KEY).await? {
            Some(id) => find_user(&state.db, id)
                .await?
                .map_or_else(|| format!("user {id}"), |user| user.email.to_string()),
            None => "nobody".to_owned(),
        };
        let change = format!(
            "as {acted_as}: {} {}",
            request.method(),
            crate::http::logged_path(&request)
        );
        audit(&state.db, &admin, &change).await?;
    }
    Ok(next.run(request).await)
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
    let Some(super::Owner { id: owner, email }) = owners.into_iter().next() else {
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
    let Some(admin) = behind_impersonation(&session, &state.db).await? else {
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
    crate::accounts::mark_verified(&session, admin_id).await?;
    mark_panel_confirmed(&session, admin_id).await?;
    flash::push(&session, Flash::success("Impersonation ended.")).await?;
    Ok(Redirect::to("/admin/tenants"))
}
