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
        can_switch: Option<bool>,
        citus: bool,
    }
}

async fn decide_scope_setup(pool: &sqlx::PgPool) -> Result<ScopeSetup, UnsafeSetup> {
    let Roles {
        connecting: user,
        bypasses,
        scope_role_bypasses,
        can_switch,
        citus,
    } = sqlx::query_as(
        "SELECT me.rolname::text AS connecting, me.rolsuper OR me.rolbypassrls AS bypasses, \
                scope.rolsuper OR scope.rolbypassrls AS scope_role_bypasses, \
                CASE WHEN scope.oid IS NULL THEN NULL \
                     ELSE pg_has_role(current_user, scope.oid, 'MEMBER') END AS can_switch, \
                EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') AS citus \
         FROM pg_roles me LEFT JOIN pg_roles scope ON scope.rolname = $1 \
         WHERE me.rolname = current_user",
    )
    .bind(SCOPE_ROLE)
    .fetch_one(pool)
    .await?;
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
        (Some(false), Some(true)) => Ok(setup(ScopeRole::Switch)),
    }
}
