//! The panel's door: a super-admin confirms their password at the first
//! entry in each session (`SuperAdmin` sends them here until they do).

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::access::super_admin::SuperAdminToConfirm;
use crate::error::AppError;
use crate::error::PANEL_CONFIRM_PATH;
use crate::http::AppState;
use crate::http::extract::Form;
use crate::http::routes::{Access, Routes, get};
use crate::pages::{Layout, render};
use crate::validation::FieldErrors;

pub fn routes() -> Routes {
    Routes::new().add(
        PANEL_CONFIRM_PATH,
        Access::SuperAdmin,
        get(form).post(confirm),
    )
}

#[derive(Template)]
#[template(path = "admin/confirm.html")]
struct ConfirmPage {
    layout: Layout,
    errors: FieldErrors,
}

async fn form(layout: Layout, admin: SuperAdminToConfirm) -> Result<Response, AppError> {
    let layout = layout.with_csrf(&admin.1).await?;
    Ok(render(&ConfirmPage {
        layout,
        errors: FieldErrors::default(),
    })?
    .into_response())
}

#[derive(Deserialize)]
struct ConfirmForm {
    #[serde(default)]
    password: String,
}

async fn confirm(
    State(state): State<AppState>,
    layout: Layout,
    admin: SuperAdminToConfirm,
    Form(input): Form<ConfirmForm>,
) -> Result<Response, AppError> {
    match crate::accounts::reauthenticate(&state, &admin.0, &input.password, "password").await? {
        Ok(()) => {
            admin.confirmed().await?;
            Ok(Redirect::to("/admin").into_response())
        }
        Err(errors) => {
            let layout = layout.with_csrf(&admin.1).await?;
            let page = render(&ConfirmPage { layout, errors })?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
    }
}
