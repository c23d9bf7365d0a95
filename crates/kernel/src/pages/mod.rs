//! Pages that belong to no feature: the landing page, and the layout every
//! page extends (`templates/base.html`).

pub mod dev_mailbox;

use std::sync::LazyLock;

use askama::Template;
use axum::extract::{FromRequestParts, OptionalFromRequestParts, State};
use axum::http::request::Parts;
use axum::response::Html;
use tower_sessions::Session;

use crate::access::InTenant;
use crate::accounts::CurrentUser;
use crate::error::{AppError, ErrorReport};
use crate::http::AppState;
use crate::http::routes::NavLink;
use crate::http::routes::{Access, Pitch, Routes, get};
use crate::http::{assets, csrf};
use crate::sessions::USER_ID_KEY;
use crate::sessions::flash::{self, Flash};
use crate::tenancy::Action;
use crate::tenancy::super_admin::IMPERSONATOR_KEY;

/// The landing page.
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
    pub signed_in: bool,
    /// The signed-in user hasn't confirmed their email: shows the banner.
    pub email_unverified: bool,
    /// A super-admin is acting as this user (their email): the banner with
    /// the way back.
    pub impersonating: Option<String>,
    /// For the hidden `csrf_token` field of every form (`forms::csrf`).
    /// Empty for a visitor without a session until [`Layout::with_csrf`].
    pub csrf_token: String,
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
            signed_in: false,
            email_unverified: false,
            impersonating: None,
            csrf_token: String::new(),
        }
    }

    /// For a page whose form an anonymous visitor sends (sign-in, signup):
    /// gives the visitor a session to hold the CSRF token.
    ///
    /// # Errors
    /// When the session store fails.
    pub async fn with_csrf(mut self, session: &Session) -> Result<Self, AppError> {
        self.csrf_token = csrf::token(session).await?;
        Ok(self)
    }
}

impl FromRequestParts<AppState> for Layout {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let session = crate::sessions::of(parts, state).await?;
        let signed_in = session.get_value(USER_ID_KEY).await?.is_some();
        let user = if signed_in {
            <CurrentUser as OptionalFromRequestParts<AppState>>::from_request_parts(parts, state)
                .await?
        } else {
            None
        };
        let email_unverified = user.as_ref().is_some_and(|user| !user.email_verified);
        let impersonating = match user {
            Some(user) if session.get_value(IMPERSONATOR_KEY).await?.is_some() => Some(user.email),
            _ => None,
        };
        // A session that exists anyway gets a token; a visitor without one
        // doesn't get a session just for looking at a page.
        let csrf_token = if session.is_empty().await {
            String::new()
        } else {
            csrf::token(&session).await?
        };
        Ok(Self {
            flashes: flash::take(&session).await?,
            signed_in,
            email_unverified,
            impersonating,
            csrf_token,
            ..Self::plain()
        })
    }
}

/// What `tenancy/layout.html` needs: the tenant's name and slug, and the
/// links of its navigation this member sees.
pub struct TenantNav {
    pub tenant_name: String,
    pub slug: String,
    /// Each capability's links (`Capability::nav`), in the composition
    /// root's order.
    pub links: Vec<NavLink>,
    /// The member may manage billing: the overdue banner offers the portal.
    pub manages_billing: bool,
    /// A failed payment, in its grace period: the banner.
    pub payment_overdue: bool,
}

impl TenantNav {
    pub fn new(t: &InTenant) -> Self {
        let (tenant, member) = (&t.tenant, &t.member);
        Self {
            tenant_name: tenant.name.clone(),
            slug: tenant.slug.clone(),
            links: t
                .navigation
                .iter()
                .flat_map(|links| links(tenant, member))
                .collect(),
            manages_billing: member.authorize(Action::ManageBilling).is_ok(),
            payment_overdue: t.entitlement().payment_overdue,
        }
    }
}

#[derive(Template)]
#[template(path = "pages/landing.html")]
struct LandingPage {
    layout: Layout,
    pitch: &'static Pitch,
}

async fn landing(State(state): State<AppState>, layout: Layout) -> Result<Html<String>, AppError> {
    render(&LandingPage {
        layout,
        pitch: state.pitch,
    })
}

/// A file to download, as a response.
pub fn attachment(content_type: &str, filename: &str, body: Vec<u8>) -> axum::response::Response {
    use axum::http::header;
    use axum::response::IntoResponse as _;
    (
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
        ],
        body,
    )
        .into_response()
}

#[derive(Template)]
#[template(path = "errors/error.html")]
struct ErrorPage<'a> {
    layout: Layout,
    status: u16,
    title: &'a str,
    message: &'a str,
}

/// An error's page for a browser (`http::errors`).
///
/// # Errors
/// When the template fails to render.
pub fn error_page(report: &ErrorReport) -> askama::Result<String> {
    let title = match report.status.as_u16() {
        404 => "Page not found",
        401 => "Please sign in",
        403 => "Not allowed",
        405 => "Method not allowed",
        413 => "Too large",
        429 => "Too many requests",
        500..=599 => "Something went wrong",
        _ => "That didn't work",
    };
    ErrorPage {
        layout: Layout::plain(),
        status: report.status.as_u16(),
        title,
        message: &report.message,
    }
    .render()
}
