//! The real binary, as `cargo run` and the deploy files start it.

use app::db::Backend;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};

use crate::support::{TestDatabase, backend_test, run_on};

/// The app's binary: cargo builds it next to the test's own folder.
pub fn binary() -> PathBuf {
    let deps = std::env::current_exe().expect("test executable");
    let profile = deps
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>");
    profile.join(format!(
        "{}{}",
        env!("CARGO_PKG_NAME"),
        std::env::consts::EXE_SUFFIX
    ))
}

/// The binary with only the given variables (and no `.env`: it runs in an
/// empty folder).
pub fn command(folder: &std::path::Path, vars: &[(&str, &str)]) -> Command {
    let mut command = Command::new(binary());
    command
        .current_dir(folder)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    for (name, value) in vars {
        command.env(name, value);
    }
    command
}

fn stderr_of(mut command: Command) -> (bool, String) {
    let output = command.output().expect("run the binary");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).trim().to_owned(),
    )
}

#[test]
fn a_bad_configuration_value_stops_the_app_with_one_line_naming_it() {
    let folder = tempfile::tempdir().expect("folder");
    let cases = [
        ("DATABASE_URL", "mysql://localhost/app"),
        ("DATABASE_URL", "postgres://app@localhost:port/app"),
        ("PORT", "three thousand"),
        ("LOG_FORMAT", "yaml"),
        ("APP_ENV", "staging"),
        ("ENCRYPTION_KEYS", "not-a-key"),
        ("LOOKUP_KEY", "c2hvcnQ="),
        ("STRIPE_PRICES", "pro_monthly:price_1"),
        ("STRIPE_PRICES", "pro_montly=price_1"),
        ("STRIPE_PRICES", "free_monthly=price_1"),
    ];
    for (variable, value) in cases {
        let (succeeded, stderr) = stderr_of(command(folder.path(), &[(variable, value)]));
        assert!(!succeeded, "{variable}={value} must stop the app");
        assert_eq!(
            stderr.lines().count(),
            1,
            "one line for {variable}={value}: {stderr}"
        );
        assert!(
            stderr.starts_with(&format!("error: invalid {variable}=")),
            "{stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn production_without_its_keys_stops_the_app_with_one_line() {
    let folder = tempfile::tempdir().expect("folder");
    let (succeeded, stderr) = stderr_of(command(folder.path(), &[("APP_ENV", "production")]));
    assert!(
        !succeeded,
        "production must not start without ENCRYPTION_KEYS"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("error: invalid ENCRYPTION_KEYS=")
            && stderr.contains("required when APP_ENV=production"),
        "{stderr}"
    );
    assert!(
        !folder.path().join("data").exists(),
        "production generates no key"
    );
}

#[test]
fn a_port_in_use_stops_the_app_with_one_line() {
    let folder = tempfile::tempdir().expect("folder");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("address").port().to_string();
    let database = format!("sqlite://{}", folder.path().join("app.db").display());
    let (succeeded, stderr) = stderr_of(command(
        folder.path(),
        &[("PORT", &port), ("DATABASE_URL", &database)],
    ));
    assert!(!succeeded);
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("error: cannot listen on 127.0.0.1:") && last.contains("PORT"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The app's standard output, where it logs, line by line.
type Output = std::io::Lines<BufReader<ChildStdout>>;

/// Starts `serve` with `vars`, waits for the line with its URL, and returns
/// the URL and the rest of its output.
fn start(folder: &std::path::Path, vars: &[(&str, &str)]) -> (Running, String, Output) {
    let mut child = command(folder, vars)
        .env("PORT", "0")
        .arg("serve")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the binary");
    let mut output = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let line = output
        .by_ref()
        .map(|line| line.expect("read stdout"))
        .find(|line| line.contains(" is running at http://"))
        .expect("the start-up line");
    let url = line
        .split_whitespace()
        .find(|word| word.starts_with("http://"))
        .expect("a URL")
        .to_owned();
    (Running(child), url, output)
}

fn terminate(running: &mut Running) -> std::process::ExitStatus {
    let pid = running.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill")
            .success()
    );
    running.0.wait().expect("wait")
}

backend_test!(the_binary_starts_prints_its_url_serves_healthz_and_stops_on_sigterm);
async fn the_binary_starts_prints_its_url_serves_healthz_and_stops_on_sigterm(backend: Backend) {
    run_on(backend, |app| async move {
        // The harness's app only provides the backend here; the binary gets
        // a database of its own.
        let database = TestDatabase::create(app.backend()).await;
        let folder = tempfile::tempdir().expect("folder");
        let (mut running, url, _) = start(folder.path(), &[("DATABASE_URL", database.url())]);

        let health = reqwest::get(format!("{url}/healthz"))
            .await
            .expect("GET /healthz");
        assert_eq!(health.status(), 200);

        let pid = running.0.id().to_string();
        let killed = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(killed.success());
        let status = running.0.wait().expect("wait");
        assert!(status.success(), "a clean exit on SIGTERM: {status}");
        drop(running);
        database.drop().await;
    })
    .await;
}

#[test]
fn the_first_start_creates_the_sqlite_database_and_its_folder() {
    let folder = tempfile::tempdir().expect("folder");
    let (running, url, _) = start(folder.path(), &[("DATABASE_URL", "sqlite://data/app.db")]);
    drop(running);
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert!(
        folder.path().join("data/app.db").exists(),
        "data/app.db created"
    );
}

backend_test!(migrate_applies_migrations_and_exits);
async fn migrate_applies_migrations_and_exits(backend: Backend) {
    run_on(backend, |app| async move {
        let database = TestDatabase::create(app.backend()).await;
        let folder = tempfile::tempdir().expect("folder");
        let mut migrate = command(folder.path(), &[("DATABASE_URL", database.url())]);
        migrate.arg("migrate");
        let (succeeded, stderr) = stderr_of(migrate);
        assert!(succeeded, "{stderr}");
        let url: app::db::DatabaseUrl = database.url().parse().expect("URL");
        let db = app::db::Db::connect(&url, 1).await.expect("connect");
        let sessions: i64 = app::on_backend!(&db, |pool| sqlx::query_scalar(
            "SELECT COUNT(*) FROM sessions"
        )
        .fetch_one(pool)
        .await
        .expect("the sessions table exists"));
        assert_eq!(sessions, 0);
        db.close().await;
        database.drop().await;
    })
    .await;
}

#[test]
fn the_healthcheck_command_fails_when_nothing_answers() {
    let folder = tempfile::tempdir().expect("folder");
    let free = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = free.local_addr().expect("address").port().to_string();
    drop(free);
    let mut healthcheck = command(folder.path(), &[("PORT", &port)]);
    healthcheck.arg("healthcheck");
    let (healthy, stderr) = stderr_of(healthcheck);
    assert!(!healthy);
    assert!(stderr.starts_with("error: unhealthy:"), "{stderr}");
}

#[tokio::test]
async fn json_log_lines_of_a_request_carry_its_request_id() {
    let folder = tempfile::tempdir().expect("folder");
    let (mut running, url, output) = start(
        folder.path(),
        &[("DATABASE_URL", "sqlite://app.db"), ("LOG_FORMAT", "json")],
    );
    let response = reqwest::get(format!("{url}/no/such/page"))
        .await
        .expect("GET");
    let id = response.headers()["x-request-id"]
        .to_str()
        .expect("ASCII")
        .to_owned();
    terminate(&mut running);

    let lines: Vec<String> = output.map(|line| line.expect("read stdout")).collect();
    let request_lines: Vec<&String> = lines.iter().filter(|line| line.contains(&id)).collect();
    assert!(
        !request_lines.is_empty(),
        "a log line with the request id {id}: {lines:#?}"
    );
    for line in request_lines {
        let entry: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("JSON ({e}): {line}"));
        assert_eq!(entry["span"]["id"], id.as_str(), "{line}");
    }
}

/// An emailed link's secret never reaches the logs: on the routes that
/// carry one, the request's log lines show the route, not the path.
#[tokio::test]
async fn secrets_in_emailed_links_are_not_logged() {
    let folder = tempfile::tempdir().expect("folder");
    let (mut running, url, output) = start(
        folder.path(),
        &[("DATABASE_URL", "sqlite://app.db"), ("LOG_FORMAT", "json")],
    );
    let secret = "Zm9vYmFyYmF6cXV4c2VjcmV0dG9rZW4";
    let tenant = uuid::Uuid::now_v7();
    let paths = [
        format!("/verify-email/{secret}"),
        format!("/reset-password/{secret}"),
        format!("/invitations/{tenant}/{secret}"),
    ];
    for path in &paths {
        let response = reqwest::get(format!("{url}{path}")).await.expect("GET");
        assert!(response.status().as_u16() < 500, "{path}");
    }
    // A route without a secret still logs its path, ids and all.
    reqwest::get(format!("{url}/no/such/page/{tenant}"))
        .await
        .expect("GET");
    terminate(&mut running);

    let lines: Vec<String> = output.map(|line| line.expect("read stdout")).collect();
    let leaked: Vec<&String> = lines.iter().filter(|line| line.contains(secret)).collect();
    assert!(leaked.is_empty(), "the secret is in the logs: {leaked:#?}");
    for route in [
        "/verify-email/{token}",
        "/reset-password/{token}",
        "/invitations/{tenant_id}/{token}",
    ] {
        assert!(
            lines.iter().any(|line| line.contains(route)),
            "{route} is logged: {lines:#?}"
        );
    }
    assert!(
        lines
            .iter()
            .any(|line| line.contains(&format!("/no/such/page/{tenant}")))
    );
}

backend_test!(the_tenants_command_lists_every_tenant_and_records_why);
async fn the_tenants_command_lists_every_tenant_and_records_why(backend: Backend) {
    run_on(backend, |app| async move {
        let database = TestDatabase::create(app.backend()).await;
        let config = app::config::Config::from_lookup(|name| {
            (name == "DATABASE_URL").then(|| database.url().to_owned())
        })
        .expect("config");
        let db = app::cli::connect_and_migrate(&config)
            .await
            .expect("migrate");
        crate::fixtures::TenantFixture::create(&db, "alpha").await;
        crate::fixtures::TenantFixture::create(&db, "bravo").await;
        let folder = tempfile::tempdir().expect("folder");

        let mut without_reason = command(folder.path(), &[("DATABASE_URL", database.url())]);
        without_reason.args(["tenants", "--reason", "  "]);
        let (succeeded, stderr) = stderr_of(without_reason);
        assert!(!succeeded);
        assert!(stderr.contains("a reason is required"), "{stderr}");

        let mut list = command(
            folder.path(),
            &[("DATABASE_URL", database.url()), ("USER", "ops")],
        );
        list.args(["tenants", "--reason", "support ticket 42"]);
        let output = list.output().expect("run tenants");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let stdout = String::from_utf8_lossy(&output.stdout);
        let line = stdout
            .lines()
            .find(|l| l.contains(" alpha "))
            .expect("alpha listed");
        assert!(
            line.contains("      4          2  alpha Ltd"),
            "members and locations: {line}"
        );
        assert!(stdout.contains(" bravo "));

        let audit: Vec<(String, String)> = app::on_backend!(&db, |pool| sqlx::query_as(
            "SELECT actor, reason FROM super_admin_audit"
        )
        .fetch_all(pool)
        .await
        .expect("audit"));
        assert_eq!(
            audit,
            [("cli:ops".to_owned(), "support ticket 42".to_owned())]
        );
        db.close().await;
        database.drop().await;
    })
    .await;
}

backend_test!(create_superadmin_grants_the_flag_to_an_existing_account_only);
async fn create_superadmin_grants_the_flag_to_an_existing_account_only(backend: Backend) {
    run_on(backend, |app| async move {
        let user = crate::fixtures::user(&app.db, "ops@example.com").await;
        let url = app.database_url.clone();
        let folder = tempfile::tempdir().expect("folder");
        let mut unknown = command(folder.path(), &[("DATABASE_URL", &url)]);
        unknown.args(["create-superadmin", "nobody@example.com"]);
        let (succeeded, stderr) = stderr_of(unknown);
        assert!(!succeeded);
        assert!(stderr.contains("sign up with it first"), "{stderr}");

        // Not before the account has a second factor: a super-admin's
        // password alone must never open the panel.
        let mut without = command(folder.path(), &[("DATABASE_URL", &url)]);
        without.args(["create-superadmin", "ops@example.com"]);
        let (succeeded, stderr) = stderr_of(without);
        assert!(!succeeded);
        assert!(
            stderr.contains("has no two-factor authentication"),
            "{stderr}"
        );
        app.execute("UPDATE users SET totp_secret = 'enrolled' WHERE email = 'ops@example.com'")
            .await;

        let mut grant = command(folder.path(), &[("DATABASE_URL", &url)]);
        grant.args(["create-superadmin", " OPS@example.com"]);
        let output = grant.output().expect("run create-superadmin");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let flag: bool = app::on_backend!(&app.db, |pool| sqlx::query_scalar(
            "SELECT is_super_admin FROM users WHERE id = $1"
        )
        .bind(user)
        .fetch_one(pool)
        .await
        .expect("the flag"));
        assert!(flag);
    })
    .await;
}
