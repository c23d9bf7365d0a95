//! The database: one code base, two backends, chosen at run time by
//! `DATABASE_URL`. SQLite is the zero-set-up default; PostgreSQL is for
//! production (and, from the tenancy layer on, enforces Row-Level Security).
//!
//! Queries are written once and run on either pool through [`on_backend!`],
//! which type-checks the body for each backend. SQL text is shared where the
//! dialects agree (SQLite accepts `$1` placeholders too).

pub mod citus;
mod migrations;
pub mod row;
pub mod schema;
pub mod scope_role;
mod tx;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::Connection as _;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use tokio::sync::OnceCell;

use scope_role::ScopeSetup;

/// A pooled PostgreSQL connection that sat idle this long is pinged before
/// use: a server restart or a proxy's idle timeout may have closed it. A busy
/// one (back in the pool moments ago, pinged by the pool as it came back)
/// isn't: sqlx's default pings on every acquire, two round trips per tenant
/// request that cost 6% of its throughput (docs/measured.md).
const IDLE_BEFORE_PING: Duration = Duration::from_secs(1);

pub use migrations::{migrate, migrate_to, versions as migration_versions};
pub use tx::Tx;

/// An optional filter of a query on parameter `param`: `condition` when a
/// value is bound, `param IS NULL` (always true then) when none is. Written
/// per case, not as `(param IS NULL OR condition)`: that `OR` keeps SQLite
/// (and PostgreSQL's generic plans) from using an index for `condition`, so
/// one person's rows were found by scanning the whole tenant's.
pub fn optional_filter(condition: &str, param: &str, bound: bool) -> String {
    if bound {
        condition.to_owned()
    } else {
        format!("{param} IS NULL")
    }
}

/// Runs `$body` with `$pool` bound to whichever pool `$db` holds. The body is
/// compiled once per backend, so each gets its own driver types.
#[macro_export]
macro_rules! on_backend {
    ($db:expr, |$pool:ident| $body:expr) => {
        match $db {
            $crate::db::Db::Sqlite($pool) => $body,
            $crate::db::Db::Postgres(postgres) => {
                let $pool = &postgres.pool;
                $body
            }
        }
    };
}

/// [`on_tx_locking!`](crate::on_tx_locking) for a statement run on the
/// pool, outside any scope (the job queue's claim: `" FOR UPDATE SKIP
/// LOCKED"` on PostgreSQL; one SQLite statement holds the write lock).
#[macro_export]
macro_rules! on_backend_locking {
    ($db:expr, $statement:ident!($lock:literal), |$pool:ident, $sql:ident| $body:expr) => {
        match $db {
            $crate::db::Db::Sqlite($pool) => {
                let $sql = $statement!("");
                $body
            }
            $crate::db::Db::Postgres(postgres) => {
                let $pool = &postgres.pool;
                let $sql = $statement!($lock);
                $body
            }
        }
    };
}

/// A parsed, validated `DATABASE_URL`.
#[derive(Clone)]
pub enum DatabaseUrl {
    Sqlite(SqliteConnectOptions),
    Postgres(PgConnectOptions),
}

impl DatabaseUrl {
    pub fn backend(&self) -> Backend {
        match self {
            Self::Sqlite(_) => Backend::Sqlite,
            Self::Postgres(_) => Backend::Postgres,
        }
    }
}

/// Names the backend only: the URL may hold a password.
impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DatabaseUrl({})", self.backend().name())
    }
}

impl FromStr for DatabaseUrl {
    type Err = String;

    fn from_str(url: &str) -> Result<Self, Self::Err> {
        let scheme = url
            .split_once(':')
            .map(|(scheme, _)| scheme)
            .unwrap_or_default();
        match scheme {
            "sqlite" => SqliteConnectOptions::from_str(url)
                .map(|options| Self::Sqlite(options.create_if_missing(true)))
                .map_err(|e| e.to_string()),
            "postgres" | "postgresql" => PgConnectOptions::from_str(url)
                .map(Self::Postgres)
                .map_err(|e| e.to_string()),
            _ => Err("expected a URL starting with sqlite:// or postgres://".to_owned()),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

/// A connection pool on one of the two backends.
#[derive(Clone, Debug)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(Postgres),
}

/// The PostgreSQL pool, and how tenant scopes open on it (decided once, on
/// first use: see [`scope_role`]).
#[derive(Clone, Debug)]
pub struct Postgres {
    pub pool: PgPool,
    pub(crate) scope_setup: Arc<OnceCell<ScopeSetup>>,
}

impl Db {
    /// Connects, creating the SQLite file (and its folder) on first use.
    ///
    /// # Errors
    /// When the database can't be reached or the SQLite folder can't be created.
    pub async fn connect(url: &DatabaseUrl, pool_size: u32) -> Result<Self, sqlx::Error> {
        match url {
            DatabaseUrl::Sqlite(options) => {
                if let Some(folder) = options
                    .get_filename()
                    .parent()
                    .filter(|p| !p.as_os_str().is_empty())
                {
                    std::fs::create_dir_all(folder)?;
                }
                // WAL lets readers proceed during a write; the busy timeout makes
                // a second writer wait instead of failing with "database is locked".
                let options = options
                    .clone()
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(5))
                    .foreign_keys(true);
                let pool = SqlitePoolOptions::new()
                    .max_connections(pool_size)
                    .connect_with(options)
                    .await?;
                Ok(Self::Sqlite(pool))
            }
            DatabaseUrl::Postgres(options) => {
                let pool = PgPoolOptions::new()
                    .max_connections(pool_size)
                    .acquire_timeout(Duration::from_secs(5))
                    .test_before_acquire(false)
                    .before_acquire(|connection, meta| {
                        Box::pin(async move {
                            if meta.idle_for >= IDLE_BEFORE_PING {
                                connection.ping().await?;
                            }
                            Ok(true)
                        })
                    })
                    .connect_with(options.clone())
                    .await?;
                Ok(Self::Postgres(Postgres {
                    pool,
                    scope_setup: Arc::default(),
                }))
            }
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            Self::Sqlite(_) => Backend::Sqlite,
            Self::Postgres(_) => Backend::Postgres,
        }
    }

    /// A cheap round trip, for the health check.
    ///
    /// # Errors
    /// When no connection can be had or the query fails.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        on_backend!(self, |pool| sqlx::query("SELECT 1")
            .execute(pool)
            .await
            .map(drop))
    }

    /// Connections open and idle, for the metrics endpoint.
    pub fn pool_usage(&self) -> PoolUsage {
        on_backend!(self, |pool| PoolUsage {
            open: pool.size(),
            idle: u32::try_from(pool.num_idle()).unwrap_or(u32::MAX),
            max: pool.options().get_max_connections(),
        })
    }

    pub async fn close(&self) {
        on_backend!(self, |pool| pool.close().await);
    }
}

#[derive(Clone, Copy, Debug)]
pub struct PoolUsage {
    pub open: u32,
    pub idle: u32,
    pub max: u32,
}
