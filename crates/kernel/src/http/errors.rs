//! Turns every error response into the app's format: an HTML page in the
//! site's layout for browsers, `{"error": {"code", "message"}}` under
//! `/api/`. Covers `AppError`s and the bare statuses that axum and tower-http
//! produce themselves (404, 405, 408, 413). Responses that already carry an
//! HTML or JSON body (a form re-rendered with its errors, the health check's
//! 503) pass through untouched.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

use crate::api::{ErrorBody, ErrorDetail};
use crate::error::{AppError, ErrorReport};

pub async fn render_errors(
    State(error_page): State<ErrorPage>,
    request: Request,
    next: Next,
) -> Response {
    let is_api = crate::api::is_api_path(request.uri().path());
    // Where a browser that must sign in first comes back to.
    let sign_in = (request.method() == Method::GET).then(|| {
        let target = request
            .uri()
            .path_and_query()
            .map_or("/", |path| path.as_str());
        let next: String = form_urlencoded::byte_serialize(target.as_bytes()).collect();
        format!("/login?next={next}")
    });
    let mut response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let report = match response.extensions_mut().remove::<ErrorReport>() {
        Some(report) => report,
        None if has_own_body(&response) => return response,
        None => ErrorReport::for_status(status),
    };
    if status.is_server_error() {
        let detail = report.internal.as_deref().unwrap_or("no detail");
        tracing::error!(status = status.as_u16(), error = detail, "request failed");
    }

    if let (false, Some(location)) = (is_api, report.redirect) {
        return Redirect::to(location).into_response();
    }
    if let (false, "unauthorized", Some(location)) = (is_api, report.code, sign_in) {
        return Redirect::to(&location).into_response();
    }
    let (content_type, body) = if is_api {
        json_body(&report)
    } else {
        html_body(&report, error_page)
    };
    let (mut parts, _) = response.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts
        .headers
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    Response::from_parts(parts, Body::from(body))
}

/// The fallback for paths no route matches.
pub async fn not_found() -> AppError {
    AppError::NotFound
}

fn has_own_body(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html") || v.starts_with("application/json"))
}

fn json_body(report: &ErrorReport) -> (&'static str, String) {
    let body = ErrorBody {
        error: ErrorDetail {
            code: report.code,
            message: report.message.clone(),
        },
    };
    let text = serde_json::to_string(&body).unwrap_or_default();
    ("application/json", text)
}

/// An error's page for a browser, in the site's layout (the page kit's
/// `pages::error_page`, given to [`super::router_with`]).
pub type ErrorPage = fn(&ErrorReport) -> askama::Result<String>;

fn html_body(report: &ErrorReport, error_page: ErrorPage) -> (&'static str, String) {
    match error_page(report) {
        Ok(html) => ("text/html; charset=utf-8", html),
        Err(e) => {
            tracing::error!(error = %e, "error page failed to render");
            (
                "text/plain; charset=utf-8",
                format!("{} {}", report.status, report.message),
            )
        }
    }
}
