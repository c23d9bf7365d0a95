//! Logging: human-readable lines by default, one JSON object a line with
//! `LOG_FORMAT=json`. `RUST_LOG` filters (default: info for the app, warn
//! for dependencies). Every line logged while serving a request carries the
//! request's id (the `request` span, see http::router_with).

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

// The app's crates: the root (`app`) and its kernel.
const DEFAULT_FILTER: &str = "warn,app=info,kernel=info,tower_http=info";

pub fn init(format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    // A second init (tests starting several apps) keeps the first subscriber.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
    };
}
