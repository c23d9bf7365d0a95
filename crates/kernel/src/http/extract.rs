//! Wrappers around axum's extractors whose rejections are `AppError`s, so a
//! malformed body gets the app's error format (and a message naming the
//! problem) instead of axum's plain text.
//!
//! Every text a request sends passes through here, so this is also where
//! control characters are refused: a NUL byte, which PostgreSQL refuses in
//! text (a 500 there, while SQLite would store it), and the other control
//! characters but tab and line breaks. A body field or query parameter that
//! holds one is a 422 naming it; a path segment, a 404 (no resource has such
//! a name). Fields that are a single line refuse line breaks and tabs too
//! (`validation::text`).

use axum::body::{Body, Bytes};
use axum::extract::rejection::{FormRejection, JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, RawPathParams, Request};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::AppError;

/// A JSON body: 400 for malformed JSON, 422 for the wrong shape, 415 without
/// the JSON content type, 413 when too large.
pub struct Json<T>(pub T);

impl<S, T> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(request: Request, state: &S) -> Result<Self, AppError> {
        let (request, bytes) = buffered(request, state).await?;
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => {
                refuse_control_characters_in_json(&bytes)?;
                Ok(Self(value))
            }
            Err(JsonRejection::JsonDataError(e)) => Err(AppError::Unprocessable(e.body_text())),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(AppError::UnsupportedMediaType(
                "expected Content-Type: application/json".to_owned(),
            )),
            Err(other) => Err(body_rejection(other.status(), other.body_text())),
        }
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// An HTML form body (`application/x-www-form-urlencoded`).
pub struct Form<T>(pub T);

impl<S, T> FromRequest<S> for Form<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(request: Request, state: &S) -> Result<Self, AppError> {
        let in_query = matches!(*request.method(), Method::GET | Method::HEAD);
        let query = request.uri().query().unwrap_or_default().to_owned();
        let (request, bytes) = buffered(request, state).await?;
        match axum::Form::<T>::from_request(request, state).await {
            Ok(axum::Form(value)) => {
                refuse_control_characters_in_pairs(if in_query {
                    query.as_bytes()
                } else {
                    &bytes
                })?;
                Ok(Self(value))
            }
            Err(FormRejection::FailedToDeserializeForm(e)) => {
                Err(AppError::Unprocessable(e.body_text()))
            }
            Err(other) => Err(body_rejection(other.status(), other.body_text())),
        }
    }
}

/// Path parameters. A value that doesn't parse (a malformed id) is a 404,
/// exactly like a well-formed id that matches nothing.
pub struct Path<T>(pub T);

impl<S, T> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        let raw = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| AppError::NotFound)?;
        if raw
            .iter()
            .any(|(_, value)| control_character(value).is_some())
        {
            return Err(AppError::NotFound);
        }
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| Self(value))
            .map_err(|_| AppError::NotFound)
    }
}

/// A query string.
pub struct Query<T>(pub T);

impl<S, T> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        let value = axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(value)| Self(value))
            .map_err(|e: QueryRejection| AppError::BadRequest(e.body_text()))?;
        refuse_control_characters_in_pairs(parts.uri.query().unwrap_or_default().as_bytes())?;
        Ok(value)
    }
}

/// The request with its body read into memory, and the body's bytes, so
/// they can be checked once axum's extractor has parsed them.
async fn buffered<S: Send + Sync>(
    request: Request,
    state: &S,
) -> Result<(Request, Bytes), AppError> {
    let (parts, body) = request.into_parts();
    let bytes = Bytes::from_request(Request::from_parts(parts.clone(), body), state)
        .await
        .map_err(|e| body_rejection(e.status(), e.body_text()))?;
    Ok((Request::from_parts(parts, Body::from(bytes.clone())), bytes))
}

/// The first character of `text` that no field may hold: NUL and the
/// other control characters, but tab, line feed and carriage return.
pub fn control_character(text: &str) -> Option<char> {
    text.chars()
        .find(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
}

fn refused(field: &str, character: char) -> AppError {
    AppError::Unprocessable(format!(
        "{field}: must not contain control characters (found U+{:04X})",
        u32::from(character)
    ))
}

/// A urlencoded form or query string: every name and value.
fn refuse_control_characters_in_pairs(encoded: &[u8]) -> Result<(), AppError> {
    for (name, value) in form_urlencoded::parse(encoded) {
        if let Some(character) = control_character(&name).or_else(|| control_character(&value)) {
            return Err(refused(&name, character));
        }
    }
    Ok(())
}

/// A JSON body (already parsed once into the handler's type): every string
/// and object key, named by its path (`punches[2].note`).
fn refuse_control_characters_in_json(bytes: &[u8]) -> Result<(), AppError> {
    // JSON can only carry a control character escaped (`\u0000`), or as a
    // raw C1 character (UTF-8 0xC2 0x80–0x9F): without either, skip the walk.
    let escaped = bytes.windows(2).any(|pair| pair == b"\\u");
    let raw_c1 = bytes
        .windows(2)
        .any(|pair| pair[0] == 0xC2 && (0x80..=0x9F).contains(&pair[1]));
    if !(escaped || raw_c1) {
        return Ok(());
    }
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| AppError::BadRequest(format!("malformed JSON: {e}")))?;
    walk(&value, &mut String::new())
}

fn walk(value: &serde_json::Value, path: &mut String) -> Result<(), AppError> {
    match value {
        serde_json::Value::String(text) => match control_character(text) {
            Some(character) => Err(refused(path, character)),
            None => Ok(()),
        },
        serde_json::Value::Array(items) => items.iter().enumerate().try_for_each(|(i, item)| {
            let length = path.len();
            path.push_str(&format!("[{i}]"));
            let checked = walk(item, path);
            path.truncate(length);
            checked
        }),
        serde_json::Value::Object(fields) => fields.iter().try_for_each(|(name, field)| {
            let length = path.len();
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(name);
            let checked = match control_character(name) {
                Some(character) => Err(refused(path, character)),
                None => walk(field, path),
            };
            path.truncate(length);
            checked
        }),
        _ => Ok(()),
    }
}

fn body_rejection(status: StatusCode, message: String) -> AppError {
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => AppError::PayloadTooLarge,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => AppError::UnsupportedMediaType(message),
        StatusCode::UNPROCESSABLE_ENTITY => AppError::Unprocessable(message),
        _ => AppError::BadRequest(message),
    }
}

/// The token of an `Authorization: Bearer …` header.
pub fn bearer_token(parts: &Parts) -> Option<String> {
    let value = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}
