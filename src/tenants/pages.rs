//! The tenant switcher, creating a tenant, the way into the app, and a
//! tenant's settings page.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use tower_sessions::Session;

use super::{TenantChoice, TenantInput};
use crate::access::InTenant;
use crate::accounts::CurrentUser;
use crate::error::AppError;
use crate::http::AppState;
use crate::http::extract::Form;
use crate::http::routes::{Access, Routes, get, post};
use crate::pages::{Layout, TenantNav, render};
use crate::sessions::flash::{self, Flash};
use crate::tenancy::Action;
use crate::tenancy::scope::for_user;
use crate::validation::{FieldErrors, time_zone_options};
use axum::extract::State;

pub fn routes() -> Routes {
    Routes::new()
        .add("/app", Access::SignedIn, get(enter))
        .add("/tenants", Access::SignedIn, get(index).post(create))
        .add(
            "/t/{slug}/settings",
            Access::Tenant,
            get(settings).post(save_settings),
        )
        .add("/t/{slug}/settings/delete", Access::Tenant, post(delete))
}

/// Where "open the app" leads: the user's only tenant, or the switcher.
/// A user with no tenant gets the typed error, which sends them to create one.
async fn enter(State(state): State<AppState>, user: CurrentUser) -> Result<Redirect, AppError> {
    let mut scope = for_user(&state.db, user.id).await?;
    match super::choices(&mut scope).await?.as_slice() {
        [] => Err(AppError::NoTenant),
        [only] => Ok(Redirect::to(&format!("/t/{}/locations", only.slug))),
        _ => Ok(Redirect::to("/tenants")),
    }
}

#[derive(Template)]
#[template(path = "tenants/index.html")]
struct IndexPage {
    layout: Layout,
    tenants: Vec<TenantChoice>,
    form: TenantInput,
    errors: FieldErrors,
    time_zones: &'static [(String, String)],
}

async fn index_page(
    state: &AppState,
    layout: Layout,
    user: &CurrentUser,
    form: TenantInput,
    errors: FieldErrors,
) -> Result<Html<String>, AppError> {
    let mut scope = for_user(&state.db, user.id).await?;
    render(&IndexPage {
        layout,
        tenants: super::choices(&mut scope).await?,
        form,
        errors,
        time_zones: time_zone_options(),
    })
}

async fn index(
    State(state): State<AppState>,
    layout: Layout,
    user: CurrentUser,
) -> Result<Html<String>, AppError> {
    let form = TenantInput {
        time_zone: "UTC".to_owned(),
        ..TenantInput::default()
    };
    index_page(&state, layout, &user, form, FieldErrors::default()).await
}

async fn create(
    State(state): State<AppState>,
    layout: Layout,
    session: Session,
    user: CurrentUser,
    Form(form): Form<TenantInput>,
) -> Result<Response, AppError> {
    match form.validate() {
        Ok(valid) => {
            let tenant = super::create(&state.db, user.id, &valid).await?;
            flash::push(
                &session,
                Flash::success(format!("Created {}.", tenant.name)),
            )
            .await?;
            Ok(Redirect::to(&format!("/t/{}/locations", tenant.slug)).into_response())
        }
        Err(errors) => {
            let page = index_page(&state, layout, &user, form, errors).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
    }
}

#[derive(Template)]
#[template(path = "tenants/settings.html")]
struct SettingsPage {
    layout: Layout,
    nav: TenantNav,
    form: TenantInput,
    errors: FieldErrors,
    time_zones: &'static [(String, String)],
    /// Owners export and delete the organisation.
    owner: bool,
}

impl SettingsPage {
    fn new(layout: Layout, t: &InTenant, form: TenantInput, errors: FieldErrors) -> Self {
        Self {
            layout,
            nav: TenantNav::new(t),
            form,
            errors,
            time_zones: time_zone_options(),
            owner: t.member.authorize(Action::DeleteTenant).is_ok(),
        }
    }
}

async fn settings(layout: Layout, t: InTenant) -> Result<Html<String>, AppError> {
    t.member.authorize(Action::EditTenantSettings)?;
    let form = TenantInput {
        name: t.tenant.name.clone(),
        time_zone: t.tenant.time_zone.clone(),
    };
    render(&SettingsPage::new(layout, &t, form, FieldErrors::default()))
}

/// Deletes the organisation once its slug and the owner's password are
/// typed (owners, in person).
async fn delete(
    State(state): State<AppState>,
    layout: Layout,
    session: Session,
    mut t: InTenant,
    Form(form): Form<super::api::DeleteConfirmation>,
) -> Result<Response, AppError> {
    t.member.authorize(Action::DeleteTenant)?;
    let confirmed = super::confirm_deletion(&state, &mut t, &form.confirm, &form.password).await?;
    if let Err(errors) = confirmed {
        let current = TenantInput {
            name: t.tenant.name.clone(),
            time_zone: t.tenant.time_zone.clone(),
        };
        let page = render(&SettingsPage::new(layout, &t, current, errors))?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
    }
    // The request's own transaction ends first: it would hold SQLite's lock.
    t.scope.commit().await?;
    super::delete(&state, t.tenant.id, &t.billing).await?;
    flash::push(
        &session,
        Flash::success(format!("{} and all its data were deleted.", t.tenant.name)),
    )
    .await?;
    Ok(Redirect::to("/tenants").into_response())
}

async fn save_settings(
    layout: Layout,
    session: Session,
    mut t: InTenant,
    Form(form): Form<TenantInput>,
) -> Result<Response, AppError> {
    t.member.authorize(Action::EditTenantSettings)?;
    match form.validate() {
        Ok(valid) => {
            super::update_settings(&mut t.scope, &valid).await?;
            t.scope.commit().await?;
            flash::push(&session, Flash::success("Settings saved.")).await?;
            Ok(Redirect::to(&format!("/t/{}/settings", t.tenant.slug)).into_response())
        }
        Err(errors) => {
            let page = render(&SettingsPage::new(layout, &t, form, errors))?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
    }
}
