//! Scopes: the only way to tenant-owned data. A scope is one database
//! transaction bound to one tenant (or, for the tenant switcher, to one user's
//! own memberships); repository functions take it and filter by its tenant.
//!
//! On PostgreSQL the binding is also enforced by Row-Level Security: the scope
//! opens with one simple-query string (one round trip)
//!
//! ```sql
//! BEGIN; SET LOCAL citus.propagate_set_commands = 'local';
//! SET LOCAL ROLE app_tenant; SET LOCAL app.tenant_id = '<uuid>'
//! ```
//!
//! SET LOCAL ends with the transaction, so nothing is left on a pooled
//! connection (a session-level SET would leak to the next request), and unlike
//! `set_config(…, true)` Citus carries it to its workers. The role switch
//! happens only when the app's database user could bypass RLS (a superuser or
//! BYPASSRLS role); an ordinary owner is bound by FORCE ROW LEVEL SECURITY
//! alone. On SQLite the application's filters are the only layer.

use std::fmt::Write as _;

use sqlx::AssertSqlSafe;

use crate::db::{Db, Postgres};
use crate::ids::{TenantId, UserId};

/// The NOLOGIN, NOBYPASSRLS role that scopes switch to (created by the first
/// migration where the app's user may create roles).
pub const SCOPE_ROLE: &str = "app_tenant";

/// Runs `$body` with `$conn` bound to the connection of a scope's
/// transaction (`scope.tx()`), compiled once per backend like `on_backend!`.
#[macro_export]
macro_rules! on_tx {
    ($tx:expr, |$conn:ident| $body:expr) => {
        match $tx {
            $crate::tenancy::scope::Tx::Sqlite(tx) => {
                let $conn = &mut **tx;
                $body
            }
            $crate::tenancy::scope::Tx::Postgres(tx) => {
                let $conn = &mut **tx;
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
    /// are never reached this way: they go through [`for_tenant`].
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

/// Whether a scope will write. SQLite takes its write lock up front for a
/// writing scope (`BEGIN IMMEDIATE`: a deferred transaction that later writes
/// fails with "database is locked" under concurrency); PostgreSQL runs a
/// reading scope `READ ONLY`, so a GET can't change data even by mistake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Intent {
    Read,
    Write,
}

/// Why a scope could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ScopeError {
    /// The request or job has no tenant: never all rows, never silently none.
    #[error("this needs a tenant, and none was given")]
    NoTenant,
    /// The role scopes would run as can bypass Row-Level Security.
    #[error("{0}")]
    BypassesRls(String),
    /// `all_tenants_unsafe` without a reason for the audit log.
    #[error("a reason is required to reach every tenant's data")]
    MissingReason,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// A transaction bound to one tenant.
pub struct TenantScope {
    tenant: TenantId,
    tx: Tx,
}

/// Opens a scope bound to `tenant`. `None` (a request or job without a
/// tenant) is [`ScopeError::NoTenant`].
///
/// # Errors
/// No tenant, no connection, or (PostgreSQL) a role that bypasses RLS.
pub async fn for_tenant(
    db: &Db,
    tenant: impl Into<Option<TenantId>>,
    intent: Intent,
) -> Result<TenantScope, ScopeError> {
    let tenant = tenant.into().ok_or(ScopeError::NoTenant)?;
    let tx = begin(db, Binding::Tenant(tenant), intent).await?;
    Ok(TenantScope { tenant, tx })
}

impl TenantScope {
    pub fn tenant_id(&self) -> TenantId {
        self.tenant
    }

    /// The transaction, for repository functions (through `on_tx!`).
    pub fn tx(&mut self) -> &mut Tx {
        &mut self.tx
    }

    /// Dropping a scope rolls it back; writes must be committed.
    ///
    /// # Errors
    /// When the commit fails (nothing was written).
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }
}

/// A read-only transaction that sees one user's own memberships, in every
/// tenant, and no other tenant-owned rows: for the tenant switcher.
pub struct UserScope {
    user: UserId,
    tx: Tx,
}

/// Opens a [`UserScope`] for `user`.
///
/// # Errors
/// No connection, or (PostgreSQL) a role that bypasses RLS.
pub async fn for_user(db: &Db, user: UserId) -> Result<UserScope, ScopeError> {
    let tx = begin(db, Binding::User(user), Intent::Read).await?;
    Ok(UserScope { user, tx })
}

impl UserScope {
    pub fn user_id(&self) -> UserId {
        self.user
    }

    pub fn tx(&mut self) -> &mut Tx {
        &mut self.tx
    }
}

/// What a transaction is bound to, on PostgreSQL a transaction-local setting
/// that the policies of migrations/postgres/0002_tenancy.sql read.
pub(super) enum Binding {
    Tenant(TenantId),
    User(UserId),
    /// Only through `all_tenants_unsafe`, which audits it first.
    AllTenants,
}

/// Opens the transaction. The BEGIN runs to completion in a task of its
/// own: a request dropped half-way (its client gone, a timeout) would
/// otherwise abandon sqlx's begin after the server started the transaction
/// but before sqlx counted it, and the connection would go back to the pool
/// inside it, with the scope's role and tenant still set (seen under load, and
/// in tests/app/concurrency.rs). Once counted, dropping rolls it back.
pub(super) async fn begin(db: &Db, binding: Binding, intent: Intent) -> Result<Tx, ScopeError> {
    let opened = match db {
        Db::Sqlite(pool) => {
            let begin = match intent {
                Intent::Read => "BEGIN",
                Intent::Write => "BEGIN IMMEDIATE",
            };
            let pool = pool.clone();
            tokio::spawn(async move { pool.begin_with(begin).await.map(Tx::Sqlite) }).await
        }
        Db::Postgres(postgres) => {
            let role = scope_role(postgres).await?;
            let sql = postgres_begin(role, &binding, intent);
            let pool = postgres.pool.clone();
            tokio::spawn(async move { pool.begin_with(AssertSqlSafe(sql)).await.map(Tx::Postgres) })
                .await
        }
    };
    let tx = opened.map_err(|e| ScopeError::Database(sqlx::Error::Io(std::io::Error::other(e))))?;
    Ok(tx?)
}

/// The statement that opens a scope. Its only variable parts are typed ids
/// (UUIDs), never text from a request.
fn postgres_begin(role: ScopeRole, binding: &Binding, intent: Intent) -> String {
    let mut sql = String::from(match intent {
        Intent::Read => "BEGIN READ ONLY",
        Intent::Write => "BEGIN",
    });
    // First, so that Citus carries the settings below to its workers; plain
    // PostgreSQL keeps it as a harmless placeholder.
    sql.push_str("; SET LOCAL citus.propagate_set_commands = 'local'");
    if role == ScopeRole::Switch {
        let _ = write!(sql, "; SET LOCAL ROLE {SCOPE_ROLE}");
    }
    let _ = match binding {
        Binding::Tenant(tenant) => write!(sql, "; SET LOCAL app.tenant_id = '{tenant}'"),
        Binding::User(user) => write!(sql, "; SET LOCAL app.user_id = '{user}'"),
        Binding::AllTenants => write!(sql, "; SET LOCAL app.all_tenants = 'on'"),
    };
    sql
}

/// Which role a PostgreSQL scope runs as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScopeRole {
    /// The app's own user: it can't bypass RLS, so FORCE binds it.
    Connecting,
    /// `SET LOCAL ROLE app_tenant`: the app's user could bypass RLS.
    Switch,
}

/// Checks once per pool that scopes will be bound by Row-Level Security, and
/// remembers how. Start-up calls it, so an unsafe set-up stops the app
/// before it serves a request.
///
/// # Errors
/// A message naming the problem and its fix, or a database error.
pub async fn check_isolation(db: &Db) -> Result<(), ScopeError> {
    match db {
        Db::Sqlite(_) => Ok(()),
        Db::Postgres(postgres) => scope_role(postgres).await.map(drop),
    }
}

async fn scope_role(postgres: &Postgres) -> Result<ScopeRole, ScopeError> {
    postgres
        .scope_role
        .get_or_try_init(|| decide_scope_role(&postgres.pool))
        .await
        .copied()
}

async fn decide_scope_role(pool: &sqlx::PgPool) -> Result<ScopeRole, ScopeError> {
    let (user, bypasses, scope_role_bypasses, can_switch): (String, bool, Option<bool>, Option<bool>) =
        sqlx::query_as(
            "SELECT me.rolname::text, me.rolsuper OR me.rolbypassrls, \
                    scope.rolsuper OR scope.rolbypassrls, \
                    CASE WHEN scope.oid IS NULL THEN NULL ELSE pg_has_role(current_user, scope.oid, 'MEMBER') END \
             FROM pg_roles me LEFT JOIN pg_roles scope ON scope.rolname = $1 \
             WHERE me.rolname = current_user",
        )
        .bind(SCOPE_ROLE)
        .fetch_one(pool)
        .await?;
    if !bypasses {
        return Ok(ScopeRole::Connecting);
    }
    let refuse = |problem: String| {
        ScopeError::BypassesRls(format!(
            "refusing to start: DATABASE_URL's user \"{user}\" bypasses Row-Level Security \
             (SUPERUSER or BYPASSRLS), so tenant scopes must switch to the role {SCOPE_ROLE}, but {problem}"
        ))
    };
    match (scope_role_bypasses, can_switch) {
        (None, _) => Err(refuse(format!(
            "{SCOPE_ROLE} does not exist. Run `migrate` as this user (it creates the role), \
             or connect as an ordinary, non-superuser owner."
        ))),
        (Some(true), _) => Err(refuse(format!(
            "{SCOPE_ROLE} can bypass it too. Run ALTER ROLE {SCOPE_ROLE} NOSUPERUSER NOBYPASSRLS."
        ))),
        (Some(false), Some(false) | None) => Err(refuse(format!(
            "\"{user}\" is not a member of {SCOPE_ROLE}. Run GRANT {SCOPE_ROLE} TO \"{user}\"."
        ))),
        (Some(false), Some(true)) => Ok(ScopeRole::Switch),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scope_opens_with_one_statement_that_binds_role_and_tenant() {
        let tenant: TenantId = "0190a8a4-1b2c-7d3e-8f40-5a6b7c8d9e0f".parse().unwrap();
        assert_eq!(
            postgres_begin(ScopeRole::Switch, &Binding::Tenant(tenant), Intent::Write),
            "BEGIN; SET LOCAL citus.propagate_set_commands = 'local'; SET LOCAL ROLE app_tenant; \
             SET LOCAL app.tenant_id = '0190a8a4-1b2c-7d3e-8f40-5a6b7c8d9e0f'"
        );
        assert_eq!(
            postgres_begin(ScopeRole::Connecting, &Binding::AllTenants, Intent::Read),
            "BEGIN READ ONLY; SET LOCAL citus.propagate_set_commands = 'local'; SET LOCAL app.all_tenants = 'on'"
        );
    }
}
