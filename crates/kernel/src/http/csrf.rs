//! Cross-site request forgery protection, for every route at once.
//!
//! The synchronizer-token pattern: each session holds a random token; every
//! state-changing request must echo it, in the `csrf_token` field of a form
//! or in the `X-CSRF-Token` header. A page from another site can make the
//! browser send our cookie, but can't read the token, so its forged request
//! is refused with 403 before any handler runs.
//!
//! Which requests must carry it:
//! * every POST, PUT, PATCH and DELETE that carries the cookie of a live
//!   session;
//! * every form post (a urlencoded, multipart or text/plain body, the kinds
//!   a page on another site can make a browser send), signed in or not: a
//!   forged sign-in form would otherwise sign the victim into the attacker's
//!   account. So anonymous pages with a form (sign-in, signup) start a
//!   session to hold the token.
//!
//! Exempt: a JSON request without a live session, which carries no
//! credentials to abuse (an API client signing in, or authenticating with
//! an `Authorization` header), and the paths in [`EXEMPT_PREFIXES`], which
//! verify a signature of their own.
//!
//! We keep the token in the session rather than use a cookie-based crate
//! (axum_csrf): the session is already loaded on these requests, and a
//! middleware can't be forgotten the way a per-handler check can.

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_sessions::Session;

use crate::error::AppError;
use crate::tokens;

/// The form field that carries the token.
pub const FORM_FIELD: &str = "csrf_token";
/// The header that carries the token (JSON and scripts).
pub const HEADER: &str = "x-csrf-token";
const SESSION_KEY: &str = "csrf_token";
/// Routes that verify a signature of their own instead (Stripe's webhooks).
const EXEMPT_PREFIXES: &[&str] = &["/webhooks/"];

/// The session's token, created if it has none yet (which saves the session
/// and so gives an anonymous visitor a session cookie).
///
/// # Errors
/// When the session store fails.
pub async fn token(session: &Session) -> Result<String, tower_sessions::session::Error> {
    if let Some(token) = session.get::<String>(SESSION_KEY).await? {
        return Ok(token);
    }
    rotate(session).await
}

/// The session's token if it has one, without creating one.
///
/// # Errors
/// When the session store fails.
pub async fn existing(session: &Session) -> Result<Option<String>, tower_sessions::session::Error> {
    session.get::<String>(SESSION_KEY).await
}

/// Replaces the session's token (on sign-in), so a token seen before is
/// worthless after.
///
/// # Errors
/// When the session store fails.
pub async fn rotate(session: &Session) -> Result<String, tower_sessions::session::Error> {
    let token = tokens::random_token();
    session.insert(SESSION_KEY, &token).await?;
    Ok(token)
}

/// The middleware (inside the session layer).
pub async fn verify(session: Session, request: Request, next: Next) -> Response {
    match check(&session, request).await {
        Ok(request) => next.run(request).await,
        Err(error) => error.into_response(),
    }
}

/// Passes the request on (its body restored) when it needs no token or
/// carries the right one.
async fn check(session: &Session, request: Request) -> Result<Request, AppError> {
    let path = request.uri().path();
    if is_safe(request.method()) || EXEMPT_PREFIXES.iter().any(|p| path.starts_with(p)) {
        return Ok(request);
    }
    // Loading the session first: afterwards it is empty both without a
    // cookie and with one naming no live session (expired, or signed out
    // elsewhere). Neither carries anything to abuse, and an API client
    // holding a stale cookie must still be able to sign in again.
    let expected = existing(session).await?;
    let form = has_form_body(request.headers());
    if !form && session.is_empty().await {
        return Ok(request);
    }
    let from_header = request
        .headers()
        .get(HEADER)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let (request, provided) = match from_header {
        Some(token) => (request, Some(token)),
        None if form => form_field(request).await?,
        None => (request, None),
    };
    match (expected, provided) {
        (Some(expected), Some(provided)) if tokens::same(&expected, &provided) => Ok(request),
        _ => Err(AppError::CsrfRejected),
    }
}

fn is_safe(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

/// A body a browser form can send cross-site without a preflight.
fn has_form_body(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            let value = value.to_ascii_lowercase();
            [
                "application/x-www-form-urlencoded",
                "multipart/form-data",
                "text/plain",
            ]
            .iter()
            .any(|kind| value.starts_with(kind))
        })
}

/// Reads the token out of a urlencoded body, and puts the body back for the
/// handler. (No form uploads files yet: a multipart form's token would be
/// read here too.)
async fn form_field(request: Request) -> Result<(Request, Option<String>), AppError> {
    let (parts, body) = request.into_parts();
    let bytes = Bytes::from_request(Request::new(body), &())
        .await
        .map_err(|rejection| match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => AppError::PayloadTooLarge,
            _ => AppError::BadRequest(rejection.body_text()),
        })?;
    let token = form_urlencoded::parse(&bytes)
        .find(|(name, _)| name == FORM_FIELD)
        .map(|(_, value)| value.into_owned());
    Ok((Request::from_parts(parts, Body::from(bytes)), token))
}
