//! Configuration, read once from the environment (and a `.env` file in
//! development). Every variable is listed, with its default, in the README
//! and in `.env.example`. A bad value stops start-up with one line naming the
//! variable.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, Tokio1Executor};

use crate::db::{Backend, DatabaseUrl};

pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/app.db";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppEnv {
    Development,
    Production,
}

impl AppEnv {
    pub fn is_production(self) -> bool {
        self == Self::Production
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines, for a terminal.
    Text,
    /// One JSON object a line, for a log collector.
    Json,
}

/// A value that must never reach a log line.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(secret: String) -> Self {
        Self(secret)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

#[derive(Clone, Debug)]
pub struct Config {
    pub app_env: AppEnv,
    pub host: String,
    pub port: u16,
    pub database_url: DatabaseUrl,
    /// Connections per app instance; each request inside a tenant holds one
    /// for its transaction.
    pub database_pool_size: u32,
    /// Absolute base for links in emails and Stripe redirects, without a
    /// trailing slash.
    pub base_url: String,
    pub log_format: LogFormat,
    /// `/metrics` exists only when this is set, and asks for it as a bearer token.
    pub metrics_token: Option<Secret>,
    pub request_timeout: Duration,
    pub max_body_bytes: usize,
    /// The operator chose SQLite in production knowingly (a persistent volume).
    pub allow_sqlite_in_production: bool,
    /// How many proxies in front of the app append to `X-Forwarded-For`
    /// (0: the header is ignored and the peer is the client).
    pub trusted_proxy_hops: usize,
    /// Where email goes (`smtp://`, `smtps://`); unset in development means
    /// the log and `/dev/mailbox` only.
    pub smtp_url: Option<Secret>,
    /// The sender of every email, as `Name <address>`.
    pub mail_from: String,
    /// Job-queue workers in this process (0: another process runs them).
    pub job_workers: usize,
    /// "Email me a sign-in link" on the sign-in page (`SIGN_IN_LINKS`, on
    /// unless `false`).
    pub sign_in_links: bool,
    /// Sign-in with Google, GitHub and an OpenID Connect provider, each
    /// configured by its client id and secret, in the sign-in page's order.
    pub sign_in_providers: Vec<ProviderConfig>,
    pub stripe: StripeConfig,
    /// Keys for secrets stored encrypted; empty: see `crypto::Keys::load`.
    pub encryption_keys: KeyMaterial,
    /// The key of keyed hashes (codes typed at a device, blind indexes, export
    /// signatures); empty: see `crypto::LookupKey::load`.
    pub lookup_key: KeyMaterial,
}

/// Stripe, from the `STRIPE_*` variables. Each part is optional: without a
/// key the app runs and the billing page says how to configure it.
#[derive(Clone, Debug)]
pub struct StripeConfig {
    /// The API key: test mode (`sk_test_…`) until going live.
    pub secret_key: Option<Secret>,
    /// The signing secret of the webhook endpoint (`whsec_…`).
    pub webhook_secret: Option<Secret>,
    /// Prices to use instead of the ones `stripe-sync` made, by lookup key
    /// (`STRIPE_PRICES=pro_monthly=price_…,pro_yearly=price_…`).
    pub price_overrides: BTreeMap<String, String>,
    /// Stripe's API, or a mock server's; ends with `/`.
    pub api_base: String,
    /// Stripe Tax on Checkout: automatic tax and address collection.
    pub automatic_tax: bool,
    /// Checkout takes promotion codes (made in Stripe's dashboard).
    pub promotion_codes: bool,
    /// Owners get a receipt by email for each paid invoice.
    pub receipt_emails: bool,
}

/// A provider people sign in with: its key in URLs and stored identities,
/// the name its button shows, how it speaks, and the app's client there.
#[derive(Clone, Debug)]
pub struct ProviderConfig {
    /// `google`, `github` or `oidc`.
    pub key: &'static str,
    pub name: String,
    pub protocol: Protocol,
    pub client_id: String,
    pub client_secret: Secret,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// OpenID Connect: everything else comes from the issuer's discovery
    /// document, `<issuer>/.well-known/openid-configuration`.
    OpenIdConnect { issuer: String },
    /// GitHub's OAuth apps (not OpenID Connect): its authorisation server
    /// (`https://github.com`) and its API (`https://api.github.com`).
    GitHub { site: String, api: String },
}

impl ProviderConfig {
    /// Each provider whose client id and secret are both set; one without
    /// the other is an error, so a half-configured provider doesn't
    /// silently vanish from the sign-in page.
    fn from_lookup(
        lookup: &impl Fn(&str) -> Option<String>,
        app_env: AppEnv,
    ) -> Result<Vec<Self>, ConfigError> {
        let optional = |name: &'static str| lookup(name).filter(|v| !v.trim().is_empty());
        // Plain http only in development: in production a secret and the
        // ID tokens travel to these addresses.
        let parse = |parse: fn(&str) -> Result<String, String>| {
            move |value: &str| {
                let url = parse(value)?;
                if app_env.is_production() && !url.starts_with("https://") {
                    return Err("expected an https:// URL in production".to_owned());
                }
                Ok(url)
            }
        };
        let url = |name: &'static str, default: &str, as_written: bool| {
            Variable {
                name,
                value: optional(name).unwrap_or_else(|| default.to_owned()),
            }
            .parse_with(parse(if as_written { parse_issuer } else { parse_url }))
        };
        let client = |id: &'static str, secret: &'static str| match (optional(id), optional(secret))
        {
            (Some(id), Some(secret)) => Ok(Some((
                id.trim().to_owned(),
                Secret(secret.trim().to_owned()),
            ))),
            (None, None) => Ok(None),
            (Some(_), None) => Err(ConfigError {
                variable: secret,
                value: String::new(),
                reason: format!("required when {id} is set"),
            }),
            (None, Some(_)) => Err(ConfigError {
                variable: id,
                value: String::new(),
                reason: format!("required when {secret} is set"),
            }),
        };
        let mut providers = Vec::new();
        if let Some((client_id, client_secret)) =
            client("GOOGLE_CLIENT_ID", "GOOGLE_CLIENT_SECRET")?
        {
            providers.push(Self {
                key: "google",
                name: "Google".to_owned(),
                protocol: Protocol::OpenIdConnect {
                    issuer: url("GOOGLE_ISSUER", "https://accounts.google.com", true)?,
                },
                client_id,
                client_secret,
            });
        }
        if let Some((client_id, client_secret)) =
            client("GITHUB_CLIENT_ID", "GITHUB_CLIENT_SECRET")?
        {
            providers.push(Self {
                key: "github",
                name: "GitHub".to_owned(),
                protocol: Protocol::GitHub {
                    site: url("GITHUB_URL", "https://github.com", false)?,
                    api: url("GITHUB_API_URL", "https://api.github.com", false)?,
                },
                client_id,
                client_secret,
            });
        }
        if let Some((client_id, client_secret)) = client("OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET")? {
            if optional("OIDC_ISSUER").is_none() {
                return Err(ConfigError {
                    variable: "OIDC_ISSUER",
                    value: String::new(),
                    reason: "required when OIDC_CLIENT_ID is set".to_owned(),
                });
            }
            providers.push(Self {
                key: "oidc",
                name: optional("OIDC_NAME").map_or_else(
                    || "Single sign-on".to_owned(),
                    |name| name.trim().to_owned(),
                ),
                protocol: Protocol::OpenIdConnect {
                    issuer: url("OIDC_ISSUER", "", true)?,
                },
                client_id,
                client_secret,
            });
        }
        Ok(providers)
    }
}

/// An absolute http(s) URL, without a trailing slash.
fn parse_url(url: &str) -> Result<String, String> {
    parse_issuer(url).map(|url| url.trim_end_matches('/').to_owned())
}

/// An absolute http(s) URL as written: an OpenID Connect issuer must match
/// the one in its discovery document character for character, trailing
/// slash included (Auth0 writes one).
pub fn parse_issuer(url: &str) -> Result<String, String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    match rest {
        Some(host) if !host.is_empty() && !host.contains(char::is_whitespace) => Ok(url.to_owned()),
        _ => Err("expected an absolute http:// or https:// URL".to_owned()),
    }
}

/// A configuration value that can't be used: names the variable and says why.
#[derive(Debug, thiserror::Error)]
#[error("invalid {variable}={value:?}: {reason}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub value: String,
    pub reason: String,
}

impl Config {
    /// Reads the process environment.
    ///
    /// # Errors
    /// The first variable whose value can't be parsed.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup`, so tests can pass their own
    /// variables without touching the (process-wide) environment.
    ///
    /// # Errors
    /// The first variable whose value can't be parsed.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let var = |name: &'static str, default: &str| {
            let value = lookup(name)
                .filter(|v| !v.trim().is_empty())
                .unwrap_or_else(|| default.to_owned());
            Variable { name, value }
        };

        let app_env = var("APP_ENV", "development").parse_with(|v| match v {
            "development" => Ok(AppEnv::Development),
            "production" => Ok(AppEnv::Production),
            _ => Err("expected development or production".to_owned()),
        })?;
        let host = var("HOST", "127.0.0.1").value;
        let port = var("PORT", "3000").parse_with(|v| {
            v.parse::<u16>()
                .map_err(|_| "expected a port number from 0 to 65535".to_owned())
        })?;
        let database_url =
            var("DATABASE_URL", DEFAULT_DATABASE_URL).parse_with(str::parse::<DatabaseUrl>)?;
        let database_pool_size =
            var("DATABASE_POOL_SIZE", "10").parse_with(|v| match v.parse::<u32>() {
                Ok(size) if size > 0 => Ok(size),
                _ => Err("expected a whole number of connections, at least 1".to_owned()),
            })?;
        let base_url =
            var("BASE_URL", &format!("http://localhost:{port}")).parse_with(parse_url)?;
        let log_format = var("LOG_FORMAT", "text").parse_with(|v| match v {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err("expected text or json".to_owned()),
        })?;
        let metrics_token = lookup("METRICS_TOKEN")
            .filter(|v| !v.trim().is_empty())
            .map(Secret);
        let request_timeout =
            var("REQUEST_TIMEOUT_SECS", "30").parse_with(|v| match v.parse::<u64>() {
                Ok(secs) if secs > 0 => Ok(Duration::from_secs(secs)),
                _ => Err("expected a whole number of seconds, at least 1".to_owned()),
            })?;
        let max_body_bytes =
            var("MAX_BODY_BYTES", "2097152").parse_with(|v| match v.parse::<usize>() {
                Ok(bytes) if bytes > 0 => Ok(bytes),
                _ => Err("expected a whole number of bytes, at least 1".to_owned()),
            })?;
        let allow_sqlite_in_production =
            var("ALLOW_SQLITE_IN_PRODUCTION", "false").parse_with(parse_bool)?;

        let trusted_proxy_hops =
            var("TRUSTED_PROXY_HOPS", "0").parse_with(|v| match v.parse::<usize>() {
                Ok(hops) if hops <= 10 => Ok(hops),
                _ => Err("expected the number of proxies in front of the app, 0 to 10".to_owned()),
            })?;

        let smtp_url = lookup("SMTP_URL")
            .filter(|v| !v.trim().is_empty())
            .map(|v| {
                Variable {
                    name: "SMTP_URL",
                    value: v,
                }
                .parse_with(|url| check_smtp_url(url).map(|()| Secret(url.to_owned())))
            })
            .transpose()?;
        let mail_from = var(
            "MAIL_FROM",
            &format!("{} <noreply@localhost>", crate::brand::APP_NAME),
        )
        .parse_with(|from| check_mail_from(from).map(|()| from.to_owned()))?;
        let job_workers = var("JOB_WORKERS", "2").parse_with(|v| match v.parse::<usize>() {
            Ok(workers) if workers <= 32 => Ok(workers),
            _ => Err("expected a number of workers, 0 to 32".to_owned()),
        })?;

        let sign_in_links = var("SIGN_IN_LINKS", "true").parse_with(parse_bool)?;

        let sign_in_providers = ProviderConfig::from_lookup(&lookup, app_env)?;
        let stripe = StripeConfig::from_lookup(&lookup)?;
        let encryption_keys =
            var("ENCRYPTION_KEYS", "").parse_secret(app_env, KeyMaterial::parse)?;
        let lookup_key = var("LOOKUP_KEY", "").parse_secret(app_env, KeyMaterial::parse_one)?;

        Ok(Self {
            app_env,
            host,
            port,
            database_url,
            database_pool_size,
            base_url,
            log_format,
            metrics_token,
            request_timeout,
            max_body_bytes,
            allow_sqlite_in_production,
            trusted_proxy_hops,
            smtp_url,
            mail_from,
            job_workers,
            sign_in_links,
            sign_in_providers,
            stripe,
            encryption_keys,
            lookup_key,
        })
    }

    /// SQLite in a container usually lives on a disk that a redeploy throws
    /// away, with every tenant's data on it.
    pub fn warns_about_sqlite_in_production(&self) -> bool {
        self.app_env.is_production()
            && self.database_url.backend() == Backend::Sqlite
            && !self.allow_sqlite_in_production
    }
}

impl StripeConfig {
    fn from_lookup(lookup: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let optional = |name: &'static str| {
            lookup(name)
                .filter(|v| !v.trim().is_empty())
                .map(|value| Variable { name, value })
        };
        let prefixed = |name: &'static str, prefixes: &'static [&'static str]| {
            optional(name)
                .map(|v| {
                    v.parse_with(|key| {
                        if prefixes.iter().any(|p| key.starts_with(p)) {
                            Ok(Secret(key.to_owned()))
                        } else {
                            Err(format!(
                                "expected a key starting with {}",
                                prefixes.join(" or ")
                            ))
                        }
                    })
                })
                .transpose()
        };
        let price_overrides = optional("STRIPE_PRICES")
            .map(|v| v.parse_with(parse_price_overrides))
            .transpose()?
            .unwrap_or_default();
        let api_base = optional("STRIPE_API_BASE")
            .map(|v| {
                v.parse_with(|url| {
                    if url.starts_with("https://") || url.starts_with("http://") {
                        Ok(format!("{}/", url.trim_end_matches('/')))
                    } else {
                        Err("expected an absolute http:// or https:// URL".to_owned())
                    }
                })
            })
            .transpose()?
            .unwrap_or_else(|| "https://api.stripe.com/".to_owned());
        let automatic_tax = optional("STRIPE_AUTOMATIC_TAX")
            .map(|v| v.parse_with(parse_bool))
            .transpose()?
            .unwrap_or(false);
        let promotion_codes = optional("STRIPE_PROMOTION_CODES")
            .map(|v| v.parse_with(parse_bool))
            .transpose()?
            .unwrap_or(false);
        let receipt_emails = optional("STRIPE_RECEIPT_EMAILS")
            .map(|v| v.parse_with(parse_bool))
            .transpose()?
            .unwrap_or(false);
        Ok(Self {
            secret_key: prefixed("STRIPE_SECRET_KEY", &["sk_", "rk_"])?,
            webhook_secret: prefixed("STRIPE_WEBHOOK_SECRET", &["whsec_"])?,
            price_overrides,
            api_base,
            automatic_tax,
            promotion_codes,
            receipt_emails,
        })
    }
}

/// `pro_monthly=price_…,pro_yearly=price_…` as a map.
fn parse_price_overrides(value: &str) -> Result<BTreeMap<String, String>, String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|pair| !pair.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((key, price)) if !key.trim().is_empty() && price.trim().starts_with("price_") => {
                Ok((key.trim().to_owned(), price.trim().to_owned()))
            }
            _ => Err(format!(
                "expected lookup_key=price_… pairs separated by commas, not {pair:?}"
            )),
        })
        .collect()
}

struct Variable {
    name: &'static str,
    value: String,
}

impl Variable {
    fn parse_with<T>(
        self,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        parse(self.value.trim()).map_err(|reason| ConfigError {
            variable: self.name,
            value: self.value,
            reason,
        })
    }
}

impl Variable {
    /// Keys: never echoed in the error, and required in production (where
    /// nothing is generated: data written under a key that is then lost
    /// can't be read again).
    fn parse_secret(
        self,
        app_env: AppEnv,
        parse: impl FnOnce(&str) -> Result<KeyMaterial, String>,
    ) -> Result<KeyMaterial, ConfigError> {
        let name = self.name;
        let hidden = |reason| ConfigError {
            variable: name,
            value: String::new(),
            reason,
        };
        let keys = parse(self.value.trim()).map_err(hidden)?;
        if app_env.is_production() && keys == KeyMaterial::default() {
            return Err(hidden(
                "required when APP_ENV=production (generate one with: openssl rand -base64 32)"
                    .to_owned(),
            ));
        }
        Ok(keys)
    }
}

fn parse_bool(value: &str) -> Result<bool, String> {
    match value {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err("expected true or false".to_owned()),
    }
}

/// Key material as configured, never printed.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct KeyMaterial(pub Vec<[u8; 32]>);

impl std::fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyMaterial({} keys)", self.0.len())
    }
}

impl KeyMaterial {
    /// Parses `ENCRYPTION_KEYS`.
    ///
    /// # Errors
    /// What is wrong, for the configuration error.
    pub fn parse(value: &str) -> Result<Self, String> {
        parse_keys(value).map(Self)
    }

    /// Parses a variable that takes a single key.
    ///
    /// # Errors
    /// What is wrong, for the configuration error.
    pub fn parse_one(value: &str) -> Result<Self, String> {
        let keys = parse_keys(value)?;
        if keys.len() > 1 {
            return Err("expected one key, not a list".to_owned());
        }
        Ok(Self(keys))
    }
}

/// Base64 (standard or URL-safe) keys of 32 bytes, comma-separated.
fn parse_keys(value: &str) -> Result<Vec<[u8; 32]>, String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|key| !key.is_empty())
        .map(|key| {
            let bytes = STANDARD
                .decode(key)
                .or_else(|_| URL_SAFE_NO_PAD.decode(key))
                .map_err(|_| "expected base64 keys, comma-separated".to_owned())?;
            <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
                "each key must be 32 bytes (generate one with: openssl rand -base64 32)".to_owned()
            })
        })
        .collect()
}

/// Checks `SMTP_URL` as the configuration is read.
///
/// # Errors
/// What is wrong with it.
pub fn check_smtp_url(url: &str) -> Result<(), String> {
    AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
        .map(drop)
        .map_err(|e| {
            format!("expected smtp://, smtps:// or smtp://…?tls=required with a host: {e}")
        })
}

/// Checks `MAIL_FROM` as the configuration is read.
///
/// # Errors
/// What is wrong with it.
pub fn check_mail_from(from: &str) -> Result<(), String> {
    from.parse::<Mailbox>()
        .map(drop)
        .map_err(|e| format!("expected an address such as \"Acme <hello@acme.test>\": {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_lookup(|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn defaults_give_a_development_app_on_sqlite_at_port_3000() {
        let config = config(&[]).expect("defaults are valid");
        assert_eq!(config.app_env, AppEnv::Development);
        assert_eq!((config.host.as_str(), config.port), ("127.0.0.1", 3000));
        assert_eq!(config.database_url.backend(), Backend::Sqlite);
        assert_eq!(config.log_format, LogFormat::Text);
        assert_eq!(config.base_url, "http://localhost:3000");
        assert!(config.metrics_token.is_none());
    }

    #[test]
    fn a_sign_in_provider_is_on_with_its_id_and_secret_and_never_half_configured() {
        assert!(config(&[]).expect("valid").sign_in_providers.is_empty());
        let both = config(&[
            ("GITHUB_CLIENT_ID", "gh"),
            ("GITHUB_CLIENT_SECRET", "gh-secret"),
            ("GOOGLE_CLIENT_ID", "g"),
            ("GOOGLE_CLIENT_SECRET", "g-secret"),
            ("OIDC_CLIENT_ID", "o"),
            ("OIDC_CLIENT_SECRET", "o-secret"),
            ("OIDC_ISSUER", "https://tenant.auth0.com/"),
            ("OIDC_NAME", "Auth0"),
        ])
        .expect("valid");
        let keys: Vec<_> = both.sign_in_providers.iter().map(|p| p.key).collect();
        assert_eq!(keys, ["google", "github", "oidc"]);
        let oidc = &both.sign_in_providers[2];
        assert_eq!(oidc.name, "Auth0");
        assert_eq!(
            oidc.protocol,
            Protocol::OpenIdConnect {
                issuer: "https://tenant.auth0.com/".to_owned()
            },
            "the issuer as written, trailing slash kept"
        );
        for (vars, named) in [
            (&[("GOOGLE_CLIENT_ID", "g")][..], "GOOGLE_CLIENT_SECRET"),
            (&[("GITHUB_CLIENT_SECRET", "s")][..], "GITHUB_CLIENT_ID"),
            (
                &[("OIDC_CLIENT_ID", "o"), ("OIDC_CLIENT_SECRET", "s")][..],
                "OIDC_ISSUER",
            ),
            (
                &[
                    ("OIDC_CLIENT_ID", "o"),
                    ("OIDC_CLIENT_SECRET", "s"),
                    ("OIDC_ISSUER", "login.example.com"),
                ][..],
                "OIDC_ISSUER",
            ),
        ] {
            let error = config(vars).expect_err("half-configured");
            assert_eq!(error.variable, named);
        }
        // In production, only https: a client secret and ID tokens travel there.
        let plain = [
            ("OIDC_CLIENT_ID", "o"),
            ("OIDC_CLIENT_SECRET", "s"),
            ("OIDC_ISSUER", "http://login.example.com"),
        ];
        assert!(config(&plain).is_ok(), "development may use http");
        let error = config(&[&PRODUCTION[..], &plain[..]].concat()).expect_err("production");
        assert_eq!(error.variable, "OIDC_ISSUER");
        let error = config(
            &[
                &PRODUCTION[..],
                &[
                    ("GITHUB_CLIENT_ID", "g"),
                    ("GITHUB_CLIENT_SECRET", "s"),
                    ("GITHUB_API_URL", "http://localhost:9"),
                ][..],
            ]
            .concat(),
        )
        .expect_err("production");
        assert_eq!(error.variable, "GITHUB_API_URL");
    }

    #[test]
    fn each_bad_value_is_reported_with_its_variable_name() {
        let cases = [
            ("DATABASE_URL", "mysql://localhost/app"),
            ("DATABASE_URL", "postgres://user@host:notaport/db"),
            ("PORT", "http"),
            ("PORT", "70000"),
            ("APP_ENV", "staging"),
            ("LOG_FORMAT", "xml"),
            ("BASE_URL", "example.com"),
            ("REQUEST_TIMEOUT_SECS", "0"),
            ("ALLOW_SQLITE_IN_PRODUCTION", "maybe"),
            ("TRUSTED_PROXY_HOPS", "-1"),
            ("SMTP_URL", "mail.example.com"),
            ("MAIL_FROM", "not an address"),
            ("JOB_WORKERS", "many"),
            ("ENCRYPTION_KEYS", "c2hvcnQ="),
            ("STRIPE_SECRET_KEY", "pk_test_123"),
            ("STRIPE_WEBHOOK_SECRET", "sk_test_123"),
            ("STRIPE_API_BASE", "localhost:12111"),
            ("STRIPE_AUTOMATIC_TAX", "vat"),
            ("STRIPE_PROMOTION_CODES", "sometimes"),
            ("STRIPE_RECEIPT_EMAILS", "often"),
            ("STRIPE_PRICES", "pro_monthly:price_1"),
        ];
        for (variable, value) in cases {
            let error = config(&[(variable, value)])
                .expect_err(&format!("{variable}={value} must be rejected"));
            assert_eq!(error.variable, variable, "{variable}={value}");
            let line = error.to_string();
            assert!(line.starts_with(&format!("invalid {variable}=")), "{line}");
            assert!(!line.contains('\n'), "one line: {line}");
        }
    }

    /// Production with its keys.
    const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    const PRODUCTION: [(&str, &str); 3] = [
        ("APP_ENV", "production"),
        ("ENCRYPTION_KEYS", KEY),
        ("LOOKUP_KEY", KEY),
    ];

    #[test]
    fn production_on_sqlite_warns_unless_acknowledged() {
        let production = config(&PRODUCTION).expect("valid");
        assert!(production.warns_about_sqlite_in_production());
        let acknowledged =
            config(&[&PRODUCTION[..], &[("ALLOW_SQLITE_IN_PRODUCTION", "true")]].concat())
                .expect("valid");
        assert!(!acknowledged.warns_about_sqlite_in_production());
        let postgres = config(
            &[
                &PRODUCTION[..],
                &[("DATABASE_URL", "postgres://app@db/app")],
            ]
            .concat(),
        )
        .expect("valid");
        assert!(!postgres.warns_about_sqlite_in_production());
    }

    #[test]
    fn production_needs_both_keys_and_never_echoes_one() {
        for missing in ["ENCRYPTION_KEYS", "LOOKUP_KEY"] {
            let vars: Vec<_> = PRODUCTION
                .into_iter()
                .filter(|(k, _)| *k != missing)
                .collect();
            let error = config(&vars).expect_err("a key is missing");
            assert_eq!(error.variable, missing);
            assert!(
                error
                    .to_string()
                    .contains("required when APP_ENV=production"),
                "{error}"
            );
        }
        let almost = &KEY[..KEY.len() - 4];
        let error = config(&[("LOOKUP_KEY", almost)]).expect_err("too short");
        assert!(!error.to_string().contains(almost), "{error}");
        assert!(
            config(&[("APP_ENV", "development")]).is_ok(),
            "development generates keys"
        );
    }

    #[test]
    fn secrets_never_print() {
        let config = config(&[
            ("METRICS_TOKEN", "s3cret"),
            ("SMTP_URL", "smtps://user:hunter2@smtp.example.com"),
            ("STRIPE_SECRET_KEY", "sk_test_hunter2"),
            ("STRIPE_WEBHOOK_SECRET", "whsec_hunter2"),
        ])
        .expect("valid");
        let printed = format!("{config:?}");
        assert!(
            !printed.contains("s3cret") && !printed.contains("hunter2"),
            "{printed}"
        );
    }

    #[test]
    fn keys_are_32_bytes_of_base64() {
        let key = STANDARD.encode([7u8; 32]);
        assert_eq!(parse_keys(&format!("{key}, {key}")).unwrap().len(), 2);
        assert!(parse_keys("short").is_err());
        assert!(parse_keys(&STANDARD.encode([7u8; 16])).is_err());
    }
}
