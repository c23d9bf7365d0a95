//! A local OpenID Connect provider, and GitHub's OAuth endpoints, at the
//! HTTP level: the app's real clients talk to it through `OIDC_ISSUER`,
//! `GOOGLE_ISSUER`, `GITHUB_URL` and `GITHUB_API_URL`. It publishes a
//! discovery document and a JWKS with a real P-256 key, "signs in" the
//! person the test sets at its authorisation endpoint, and at its token
//! endpoint checks the client's secret, the redirect URI and the PKCE
//! verifier, takes each code once, and issues ES256-signed ID tokens. A
//! test can make it lie ([`Lie`]) or go down.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub const CLIENT_ID: &str = "starter-client";
pub const CLIENT_SECRET: &str = "starter-secret";

/// The person signed in at the provider.
#[derive(Clone, Debug)]
pub struct Person {
    pub subject: String,
    pub email: String,
    pub email_verified: bool,
}

impl Person {
    pub fn new(subject: &str, email: &str) -> Self {
        Self {
            subject: subject.to_owned(),
            email: email.to_owned(),
            email_verified: true,
        }
    }
}

/// Ways the provider's ID token can be wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lie {
    /// Issued to another client.
    WrongAudience,
    /// Expired an hour ago.
    Expired,
    /// Signed with a key the JWKS doesn't publish.
    WrongKey,
    /// Its nonce is not the one the app sent.
    WrongNonce,
    /// From another issuer.
    WrongIssuer,
    /// Signed with the client secret (HS256) instead of the provider's key.
    SymmetricAlgorithm,
}

/// A code the authorisation endpoint gave out, with what it was given for.
#[derive(Clone)]
struct Grant {
    person: Person,
    client_id: String,
    redirect_uri: String,
    nonce: String,
    challenge: String,
}

#[derive(Default)]
struct Books {
    person: Option<Person>,
    codes: HashMap<String, Grant>,
    /// Access token → person.
    tokens: HashMap<String, Person>,
    lie: Option<Lie>,
    /// The ID token leaves out the email (userinfo has it).
    email_only_at_userinfo: bool,
    down: bool,
    /// Requests served, by path.
    served: Vec<String>,
}

#[derive(Clone)]
pub struct MockProvider {
    pub url: String,
    books: Arc<Mutex<Books>>,
    keys: Arc<Mutex<Keys>>,
}

struct Keys {
    /// The published key and its id.
    current: (SigningKey, String),
    /// A key no one publishes.
    stranger: SigningKey,
}

fn random_key() -> SigningKey {
    loop {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).expect("random bytes");
        if let Ok(key) = SigningKey::from_slice(&bytes) {
            return key;
        }
    }
}

fn random_text() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("random bytes");
    hex::encode(bytes)
}

impl MockProvider {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the mock provider");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let provider = Self {
            url,
            books: Arc::default(),
            keys: Arc::new(Mutex::new(Keys {
                current: (random_key(), random_text()),
                stranger: random_key(),
            })),
        };
        let router = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .route("/userinfo", get(userinfo))
            .route("/login/oauth/authorize", get(authorize))
            .route("/login/oauth/access_token", post(github_token))
            .route("/api/user", get(github_user))
            .route("/api/user/emails", get(github_emails))
            .layer(axum::middleware::from_fn_with_state(
                provider.clone(),
                |State(provider): State<MockProvider>,
                 request: axum::extract::Request,
                 next: axum::middleware::Next| async move {
                    let down = {
                        let mut books = provider.books();
                        books.served.push(request.uri().path().to_owned());
                        books.down
                    };
                    if down {
                        return StatusCode::SERVICE_UNAVAILABLE.into_response();
                    }
                    next.run(request).await
                },
            ))
            .with_state(provider.clone());
        tokio::spawn(async move {
            axum::serve(listener, router).await.expect("the mock serves");
        });
        provider
    }

    fn books(&self) -> std::sync::MutexGuard<'_, Books> {
        self.books.lock().expect("not poisoned")
    }

    /// The app's settings for a provider `key` (`oidc`, `google`, `github`)
    /// at this mock.
    pub fn vars(&self, key: &str) -> Vec<(&'static str, String)> {
        let client = |id: &'static str, secret: &'static str| {
            [(id, CLIENT_ID.to_owned()), (secret, CLIENT_SECRET.to_owned())]
        };
        match key {
            "oidc" => {
                let mut vars = client("OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET").to_vec();
                vars.push(("OIDC_ISSUER", self.url.clone()));
                vars.push(("OIDC_NAME", "Acme ID".to_owned()));
                vars
            }
            "google" => {
                let mut vars = client("GOOGLE_CLIENT_ID", "GOOGLE_CLIENT_SECRET").to_vec();
                vars.push(("GOOGLE_ISSUER", self.url.clone()));
                vars
            }
            "github" => {
                let mut vars = client("GITHUB_CLIENT_ID", "GITHUB_CLIENT_SECRET").to_vec();
                vars.push(("GITHUB_URL", self.url.clone()));
                vars.push(("GITHUB_API_URL", format!("{}/api", self.url)));
                vars
            }
            other => panic!("no provider {other}"),
        }
    }

    /// Who is signed in at the provider from now on.
    pub fn sign_in_as(&self, person: Person) {
        self.books().person = Some(person);
    }

    /// No one is signed in any more (removed at the provider): the
    /// authorisation endpoint answers `access_denied`.
    pub fn sign_out(&self) {
        self.books().person = None;
    }

    pub fn lie(&self, lie: Option<Lie>) {
        self.books().lie = lie;
    }

    pub fn email_only_at_userinfo(&self) {
        self.books().email_only_at_userinfo = true;
    }

    pub fn set_down(&self, down: bool) {
        self.books().down = down;
    }

    /// Publishes a new signing key in place of the old one.
    pub fn rotate_key(&self) {
        self.keys.lock().expect("not poisoned").current = (random_key(), random_text());
    }

    /// How many requests the provider served at `path`.
    pub fn served(&self, path: &str) -> usize {
        self.books().served.iter().filter(|p| *p == path).count()
    }

    fn id_token(&self, grant: &Grant, include_email: bool) -> String {
        let lie = self.books().lie;
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let mut claims = json!({
            "iss": if lie == Some(Lie::WrongIssuer) { "https://elsewhere.example".to_owned() } else { self.url.clone() },
            "sub": grant.person.subject,
            "aud": if lie == Some(Lie::WrongAudience) { "another-client" } else { grant.client_id.as_str() },
            "iat": now,
            "exp": if lie == Some(Lie::Expired) { now - 3600 } else { now + 600 },
            "nonce": if lie == Some(Lie::WrongNonce) { "not-the-nonce" } else { grant.nonce.as_str() },
        });
        if include_email {
            claims["email"] = json!(grant.person.email);
            claims["email_verified"] = json!(grant.person.email_verified);
        }
        let keys = self.keys.lock().expect("not poisoned");
        let (key, kid) = &keys.current;
        let encode = |value: &Value| URL_SAFE_NO_PAD.encode(value.to_string());
        if lie == Some(Lie::SymmetricAlgorithm) {
            use hmac::{Hmac, KeyInit, Mac};
            let input = format!("{}.{}", encode(&json!({"alg": "HS256", "typ": "JWT"})), encode(&claims));
            let mut mac = Hmac::<Sha256>::new_from_slice(CLIENT_SECRET.as_bytes()).expect("a key");
            mac.update(input.as_bytes());
            return format!("{input}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()));
        }
        let input = format!(
            "{}.{}",
            encode(&json!({"alg": "ES256", "typ": "JWT", "kid": kid})),
            encode(&claims)
        );
        let signer = if lie == Some(Lie::WrongKey) { &keys.stranger } else { key };
        let signature: Signature = signer.sign(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
    }
}

async fn discovery(State(provider): State<MockProvider>) -> Response {
    let url = &provider.url;
    axum::Json(json!({
        "issuer": url,
        "authorization_endpoint": format!("{url}/authorize"),
        "token_endpoint": format!("{url}/token"),
        "userinfo_endpoint": format!("{url}/userinfo"),
        "jwks_uri": format!("{url}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "scopes_supported": ["openid", "email", "profile"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": ["sub", "email", "email_verified"],
    }))
    .into_response()
}

async fn jwks(State(provider): State<MockProvider>) -> Response {
    let keys = provider.keys.lock().expect("not poisoned");
    let (key, kid) = &keys.current;
    let point = key.verifying_key().to_sec1_point(false);
    let bytes = point.as_bytes();
    axum::Json(json!({
        "keys": [{
            "kty": "EC",
            "crv": "P-256",
            "use": "sig",
            "alg": "ES256",
            "kid": kid,
            "x": URL_SAFE_NO_PAD.encode(&bytes[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&bytes[33..65]),
        }]
    }))
    .into_response()
}

/// Signs in the person the test set, and sends the browser back with a
/// code (or with `error=access_denied` when no one is set: they declined).
async fn authorize(
    State(provider): State<MockProvider>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let field = |name: &str| query.get(name).cloned().unwrap_or_default();
    let redirect_uri = field("redirect_uri");
    let state = field("state");
    let Some(person) = provider.books().person.clone() else {
        return Redirect::to(&format!("{redirect_uri}?error=access_denied&state={state}")).into_response();
    };
    if field("code_challenge_method") != "S256" || field("code_challenge").is_empty() {
        return (StatusCode::BAD_REQUEST, "PKCE (S256) is required").into_response();
    }
    let code = random_text();
    provider.books().codes.insert(
        code.clone(),
        Grant {
            person,
            client_id: field("client_id"),
            redirect_uri: redirect_uri.clone(),
            nonce: field("nonce"),
            challenge: field("code_challenge"),
        },
    );
    Redirect::to(&format!("{redirect_uri}?code={code}&state={state}")).into_response()
}

fn token_error(error: &str) -> Response {
    (StatusCode::BAD_REQUEST, axum::Json(json!({ "error": error }))).into_response()
}

/// Trades a code once, for the client it was given to, with the verifier
/// of its challenge.
async fn token(
    State(provider): State<MockProvider>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let field = |name: &str| form.get(name).cloned().unwrap_or_default();
    let (client_id, secret) = match headers
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Basic "))
        .and_then(|encoded| STANDARD.decode(encoded).ok())
        .and_then(|decoded| String::from_utf8(decoded).ok())
    {
        Some(pair) => {
            let (id, secret) = pair.split_once(':').unwrap_or_default();
            (id.to_owned(), secret.to_owned())
        }
        None => (field("client_id"), field("client_secret")),
    };
    if client_id != CLIENT_ID || secret != CLIENT_SECRET {
        return (StatusCode::UNAUTHORIZED, axum::Json(json!({ "error": "invalid_client" }))).into_response();
    }
    // Taken out: a code works once.
    let Some(grant) = provider.books().codes.remove(&field("code")) else {
        return token_error("invalid_grant");
    };
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(field("code_verifier").as_bytes()));
    if grant.client_id != client_id
        || grant.redirect_uri != field("redirect_uri")
        || grant.challenge != challenge
    {
        return token_error("invalid_grant");
    }
    let access_token = random_text();
    let include_email = !provider.books().email_only_at_userinfo;
    let id_token = provider.id_token(&grant, include_email);
    provider
        .books()
        .tokens
        .insert(access_token.clone(), grant.person.clone());
    axum::Json(json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": 3600,
        "scope": "openid email",
        "id_token": id_token,
    }))
    .into_response()
}

/// GitHub's token endpoint: like the others, except that it answers a bad
/// code with 200 and an error body.
async fn github_token(
    state: State<MockProvider>,
    headers: HeaderMap,
    form: Form<HashMap<String, String>>,
) -> Response {
    let response = token(state, headers, form).await;
    if response.status() == StatusCode::BAD_REQUEST {
        let (mut parts, body) = response.into_parts();
        parts.status = StatusCode::OK;
        return Response::from_parts(parts, body);
    }
    response
}

fn bearer(provider: &MockProvider, headers: &HeaderMap) -> Option<Person> {
    let token = headers
        .get("authorization")?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")?;
    provider.books().tokens.get(token).cloned()
}

async fn userinfo(State(provider): State<MockProvider>, headers: HeaderMap) -> Response {
    let Some(person) = bearer(&provider, &headers) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    axum::Json(json!({
        "sub": person.subject,
        "email": person.email,
        "email_verified": person.email_verified,
    }))
    .into_response()
}

async fn github_user(State(provider): State<MockProvider>, headers: HeaderMap) -> Response {
    if headers.get("user-agent").is_none() {
        return (StatusCode::FORBIDDEN, "a User-Agent is required").into_response();
    }
    let Some(person) = bearer(&provider, &headers) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let id: u64 = person.subject.parse().expect("GitHub ids are numbers");
    axum::Json(json!({ "id": id, "login": "octocat", "email": null })).into_response()
}

async fn github_emails(State(provider): State<MockProvider>, headers: HeaderMap) -> Response {
    let Some(person) = bearer(&provider, &headers) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    axum::Json(json!([
        { "email": "old-address@example.com", "primary": false, "verified": true },
        { "email": person.email, "primary": true, "verified": person.email_verified },
    ]))
    .into_response()
}
