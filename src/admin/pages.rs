//! The super-admin panel's pages.

use askama::Template;
use axum::extract::State;
use axum::response::Html;

use super::TenantSummary;
use crate::error::AppError;
use crate::http::AppState;
use crate::http::routes::{Access, Routes, get};
use crate::pages::{Layout, render};
use crate::tenancy::Intent;
use crate::tenancy::super_admin::{SuperAdmin, all_tenants_unsafe};

pub fn routes() -> Routes {
    Routes::new().add("/admin/tenants", Access::SuperAdmin, get(tenants))
}

#[derive(Template)]
#[template(path = "admin/tenants.html")]
struct TenantsPage {
    layout: Layout,
    tenants: Vec<TenantSummary>,
}

async fn tenants(
    State(state): State<AppState>,
    layout: Layout,
    admin: SuperAdmin,
) -> Result<Html<String>, AppError> {
    let mut scope = all_tenants_unsafe(
        &state.db,
        &admin,
        "viewed the tenant list in the admin panel",
        Intent::Read,
    )
    .await?;
    let tenants = super::tenant_overview(&mut scope).await?;
    render(&TenantsPage { layout, tenants })
}
