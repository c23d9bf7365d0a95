//! The locations pages: list and add, view and edit, archive.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use tower_sessions::Session;

use super::{Location, LocationAction, LocationInput, Page};
use crate::access::InTenant;
use crate::error::AppError;
use crate::http::extract::{Form, Path};
use crate::http::routes::{Access, Routes, get, post};
use crate::ids::LocationId;
use crate::pages::{Layout, TenantNav, render};
use crate::sessions::flash::{self, Flash};
use crate::validation::{FieldErrors, WriteError, time_zone_options};

pub fn routes() -> Routes {
    Routes::new()
        .add(
            "/t/{slug}/locations",
            Access::Tenant,
            get(index).post(create),
        )
        .add(
            "/t/{slug}/locations/{location_id}",
            Access::Tenant,
            get(show).post(update),
        )
        .add(
            "/t/{slug}/locations/{location_id}/archive",
            Access::Tenant,
            post(archive),
        )
}

#[derive(Template)]
#[template(path = "locations/index.html")]
struct IndexPage {
    layout: Layout,
    nav: TenantNav,
    locations: Vec<Location>,
    can_create: bool,
    form: LocationInput,
    errors: FieldErrors,
    time_zones: &'static [(String, String)],
}

async fn index_page(
    layout: Layout,
    t: &mut InTenant,
    form: LocationInput,
    errors: FieldErrors,
) -> Result<Html<String>, AppError> {
    let locations = super::list(&mut t.scope, t.member.location_visibility(), Page::ALL).await?;
    render(&IndexPage {
        layout,
        nav: TenantNav::new(t),
        locations,
        can_create: t.member.authorize(LocationAction::Create).is_ok(),
        form,
        errors,
        time_zones: time_zone_options(),
    })
}

async fn index(layout: Layout, mut t: InTenant) -> Result<Html<String>, AppError> {
    let form = LocationInput {
        time_zone: t.tenant.time_zone.clone(),
        ..LocationInput::default()
    };
    index_page(layout, &mut t, form, FieldErrors::default()).await
}

async fn create(
    layout: Layout,
    session: Session,
    mut t: InTenant,
    Form(form): Form<LocationInput>,
) -> Result<Response, AppError> {
    t.member.authorize(LocationAction::Create)?;
    crate::billing::ensure_room(&mut t.scope, t.plans, &t.tenant.slug, &super::LOCATIONS).await?;
    let created = match form.validate() {
        Ok(valid) => super::create(&mut t.scope, &valid).await,
        Err(errors) => Err(WriteError::Invalid(errors)),
    };
    match created {
        Ok(location) => {
            t.scope.commit().await?;
            flash::push(
                &session,
                Flash::success(format!("Added {}.", location.name)),
            )
            .await?;
            Ok(Redirect::to(&format!("/t/{}/locations", t.tenant.slug)).into_response())
        }
        Err(WriteError::Invalid(errors)) => {
            let page = index_page(layout, &mut t, form, errors).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(WriteError::Failed(error)) => Err(error),
    }
}

#[derive(Template)]
#[template(path = "locations/show.html")]
struct ShowPage {
    layout: Layout,
    nav: TenantNav,
    location: Location,
    can_edit: bool,
    can_archive: bool,
    form: LocationInput,
    errors: FieldErrors,
    time_zones: &'static [(String, String)],
}

impl ShowPage {
    fn new(
        layout: Layout,
        t: &InTenant,
        location: Location,
        form: LocationInput,
        errors: FieldErrors,
    ) -> Self {
        Self {
            layout,
            nav: TenantNav::new(t),
            location,
            can_edit: t.member.authorize(LocationAction::Edit).is_ok(),
            can_archive: t.member.authorize(LocationAction::Archive).is_ok(),
            form,
            errors,
            time_zones: time_zone_options(),
        }
    }
}

async fn show(
    layout: Layout,
    mut t: InTenant,
    Path((_, id)): Path<(String, LocationId)>,
) -> Result<Html<String>, AppError> {
    let location = super::visible(&mut t, id).await?;
    let form = LocationInput {
        name: location.name.clone(),
        address: location.address.clone(),
        time_zone: location.time_zone.clone(),
    };
    render(&ShowPage::new(
        layout,
        &t,
        location,
        form,
        FieldErrors::default(),
    ))
}

async fn update(
    layout: Layout,
    session: Session,
    mut t: InTenant,
    Path((_, id)): Path<(String, LocationId)>,
    Form(form): Form<LocationInput>,
) -> Result<Response, AppError> {
    let location = super::visible(&mut t, id).await?;
    t.member.authorize(LocationAction::Edit)?;
    let updated = match form.validate() {
        Ok(valid) => super::update(&mut t.scope, id, &valid).await,
        Err(errors) => Err(WriteError::Invalid(errors)),
    };
    match updated {
        Ok(location) => {
            t.scope.commit().await?;
            flash::push(
                &session,
                Flash::success(format!("Saved {}.", location.name)),
            )
            .await?;
            Ok(Redirect::to(&format!("/t/{}/locations/{id}", t.tenant.slug)).into_response())
        }
        Err(WriteError::Invalid(errors)) => {
            let page = render(&ShowPage::new(layout, &t, location, form, errors))?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(WriteError::Failed(error)) => Err(error),
    }
}

async fn archive(
    session: Session,
    mut t: InTenant,
    Path((_, id)): Path<(String, LocationId)>,
) -> Result<Redirect, AppError> {
    super::visible(&mut t, id).await?;
    t.member.authorize(LocationAction::Archive)?;
    let location = super::archive(&mut t.scope, id).await?;
    t.scope.commit().await?;
    flash::push(
        &session,
        Flash::success(format!("Archived {}.", location.name)),
    )
    .await?;
    Ok(Redirect::to(&format!("/t/{}/locations", t.tenant.slug)))
}
