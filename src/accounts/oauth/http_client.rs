//! The HTTP client that talks to sign-in providers: the hyper client the
//! tree already has (async-stripe's), over rustls with Mozilla's roots. It
//! follows no redirects (a token endpoint that redirects is misconfigured
//! or hijacked), gives up after 10 seconds, and reads at most 1 MiB.

use std::time::Duration;

use axum::body::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

const TIMEOUT: Duration = Duration::from_secs(10);
const MAX_BODY: usize = 1 << 20;

#[derive(Clone)]
pub struct HttpClient {
    inner: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

/// Why a provider couldn't be asked.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("no answer within {} seconds", TIMEOUT.as_secs())]
    Timeout,
    #[error("{0}")]
    Connect(#[from] hyper_util::client::legacy::Error),
    #[error("the answer could not be read: {0}")]
    Body(String),
}

impl HttpClient {
    pub(super) fn new() -> Self {
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_webpki_roots()
            // Plain http for issuers on this machine (development, tests);
            // production providers are https.
            .https_or_http()
            .enable_http1()
            .build();
        Self {
            inner: Client::builder(TokioExecutor::new()).build(https),
        }
    }

    /// Sends `request` as the OAuth crates build it.
    ///
    /// # Errors
    /// When the provider can't be reached, takes too long, or sends too much.
    pub async fn send(
        &self,
        request: openidconnect::HttpRequest,
    ) -> Result<openidconnect::HttpResponse, HttpError> {
        let (parts, body) = request.into_parts();
        let request = http::Request::from_parts(parts, Full::new(Bytes::from(body)));
        let exchange = async {
            let response = self.inner.request(request).await?;
            let (parts, body) = response.into_parts();
            let body = Limited::new(body, MAX_BODY)
                .collect()
                .await
                .map_err(|error| HttpError::Body(error.to_string()))?
                .to_bytes();
            Ok(http::Response::from_parts(parts, body.to_vec()))
        };
        tokio::time::timeout(TIMEOUT, exchange)
            .await
            .map_err(|_| HttpError::Timeout)?
    }
}
