//! Migrations are plain SQL files under `migrations/<backend>/`, embedded into
//! the binary by build.rs and applied in order with sqlx's migrator (which
//! records them in `_sqlx_migrations` and refuses a changed file).

use std::borrow::Cow;

use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};

use super::Db;

struct EmbeddedMigration {
    version: i64,
    description: &'static str,
    sql: &'static str,
}

include!(concat!(env!("OUT_DIR"), "/migrations.rs"));

fn migrator(files: &[EmbeddedMigration]) -> Migrator {
    Migrator::with_migrations(
        files
            .iter()
            .map(|file| {
                Migration::new(
                    file.version,
                    Cow::Borrowed(file.description),
                    MigrationType::Simple,
                    file.sql.into_sql_str(),
                    false,
                )
            })
            .collect(),
    )
}

/// Applies every migration not yet applied.
///
/// # Errors
/// When a migration fails (it is rolled back) or an applied one was edited.
pub async fn migrate(db: &Db) -> Result<(), sqlx::migrate::MigrateError> {
    match db {
        Db::Sqlite(pool) => migrator(SQLITE).run(pool).await,
        Db::Postgres(postgres) => migrator(POSTGRES).run(&postgres.pool).await,
    }
}

/// Applies the migrations up to and including `version`, and no later one:
/// a database at an earlier release's schema (the Citus tests apply the
/// newest migration to a database distributed before it).
///
/// # Errors
/// As [`migrate`].
pub async fn migrate_to(db: &Db, version: i64) -> Result<(), sqlx::migrate::MigrateError> {
    match db {
        Db::Sqlite(pool) => migrator(SQLITE).run_to(version, pool).await,
        Db::Postgres(postgres) => migrator(POSTGRES).run_to(version, &postgres.pool).await,
    }
}

/// The versions of the migrations of `backend`, oldest first.
pub fn versions(backend: super::Backend) -> Vec<i64> {
    let files = match backend {
        super::Backend::Sqlite => SQLITE,
        super::Backend::Postgres => POSTGRES,
    };
    files.iter().map(|file| file.version).collect()
}
