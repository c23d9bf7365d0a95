//! An open transaction on either backend, and [`on_tx!`](crate::on_tx) to
//! run a query on it. Tenant scopes (`tenancy::scope`) hold one; so does
//! key rotation, the one walker of global tables by catalog.

use super::Db;

/// Runs `$body` with `$conn` bound to the connection of a scope's
/// transaction (`scope.tx()`), compiled once per backend like `on_backend!`.
#[macro_export]
macro_rules! on_tx {
    ($tx:expr, |$conn:ident| $body:expr) => {
        match $tx {
            $crate::db::Tx::Sqlite(tx) => {
                let $conn = &mut **tx;
                $body
            }
            $crate::db::Tx::Postgres(tx) => {
                let $conn = &mut **tx;
                $body
            }
        }
    };
}

/// Runs `$body` like [`on_tx!`](crate::on_tx), with `$sql` bound to the
/// statement that `$statement!` gives for this backend's row lock, for a
/// read whose rows a change will depend on. PostgreSQL gets
/// `$statement!($lock)` (`" FOR UPDATE"`: the rows stay locked until the
/// transaction ends); SQLite gets `$statement!("")`, since it has no row
/// locks and needs none (a writing scope holds the database's write lock
/// from its `BEGIN IMMEDIATE`). `$statement` is a local macro of the lock
/// clause, so each backend's statement is one literal:
///
/// ```ignore
/// macro_rules! owners {
///     ($lock:literal) => { concat!("SELECT id FROM memberships WHERE tenant_id = $1", $lock) };
/// }
/// let ids: Vec<Owner> = on_tx_locking!(scope.tx(), owners!(" FOR UPDATE"), |conn, sql| {
///     sqlx::query_as(sql).bind(tenant).fetch_all(conn).await
/// })?;
/// ```
#[macro_export]
macro_rules! on_tx_locking {
    ($tx:expr, $statement:ident!($lock:literal), |$conn:ident, $sql:ident| $body:expr) => {
        match $tx {
            $crate::db::Tx::Sqlite(tx) => {
                let $conn = &mut **tx;
                let $sql = $statement!("");
                $body
            }
            $crate::db::Tx::Postgres(tx) => {
                let $conn = &mut **tx;
                let $sql = $statement!($lock);
                $body
            }
        }
    };
}

/// An open transaction on either backend.
pub enum Tx {
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

impl Tx {
    /// A transaction outside any tenant, for code that walks global tables
    /// it doesn't know by name (key rotation). Tenant rows
    /// are never reached this way: they go through
    /// `tenancy::scope::for_tenant`.
    ///
    /// # Errors
    /// When no connection can be had.
    pub(crate) async fn global(db: &Db) -> Result<Self, sqlx::Error> {
        Ok(match db {
            Db::Sqlite(pool) => Self::Sqlite(pool.begin().await?),
            Db::Postgres(postgres) => Self::Postgres(postgres.pool.begin().await?),
        })
    }

    pub(crate) async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            Self::Sqlite(tx) => tx.commit().await,
            Self::Postgres(tx) => tx.commit().await,
        }
    }
}
