//! The kiosk's web app at `/kiosk`: the shell page, its service worker, its
//! manifest, and the deployed version it checks on focus. The behaviour is
//! in `static/time_tracking/kiosk.js` (offline queue) and
//! `static/time_tracking/kiosk-sw.js` (the cached shell).

use std::sync::LazyLock;

use askama::Template;
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use serde_json::json;
use sha2::{Digest, Sha256};

use kernel::error::AppError;
use kernel::http::assets;
use kernel::http::extract::Json;
use kernel::http::routes::{Access, Routes, get};
use kernel::pages::render;

const SCRIPT: &str = "time_tracking/kiosk.js";
const SERVICE_WORKER: &str = "time_tracking/kiosk-sw.js";

pub fn routes() -> Routes {
    Routes::new()
        .add("/kiosk", Access::Public, get(shell))
        .add("/kiosk/sw.js", Access::Public, get(service_worker))
        .add("/kiosk/manifest.webmanifest", Access::Public, get(manifest))
        .add("/kiosk/version", Access::Public, get(version))
}

/// What the deployed kiosk is: changes with its page, script, service
/// worker or stylesheet, so a tablet on an older one reloads.
static VERSION: LazyLock<String> = LazyLock::new(|| {
    let mut hasher = Sha256::new();
    for part in [
        assets::url(SCRIPT),
        assets::url(SERVICE_WORKER),
        assets::url("app.css"),
        include_str!("../../../../templates/time_tracking/kiosk.html").to_owned(),
    ] {
        hasher.update(part.as_bytes());
    }
    hex::encode(&hasher.finalize()[..8])
});

#[derive(Template)]
#[template(path = "time_tracking/kiosk.html")]
struct ShellPage {
    app_name: &'static str,
    stylesheet_url: String,
    icon_url: String,
    script_url: String,
    version: &'static str,
}

async fn shell() -> Result<Html<String>, AppError> {
    render(&ShellPage {
        app_name: kernel::brand::APP_NAME,
        stylesheet_url: assets::url("app.css"),
        icon_url: assets::url("favicon.svg"),
        script_url: assets::url(SCRIPT),
        version: &VERSION,
    })
}

/// Served from a fixed URL, revalidated on every load, and allowed to
/// control `/kiosk` (its folder alone would be `/kiosk/`).
async fn service_worker() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
            (
                header::HeaderName::from_static("service-worker-allowed"),
                "/kiosk",
            ),
        ],
        assets::bytes(SERVICE_WORKER),
    )
        .into_response()
}

async fn manifest() -> Response {
    let body = json!({
        "name": format!("{} kiosk", kernel::brand::APP_NAME),
        "short_name": "Kiosk",
        "start_url": "/kiosk",
        "scope": "/kiosk",
        "display": "fullscreen",
        "orientation": "any",
        "background_color": "#0f172a",
        "theme_color": "#0f172a",
        "icons": [{"src": assets::url("favicon.svg"), "sizes": "any", "type": "image/svg+xml"}],
    });
    (
        [(header::CONTENT_TYPE, "application/manifest+json")],
        body.to_string(),
    )
        .into_response()
}

#[derive(serde::Serialize)]
struct Version {
    version: &'static str,
}

async fn version() -> Response {
    (
        [(header::CACHE_CONTROL, "no-store")],
        Json(Version { version: &VERSION }),
    )
        .into_response()
}
