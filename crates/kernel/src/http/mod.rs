//! The HTTP layer: application state, the router with its middleware stack,
//! and the server with graceful shutdown.

pub mod assets;
pub mod client_address;
pub mod csrf;
pub mod errors;
pub mod extract;
pub mod health;
pub mod metrics;
pub mod routes;
mod security;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, FromRef, MatchedPath, Request};
use axum::http::{HeaderName, StatusCode};
use axum::{Router, middleware};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{
    MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};

use crate::config::Config;
use crate::db::Db;
use crate::sessions;
use metrics::Metrics;
use routes::Routes;

/// Shared by every handler; cheap to clone. Handlers ask for the part they
/// use (`State<Db>`), through `FromRef`.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub config: Arc<Config>,
    pub metrics: Option<Arc<Metrics>>,
    pub tenant_slugs: Arc<crate::tenancy::SlugCache>,
    /// The capabilities' links in a tenant's navigation, in the composition
    /// root's order (`crate::state` sets them).
    pub navigation: Arc<[routes::Navigation]>,
    /// The capabilities' encrypted columns (tenant export writes them out
    /// decrypted); `crate::state` sets them.
    pub sealed: Arc<[&'static crate::crypto::sealed::SealedColumn]>,
    /// What the landing page says (`crate::state` picks it).
    pub pitch: &'static routes::Pitch,
    pub rate_limits: Arc<crate::rate_limits::RateLimits>,
    pub mailer: Arc<crate::mail::transport::Mailer>,
    /// For secrets stored encrypted; `None` in production without
    /// `ENCRYPTION_KEYS` (two-factor enrolment then says so).
    pub keys: Option<Arc<crate::crypto::Keys>>,
    /// Stripe's API; `None` without `STRIPE_SECRET_KEY` (billing pages say
    /// how to set it up).
    pub stripe: Option<Arc<crate::billing::stripe::Stripe>>,
    /// The plans the app sells (`src/plans.rs`; `crate::state` sets them).
    pub plans: crate::billing::catalog::Catalog,
    /// For keyed hashes (secrets typed at a device, blind indexes, export
    /// signatures); `None` in production without
    /// `LOOKUP_KEY`.
    pub lookup_key: Option<Arc<crate::crypto::LookupKey>>,
}

impl AppState {
    /// The foundation's state, without what the capabilities add (their
    /// navigation, their encrypted columns): the app builds it with
    /// `crate::state`.
    pub fn new(db: Db, config: Config) -> Self {
        let metrics = config
            .metrics_token
            .is_some()
            .then(|| Arc::new(Metrics::default()));
        Self {
            db,
            mailer: Arc::new(crate::mail::transport::Mailer::new(&config)),
            keys: crate::crypto::Keys::load(&config)
                .unwrap_or_else(|error| {
                    tracing::error!(%error, "cannot load the development encryption key");
                    None
                })
                .map(Arc::new),
            stripe: crate::billing::stripe::Stripe::from_config(&config.stripe)
                .unwrap_or_else(|error| {
                    tracing::error!(%error, "cannot set up the Stripe client");
                    None
                })
                .map(Arc::new),
            plans: crate::billing::catalog::Catalog::unlimited(),
            lookup_key: crate::crypto::LookupKey::load(&config)
                .unwrap_or_else(|error| {
                    tracing::error!(%error, "cannot load the development lookup key");
                    None
                })
                .map(Arc::new),
            config: Arc::new(config),
            metrics,
            tenant_slugs: Arc::default(),
            navigation: Arc::new([]),
            sealed: Arc::new([]),
            pitch: &routes::Pitch::STARTER,
            rate_limits: Arc::default(),
        }
    }
}

impl AppState {
    /// The keys of what is stored encrypted, or why there are none.
    ///
    /// # Errors
    /// 503 when `ENCRYPTION_KEYS` isn't configured (production refuses to
    /// start without it; development generates one).
    pub fn keys(&self) -> Result<&crate::crypto::Keys, crate::error::AppError> {
        self.keys.as_deref().ok_or_else(|| {
            crate::error::AppError::NotConfigured(
                "This needs ENCRYPTION_KEYS: ask the operator to set it (see the README)."
                    .to_owned(),
            )
        })
    }

    /// The key of keyed hashes (codes typed at a device, blind indexes, export
    /// signatures), or why there is none.
    ///
    /// # Errors
    /// 503 when `LOOKUP_KEY` isn't configured (as for [`Self::keys`]).
    pub fn lookup_key(&self) -> Result<&crate::crypto::LookupKey, crate::error::AppError> {
        self.lookup_key.as_deref().ok_or_else(|| {
            crate::error::AppError::NotConfigured(
                "This needs LOOKUP_KEY: ask the operator to set it (see the README).".to_owned(),
            )
        })
    }
}

impl FromRef<AppState> for Db {
    fn from_ref(state: &AppState) -> Self {
        state.db.clone()
    }
}

impl FromRef<AppState> for Arc<Config> {
    fn from_ref(state: &AppState) -> Self {
        state.config.clone()
    }
}

/// The HTTP layer's own routes: health, metrics and the static assets.
pub fn routes() -> Routes {
    Routes::new()
        .merge(health::routes())
        .merge(metrics::routes())
        .merge(assets::routes())
}

/// Middleware a capability wraps around every route, inside the CSRF check
/// (so only requests that will run reach it).
pub type Around = fn(Router<AppState>, AppState) -> Router<AppState>;

/// The middleware stack around `routes`, with the capabilities' own
/// middleware (`around`) innermost; errors for browsers are shown with
/// `error_page`.
pub fn router_with(
    state: AppState,
    routes: Routes,
    around: &[Around],
    error_page: errors::ErrorPage,
) -> Router {
    let config = &state.config;
    let x_request_id = HeaderName::from_static("x-request-id");
    // Listed outermost first: a request passes through them in this order.
    let stack = ServiceBuilder::new()
        .layer(SetSensitiveRequestHeadersLayer::new([
            axum::http::header::AUTHORIZATION,
            axum::http::header::COOKIE,
        ]))
        .layer(SetRequestIdLayer::new(x_request_id.clone(), MakeRequestUuid))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request| {
            let id = request
                .extensions()
                .get::<RequestId>()
                .and_then(|id| id.header_value().to_str().ok())
                .unwrap_or_default();
            tracing::info_span!("request", id, method = %request.method(), path = %logged_path(request))
        })
        .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)))
        .layer(PropagateRequestIdLayer::new(x_request_id))
        .layer(middleware::from_fn_with_state(state.metrics.clone(), metrics::record))
        .layer(CompressionLayer::new())
        .layer(middleware::from_fn_with_state(config.app_env.is_production(), security::headers))
        .layer(middleware::from_fn_with_state(error_page, errors::render_errors))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, config.request_timeout))
        .layer(RequestBodyLimitLayer::new(config.max_body_bytes))
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .layer(CatchPanicLayer::new())
        .layer(sessions::layer(state.db.clone(), config));

    let routes = routes.into_router().fallback(errors::not_found);
    around
        .iter()
        .fold(routes, |routes, around| around(routes, state.clone()))
        .layer(middleware::from_fn(csrf::verify))
        .layer(middleware::from_fn(sessions::refresh))
        .layer(stack)
        .with_state(state)
}

/// The request's path as the logs show it. An emailed link's secret is its
/// `{token}` path parameter (verification, password reset, invitations): on
/// such a route the logs show the route (`/reset-password/{token}`), not
/// the path, so whoever reads the logs can't use the link. Query strings
/// are never logged.
pub fn logged_path(request: &Request) -> String {
    match request.extensions().get::<MatchedPath>() {
        Some(route) if route.as_str().contains("{token}") => route.as_str().to_owned(),
        _ => request.uri().path().to_owned(),
    }
}

/// A server bound to its address, ready to run.
pub struct Server {
    listener: tokio::net::TcpListener,
    router: Router,
}

impl Server {
    /// Binds `HOST`:`PORT` (port 0 picks a free one).
    ///
    /// # Errors
    /// When the address can't be bound (in use, not ours, unresolvable).
    pub async fn bind(config: &Config, router: Router) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind((config.host.as_str(), config.port)).await?;
        Ok(Self { listener, router })
    }

    /// # Errors
    /// When the OS can't say which address the listener has.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `stop` completes (for `serve`, [`shutdown_signal`]), then
    /// stops accepting connections and lets in-flight requests finish.
    ///
    /// # Errors
    /// When the listener fails.
    pub async fn run_until(
        self,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(stop)
        .await
    }
}

/// Completes on SIGTERM or Ctrl-C (SIGINT), listening from the call on. Call
/// it before announcing the server: axum polls the shutdown future in a task
/// of its own, which a busy machine may not have run when the first request
/// is answered, and a SIGTERM before anyone listens kills the process.
///
/// # Errors
/// When the signals can't be listened for.
pub fn shutdown_signal() -> std::io::Result<impl Future<Output = ()> + Send + 'static> {
    #[cfg(unix)]
    let signalled = {
        use tokio::signal::unix::{SignalKind, signal};
        let mut terminate = signal(SignalKind::terminate())?;
        let mut interrupt = signal(SignalKind::interrupt())?;
        async move {
            tokio::select! {
                _ = terminate.recv() => {},
                _ = interrupt.recv() => {},
            }
        }
    };
    #[cfg(not(unix))]
    let signalled = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    Ok(async move {
        signalled.await;
        tracing::info!("shutting down: finishing in-flight requests");
    })
}
