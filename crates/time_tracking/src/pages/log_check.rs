//! The tamper-evident log's check, as a page.

use askama::Template;
use axum::response::Html;

use super::Tabs;
use crate::log;
use crate::permissions::TimeAction;
use kernel::access::InTenant;
use kernel::error::AppError;
use kernel::http::routes::{Access, Routes, get};
use kernel::pages::{Layout, TenantNav, render};

pub(super) fn routes() -> Routes {
    Routes::new().add("/t/{slug}/time/log", Access::Tenant, get(page))
}

#[derive(Template)]
#[template(path = "time_tracking/log.html")]
struct LogPage {
    layout: Layout,
    nav: TenantNav,
    tabs: Tabs,
    verification: log::Verification,
}

async fn page(layout: Layout, mut t: InTenant) -> Result<Html<String>, AppError> {
    t.member.authorize(TimeAction::VerifyLog)?;
    let verification = log::verify(&mut t.scope).await?;
    render(&LogPage {
        layout,
        nav: TenantNav::new(&t),
        tabs: Tabs::new(&t.tenant.slug, &t.member, "time/log"),
        verification,
    })
}
