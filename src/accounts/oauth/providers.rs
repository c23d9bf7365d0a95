//! The protocols: OpenID Connect (Google, and any provider by its issuer)
//! through `openidconnect`, and GitHub's OAuth apps through `oauth2`. Each
//! round trip is the authorisation code flow with PKCE and a `state`; an
//! OpenID Connect one also carries a `nonce`, and its ID token's signature
//! (against the issuer's published keys), issuer, audience, expiry and
//! nonce are checked before anything in it is believed.
//!
//! Discovery documents (with their keys) are fetched once an hour per
//! issuer; a token signed with a key the cached set doesn't have fetches
//! them again once, so a provider's key rotation doesn't lock anyone out.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreJwsSigningAlgorithm, CoreProviderMetadata,
    CoreUserInfoClaims,
};
use openidconnect::{
    AuthUrl, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken,
    IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl,
    RequestTokenError, Scope, SignatureVerificationError, TokenResponse, TokenUrl,
};
use serde::{Deserialize, Serialize};

use super::http_client::{HttpClient, HttpError};
use crate::accounts::email::Email;
use crate::config::{Protocol, ProviderConfig};

impl<'c> openidconnect::AsyncHttpClient<'c> for HttpClient {
    type Error = HttpError;
    type Future =
        Pin<Box<dyn Future<Output = Result<openidconnect::HttpResponse, HttpError>> + Send + 'c>>;

    fn call(&'c self, request: openidconnect::HttpRequest) -> Self::Future {
        Box::pin(self.send(request))
    }
}

/// A round trip begun: where to send the browser, and what its return
/// must match (kept in the session until then).
pub struct Started {
    pub url: String,
    pub secrets: RoundTrip,
}

/// What a provider's answer is checked against: the `state` it must echo,
/// the `nonce` its ID token must carry, and the PKCE verifier only this
/// browser's session knows.
#[derive(Clone, Serialize, Deserialize)]
pub struct RoundTrip {
    pub state: String,
    pub nonce: String,
    pub verifier: String,
}

/// Who the provider says the person is.
#[derive(Debug)]
pub struct Asserted {
    /// Where the subject is unique: the OpenID issuer, or GitHub's site.
    pub issuer: String,
    /// The provider's stable id for them.
    pub subject: String,
    /// Their address, if the provider gave one.
    pub email: Option<Email>,
    /// Whether the provider checked that the address is theirs (`None`:
    /// it doesn't say, as Microsoft Entra ID never does).
    pub email_verified: Option<bool>,
}

/// Why a round trip failed; the page says which, nothing is created.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The provider can't be reached, or answered something unusable.
    #[error("{0}")]
    Unavailable(String),
    /// The provider refused the code: used already, expired, or not ours.
    #[error("{0}")]
    CodeRefused(String),
    /// The ID token failed a check (signature, issuer, audience, expiry,
    /// nonce).
    #[error("{0}")]
    BadToken(String),
}

const DISCOVERY_LIFETIME: Duration = Duration::from_secs(60 * 60);

/// The discovery documents fetched, by issuer: one process-wide cache (the
/// documents are public and the same for every request).
type Discovered = Mutex<HashMap<String, (Instant, Arc<CoreProviderMetadata>)>>;

fn discovered() -> &'static Discovered {
    static DISCOVERED: std::sync::OnceLock<Discovered> = std::sync::OnceLock::new();
    DISCOVERED.get_or_init(Discovered::default)
}

/// The issuer's discovery document and keys: cached, or fetched when
/// missing, older than an hour, or `refresh`.
async fn metadata(
    http: &HttpClient,
    issuer: &str,
    refresh: bool,
) -> Result<Arc<CoreProviderMetadata>, Failure> {
    if !refresh {
        let cached = discovered()
            .lock()
            .expect("not poisoned")
            .get(issuer)
            .cloned();
        if let Some((fetched, metadata)) = cached
            && fetched.elapsed() < DISCOVERY_LIFETIME
        {
            return Ok(metadata);
        }
    }
    let url = IssuerUrl::new(issuer.to_owned())
        .map_err(|error| Failure::Unavailable(format!("the issuer URL is not valid: {error}")))?;
    let metadata = CoreProviderMetadata::discover_async(url, http)
        .await
        .map_err(|error| Failure::Unavailable(format!("discovery failed: {error}")))?;
    let metadata = Arc::new(metadata);
    discovered()
        .lock()
        .expect("not poisoned")
        .insert(issuer.to_owned(), (Instant::now(), metadata.clone()));
    Ok(metadata)
}

/// `callback`: where the provider sends the browser back, as registered
/// with it.
fn redirect_url(callback: &str) -> Result<RedirectUrl, Failure> {
    RedirectUrl::new(callback.to_owned())
        .map_err(|error| Failure::Unavailable(format!("BASE_URL makes no redirect URL: {error}")))
}

/// A client made from a discovery document: its authorisation endpoint is
/// known, its token and userinfo endpoints may be.
type OidcClient = CoreClient<
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

fn oidc_client(
    metadata: &CoreProviderMetadata,
    provider: &ProviderConfig,
    callback: &str,
) -> Result<OidcClient, Failure> {
    Ok(CoreClient::from_provider_metadata(
        metadata.clone(),
        ClientId::new(provider.client_id.clone()),
        Some(ClientSecret::new(
            provider.client_secret.expose().to_owned(),
        )),
    )
    .set_redirect_uri(redirect_url(callback)?))
}

fn github_client(
    provider: &ProviderConfig,
    site: &str,
    callback: &str,
) -> Result<
    oauth2::basic::BasicClient<
        oauth2::EndpointSet,
        oauth2::EndpointNotSet,
        oauth2::EndpointNotSet,
        oauth2::EndpointNotSet,
        oauth2::EndpointSet,
    >,
    Failure,
> {
    let url = |path: &str| format!("{site}{path}");
    let invalid = |error: oauth2::url::ParseError| {
        Failure::Unavailable(format!("GITHUB_URL makes no endpoint URL: {error}"))
    };
    Ok(
        oauth2::basic::BasicClient::new(ClientId::new(provider.client_id.clone()))
            .set_client_secret(ClientSecret::new(
                provider.client_secret.expose().to_owned(),
            ))
            .set_auth_uri(AuthUrl::new(url("/login/oauth/authorize")).map_err(invalid)?)
            .set_token_uri(TokenUrl::new(url("/login/oauth/access_token")).map_err(invalid)?)
            .set_redirect_uri(redirect_url(callback)?),
    )
}

/// Begins a round trip: the URL of the provider's sign-in page, with a
/// fresh state, nonce and PKCE challenge.
///
/// # Errors
/// When an OpenID Connect provider's discovery document can't be fetched.
pub async fn start(
    http: &HttpClient,
    provider: &ProviderConfig,
    callback: &str,
) -> Result<Started, Failure> {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, nonce) = match &provider.protocol {
        Protocol::OpenIdConnect { issuer } => {
            let metadata = metadata(http, issuer, false).await?;
            let client = oidc_client(&metadata, provider, callback)?;
            let (url, state, nonce) = client
                .authorize_url(
                    CoreAuthenticationFlow::AuthorizationCode,
                    CsrfToken::new_random,
                    Nonce::new_random,
                )
                .add_scope(Scope::new("email".to_owned()))
                .set_pkce_challenge(challenge)
                .url();
            (url, state, nonce.secret().clone())
        }
        Protocol::GitHub { site, .. } => {
            let client = github_client(provider, site, callback)?;
            let (url, state) = client
                .authorize_url(CsrfToken::new_random)
                .add_scope(Scope::new("read:user".to_owned()))
                .add_scope(Scope::new("user:email".to_owned()))
                .set_pkce_challenge(challenge)
                .url();
            (url, state, String::new())
        }
    };
    Ok(Started {
        url: url.to_string(),
        secrets: RoundTrip {
            state: state.secret().clone(),
            nonce,
            verifier: verifier.secret().clone(),
        },
    })
}

/// The signing algorithms an ID token may use: asymmetric ones only, so
/// the client secret can't sign one.
const ALLOWED_ALGORITHMS: [CoreJwsSigningAlgorithm; 8] = [
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512,
    CoreJwsSigningAlgorithm::RsaSsaPssSha256,
    CoreJwsSigningAlgorithm::RsaSsaPssSha384,
    CoreJwsSigningAlgorithm::RsaSsaPssSha512,
    CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    CoreJwsSigningAlgorithm::EcdsaP384Sha384,
];

/// A token endpoint's refusal, told apart from the provider being down.
fn exchange_failure<E: openidconnect::ErrorResponse>(
    error: RequestTokenError<HttpError, E>,
) -> Failure {
    match error {
        RequestTokenError::ServerResponse(refusal) => {
            Failure::CodeRefused(format!("the provider refused the code: {refusal}"))
        }
        RequestTokenError::Request(error) => {
            Failure::Unavailable(format!("the token endpoint can't be reached: {error}"))
        }
        // GitHub answers a bad code with 200 and an error body.
        RequestTokenError::Parse(_, body)
            if serde_json::from_slice::<serde_json::Value>(&body)
                .is_ok_and(|answer| answer.get("error").is_some()) =>
        {
            Failure::CodeRefused(format!(
                "the provider refused the code: {}",
                String::from_utf8_lossy(&body)
            ))
        }
        other => Failure::Unavailable(format!("the token endpoint's answer: {other}")),
    }
}

/// Finishes a round trip: trades the code (with the PKCE verifier) for
/// tokens and says who the person is, once every check has passed.
///
/// # Errors
/// See [`Failure`].
pub async fn finish(
    http: &HttpClient,
    provider: &ProviderConfig,
    callback: &str,
    secrets: &RoundTrip,
    code: String,
) -> Result<Asserted, Failure> {
    match &provider.protocol {
        Protocol::OpenIdConnect { issuer } => {
            finish_oidc(http, provider, issuer, callback, secrets, code).await
        }
        Protocol::GitHub { site, api } => {
            let client = github_client(provider, site, callback)?;
            let tokens = client
                .exchange_code(AuthorizationCode::new(code))
                .set_pkce_verifier(PkceCodeVerifier::new(secrets.verifier.clone()))
                .request_async(http)
                .await
                .map_err(exchange_failure)?;
            github_user(http, site, api, tokens.access_token().secret()).await
        }
    }
}

async fn finish_oidc(
    http: &HttpClient,
    provider: &ProviderConfig,
    issuer: &str,
    callback: &str,
    secrets: &RoundTrip,
    code: String,
) -> Result<Asserted, Failure> {
    let metadata = metadata(http, issuer, false).await?;
    let client = oidc_client(&metadata, provider, callback)?;
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .map_err(|error| Failure::Unavailable(format!("no token endpoint: {error}")))?
        .set_pkce_verifier(PkceCodeVerifier::new(secrets.verifier.clone()))
        .request_async(http)
        .await
        .map_err(exchange_failure)?;
    let id_token = tokens
        .id_token()
        .ok_or_else(|| Failure::BadToken("the provider sent no ID token".to_owned()))?;
    let nonce = Nonce::new(secrets.nonce.clone());
    let verify = |client: &CoreClient<_, _, _, _, _, _>| {
        id_token
            .claims(
                &client
                    .id_token_verifier()
                    .set_allowed_algs(ALLOWED_ALGORITHMS),
                &nonce,
            )
            .cloned()
    };
    let claims = match verify(&client) {
        // A key the cached set doesn't have: the provider may have rotated
        // its keys since; fetch them again, once.
        Err(ClaimsVerificationError::SignatureVerification(
            SignatureVerificationError::NoMatchingKey,
        )) => {
            let metadata = self::metadata(http, issuer, true).await?;
            verify(&oidc_client(&metadata, provider, callback)?)
        }
        verified => verified,
    }
    .map_err(|error| Failure::BadToken(format!("the ID token failed a check: {error}")))?;
    let subject = claims.subject().to_string();
    let (email, email_verified) = match claims.email() {
        Some(email) => (Some(email.to_string()), claims.email_verified()),
        // Some providers keep the address out of the ID token: ask the
        // userinfo endpoint, for this subject only. Without an answer there
        // is no address, which only a signup needs.
        None => userinfo(http, &client, tokens.access_token(), claims.subject()).await,
    };
    Ok(Asserted {
        issuer: issuer.to_owned(),
        subject,
        email: email.and_then(|email| Email::parse(&email).ok()),
        email_verified,
    })
}

/// The address at the provider's userinfo endpoint, if it has one and
/// answers.
async fn userinfo(
    http: &HttpClient,
    client: &OidcClient,
    access_token: &openidconnect::AccessToken,
    subject: &openidconnect::SubjectIdentifier,
) -> (Option<String>, Option<bool>) {
    let Ok(request) = client.user_info(access_token.clone(), Some(subject.clone())) else {
        return (None, None);
    };
    let answer: Result<CoreUserInfoClaims, _> = request.request_async(http).await;
    match answer {
        Ok(info) => (
            info.email().map(|email| email.to_string()),
            info.email_verified(),
        ),
        Err(error) => {
            tracing::warn!(%error, "the provider's userinfo endpoint failed");
            (None, None)
        }
    }
}

#[derive(Deserialize)]
struct GitHubUser {
    id: u64,
}

#[derive(Deserialize)]
struct GitHubEmail {
    email: String,
    primary: bool,
    verified: bool,
}

/// Who a GitHub token belongs to: their numeric id (logins can be renamed)
/// and their primary address, verified or not (none when GitHub won't
/// say: only a signup needs it).
async fn github_user(
    http: &HttpClient,
    site: &str,
    api: &str,
    token: &str,
) -> Result<Asserted, Failure> {
    async fn get<T: serde::de::DeserializeOwned>(
        http: &HttpClient,
        url: String,
        token: &str,
    ) -> Result<T, Failure> {
        let request = http::Request::get(&url)
            .header(http::header::AUTHORIZATION, format!("Bearer {token}"))
            .header(http::header::ACCEPT, "application/vnd.github+json")
            // GitHub's API refuses requests without one.
            .header(http::header::USER_AGENT, crate::brand::APP_NAME)
            .body(Vec::new())
            .map_err(|error| Failure::Unavailable(error.to_string()))?;
        let response = http
            .send(request)
            .await
            .map_err(|error| Failure::Unavailable(format!("GitHub's API: {error}")))?;
        if !response.status().is_success() {
            return Err(Failure::Unavailable(format!(
                "GitHub's API answered {} for {url}",
                response.status()
            )));
        }
        serde_json::from_slice(response.body())
            .map_err(|error| Failure::Unavailable(format!("GitHub's API: {error}")))
    }
    let user: GitHubUser = get(http, format!("{api}/user"), token).await?;
    let emails: Vec<GitHubEmail> = get(http, format!("{api}/user/emails"), token)
        .await
        .unwrap_or_else(|failure| {
            tracing::warn!(%failure, "GitHub's API gave no addresses");
            Vec::new()
        });
    let primary = emails.into_iter().find(|email| email.primary);
    Ok(Asserted {
        issuer: site.to_owned(),
        subject: user.id.to_string(),
        email_verified: primary.as_ref().map(|email| email.verified),
        email: primary.and_then(|email| Email::parse(&email.email).ok()),
    })
}
