//! `GET /healthz`: for load balancers, Railway and Docker's HEALTHCHECK.
//! 200 when the app can reach its database, 503 when it can't.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::routes::{Access, Routes, get};
use crate::db::Db;
use crate::http::extract::Json;

const DATABASE_CHECK_TIMEOUT: Duration = Duration::from_secs(3);

pub fn routes() -> Routes {
    Routes::new().add("/healthz", Access::Public, get(healthz))
}

async fn healthz(State(db): State<Db>) -> Response {
    let database = match tokio::time::timeout(DATABASE_CHECK_TIMEOUT, db.ping()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("timed out".to_owned()),
    };
    let backend = db.backend().name();
    let version = env!("CARGO_PKG_VERSION");
    let (status, body) = match database {
        Ok(()) => (
            StatusCode::OK,
            json!({ "status": "ok", "database": { "status": "ok", "backend": backend }, "version": version }),
        ),
        Err(error) => {
            tracing::warn!(error, "health check: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                json!({ "status": "unavailable", "database": { "status": "unreachable", "backend": backend }, "version": version }),
            )
        }
    };
    (status, Json(body)).into_response()
}
