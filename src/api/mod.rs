//! The JSON API's shared parts: the error body every endpoint answers with,
//! and the OpenAPI 3.1 document, generated from the handlers' annotations
//! and served at `/api/openapi.json` (a test checks that it lists exactly
//! the registered `/api/v1/` routes).

use serde::Serialize;
use utoipa::OpenApi;

use crate::http::extract::Json;
use crate::http::routes::{Access, Routes, get};

/// Whether `path` is the JSON API's: JSON errors, and where API tokens are
/// accepted.
pub fn is_api_path(path: &str) -> bool {
    path.starts_with("/api/")
}

/// `{"error": {"code": "not_found", "message": "…"}}`
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable and machine-readable: not_found, forbidden, invalid, no_tenant, …
    pub code: &'static str,
    /// For a person.
    pub message: String,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "SaaS Starter API", description = "Tenant data lives under /api/v1/t/{slug}/. Requests are authenticated with the session cookie that /api/v1/login sets (those that change something send its csrf_token in the X-CSRF-Token header), or, under /api/v1/t/{slug}/, with an API token of that tenant sent as Authorization: Bearer (no CSRF token needed)."),
    paths(
        crate::accounts::api::signup,
        crate::accounts::api::login,
        crate::accounts::api::logout,
        crate::accounts::api::logout_others,
        crate::accounts::api::me,
        crate::accounts::verification::verify_api,
        crate::accounts::verification::resend_api,
        crate::accounts::reset::request_api,
        crate::accounts::reset::reset_api,
        crate::accounts::two_factor::setup_api,
        crate::accounts::two_factor::enable_api,
        crate::accounts::two_factor::disable_api,
        crate::accounts::account::email_api,
        crate::accounts::account::password_api,
        crate::accounts::account::sessions_api,
        crate::accounts::account::revoke_session_api,
        crate::accounts::account::tokens_api,
        crate::accounts::account::delete_api,
        crate::members::api::leave,
        crate::locations::api::list,
        crate::locations::api::create,
        crate::locations::api::show,
        crate::locations::api::update,
        crate::locations::api::archive,
        crate::members::api::list,
        crate::members::api::show,
        crate::members::api::update,
        crate::members::api::remove,
        crate::invitations::api::list,
        crate::invitations::api::create,
        crate::invitations::api::resend,
        crate::invitations::api::revoke,
        crate::invitations::accept::accept_api,
        crate::api_tokens::api::list,
        crate::api_tokens::api::create,
        crate::api_tokens::api::revoke,
        crate::billing::api::status,
        crate::billing::api::checkout,
        crate::billing::api::portal,
        crate::tenants::api::list,
        crate::tenants::api::create,
        crate::tenants::api::settings,
        crate::tenants::api::update_settings,
        crate::tenants::api::remove,
        crate::tenants::api::export,
    ),
    tags(
        (name = "accounts", description = "Signing up, signing in and out, confirming the email, resetting the password, and who is signed in"),
        (name = "tenants", description = "The caller's organisations and their settings"),
        (name = "locations", description = "A tenant's sites"),
        (name = "members", description = "Who belongs to a tenant, with which role, where; invitations"),
        (name = "api-tokens", description = "Tokens for programs, sent as Authorization: Bearer"),
        (name = "billing", description = "The tenant's plan, limits and subscription"),
    ),
)]
struct ApiDoc;

pub fn routes() -> Routes {
    Routes::new().add("/api/openapi.json", Access::Public, get(openapi))
}

/// The document, with each module's part and the app's own name as its
/// title.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut document = ApiDoc::openapi();
    for module in crate::modules::ALL {
        document.merge((module.openapi)());
    }
    document.info.title = format!("{} API", crate::brand::APP_NAME);
    document
}

async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(document())
}
