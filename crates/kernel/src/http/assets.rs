//! Static assets, embedded in the binary by build.rs (the stylesheet included)
//! so a deploy is one file.
//!
//! Each asset is served twice:
//! - at `/static/<name>.<hash>.<ext>`, cached for a year as immutable: pages
//!   link to this URL (see [`url`]), which changes whenever the content does;
//! - at `/static/<name>`, revalidated on every load (`no-cache` + ETag): for
//!   files whose URL must stay fixed, such as a service worker or a web
//!   manifest, so a new deploy is never hidden behind a stale cache.

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::routes::{Access, Routes, get};
use crate::error::AppError;

pub struct Asset {
    pub name: &'static str,
    pub hashed_name: &'static str,
    pub content_type: &'static str,
    pub bytes: &'static [u8],
}

pub static ASSETS: &[Asset] = include!(concat!(env!("OUT_DIR"), "/assets.rs"));

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const REVALIDATE: &str = "no-cache";

pub fn routes() -> Routes {
    Routes::new().add("/static/{*path}", Access::Public, get(serve))
}

/// The content-versioned URL of an asset, for templates.
///
/// # Panics
/// Never for a name under `static/` or `app.css`; a typo in a template fails
/// the first test that renders it.
pub fn url(name: &str) -> String {
    format!("/static/{}", named(name).hashed_name)
}

fn named(name: &str) -> &'static Asset {
    ASSETS
        .iter()
        .find(|asset| asset.name == name)
        .unwrap_or_else(|| panic!("no asset named {name} under static/"))
}

/// An asset's content, for a route that serves it from a URL of its own
/// (a service worker).
///
/// # Panics
/// As [`url`], for a name that isn't an asset.
pub fn bytes(name: &str) -> &'static [u8] {
    named(name).bytes
}

/// The generated stylesheet (every Tailwind class used by the templates).
pub fn stylesheet() -> &'static str {
    let asset = ASSETS
        .iter()
        .find(|asset| asset.name == "app.css")
        .expect("build.rs always emits app.css");
    std::str::from_utf8(asset.bytes).expect("generated CSS is UTF-8")
}

async fn serve(Path(path): Path<String>, headers: HeaderMap) -> Result<Response, AppError> {
    if let Some(asset) = ASSETS.iter().find(|asset| asset.hashed_name == path) {
        return Ok(respond(asset, IMMUTABLE));
    }
    let asset = ASSETS
        .iter()
        .find(|asset| asset.name == path)
        .ok_or(AppError::NotFound)?;
    let etag = format!("\"{}\"", asset.hashed_name);
    if headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == etag.as_bytes())
    {
        return Ok(StatusCode::NOT_MODIFIED.into_response());
    }
    Ok(respond(asset, REVALIDATE))
}

fn respond(asset: &'static Asset, cache_control: &'static str) -> Response {
    let etag = HeaderValue::from_str(&format!("\"{}\"", asset.hashed_name))
        .expect("hashed names are ASCII");
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static(cache_control),
            ),
            (header::ETAG, etag),
        ],
        asset.bytes,
    )
        .into_response()
}
