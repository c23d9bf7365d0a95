//! `GET /metrics` in the Prometheus text format: request counts and latency
//! histograms per route, and database pool use. Off unless `METRICS_TOKEN` is
//! set; the scraper sends it as a bearer token. A few counters under one
//! mutex need no metrics framework.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::routes::{Access, Routes, get};
use crate::error::AppError;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

#[derive(Default)]
pub struct Metrics {
    series: Mutex<BTreeMap<(Method, String, u16), Series>>,
    /// Requests whose door's rows the memory had (`crate::access`'s),
    /// found unchanged and changed.
    door_memory_hits: AtomicU64,
    door_memory_misses: AtomicU64,
}

impl Metrics {
    /// Counts a request whose door's rows the memory had: `unchanged`, or
    /// read again.
    pub fn door_memory(&self, unchanged: bool) {
        let counter = if unchanged {
            &self.door_memory_hits
        } else {
            &self.door_memory_misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

#[derive(Default)]
struct Series {
    count: u64,
    seconds_sum: f64,
    /// Not cumulative: `buckets[i]` counts requests with
    /// `BUCKETS[i-1] < latency <= BUCKETS[i]`; the last slot is +Inf.
    buckets: [u64; BUCKETS.len() + 1],
}

pub fn routes() -> Routes {
    Routes::new().add("/metrics", Access::Public, get(export))
}

/// Middleware: records every request under its route pattern (never the raw
/// path, which would make one series per id).
pub async fn record(
    State(metrics): State<Option<Arc<Metrics>>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(metrics) = metrics else {
        return next.run(request).await;
    };
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let started = Instant::now();
    let response = next.run(request).await;
    let seconds = started.elapsed().as_secs_f64();

    let mut series = metrics
        .series
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let entry = series
        .entry((method, route, response.status().as_u16()))
        .or_default();
    entry.count += 1;
    entry.seconds_sum += seconds;
    let bucket = BUCKETS
        .iter()
        .position(|bound| seconds <= *bound)
        .unwrap_or(BUCKETS.len());
    entry.buckets[bucket] += 1;
    response
}

async fn export(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, AppError> {
    let (Some(metrics), Some(token)) = (&state.metrics, &state.config.metrics_token) else {
        return Err(AppError::NotFound);
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if !presented.is_some_and(|p| constant_time_eq(p.as_bytes(), token.expose().as_bytes())) {
        return Err(AppError::NotFound);
    }

    let mut text = String::new();
    text.push_str(
        "# HELP http_requests_total HTTP requests answered, by route pattern and status.\n",
    );
    text.push_str("# TYPE http_requests_total counter\n");
    let series = metrics
        .series
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for ((method, route, status), s) in series.iter() {
        let _ = writeln!(
            text,
            "http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {}",
            s.count
        );
    }
    text.push_str("# HELP http_request_duration_seconds Time to answer, by route pattern.\n");
    text.push_str("# TYPE http_request_duration_seconds histogram\n");
    for ((method, route, status), s) in series.iter() {
        let labels = format!("method=\"{method}\",route=\"{route}\",status=\"{status}\"");
        let mut cumulative = 0;
        for (bound, count) in BUCKETS.iter().zip(&s.buckets) {
            cumulative += count;
            let _ = writeln!(
                text,
                "http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {cumulative}"
            );
        }
        let _ = writeln!(
            text,
            "http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
            s.count
        );
        let _ = writeln!(
            text,
            "http_request_duration_seconds_sum{{{labels}}} {}",
            s.seconds_sum
        );
        let _ = writeln!(
            text,
            "http_request_duration_seconds_count{{{labels}}} {}",
            s.count
        );
    }
    drop(series);

    text.push_str(
        "# HELP door_memory_total Tenant requests whose door's rows were remembered, by whether they were unchanged.\n",
    );
    text.push_str("# TYPE door_memory_total counter\n");
    for (outcome, counter) in [
        ("unchanged", &metrics.door_memory_hits),
        ("changed", &metrics.door_memory_misses),
    ] {
        let _ = writeln!(
            text,
            "door_memory_total{{outcome=\"{outcome}\"}} {}",
            counter.load(Ordering::Relaxed)
        );
    }

    let pool = state.db.pool_usage();
    text.push_str("# HELP db_pool_connections Database connections, by state.\n");
    text.push_str("# TYPE db_pool_connections gauge\n");
    let _ = writeln!(text, "db_pool_connections{{state=\"open\"}} {}", pool.open);
    let _ = writeln!(text, "db_pool_connections{{state=\"idle\"}} {}", pool.idle);
    let _ = writeln!(text, "db_pool_connections{{state=\"max\"}} {}", pool.max);

    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

/// Compares without stopping at the first difference, so response time says
/// nothing about how much of the token was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}
