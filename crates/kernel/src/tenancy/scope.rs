//! Scopes: the only way to tenant-owned data. A scope is one database
//! transaction bound to one tenant (or, for the tenant switcher, to one user's
//! own memberships); repository functions take it and filter by its tenant.
//!
//! On PostgreSQL the binding is also enforced by Row-Level Security: the scope
//! opens with one simple-query string (one round trip)
//!
//! ```sql
//! BEGIN; SELECT set_config('role', 'app_tenant', true),
//!               set_config('app.tenant_id', '<uuid>', true)
//! ```
//!
//! Transaction-local settings end with the transaction, so nothing is left on
//! a pooled connection (a session-level SET would leak to the next request).
//! One SELECT of `set_config` calls costs the server a third less than the
//! same settings as SET LOCAL statements, one per setting; but Citus carries
//! only SET LOCAL statements to its workers, and carries each as the text of
//! the whole statement it came in. So on a Citus coordinator the scope opens
//! with two: `BEGIN; SELECT set_config(…)` of the coordinator's own settings
//! (the session id, a credential, and `citus.multi_shard_modify_mode`), then
//! `SET LOCAL citus.propagate_set_commands = 'local'; SET LOCAL role =
//! 'app_tenant'; SET LOCAL app.tenant_id = '<uuid>'`, which the workers get.
//! If a setting is refused, the transaction is left failed; sqlx (0.9.1 and later) counts it as open
//! before the round trip, so the failed BEGIN rolls it back and the pooled
//! connection stays usable. The role switch
//! happens only when the app's database user could bypass RLS (a superuser or
//! BYPASSRLS role); an ordinary owner is bound by FORCE ROW LEVEL SECURITY
//! alone. On SQLite the application's filters are the only layer.

use std::fmt::Write as _;

use sqlx::AssertSqlSafe;

use crate::db::scope_role::{SCOPE_ROLE, ScopeRole, ScopeSetup, UnsafeSetup, scope_setup};
use crate::db::{Db, Tx};
use crate::error::AppError;
use crate::ids::{TenantId, UserId};
use crate::sessions::LiveBounds;

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
    let tx = begin(db, Binding::Tenant(tenant, None, None), intent).await?;
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
        Binding::Tenant(tenant, session_literal(session_id), None),
        intent,
    )
    .await?;
    Ok(TenantScope { tenant, tx })
}

/// The row versions a door read for a session in a tenant: where the
/// session's and the membership's rows were (PostgreSQL's `ctid`) and which
/// transactions wrote the session, the tenant and the membership as they
/// were (`xmin`). What `access`'s memory checks a later request against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowVersions {
    session_row: String,
    session: i64,
    tenant: i64,
    membership_row: String,
    membership: i64,
}

impl RowVersions {
    /// `None` unless both rows are `ctid`s as PostgreSQL writes them,
    /// `(block,offset)`: they are written into the opening statement.
    pub fn new(
        session_row: &str,
        session: i64,
        tenant: i64,
        membership_row: &str,
        membership: i64,
    ) -> Option<Self> {
        let is_tid = |text: &str| {
            text.strip_prefix('(')
                .and_then(|rest| rest.strip_suffix(')'))
                .and_then(|pair| pair.split_once(','))
                .is_some_and(|(block, offset)| {
                    [block, offset].iter().all(|number| {
                        !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit())
                    })
                })
        };
        (is_tid(session_row) && is_tid(membership_row)).then(|| Self {
            session_row: session_row.to_owned(),
            session,
            tenant,
            membership_row: membership_row.to_owned(),
            membership,
        })
    }
}

/// The door's check in a scope's opening statement: the rows are still
/// `versions`, and the session still live at `bounds`.
#[derive(Clone, Debug)]
pub(super) struct Unchanged {
    versions: RowVersions,
    bounds: LiveBounds,
}

/// A scope bound to `tenant`, opened only if the session, the tenant and the
/// membership a door read are still the live row versions and the session
/// still live, checked in the scope's opening statement (`door_unchanged`,
/// migrations/postgres/0026_door_memory.sql); the scope may not read the
/// session. `None` when anything changed, and on SQLite and Citus, where
/// nothing is checked this way (on Citus a row's `xmin` and `ctid` are its
/// placement's, which a shard move changes).
///
/// # Errors
/// As [`for_tenant`].
pub async fn for_tenant_if_unchanged(
    db: &Db,
    tenant: TenantId,
    versions: RowVersions,
    bounds: LiveBounds,
    intent: Intent,
) -> Result<Option<TenantScope>, ScopeError> {
    let Db::Postgres(postgres) = db else {
        return Ok(None);
    };
    if scope_setup(postgres).await?.citus {
        return Ok(None);
    }
    let check = Unchanged { versions, bounds };
    match begin(db, Binding::Tenant(tenant, None, Some(check)), intent).await {
        Ok(tx) => Ok(Some(TenantScope { tenant, tx })),
        Err(ScopeError::Database(e)) if is_no_data_found(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// `door_unchanged`'s refusal (SQLSTATE P0002, no_data_found).
fn is_no_data_found(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == "P0002")
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
    /// session id's characters only: it is written into the statement),
    /// with the door's check when the scope opens only if the door's rows
    /// are unchanged.
    Tenant(TenantId, Option<String>, Option<Unchanged>),
    User(UserId),
    /// Only through `all_tenants_unsafe`, which audits it first.
    AllTenants,
}

/// Opens the transaction. A request dropped half-way (its client gone, a
/// timeout) must not leave its connection inside the scope's transaction,
/// with the scope's role and tenant still set (seen under load, and in
/// tests/app/concurrency.rs). On PostgreSQL sqlx (0.9.1 and later) counts
/// the transaction as open before the BEGIN's round trip, so an abandoned
/// opening is rolled back; on SQLite the BEGIN runs to completion in a task
/// of its own, and once counted, dropping rolls it back.
pub(super) async fn begin(db: &Db, binding: Binding, intent: Intent) -> Result<Tx, ScopeError> {
    match db {
        Db::Sqlite(pool) => {
            let begin = match intent {
                Intent::Read => "BEGIN",
                Intent::Write => "BEGIN IMMEDIATE",
            };
            let pool = pool.clone();
            let opened = tokio::spawn(async move { pool.begin_with(begin).await.map(Tx::Sqlite) })
                .await
                .map_err(|e| ScopeError::Database(sqlx::Error::Io(std::io::Error::other(e))))?;
            Ok(opened?)
        }
        Db::Postgres(postgres) => {
            let setup = scope_setup(postgres).await?;
            let opening = postgres_begin(setup, &binding, intent);
            let mut tx = postgres
                .pool
                .begin_with(AssertSqlSafe(opening.begin))
                .await?;
            if let Some(settings) = opening.on_workers {
                // A failure rolls the transaction back as it drops.
                sqlx::raw_sql(AssertSqlSafe(settings))
                    .execute(&mut *tx)
                    .await?;
            }
            Ok(Tx::Postgres(tx))
        }
    }
}

/// What opens a scope: BEGIN with its settings, and on Citus a second
/// statement, of the settings Citus must carry to its workers.
struct Opening {
    begin: String,
    on_workers: Option<String>,
}

/// The statements that open a scope: BEGIN, then its settings (see the
/// module's comment for why in that order and in which form). Their only
/// variable parts are typed ids (UUIDs) and a session id checked to be a
/// session id's characters, never other text from a request.
fn postgres_begin(setup: ScopeSetup, binding: &Binding, intent: Intent) -> Opening {
    // Settings for the coordinator only.
    let mut here: Vec<(&str, String)> = Vec::new();
    // And those a Citus coordinator carries to its workers.
    let mut everywhere: Vec<(&str, String)> = Vec::new();
    // A session id is a credential, read only on the coordinator.
    if let Binding::Tenant(_, Some(session), _) = binding {
        here.push(("app.session_id", session.clone()));
    }
    if setup.citus {
        // A scope may read several shards (a query without tenant_id) and
        // then write a reference table (signup's new user); Citus allows
        // that only when the shards were read over one connection per node.
        here.push(("citus.multi_shard_modify_mode", "sequential".to_owned()));
    }
    if setup.role == ScopeRole::Switch {
        everywhere.push(("role", SCOPE_ROLE.to_owned()));
    }
    everywhere.push(match binding {
        Binding::Tenant(tenant, _, _) => ("app.tenant_id", tenant.to_string()),
        Binding::User(user) => ("app.user_id", user.to_string()),
        Binding::AllTenants => ("app.all_tenants", "on".to_owned()),
    });
    // Last, and in the same SELECT: it reads the scope's tenant setting,
    // so evaluated before it, it would only miss, never pass wrongly.
    let check = match binding {
        Binding::Tenant(_, _, Some(Unchanged { versions, bounds })) => Some(format!(
            "public.door_unchanged('{}', {}, {}, '{}', {}, {}, {})",
            versions.session_row,
            versions.session,
            versions.tenant,
            versions.membership_row,
            versions.membership,
            bounds.now,
            bounds.started_after
        )),
        _ => None,
    };
    let on_workers = if setup.citus {
        // Citus carries a SET LOCAL to the workers as the text of the whole
        // statement it came in: these come in one of their own, without
        // BEGIN or the session id.
        let mut sql = String::from("SET LOCAL citus.propagate_set_commands = 'local'");
        for (name, value) in everywhere.drain(..) {
            let _ = write!(sql, "; SET LOCAL {name} = '{value}'");
        }
        Some(sql)
    } else {
        None
    };
    let mut begin = String::from(match intent {
        Intent::Read => "BEGIN READ ONLY",
        Intent::Write => "BEGIN",
    });
    let selected = here
        .iter()
        .chain(&everywhere)
        .map(|(name, value)| format!("set_config('{name}', '{value}', true)"))
        .chain(check)
        .collect::<Vec<_>>();
    if !selected.is_empty() {
        let _ = write!(begin, "; SELECT {}", selected.join(", "));
    }
    Opening { begin, on_workers }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The opening's statements, as sent.
    fn opening(setup: ScopeSetup, binding: &Binding, intent: Intent) -> Vec<String> {
        let Opening { begin, on_workers } = postgres_begin(setup, binding, intent);
        std::iter::once(begin).chain(on_workers).collect()
    }

    #[test]
    fn a_scope_opens_with_one_statement_that_binds_role_and_tenant() {
        let tenant: TenantId = "0190a8a4-1b2c-7d3e-8f40-5a6b7c8d9e0f".parse().unwrap();
        let plain = |role| ScopeSetup { role, citus: false };
        let citus = |role| ScopeSetup { role, citus: true };
        assert_eq!(
            opening(
                plain(ScopeRole::Switch),
                &Binding::Tenant(tenant, None, None),
                Intent::Write
            ),
            ["BEGIN; SELECT set_config('role', 'app_tenant', true), \
             set_config('app.tenant_id', '0190a8a4-1b2c-7d3e-8f40-5a6b7c8d9e0f', true)"]
        );
        let session = session_literal("Abc-123_xyz");
        assert_eq!(
            opening(
                plain(ScopeRole::Switch),
                &Binding::Tenant(tenant, session.clone(), None),
                Intent::Read
            ),
            [
                "BEGIN READ ONLY; SELECT set_config('app.session_id', 'Abc-123_xyz', true), \
             set_config('role', 'app_tenant', true), \
             set_config('app.tenant_id', '0190a8a4-1b2c-7d3e-8f40-5a6b7c8d9e0f', true)"
            ]
        );
        // On Citus, a second statement of SET LOCALs, which Citus carries to
        // the workers as it is: no BEGIN, no session id in it.
        assert_eq!(
            opening(
                citus(ScopeRole::Switch),
                &Binding::Tenant(tenant, session.clone(), None),
                Intent::Read
            ),
            [
                "BEGIN READ ONLY; SELECT set_config('app.session_id', 'Abc-123_xyz', true), \
                 set_config('citus.multi_shard_modify_mode', 'sequential', true)",
                "SET LOCAL citus.propagate_set_commands = 'local'; SET LOCAL role = 'app_tenant'; \
                 SET LOCAL app.tenant_id = '0190a8a4-1b2c-7d3e-8f40-5a6b7c8d9e0f'"
            ]
        );
        // The door's check: last, in the same SELECT, and without the
        // session's id (a failed statement is logged with its text).
        let versions = RowVersions::new("(0,7)", 11, 12, "(3,14)", 13).expect("ctids");
        let check = Unchanged {
            versions,
            bounds: LiveBounds {
                now: 1_700_000_000,
                started_after: 1_690_000_000,
            },
        };
        let checked = Binding::Tenant(tenant, None, Some(check));
        assert_eq!(
            opening(plain(ScopeRole::Switch), &checked, Intent::Read),
            [
                "BEGIN READ ONLY; SELECT set_config('role', 'app_tenant', true), \
             set_config('app.tenant_id', '0190a8a4-1b2c-7d3e-8f40-5a6b7c8d9e0f', true), \
             public.door_unchanged('(0,7)', 11, 12, '(3,14)', 13, 1700000000, 1690000000)"
            ]
        );
        for not_a_ctid in ["", "(1)", "(1,)", "(,2)", "(1,2", "(1,2)'; --", "(-1,2)"] {
            assert_eq!(
                RowVersions::new(not_a_ctid, 1, 2, "(0,1)", 3),
                None,
                "{not_a_ctid}"
            );
            assert_eq!(
                RowVersions::new("(0,1)", 1, 2, not_a_ctid, 3),
                None,
                "{not_a_ctid}"
            );
        }
        for not_an_id in ["", "x'; RESET ROLE; --", "a b", &"a".repeat(65)] {
            assert_eq!(session_literal(not_an_id), None, "{not_an_id}");
        }
        assert_eq!(
            opening(
                plain(ScopeRole::Connecting),
                &Binding::AllTenants,
                Intent::Read
            ),
            ["BEGIN READ ONLY; SELECT set_config('app.all_tenants', 'on', true)"]
        );
        assert_eq!(
            opening(
                citus(ScopeRole::Connecting),
                &Binding::AllTenants,
                Intent::Read
            ),
            [
                "BEGIN READ ONLY; SELECT set_config('citus.multi_shard_modify_mode', 'sequential', true)",
                "SET LOCAL citus.propagate_set_commands = 'local'; SET LOCAL app.all_tenants = 'on'"
            ]
        );
    }
}
