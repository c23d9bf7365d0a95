//! The test harness: every test body runs against the real app (real router,
//! real HTTP on a local port) on a fresh SQLite file and, when reachable, on a
//! fresh PostgreSQL database.
//!
//! PostgreSQL: `TEST_DATABASE_URL` (default below) must name a role that may
//! create databases; `TEST_DATABASE_URL=skip` runs SQLite only, on purpose. Each test database is a copy of a template migrated once
//! per set of migrations. Without a reachable server the PostgreSQL half is
//! skipped (the `zz_backends` test target says so at the end of the run);
//! with `CI=true` it is a failure instead.

use base64::Engine as _;
use std::collections::hash_map::DefaultHasher;
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use app::config::Config;
use app::db::{Backend, DatabaseUrl, Db};
use app::http::routes::Routes;
use app::http::{AppState, Server};
use app::on_backend;
use reqwest::header::HeaderMap;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{AssertSqlSafe, Connection};
use tokio::sync::{OnceCell, oneshot};

pub const DEFAULT_TEST_DATABASE_URL: &str = "postgres://app_test:app_test@127.0.0.1:5432/postgres";

/// Options for the app under test.
#[derive(Default)]
pub struct Options {
    /// Environment variables, as the app would read them.
    pub vars: Vec<(&'static str, String)>,
    /// Routes mounted behind the app's middleware stack, for probing it.
    pub extra_routes: Option<fn() -> Routes>,
}

/// The `LOOKUP_KEY` of apps given their keys.
pub const LOOKUP_KEY: [u8; 32] = [3; 32];

impl Options {
    /// The app as deployed (on SQLite too, knowingly), with its keys.
    pub fn production() -> Self {
        let mut options = Self::with_keys(&[[1; 32]]);
        options.vars.extend([
            ("APP_ENV", "production".to_owned()),
            ("ALLOW_SQLITE_IN_PRODUCTION", "true".to_owned()),
        ]);
        options
    }

    /// An instance whose `ENCRYPTION_KEYS` are `keys` (the encrypting one
    /// first) and whose `LOOKUP_KEY` is [`LOOKUP_KEY`].
    pub fn with_keys(keys: &[[u8; 32]]) -> Self {
        let base64 = |key: &[u8; 32]| base64::engine::general_purpose::STANDARD.encode(key);
        let listed: Vec<String> = keys.iter().map(base64).collect();
        Self {
            vars: vec![
                ("ENCRYPTION_KEYS", listed.join(",")),
                ("LOOKUP_KEY", base64(&LOOKUP_KEY)),
            ],
            ..Self::default()
        }
    }
}

/// `backend_test!(name);` before `async fn name(backend: Backend)`: the
/// test runs as two, `name::sqlite` and `name::postgres`, so a failure
/// names its backend, the two run in parallel, and `cargo test postgres`
/// runs one backend's half of the suite.
macro_rules! backend_test {
    ($name:ident) => {
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                super::$name(app::db::Backend::Sqlite).await;
            }

            #[tokio::test]
            async fn postgres() {
                super::$name(app::db::Backend::Postgres).await;
            }
        }
    };
}
pub(crate) use backend_test;

/// Runs `body` on a fresh database of `backend`. Without a reachable
/// PostgreSQL (outside CI), PostgreSQL's half passes and says it was
/// skipped.
pub async fn run_on<F, Fut>(backend: Backend, body: F)
where
    F: FnOnce(TestApp) -> Fut,
    Fut: Future<Output = ()>,
{
    run_on_with(backend, Options::default, body).await;
}

pub async fn run_on_with<O, F, Fut>(backend: Backend, options: O, body: F)
where
    O: FnOnce() -> Options,
    F: FnOnce(TestApp) -> Fut,
    Fut: Future<Output = ()>,
{
    if backend == Backend::Postgres && !postgres_available().await {
        eprintln!("skipped: no PostgreSQL at TEST_DATABASE_URL");
        return;
    }
    let database = TestDatabase::create(backend).await;
    let guard = DropOnPanic(database.server_database());
    let app = TestApp::spawn(&database, options()).await;
    body(app.clone()).await;
    app.stop().await;
    drop(guard);
    database.drop().await;
}

/// A failed test's database is dropped too: on a Citus cluster each one
/// left behind keeps a maintenance worker and its connections to the other
/// nodes, and a few dozen exhaust their connection slots.
struct DropOnPanic(Option<String>);

impl Drop for DropOnPanic {
    fn drop(&mut self) {
        let Some(name) = self.0.take().filter(|_| std::thread::panicking()) else {
            return;
        };
        // The test's runtime is unwinding: drop it from a runtime of its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async {
                match crate::citus::cluster().await {
                    Some(cluster) => cluster.drop_database(&name).await,
                    None => drop_postgres_database(&name).await,
                }
            });
        })
        .join();
        if dropped.is_err() {
            eprintln!("the failed test's database was not dropped");
        }
    }
}

pub fn test_database_url() -> String {
    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_TEST_DATABASE_URL.to_owned())
}

/// Whether a PostgreSQL server is reachable at `TEST_DATABASE_URL` (a
/// failure under `CI=true` when it is not). Decided once per test binary.
pub async fn postgres_available() -> bool {
    static AVAILABLE: OnceCell<bool> = OnceCell::const_new();
    *AVAILABLE
        .get_or_init(|| async {
            if test_database_url() == "skip" {
                return false;
            }
            match tokio::time::timeout(Duration::from_secs(3), try_admin()).await {
                Ok(Ok(_)) => true,
                Ok(Err(e)) if running_in_ci() => {
                    panic!("CI=true and PostgreSQL is not reachable at TEST_DATABASE_URL: {e}")
                }
                Err(_) if running_in_ci() => {
                    panic!("CI=true and PostgreSQL at TEST_DATABASE_URL does not answer")
                }
                _ => false,
            }
        })
        .await
}

pub fn running_in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// A connection to the server's maintenance database. A new one each time:
/// every `#[tokio::test]` has its own runtime, and a pooled connection would
/// die with the runtime that opened it.
pub async fn admin() -> PgConnection {
    try_admin().await.expect("connect to TEST_DATABASE_URL")
}

async fn try_admin() -> Result<PgConnection, sqlx::Error> {
    let options = PgConnectOptions::from_str(&test_database_url())?;
    PgConnection::connect_with(&options).await
}

/// A database that exists for one test.
pub enum TestDatabase {
    Sqlite {
        url: String,
        _folder: tempfile::TempDir,
    },
    Postgres {
        url: String,
        name: String,
    },
    /// On every node of a Citus cluster, distributed (`crate::citus`).
    Citus {
        url: String,
        name: String,
    },
}

impl TestDatabase {
    pub async fn create(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let folder = tempfile::tempdir().expect("temporary folder");
                let url = format!("sqlite://{}", folder.path().join("app.db").display());
                Self::Sqlite {
                    url,
                    _folder: folder,
                }
            }
            Backend::Postgres => {
                if let Some(cluster) = crate::citus::cluster().await {
                    let (name, url) = cluster.create_database().await;
                    return Self::Citus { url, name };
                }
                let template = migrated_template().await;
                let name = format!("test_{}", uuid::Uuid::new_v4().simple());
                sqlx::query(AssertSqlSafe(format!(
                    "CREATE DATABASE {name} TEMPLATE {template}"
                )))
                .execute(&mut admin().await)
                .await
                .expect("create test database");
                Self::Postgres {
                    url: database_url(&name),
                    name,
                }
            }
        }
    }

    /// The server's name for it (`None` for SQLite's file).
    fn server_database(&self) -> Option<String> {
        match self {
            Self::Sqlite { .. } => None,
            Self::Postgres { name, .. } | Self::Citus { name, .. } => Some(name.clone()),
        }
    }

    pub fn url(&self) -> &str {
        match self {
            Self::Sqlite { url, .. } | Self::Postgres { url, .. } | Self::Citus { url, .. } => url,
        }
    }

    pub async fn drop(self) {
        match self {
            Self::Sqlite { .. } => {}
            Self::Postgres { name, .. } => drop_postgres_database(&name).await,
            Self::Citus { name, .. } => {
                let cluster = crate::citus::cluster().await.expect("the cluster");
                cluster.drop_database(&name).await;
            }
        }
    }
}

async fn drop_postgres_database(name: &str) {
    sqlx::query(AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut admin().await)
    .await
    .expect("drop test database");
}

/// `TEST_DATABASE_URL` pointed at another database.
pub fn database_url(name: &str) -> String {
    let url = test_database_url();
    let (server, query) = match url.split_once('?') {
        Some((server, query)) => (server, format!("?{query}")),
        None => (url.as_str(), String::new()),
    };
    let server = server.rsplit_once('/').map_or(server, |(server, _)| server);
    format!("{server}/{name}{query}")
}

/// A database migrated once per set of migrations, which each test database
/// copies (much faster than migrating every time). Built under a temporary
/// name and renamed, so concurrent test runs never see a half-migrated one.
async fn migrated_template() -> &'static str {
    static TEMPLATE: OnceCell<String> = OnceCell::const_new();
    TEMPLATE
        .get_or_init(|| async {
            let mut admin = admin().await;
            let name = format!("app_template_{:016x}", migrations_hash());
            let exists: Option<i32> =
                sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
                    .bind(&name)
                    .fetch_optional(&mut admin)
                    .await
                    .expect("query pg_database");
            if exists.is_some() {
                return name;
            }
            let building = format!("app_building_{}", uuid::Uuid::new_v4().simple());
            sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {building}")))
                .execute(&mut admin)
                .await
                .expect("create template database");
            let url: DatabaseUrl = database_url(&building).parse().expect("valid URL");
            let db = Db::connect(&url, 1)
                .await
                .expect("connect to template database");
            app::db::migrate(&db)
                .await
                .expect("migrate template database");
            db.close().await;
            let renamed = sqlx::query(AssertSqlSafe(format!(
                "ALTER DATABASE {building} RENAME TO {name}"
            )))
            .execute(&mut admin)
            .await;
            if renamed.is_err() {
                // Another test run finished first: use theirs.
                let _ = sqlx::query(AssertSqlSafe(format!("DROP DATABASE {building}")))
                    .execute(&mut admin)
                    .await;
            }
            name
        })
        .await
}

pub fn hash_of(value: impl Hash) -> u64 {
    let mut hasher = DefaultHasher::new();
    value.hash(&mut hasher);
    hasher.finish()
}

pub fn migrations_hash() -> u64 {
    // The core's folder and each module's: an app generated without a
    // module has other migrations, so another template.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let mut folders = vec![root.join("postgres")];
    for entry in std::fs::read_dir(&root).expect("migrations/") {
        let module = entry.expect("entry").path().join("postgres");
        if module.is_dir() {
            folders.push(module);
        }
    }
    let mut files: Vec<_> = folders
        .iter()
        .flat_map(|folder| std::fs::read_dir(folder).expect("a migrations folder"))
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    let mut hasher = DefaultHasher::new();
    for file in files {
        file.strip_prefix(&root).unwrap_or(&file).hash(&mut hasher);
        std::fs::read(&file)
            .expect("read migration")
            .hash(&mut hasher);
    }
    hasher.finish()
}

/// What stops a running test app: the shutdown signal and the server task.
type Stopper = (oneshot::Sender<()>, tokio::task::JoinHandle<()>);

/// The app, serving on a local port.
#[derive(Clone)]
pub struct TestApp {
    pub address: String,
    /// The database the app runs on, for the binary under test.
    pub database_url: String,
    pub client: reqwest::Client,
    pub db: Db,
    /// The app's state, for running its job queue and reading its mailbox.
    pub state: AppState,
    /// The capabilities' jobs, schedules and purges, for the queue's runs.
    pub jobs: Arc<app::jobs::Registry>,
    stop: Arc<Mutex<Option<Stopper>>>,
}

impl TestApp {
    pub async fn spawn(database: &TestDatabase, options: Options) -> Self {
        Self::spawn_on(database.url(), options).await
    }

    /// A second app instance on this one's database, as behind a load
    /// balancer (stop it too).
    pub async fn another_instance(&self, options: Options) -> Self {
        Self::spawn_on(&self.database_url, options).await
    }

    /// The app on the database at `database_url`, which the caller made
    /// (and drops): for apps connected as another kind of user.
    pub async fn spawn_on(database_url: &str, options: Options) -> Self {
        let mut vars = vec![
            ("DATABASE_URL", database_url.to_owned()),
            ("PORT", "0".to_owned()),
        ];
        vars.extend(options.vars);
        let config = Config::from_lookup(|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.clone())
        })
        .expect("test configuration is valid");
        let db = app::cli::connect_and_migrate(&config)
            .await
            .expect("connect and migrate");
        let server_config = config.clone();
        let state = app::state(db.clone(), config).expect("the plans and STRIPE_PRICES");
        let app_state = state.clone();
        // Tests sign users in through a test-only route: the sign-in form
        // would cost every test argon2's hashing (fixtures::sign_in_route).
        let mut routes = app::routes().merge(crate::fixtures::sign_in_route());
        if let Some(extra) = options.extra_routes {
            routes = routes.merge(extra());
        }
        let router = app::router_with(state, routes);
        let server = Server::bind(&server_config, router)
            .await
            .expect("bind a local port");
        let address = format!("http://{}", server.local_addr().expect("local address"));
        let (stop_sender, stop_receiver) = oneshot::channel();
        let task = tokio::spawn(async move {
            server
                .run_until(async {
                    let _ = stop_receiver.await;
                })
                .await
                .expect("server runs");
        });
        let client = new_client();
        Self {
            address,
            database_url: database_url.to_owned(),
            client,
            db,
            state: app_state,
            jobs: app::job_registry(),
            stop: Arc::new(Mutex::new(Some((stop_sender, task)))),
        }
    }

    pub fn backend(&self) -> Backend {
        self.db.backend()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// A new client (its own cookie jar) signed in as `user`, sending the
    /// session's CSRF token with every request, as the app's pages do.
    pub async fn client_for(&self, user: app::ids::UserId) -> reqwest::Client {
        let jar = Arc::new(reqwest::cookie::Jar::default());
        let response = client_with(jar.clone(), HeaderMap::new())
            .post(self.url(crate::fixtures::SIGN_IN_PATH))
            .json(&user)
            .send()
            .await
            .expect("sign in");
        assert_eq!(response.status(), 200, "test sign-in");
        let token = response.text().await.expect("the CSRF token");
        let mut headers = HeaderMap::new();
        headers.insert(
            app::http::csrf::HEADER,
            token.parse().expect("a header value"),
        );
        client_with(jar, headers)
    }

    /// The user with `email`.
    pub async fn user_id(&self, email: &str) -> app::ids::UserId {
        app::on_backend!(&self.db, |pool| sqlx::query_scalar(
            "SELECT id FROM users WHERE email = $1"
        )
        .bind(email)
        .fetch_one(pool)
        .await
        .expect("a user with that email"))
    }

    /// A new client of a visitor who opened the sign-in page: a session
    /// holding a CSRF token, and the token from the page's form.
    pub async fn visitor(&self) -> (reqwest::Client, String) {
        let client = new_client();
        let html = client
            .get(self.url("/login"))
            .send()
            .await
            .expect("GET /login")
            .text()
            .await
            .expect("body");
        let token = csrf_field(&html);
        (client, token)
    }

    /// Posts a form from `client`, as a browser does.
    pub async fn post_form(
        &self,
        client: &reqwest::Client,
        path: &str,
        fields: &[(&str, &str)],
    ) -> reqwest::Response {
        client
            .post(self.url(path))
            .form(fields)
            .send()
            .await
            .expect("POST a form")
    }

    /// Runs a statement on the app's database, as an operator would (for
    /// setting up a state the app can't be asked for, such as an expiry).
    pub async fn execute(&self, sql: &str) {
        let sql = sql.to_owned();
        on_backend!(&self.db, |pool| sqlx::query(AssertSqlSafe(sql.clone()))
            .execute(pool)
            .await
            .map(drop))
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// Runs statements in one transaction, as [`TestApp::execute`] does one.
    pub async fn execute_all(&self, statements: &[&str]) {
        on_backend!(&self.db, |pool| {
            let mut tx = pool.begin().await.expect("BEGIN");
            for sql in statements {
                sqlx::query(AssertSqlSafe(sql.to_string()))
                    .execute(&mut *tx)
                    .await
                    .unwrap_or_else(|e| panic!("{sql}: {e}"));
            }
            tx.commit().await.expect("COMMIT");
        });
    }

    /// Runs every due job, as the app's workers would (tests run none in
    /// the background, so what a job does is seen when the test says).
    pub async fn run_jobs(&self) -> usize {
        app::jobs::run_due(&self.state, &self.jobs)
            .await
            .expect("run due jobs")
    }

    /// The emails sent to `to`, newest first, after running due jobs.
    pub async fn emails_to(&self, to: &str) -> Vec<app::mail::transport::Outgoing> {
        self.run_jobs().await;
        let mailbox = self
            .state
            .mailer
            .dev_mailbox
            .as_ref()
            .expect("a development mailbox");
        mailbox
            .emails()
            .into_iter()
            .map(|kept| kept.email)
            .filter(|email| email.to == to)
            .collect()
    }

    /// The path of the link to `{BASE_URL}{prefix}…` in the newest email to
    /// `to`, checked to be in both its text and its HTML body.
    pub async fn link_in_email(&self, to: &str, prefix: &str) -> String {
        let emails = self.emails_to(to).await;
        let email = emails.first().unwrap_or_else(|| panic!("an email to {to}"));
        let base_url = &self.state.config.base_url;
        let start = format!("{base_url}{prefix}");
        let at = email
            .text
            .find(&start)
            .unwrap_or_else(|| panic!("a link to {start} in {:?}", email.text));
        let link = email.text[at..]
            .split_whitespace()
            .next()
            .expect("the link");
        assert!(
            email.html.contains(&format!("href=\"{link}\"")),
            "the HTML body links to {link}"
        );
        link[base_url.len()..].to_owned()
    }

    /// GETs `path` as `client` and reads its JSON body, which must come
    /// with 200.
    pub async fn get_json(&self, client: &reqwest::Client, path: &str) -> serde_json::Value {
        let response = client.get(self.url(path)).send().await.expect("GET");
        assert_eq!(response.status(), 200, "GET {path}");
        response.json().await.expect("a JSON body")
    }

    /// GETs `path` as `client`: the status and the body as text (a page's
    /// HTML, a CSV export).
    pub async fn page(&self, client: &reqwest::Client, path: &str) -> (u16, String) {
        let response = client.get(self.url(path)).send().await.expect("GET");
        (
            response.status().as_u16(),
            response.text().await.expect("a body"),
        )
    }

    /// The CSRF token of `client`'s session (from `/api/v1/me`).
    pub async fn csrf_token(&self, client: &reqwest::Client) -> String {
        self.get_json(client, "/api/v1/me").await["csrf_token"]
            .as_str()
            .expect("a CSRF token")
            .to_owned()
    }

    /// POSTs `body` as JSON to `path` as `client`.
    pub async fn post_json(
        &self,
        client: &reqwest::Client,
        path: &str,
        body: &serde_json::Value,
    ) -> reqwest::Response {
        client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("POST JSON")
    }

    /// Turns on two-factor authentication for `client`'s user through the
    /// page, as a person with an authenticator app does. Returns the app's
    /// view (for codes) and the recovery codes.
    pub async fn enrol_two_factor(&self, client: &reqwest::Client) -> (totp_rs::Totp, Vec<String>) {
        self.give_password(client).await;
        let page = client
            .get(self.url("/account/two-factor"))
            .send()
            .await
            .expect("GET");
        assert_eq!(page.status(), 200);
        let html = page.text().await.expect("body");
        let marker = r#"<code id="totp-secret""#;
        let start = html.find(marker).expect("the key is shown");
        let start = start + html[start..].find('>').expect("the tag's end") + 1;
        let secret = &html[start..start + html[start..].find('<').expect("the key's end")];
        let totp = totp_rs::Builder::new()
            .with_secret(totp_rs::Secret::try_from_base32(secret).expect("a base32 key"))
            .build()
            .expect("a TOTP");
        let token = csrf_field(&html);
        let code = totp.generate_current().to_string();
        let enabled = self
            .post_form(
                client,
                "/account/two-factor/enable",
                &[
                    ("csrf_token", &token),
                    ("password", crate::accounts::PASSWORD),
                    ("code", &code),
                ],
            )
            .await;
        assert_eq!(enabled.status(), 200, "two-factor enabled");
        let html = enabled.text().await.expect("body");
        let codes = html
            .split("<li class=\"rounded bg-white px-3 py-1.5\">")
            .skip(1)
            .map(|item| item[..item.find('<').expect("the end")].to_owned())
            .collect();
        (totp, codes)
    }

    /// Gives `client`'s user the tests' password (`accounts::PASSWORD`) if
    /// they have none (fixture users), as re-authentication asks for it.
    pub async fn give_password(&self, client: &reqwest::Client) {
        static HASH: OnceCell<String> = OnceCell::const_new();
        let hash = HASH
            .get_or_init(|| async {
                let password = app::accounts::password::Password::parse(crate::accounts::PASSWORD)
                    .expect("a valid password");
                app::accounts::password::hash(password).await.expect("hash")
            })
            .await;
        let me = client
            .get(self.url("/api/v1/me"))
            .send()
            .await
            .expect("GET");
        if me.status() != 200 {
            return; // not signed in (a program with an API token)
        }
        let me: serde_json::Value = me.json().await.expect("JSON");
        let id: app::ids::UserId = me["user"]["id"]
            .as_str()
            .expect("my id")
            .parse()
            .expect("an id");
        let hash = hash.clone();
        on_backend!(&self.db, |pool| sqlx::query(
            "UPDATE users SET password_hash = $1 WHERE id = $2 AND password_hash IS NULL"
        )
        .bind(&hash)
        .bind(id)
        .execute(pool)
        .await
        .map(drop))
        .expect("set a password");
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.expect("GET")
    }

    pub async fn stop(self) {
        let stop = self.stop.lock().expect("not poisoned").take();
        if let Some((sender, task)) = stop {
            let _ = sender.send(());
            task.await.expect("server task");
        }
        self.db.close().await;
    }
}

/// A client that sends `secret` as its bearer token, and no cookie: a
/// program using an API token.
pub fn bearer(secret: &str) -> reqwest::Client {
    let mut headers = HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {secret}").parse().expect("a header value"),
    );
    client_with(Arc::default(), headers)
}

/// A client with an empty cookie jar.
pub fn new_client() -> reqwest::Client {
    client_with(Arc::default(), HeaderMap::new())
}

/// An HTTP client that keeps cookies in `jar`, sends `headers` with every
/// request and doesn't follow redirects (tests look at them).
pub fn client_with(jar: Arc<reqwest::cookie::Jar>, headers: HeaderMap) -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_provider(jar)
        .default_headers(headers)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("HTTP client")
}

/// The value of the `csrf_token` field in a page's form.
pub fn csrf_field(html: &str) -> String {
    let marker = r#"name="csrf_token" value=""#;
    let start = html.find(marker).expect("a form with a csrf_token field") + marker.len();
    let length = html[start..].find('"').expect("the end of the value");
    html[start..start + length].to_owned()
}

/// A minimal SMTP server that keeps what it receives, and can be "down"
/// (it then greets every connection with 421, as a server in trouble does).
/// Stands in for the mail provider, as a mock server does for Stripe.
#[derive(Clone)]
pub struct FakeSmtp {
    pub url: String,
    /// Each message's DATA, as received.
    pub received: Arc<Mutex<Vec<String>>>,
    pub up: Arc<std::sync::atomic::AtomicBool>,
}

impl FakeSmtp {
    pub async fn start() -> Self {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind SMTP");
        let url = format!("smtp://{}", listener.local_addr().expect("address"));
        let smtp = Self {
            url,
            received: Arc::default(),
            up: Arc::new(true.into()),
        };
        let server = smtp.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let server = server.clone();
                tokio::spawn(async move {
                    let (read, mut write) = stream.into_split();
                    let mut lines = BufReader::new(read).lines();
                    if !server.up.load(std::sync::atomic::Ordering::SeqCst) {
                        let _ = write.write_all(b"421 down for maintenance\r\n").await;
                        return;
                    }
                    let _ = write.write_all(b"220 fake ESMTP\r\n").await;
                    while let Ok(Some(line)) = lines.next_line().await {
                        let command = line.to_uppercase();
                        let reply: &[u8] = if command.starts_with("DATA") {
                            let _ = write.write_all(b"354 go on\r\n").await;
                            let mut data = String::new();
                            while let Ok(Some(line)) = lines.next_line().await {
                                if line == "." {
                                    break;
                                }
                                data.push_str(&line);
                                data.push('\n');
                            }
                            server.received.lock().expect("not poisoned").push(data);
                            b"250 queued\r\n"
                        } else if command.starts_with("QUIT") {
                            let _ = write.write_all(b"221 bye\r\n").await;
                            return;
                        } else {
                            b"250 ok\r\n"
                        };
                        if write.write_all(reply).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        smtp
    }

    pub fn set_up(&self, up: bool) {
        self.up.store(up, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn received(&self) -> Vec<String> {
        self.received.lock().expect("not poisoned").clone()
    }
}
