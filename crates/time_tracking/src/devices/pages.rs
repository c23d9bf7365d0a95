//! The kiosks page: the location's tablets with their last-seen time, the
//! form that pairs a new one (its one-time link is shown on the page that
//! answers), and revoking.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use tower_sessions::Session;

use super::{Device, NewDevice};
use crate::pages::{Tabs, location_options};
use crate::permissions::TimeAction;
use crate::{DeviceId, dates};
use kernel::access::InTenant;
use kernel::error::AppError;
use kernel::http::AppState;
use kernel::http::extract::{Form, Path};
use kernel::http::routes::{Access, Routes, get, post};
use kernel::pages::{Layout, TenantNav, render};
use kernel::sessions::flash::{self, Flash};
use kernel::validation::{FieldErrors, WriteError};

pub fn routes() -> Routes {
    Routes::new()
        .add("/t/{slug}/kiosks", Access::Tenant, get(index).post(add))
        .add(
            "/t/{slug}/kiosks/{device_id}/revoke",
            Access::Tenant,
            post(revoke),
        )
}

#[derive(Template)]
#[template(path = "time_tracking/kiosks.html")]
struct IndexPage {
    layout: Layout,
    nav: TenantNav,
    tabs: Tabs,
    devices: Vec<(Device, String)>,
    locations: Vec<(String, String)>,
    form: AddForm,
    errors: FieldErrors,
    /// The kiosk just added and its pairing link: shown this once.
    added: Option<(Device, String)>,
}

async fn index_page(
    layout: Layout,
    t: &mut InTenant,
    form: AddForm,
    errors: FieldErrors,
    added: Option<(Device, String)>,
) -> Result<Html<String>, AppError> {
    t.member.authorize(TimeAction::ManageDevices)?;
    let zone = dates::zone(&t.tenant.time_zone);
    let devices = super::list(&mut t.scope, t.member.location_visibility())
        .await?
        .into_iter()
        .map(|d| {
            let seen = d.last_seen_at.map_or_else(
                || "never".to_owned(),
                |at| {
                    format!(
                        "{} {}",
                        dates::local_date(at, &zone),
                        dates::clock(at, &zone)
                    )
                },
            );
            (d, seen)
        })
        .collect();
    let locations = location_options(t, |_| true).await?;
    render(&IndexPage {
        layout,
        nav: TenantNav::new(t),
        tabs: Tabs::new(&t.tenant.slug, &t.member, "kiosks"),
        devices,
        locations,
        form,
        errors,
        added,
    })
}

async fn index(layout: Layout, mut t: InTenant) -> Result<Html<String>, AppError> {
    index_page(
        layout,
        &mut t,
        AddForm::default(),
        FieldErrors::default(),
        None,
    )
    .await
}

#[derive(Debug, Default, serde::Deserialize)]
struct AddForm {
    #[serde(default)]
    location_id: String,
    #[serde(default)]
    name: String,
}

impl AddForm {
    /// The fields the form shows an error beside.
    const FIELDS: &[&str] = &["location_id", "name"];
}

async fn add(
    State(state): State<AppState>,
    layout: Layout,
    mut t: InTenant,
    Form(form): Form<AddForm>,
) -> Result<Response, AppError> {
    t.member.authorize(TimeAction::ManageDevices)?;
    let Ok(location_id) = form.location_id.parse() else {
        let errors = FieldErrors::single("form", "Pick a location.");
        let page = index_page(layout, &mut t, form, errors, None).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
    };
    let input = NewDevice {
        location_id,
        name: form.name.clone(),
    };
    match super::add(&mut t.scope, t.member.location_visibility(), &input).await {
        Ok((device, code)) => {
            let link = super::api::pairing_url(&state.config.base_url, &code);
            let page = index_page(
                layout,
                &mut t,
                AddForm::default(),
                FieldErrors::default(),
                Some((device, link)),
            )
            .await?;
            t.scope.commit().await?;
            Ok((StatusCode::CREATED, page).into_response())
        }
        Err(WriteError::Invalid(errors)) => {
            let errors = errors.beside(AddForm::FIELDS);
            let page = index_page(layout, &mut t, form, errors, None).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(WriteError::Failed(error)) => Err(error),
    }
}

async fn revoke(
    session: Session,
    mut t: InTenant,
    Path((_, id)): Path<(String, DeviceId)>,
) -> Result<Response, AppError> {
    let device = super::find(&mut t.scope, t.member.location_visibility(), id)
        .await?
        .ok_or(AppError::NotFound)?;
    t.member.authorize(TimeAction::ManageDevices)?;
    super::revoke(&mut t.scope, id).await?;
    t.scope.commit().await?;
    flash::push(
        &session,
        Flash::success(format!("Revoked {}: it can't punch any more.", device.name)),
    )
    .await?;
    Ok(Redirect::to(&format!("/t/{}/kiosks", t.tenant.slug)).into_response())
}
