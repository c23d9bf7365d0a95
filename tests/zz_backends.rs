//! Runs after the other test targets (cargo runs them by name) and says, as
//! the last word of `cargo test`, which databases the integration tests ran
//! on. With CI=true, a missing PostgreSQL is a failure.

use std::process::ExitCode;
use std::time::Duration;

const DEFAULT_TEST_DATABASE_URL: &str = "postgres://app_test:app_test@127.0.0.1:5432/postgres";

fn main() -> ExitCode {
    let url =
        std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_TEST_DATABASE_URL.to_owned());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let reachable = runtime.block_on(async {
        let options = url.parse::<sqlx::postgres::PgConnectOptions>().ok()?;
        sqlx::postgres::PgPoolOptions::new()
            .acquire_timeout(Duration::from_secs(3))
            .connect_with(options)
            .await
            .ok()
    });
    if url == "skip" {
        println!(
            "\nDatabases: the integration tests ran on SQLite only (TEST_DATABASE_URL=skip).\n"
        );
        return ExitCode::SUCCESS;
    }
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    match reachable {
        Some(_) => {
            println!("\nDatabases: every integration test ran on SQLite and on PostgreSQL.\n");
            ExitCode::SUCCESS
        }
        None if ci => {
            println!(
                "\nDatabases: PostgreSQL is NOT reachable at TEST_DATABASE_URL, and CI=true requires it.\n"
            );
            ExitCode::FAILURE
        }
        None => {
            println!(
                "\nDatabases: PostgreSQL is not reachable at TEST_DATABASE_URL, so the integration tests ran on \
                 SQLite ONLY.\nStart PostgreSQL (see docs/testing.md) to run them on both.\n"
            );
            ExitCode::SUCCESS
        }
    }
}
