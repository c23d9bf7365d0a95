//! Scopes: the only way to tenant-owned data. A scope is one database
//! transaction bound to one tenant (or, for the tenant switcher, to one user's
//! own memberships); repository functions take it and filter by its tenant.
//!
//! On PostgreSQL the binding is also enforced by Row-Level Security: the scope
//! opens with one simple-query string (one round trip)
//!
//! ```sql
//! SET LOCAL citus.propagate_set_commands = 'local';
//! SET LOCAL ROLE app_tenant; SET LOCAL app.tenant_id = '<uuid>'; BEGIN
//! ```
//!
//! SET LOCAL ends with the transaction, so nothing is left on a pooled
//! connection (a session-level SET would leak to the next request), and unlike
//! `set_config(…, true)` Citus carries it to its workers. The settings come
//! before the BEGIN: PostgreSQL runs a multi-statement string in one implicit
//! transaction, which the final BEGIN makes explicit, settings and all; if a
//! setting is refused, that implicit transaction ends with the error and the
//! connection is left as it was. (With BEGIN first, the refusal would leave
//! it inside a failed transaction that sqlx doesn't know it opened, and every
//! later use of that pooled connection would fail.) The role switch
//! happens only when the app's database user could bypass RLS (a superuser or
//! BYPASSRLS role); an ordinary owner is bound by FORCE ROW LEVEL SECURITY
//! alone. On SQLite the application's filters are the only layer.

use std::fmt::Write as _;

use sqlx::AssertSqlSafe;

use crate::db::scope_role::{SCOPE_ROLE, ScopeRole, UnsafeSetup, scope_role};
use crate::db::{Db, Tx};
use crate::error::AppError;
use crate::ids::{TenantId, UserId};

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

impl From<ScopeError> for AppError {
    fn from(error: ScopeError) -> Self {
        match error {
            ScopeError::NoTenant => Self::NoTenant,
            ScopeError::Database(e) => Self::Database(e),
            ScopeError::BypassesRls(_) | ScopeError::MissingReason => {
                Self::Internal(error.to_string())
            }
        }
    }
}

impl From<UnsafeSetup> for ScopeError {
    fn from(error: UnsafeSetup) -> Self {
        match error {
            UnsafeSetup::BypassesRls(message) => Self::BypassesRls(message),
            UnsafeSetup::Database(error) => Self::Database(error),
        }
    }
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
    let tx = begin(db, Binding::Tenant(tenant, None), intent).await?;
    Ok(TenantScope { tenant, tx })
}

/// Opens a scope bound to `tenant` that may also read one session, the
/// request's (`session_id`, its cookie's secret), through the
/// `current_session` view on PostgreSQL: for the door that checks the
/// session and the membership in the scope's own transaction. An id with
/// other characters than a session id's (base64url) names no session.
///
/// # Errors
/// As [`for_tenant`].
pub async fn for_tenant_reading_session(
    db: &Db,
    tenant: TenantId,
    session_id: &str,
    intent: Intent,
) -> Result<TenantScope, ScopeError> {
    let tx = begin(
        db,
        Binding::Tenant(tenant, session_literal(session_id)),
        intent,
    )
    .await?;
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

/// `session_id` if it has only a session id's characters (base64url, as
/// tower-sessions writes them), so it can stand in the scope's statement.
fn session_literal(session_id: &str) -> Option<String> {
    let is_session_id = !session_id.is_empty()
        && session_id.len() <= 64
        && session_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    is_session_id.then(|| session_id.to_owned())
}

/// What a transaction is bound to, on PostgreSQL a transaction-local setting
/// that the policies of migrations/postgres/0002_tenancy.sql read.
pub(super) enum Binding {
    /// A tenant, and the session its scope may read (checked to be a
    /// session id's characters only: it is written into the statement).
    Tenant(TenantId, Option<String>),
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

/// The statement that opens a scope: its settings, then BEGIN (see the
/// module's comment for why in that order). Its only variable parts are
/// typed ids (UUIDs), never text from a request.
fn postgres_begin(role: ScopeRole, binding: &Binding, intent: Intent) -> String {
    let mut sql = String::new();
    // Before Citus is told to carry settings to its workers: a session id
    // is a credential, read only on the coordinator.
    if let Binding::Tenant(_, Some(session)) = binding {
        let _ = write!(sql, "SET LOCAL app.session_id = '{session}'; ");
    }
    // So that Citus carries the settings below to its workers; plain
    // PostgreSQL keeps it as a harmless placeholder.
    sql.push_str("SET LOCAL citus.propagate_set_commands = 'local'");
    if role == ScopeRole::Switch {
        let _ = write!(sql, "; SET LOCAL ROLE {SCOPE_ROLE}");
    }
    let _ = match binding {
        Binding::Tenant(tenant, _) => write!(sql, "; SET LOCAL app.tenant_id = '{tenant}'"),
        Binding::User(user) => write!(sql, "; SET LOCAL app.user_id = '{user}'"),
        Binding::AllTenants => write!(sql, "; SET LOCAL app.all_tenants = 'on'"),
    };
    sql.push_str(match intent {
        Intent::Read => "; BEGIN READ ONLY",
        Intent::Write => "; BEGIN",
    });
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scope_opens_with_one_statement_that_binds_role_and_tenant() {
        let tenant: TenantId = "0190a8a4-1b2c-7d3e-8f40-5a6b7c8d9e0f".parse().unwrap();
        assert_eq!(
            postgres_begin(
                ScopeRole::Switch,
                &Binding::Tenant(tenant, None),
                Intent::Write
            ),
            "SET LOCAL citus.propagate_set_commands = 'local'; SET LOCAL ROLE app_tenant; \
             SET LOCAL app.tenant_id = '0190a8a4-1b2c-7d3e-8f40-5a6b7c8d9e0f'; BEGIN"
        );
        let session = session_literal("Abc-123_xyz");
        assert_eq!(
            postgres_begin(
                ScopeRole::Switch,
                &Binding::Tenant(tenant, session),
                Intent::Read
            ),
            "SET LOCAL app.session_id = 'Abc-123_xyz'; \
             SET LOCAL citus.propagate_set_commands = 'local'; SET LOCAL ROLE app_tenant; \
             SET LOCAL app.tenant_id = '0190a8a4-1b2c-7d3e-8f40-5a6b7c8d9e0f'; BEGIN READ ONLY"
        );
        for not_an_id in ["", "x'; RESET ROLE; --", "a b", &"a".repeat(65)] {
            assert_eq!(session_literal(not_an_id), None, "{not_an_id}");
        }
        assert_eq!(
            postgres_begin(ScopeRole::Connecting, &Binding::AllTenants, Intent::Read),
            "SET LOCAL citus.propagate_set_commands = 'local'; SET LOCAL app.all_tenants = 'on'; BEGIN READ ONLY"
        );
    }
}
