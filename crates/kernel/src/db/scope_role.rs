//! How tenant scopes open on PostgreSQL, decided once per pool: the role
//! they run as (the app's own user when it can't bypass Row-Level Security,
//! as FORCE binds it, else [`SCOPE_ROLE`], switched to in every scope), and
//! whether the database is a Citus coordinator. Start-up checks it, so an
//! unsafe set-up stops the app before it serves a request.

use super::{Db, Postgres};

/// The NOLOGIN, NOBYPASSRLS role that scopes switch to (created by the first
/// migration where the app's user may create roles).
pub const SCOPE_ROLE: &str = "app_tenant";

/// A set-up whose scopes would run as a role that bypasses Row-Level
/// Security, with the fix; or a database error.
#[derive(Debug, thiserror::Error)]
pub enum UnsafeSetup {
    #[error("{0}")]
    BypassesRls(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Which role a PostgreSQL scope runs as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScopeRole {
    /// The app's own user: it can't bypass RLS, so FORCE binds it.
    Connecting,
    /// Switched to (`app_tenant`) in every scope: the app's user could bypass RLS.
    Switch,
}

/// What a pool's scopes open with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScopeSetup {
    pub role: ScopeRole,
    /// The citus extension is installed: the scope's settings must be SET
    /// LOCAL statements, which Citus carries to its workers.
    pub citus: bool,
}

/// Checks once per pool that scopes will be bound by Row-Level Security, and
/// remembers how. Start-up calls it, so an unsafe set-up stops the app
/// before it serves a request.
///
/// # Errors
/// A message naming the problem and its fix, or a database error.
pub async fn check_isolation(db: &Db) -> Result<(), UnsafeSetup> {
    match db {
        Db::Sqlite(_) => Ok(()),
        Db::Postgres(postgres) => scope_setup(postgres).await.map(drop),
    }
}

/// Whether `db` is a Citus coordinator (read once per pool, with the rest
/// of the scope set-up).
///
/// # Errors
/// As [`check_isolation`].
pub async fn on_citus(db: &Db) -> Result<bool, UnsafeSetup> {
    match db {
        Db::Sqlite(_) => Ok(false),
        Db::Postgres(postgres) => Ok(scope_setup(postgres).await?.citus),
    }
}

pub(crate) async fn scope_setup(postgres: &Postgres) -> Result<ScopeSetup, UnsafeSetup> {
    postgres
        .scope_setup
        .get_or_try_init(|| decide_scope_setup(&postgres.pool))
        .await
        .copied()
}

crate::row! {
    /// The connecting role, the scope role as it sees it (`None` when the
    /// scope role doesn't exist), and whether Citus is installed.
    struct Roles {
        connecting: String,
        bypasses: bool,
        scope_role_bypasses: Option<bool>,
        scope_role_logs_in: Option<bool>,
        can_switch: Option<bool>,
        citus: bool,
        /// Citus' `citus.skip_advisory_lock_permission_checks` (NULL where
        /// Citus is absent, or for a user other than a superuser, who may
        /// not read it).
        citus_locks_unchecked: Option<bool>,
    }
}

async fn decide_scope_setup(pool: &sqlx::PgPool) -> Result<ScopeSetup, UnsafeSetup> {
    let roles: Roles = sqlx::query_as(
        "SELECT me.rolname::text AS connecting, me.rolsuper OR me.rolbypassrls AS bypasses, \
                scope.rolsuper OR scope.rolbypassrls AS scope_role_bypasses, \
                scope.rolcanlogin AS scope_role_logs_in, \
                CASE WHEN scope.oid IS NULL THEN NULL \
                     ELSE pg_has_role(current_user, scope.oid, 'MEMBER') END AS can_switch, \
                EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') AS citus, \
                CASE WHEN me.rolsuper THEN \
                     current_setting('citus.skip_advisory_lock_permission_checks', true) = 'on' \
                END AS citus_locks_unchecked \
         FROM pg_roles me LEFT JOIN pg_roles scope ON scope.rolname = $1 \
         WHERE me.rolname = current_user",
    )
    .bind(SCOPE_ROLE)
    .fetch_one(pool)
    .await?;
    decide(roles)
}

fn decide(roles: Roles) -> Result<ScopeSetup, UnsafeSetup> {
    let Roles {
        connecting: user,
        bypasses,
        scope_role_bypasses,
        scope_role_logs_in,
        can_switch,
        citus,
        citus_locks_unchecked,
    } = roles;
    let setup = |role| ScopeSetup { role, citus };
    if !bypasses {
        return Ok(setup(ScopeRole::Connecting));
    }
    let refuse = |problem: String| {
        UnsafeSetup::BypassesRls(format!(
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
        // Citus opens its connections to the workers as the current role,
        // and before a write it locks the reference tables the written
        // table refers to, on a worker, checking that role may change them.
        (Some(false), Some(true))
            if citus
                && (scope_role_logs_in != Some(true) || citus_locks_unchecked != Some(true)) =>
        {
            Err(refuse(format!(
                "on Citus the workers are reached as {SCOPE_ROLE}, which must log in there \
                 and take Citus' write locks on users, which it may not change. Connect as an \
                 ordinary, non-superuser role that owns the tables, or run ALTER ROLE \
                 {SCOPE_ROLE} LOGIN (and let the workers authenticate it) and, on every node, \
                 ALTER SYSTEM SET citus.skip_advisory_lock_permission_checks = on \
                 (docs/scaling-out.md)."
            )))
        }
        (Some(false), Some(true)) => Ok(setup(ScopeRole::Switch)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn superuser_on(citus: bool, scope_role_logs_in: bool, locks_unchecked: bool) -> Roles {
        Roles {
            connecting: "postgres".to_owned(),
            bypasses: true,
            scope_role_bypasses: Some(false),
            scope_role_logs_in: Some(scope_role_logs_in),
            can_switch: Some(true),
            citus,
            citus_locks_unchecked: citus.then_some(locks_unchecked),
        }
    }

    #[test]
    fn on_citus_a_superuser_switches_only_to_a_scope_role_that_may_log_in_and_lock() {
        for (logs_in, locks) in [(false, true), (true, false), (false, false)] {
            let refused = decide(superuser_on(true, logs_in, locks))
                .unwrap_err()
                .to_string();
            assert!(
                refused.contains("on Citus the workers are reached as app_tenant"),
                "{refused}"
            );
        }
        let switch = |citus| ScopeSetup {
            role: ScopeRole::Switch,
            citus,
        };
        assert_eq!(
            decide(superuser_on(true, true, true)).unwrap(),
            switch(true)
        );
        // Plain PostgreSQL switches within the one server.
        assert_eq!(
            decide(superuser_on(false, false, false)).unwrap(),
            switch(false)
        );
    }
}
