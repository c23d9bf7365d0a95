//! Security headers on every response, error pages included. A handler that
//! needs a different policy sets the header itself; these fill in only where
//! none is set.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

/// Scripts and styles come only from this origin (the stylesheet and any
/// script are files under /static), so injected markup can't run code; no
/// site may frame the app.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; \
     script-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'";

/// Middleware; the state says whether the app runs in production.
pub async fn headers(State(production): State<bool>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    // HSTS only in production: on http://localhost it would pin the browser
    // to https for every app a developer runs there.
    let hsts = production.then_some("max-age=63072000; includeSubDomains");
    let headers = response.headers_mut();
    for (name, value) in [
        (
            header::CONTENT_SECURITY_POLICY,
            Some(CONTENT_SECURITY_POLICY),
        ),
        (header::X_CONTENT_TYPE_OPTIONS, Some("nosniff")),
        (
            header::REFERRER_POLICY,
            Some("strict-origin-when-cross-origin"),
        ),
        (header::X_FRAME_OPTIONS, Some("DENY")),
        (header::STRICT_TRANSPORT_SECURITY, hsts),
    ] {
        if let Some(value) = value {
            headers
                .entry(name)
                .or_insert(HeaderValue::from_static(value));
        }
    }
    response
}
