//! One error type for every handler. It maps to a status and a stable,
//! machine-readable code; the `render_errors` middleware (http::errors) then
//! turns it into an HTML page for browsers or `{"error": {"code", "message"}}`
//! under `/api/`. Internal details are logged there, with the request id, and
//! never sent to the client.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// Where a super-admin confirms their password before the panel opens
/// ([`AppError::PanelLocked`] sends them there).
pub const PANEL_CONFIRM_PATH: &str = "/admin/confirm";

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("not found")]
    NotFound,
    /// No one is signed in.
    #[error("please sign in first")]
    Unauthorized,
    /// A request that needs a tenant has none: pages send the user to pick or
    /// create one, the API answers 400.
    #[error(
        "this request needs a tenant: tenant data lives under /t/{{slug}}/ (pages) or /api/v1/t/{{slug}}/ (API)"
    )]
    NoTenant,
    /// The password was right; the account also needs a two-factor code.
    #[error(
        "This account uses two-factor authentication: send the code from the authenticator app (or a recovery code) as `code`."
    )]
    SecondFactorRequired,
    #[error("That code is not right (or was used already).")]
    WrongSecondFactor,
    /// A super-admin's session that hasn't confirmed the password for the
    /// panel yet (its first entry in each session).
    #[error("Confirm your password to open the admin panel, at /admin/confirm.")]
    PanelLocked,
    /// A bearer token that is malformed, unknown or revoked.
    #[error("This API token is unknown or revoked.")]
    InvalidApiToken,
    /// A sign-in with a wrong password or an unknown email: one answer for both.
    #[error("The email or password is not right.")]
    BadCredentials,
    /// The request can't be understood (malformed JSON, a bad query string).
    #[error("{0}")]
    BadRequest(String),
    /// The request is well-formed but its content is invalid.
    #[error("{0}")]
    Unprocessable(String),
    #[error("{0}")]
    Forbidden(String),
    /// A state-changing request without the session's CSRF token.
    #[error(
        "This form has expired or was sent from another site. Go back, reload the page and try again."
    )]
    CsrfRejected,
    #[error("{0}")]
    Conflict(String),
    /// The tenant's plan has no room for one more (locations, members).
    #[error("{0}")]
    PlanLimit(String),
    /// An emailed link (verification, password reset) that is unknown,
    /// used or expired: one answer for all three.
    #[error("This link has expired or was already used. Ask for a new one.")]
    InvalidLink,
    #[error("the request body is too large")]
    PayloadTooLarge,
    /// Over a rate limit: try again after the duration.
    #[error("Too many attempts: please wait {} and try again.", wait_text(*.0))]
    RateLimited(std::time::Duration),
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// Stripe refused a request or could not be reached (the detail is
    /// logged, not shown).
    #[error("Stripe could not complete this just now. Please try again in a moment.")]
    PaymentProvider(String),
    /// A feature whose configuration is missing, saying what to set.
    #[error("{0}")]
    NotConfigured(String),
    /// A module's own refusal, with its own stable code (`unknown_pin`).
    #[error("{message}")]
    Refused {
        status: StatusCode,
        code: &'static str,
        message: String,
    },
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Template(#[from] askama::Error),
    #[error(transparent)]
    Session(#[from] tower_sessions::session::Error),
    /// A fault of ours that no other variant names.
    #[error("{0}")]
    Internal(String),
}

/// What the client is told about an error: attached to the response by
/// `AppError` and read by the error-rendering middleware.
#[derive(Clone, Debug)]
pub struct ErrorReport {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// For the log only.
    pub internal: Option<String>,
    /// Where a browser is sent instead of an error page.
    pub redirect: Option<&'static str>,
    /// Seconds, for a `Retry-After` header.
    pub retry_after: Option<u64>,
}

impl ErrorReport {
    /// The report for a status the app produced without an `AppError`
    /// (axum's 404 and 405, tower-http's 408 and 413).
    pub fn for_status(status: StatusCode) -> Self {
        let (code, message) = match status {
            StatusCode::NOT_FOUND => ("not_found", "This page does not exist."),
            StatusCode::UNAUTHORIZED => ("unauthorized", "Please sign in first."),
            StatusCode::FORBIDDEN => ("forbidden", "You are not allowed to do this."),
            StatusCode::CONFLICT => ("conflict", "This conflicts with the current state."),
            StatusCode::TOO_MANY_REQUESTS => (
                "rate_limited",
                "Too many requests: please wait and try again.",
            ),
            StatusCode::METHOD_NOT_ALLOWED => {
                ("method_not_allowed", "This method is not allowed here.")
            }
            StatusCode::PAYLOAD_TOO_LARGE => {
                ("payload_too_large", "The request body is too large.")
            }
            StatusCode::REQUEST_TIMEOUT => ("timeout", "The request took too long."),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => (
                "unsupported_media_type",
                "This content type is not supported.",
            ),
            status if status.is_server_error() => ("internal", "Something went wrong on our side."),
            _ => ("bad_request", "The request could not be understood."),
        };
        Self {
            status,
            code,
            message: message.to_owned(),
            internal: None,
            redirect: None,
            retry_after: None,
        }
    }
}

impl AppError {
    pub fn report(&self) -> ErrorReport {
        let client = |status: StatusCode, code: &'static str| ErrorReport {
            status,
            code,
            message: self.to_string(),
            internal: None,
            redirect: None,
            retry_after: None,
        };
        match self {
            Self::NotFound => ErrorReport::for_status(StatusCode::NOT_FOUND),
            Self::Unauthorized => ErrorReport::for_status(StatusCode::UNAUTHORIZED),
            Self::BadCredentials => client(StatusCode::UNAUTHORIZED, "invalid_credentials"),
            Self::InvalidApiToken => client(StatusCode::UNAUTHORIZED, "invalid_token"),
            Self::SecondFactorRequired => {
                client(StatusCode::UNAUTHORIZED, "second_factor_required")
            }
            Self::WrongSecondFactor => client(StatusCode::UNAUTHORIZED, "invalid_second_factor"),
            Self::PanelLocked => ErrorReport {
                redirect: Some(PANEL_CONFIRM_PATH),
                ..client(StatusCode::FORBIDDEN, "reauthentication_required")
            },
            Self::NoTenant => ErrorReport {
                redirect: Some("/tenants"),
                ..client(StatusCode::BAD_REQUEST, "no_tenant")
            },
            Self::BadRequest(_) => client(StatusCode::BAD_REQUEST, "bad_request"),
            Self::Unprocessable(_) => client(StatusCode::UNPROCESSABLE_ENTITY, "invalid"),
            Self::Forbidden(_) => client(StatusCode::FORBIDDEN, "forbidden"),
            Self::CsrfRejected => client(StatusCode::FORBIDDEN, "csrf_failed"),
            Self::Conflict(_) => client(StatusCode::CONFLICT, "conflict"),
            Self::InvalidLink => client(StatusCode::BAD_REQUEST, "invalid_link"),
            Self::PlanLimit(_) => client(StatusCode::FORBIDDEN, "plan_limit"),
            Self::PayloadTooLarge => client(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            Self::RateLimited(wait) => ErrorReport {
                retry_after: Some(wait.as_secs().max(1)),
                ..client(StatusCode::TOO_MANY_REQUESTS, "rate_limited")
            },
            Self::UnsupportedMediaType(_) => {
                client(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            Self::PaymentProvider(detail) => ErrorReport {
                internal: Some(detail.clone()),
                ..client(StatusCode::BAD_GATEWAY, "payment_provider")
            },
            Self::NotConfigured(_) => client(StatusCode::SERVICE_UNAVAILABLE, "not_configured"),
            Self::Refused { status, code, .. } => client(*status, code),
            Self::Database(_) | Self::Template(_) | Self::Session(_) | Self::Internal(_) => {
                ErrorReport {
                    internal: Some(format!("{self:?}")),
                    ..ErrorReport::for_status(StatusCode::INTERNAL_SERVER_ERROR)
                }
            }
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        self.report().into_response()
    }
}

impl IntoResponse for ErrorReport {
    fn into_response(self) -> Response {
        let mut response = self.status.into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        response.extensions_mut().insert(self);
        response
    }
}

/// "12 seconds", "3 minutes": rounded up, for a person.
fn wait_text(wait: std::time::Duration) -> String {
    let seconds = wait.as_secs().max(1);
    match seconds {
        1 => "1 second".to_owned(),
        2..=90 => format!("{seconds} seconds"),
        _ => format!("{} minutes", seconds.div_ceil(60)),
    }
}
