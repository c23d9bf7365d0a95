//! The JSON API's shared parts: the error body every endpoint answers with,
//! and the OpenAPI 3.1 document's heading. The composition root
//! (`src/lib.rs`) completes the document from the route registry and serves
//! it at `/api/openapi.json` (a test checks that it lists exactly the
//! registered `/api/v1/` routes).

use serde::Serialize;
use utoipa::OpenApi;

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

/// The document's heading: how the API is reached. The operations and tags
/// come from the registered routes and capabilities (`crate::document`).
#[derive(OpenApi)]
#[openapi(info(
    title = "SaaS Starter API",
    description = "Tenant data lives under /api/v1/t/{slug}/. Requests are authenticated with the session cookie that /api/v1/login sets (those that change something send its csrf_token in the X-CSRF-Token header), or, under /api/v1/t/{slug}/, with an API token of that tenant sent as Authorization: Bearer (no CSRF token needed)."
))]
struct ApiDoc;

/// The heading, with the app's own name as its title.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut document = ApiDoc::openapi();
    document.info.title = format!("{} API", crate::brand::APP_NAME);
    document
}
