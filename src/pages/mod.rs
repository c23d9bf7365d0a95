//! Pages that belong to no feature: the landing page, and the layout every
//! page extends (`templates/base.html`).

use std::sync::LazyLock;

use askama::Template;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::Html;
use tower_sessions::Session;

use crate::error::AppError;
use crate::http::assets;
use crate::http::routes::{Access, Routes, get};
use crate::sessions::flash::{self, Flash};
use crate::tenancy::{Action, Member, Tenant};

pub fn routes() -> Routes {
    Routes::new().add("/", Access::Public, get(landing))
}

/// Renders a page template.
///
/// # Errors
/// When the template fails to render (a bug, reported as a 500).
pub fn render(page: &impl Template) -> Result<Html<String>, AppError> {
    Ok(Html(page.render()?))
}

static STYLESHEET_URL: LazyLock<String> = LazyLock::new(|| assets::url("app.css"));
static ICON_URL: LazyLock<String> = LazyLock::new(|| assets::url("favicon.svg"));

/// What `base.html` needs on every page. As an extractor it also takes the
/// pending flash messages out of the session.
pub struct Layout {
    pub app_name: &'static str,
    pub stylesheet_url: &'static str,
    pub icon_url: &'static str,
    pub flashes: Vec<Flash>,
    pub year: i32,
}

impl Layout {
    /// The layout without session state, for error pages.
    pub fn plain() -> Self {
        Self {
            app_name: crate::brand::APP_NAME,
            stylesheet_url: &STYLESHEET_URL,
            icon_url: &ICON_URL,
            flashes: Vec::new(),
            year: time::OffsetDateTime::now_utc().year(),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Layout {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        let session = Session::from_request_parts(parts, state)
            .await
            .map_err(|(_, reason)| AppError::Internal(reason.to_owned()))?;
        Ok(Self {
            flashes: flash::take(&session).await?,
            ..Self::plain()
        })
    }
}

/// What `tenancy/layout.html` needs: the tenant's name and slug, and which
/// sections the member's role opens.
pub struct TenantNav {
    pub tenant_name: String,
    pub slug: String,
    pub shows_members: bool,
    pub shows_settings: bool,
}

impl TenantNav {
    pub fn new(tenant: &Tenant, member: &Member) -> Self {
        Self {
            tenant_name: tenant.name.clone(),
            slug: tenant.slug.clone(),
            shows_members: member.authorize(Action::ViewMembers).is_ok(),
            shows_settings: member.authorize(Action::EditTenantSettings).is_ok(),
        }
    }
}

#[derive(Template)]
#[template(path = "pages/landing.html")]
struct LandingPage {
    layout: Layout,
}

async fn landing(layout: Layout) -> Result<Html<String>, AppError> {
    render(&LandingPage { layout })
}
