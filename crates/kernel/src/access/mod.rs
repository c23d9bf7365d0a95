//! The doors: who is calling and where, for every request. This layer sits
//! above accounts, API tokens and billing, so the tenancy below it names
//! none of them:
//!
//! * [`InTenant`]: *who*, *where* and *as what* — a person's session (and
//!   the super-admin acting as them, if any) or an API token (under `/api/`
//!   only), the tenant of the URL's `{slug}`, the caller's membership in it
//!   (a token's role capped by its own), and the request's scope. A
//!   person's session is read in the scope's own transaction, in the same
//!   query as the membership: a tenant request costs the scope's BEGIN, that
//!   one check, the handler's queries and the release. On PostgreSQL the
//!   door remembers what it read ([`memory`]), and the next request of the
//!   session in that tenant only asks, in the statement that opens its
//!   scope, whether those rows are unchanged;
//! * [`super_admin`]: the super-admin's extractors, and the way back from
//!   an impersonation.

mod memory;
pub mod super_admin;

use std::sync::Arc;

use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use tower_sessions::Session;
use tower_sessions::session::Id;

use crate::accounts::SignedIn;
use crate::billing::state::BillingState;
use crate::db::Tx;
use crate::error::AppError;
use crate::http::AppState;
use crate::http::routes::Navigation;
use crate::ids::{MembershipId, TenantId, UserId};
use crate::on_tx;
use crate::sessions::LiveBounds;
use crate::tenancy::{
    Intent, Member, Role, RowVersions, Tenant, TenantScope, for_tenant, for_tenant_if_unchanged,
    for_tenant_reading_session, global,
};
use crate::validation::FieldErrors;

/// Who is calling, as the request presents it: a session cookie (the
/// session, and the id its cookie names), or an API token (only under
/// `/api/`). Nothing is read from the database yet.
enum Credential {
    Session(Session, Id),
    Token(String),
}

/// The request's credential: an API token where tokens belong, else the
/// session (401 without a session cookie).
async fn credential(parts: &mut Parts, state: &AppState) -> Result<Credential, AppError> {
    if let Some(secret) = crate::api_tokens::presented(parts) {
        return Ok(Credential::Token(secret));
    }
    let session = crate::sessions::of(parts, state).await?;
    let id = session.id().ok_or(AppError::Unauthorized)?;
    Ok(Credential::Session(session, id))
}

/// A request inside one tenant: the tenant from the URL's `{slug}`, the
/// signed-in user's membership in it, and the request's scope (one
/// transaction for the whole request). A slug that doesn't exist and a
/// tenant the user doesn't belong to are the same 404.
pub struct InTenant {
    pub tenant: Tenant,
    /// The tenant's billing state, read with the membership (same query),
    /// for `billing::entitlement`.
    pub billing: BillingState,
    pub member: Member,
    pub scope: TenantScope,
    /// The capabilities' links in the tenant's navigation (`TenantNav`).
    pub navigation: Arc<[Navigation]>,
    /// The plans the app sells, which [`Self::entitlement`] reads.
    pub plans: crate::billing::catalog::Catalog,
    /// The request came with an API token (acting as its creator), not a
    /// person's session.
    pub via_api_token: bool,
}

impl InTenant {
    /// What the tenant may do now: `billing::entitlement` of the billing
    /// state read with the membership.
    pub fn entitlement(&self) -> crate::billing::plans::Entitlement {
        crate::billing::plans::entitlement(
            self.plans,
            &self.billing,
            time::OffsetDateTime::now_utc(),
        )
    }

    /// Refuses requests made with an API token: for what only the person
    /// may do (leaving the tenant, creating more tokens), so a leaked token
    /// can't outlive its revocation or lock its creator out.
    ///
    /// # Errors
    /// 403 for a token.
    pub fn require_person(&self) -> Result<(), AppError> {
        if self.via_api_token {
            Err(AppError::Forbidden(
                "An API token can't do this: sign in as the member.".to_owned(),
            ))
        } else {
            Ok(())
        }
    }

    /// [`crate::accounts::reauthenticate`] for a member acting in a tenant:
    /// in person (an API token can't prove anything: 403), with their
    /// password. The request's transaction is ended first and opened again
    /// after (counting the attempt writes, and on SQLite the request's
    /// writing transaction holds the only write lock; the handler has
    /// written nothing yet); after a wrong password it is opened again
    /// read-only, for a page re-rendered with the error.
    ///
    /// # Errors
    /// 403 for an API token; 429 over the limit; a database failure.
    pub async fn reauthenticate(
        &mut self,
        state: &AppState,
        password: &str,
    ) -> Result<Result<(), FieldErrors>, AppError> {
        self.require_person()?;
        let user = crate::accounts::global::find_user(&state.db, self.member.user_id)
            .await?
            .ok_or(AppError::Unauthorized)?;
        self.scope = for_tenant(&state.db, self.tenant.id, Intent::Read).await?;
        let confirmed = crate::accounts::reauthenticate(state, &user, password, "password").await?;
        if confirmed.is_ok() {
            self.scope = for_tenant(&state.db, self.tenant.id, Intent::Write).await?;
        }
        Ok(confirmed)
    }
}

impl FromRequestParts<AppState> for InTenant {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|e| AppError::Internal(format!("path parameters: {e}")))?;
        let slug = params
            .iter()
            .find_map(|(name, value)| (name == "slug").then_some(value))
            .ok_or_else(|| AppError::Internal("a tenant route without {slug}".to_owned()))?;
        let intent = if parts.method.is_safe() {
            Intent::Read
        } else {
            Intent::Write
        };
        match credential(parts, state).await? {
            Credential::Token(secret) => Self::with_api_token(state, &secret, slug, intent).await,
            Credential::Session(session, id) => {
                Self::with_session(parts, state, &session, id, slug, intent).await
            }
        }
    }
}

impl InTenant {
    /// A person's request: the slug names the tenant (cached), and the
    /// session's user must be a member of it. The session is read in the
    /// scope's own query, with the membership, so signing out, "log out
    /// everywhere else" and a member's removal take effect on the very next
    /// request. A session that is gone is a 401 whether or not the slug
    /// exists.
    async fn with_session(
        parts: &mut Parts,
        state: &AppState,
        session: &Session,
        id: Id,
        slug: &str,
        intent: Intent,
    ) -> Result<Self, AppError> {
        let session_id = id.to_string();
        let mut cached = state.tenant_slugs.get(slug);
        loop {
            let from_cache = cached.is_some();
            let tenant_id = match cached.take() {
                Some(id) => id,
                None => match global::tenant_id_by_slug(&state.db, slug).await? {
                    Some(id) => {
                        state.tenant_slugs.insert(slug, id);
                        id
                    }
                    None => {
                        // No such tenant: still a 401 for a session that is
                        // gone, so the answer doesn't tell who may probe.
                        SignedIn::from_request_parts(parts, state).await?;
                        return Err(AppError::NotFound);
                    }
                },
            };
            let bounds = LiveBounds::now();
            if let Some(remembered) = memory::recall(&session_id, tenant_id) {
                let unchanged = if remembered.tenant.slug == slug {
                    let versions = remembered.versions.clone();
                    match for_tenant_if_unchanged(&state.db, tenant_id, versions, bounds, intent)
                        .await
                    {
                        Ok(scope) => scope,
                        // The full door below answers, or fails, on its own.
                        Err(error) => {
                            tracing::warn!(%error, "the door's memory could not be checked");
                            None
                        }
                    }
                } else {
                    None
                };
                if let Some(metrics) = &state.metrics {
                    metrics.door_memory(unchanged.is_some());
                }
                if let Some(scope) = unchanged {
                    crate::sessions::read_in_scope(parts, session, remembered.expires_at, bounds)
                        .await?;
                    let memory::Remembered {
                        tenant,
                        billing,
                        member,
                        ..
                    } = remembered;
                    return Ok(Self::person(state, tenant, billing, member, scope));
                }
                memory::forget(&session_id, tenant_id);
            }
            let mut scope =
                for_tenant_reading_session(&state.db, tenant_id, &session_id, intent).await?;
            let found = if crate::db::scope_role::on_citus(&state.db)
                .await
                .map_err(crate::tenancy::ScopeError::from)?
            {
                session_and_membership_apart(&mut scope, &session_id, bounds).await?
            } else {
                session_and_membership(&mut scope, &session_id, bounds).await?
            };
            let Some(mut found) = found else {
                return Err(AppError::Unauthorized);
            };
            if found.impersonation_ended {
                return Err(super_admin::impersonation_ended(session).await);
            }
            match found.lookup(tenant_id, slug)? {
                Lookup::Member(tenant, billing, member) => {
                    crate::sessions::read_in_scope(parts, session, found.expires_at, bounds)
                        .await?;
                    // Not an impersonation: whether the impersonator is still
                    // a super-admin is a fourth row, read every time.
                    if let (Some(versions), None) = (found.versions.take(), member.impersonated_by)
                    {
                        let remembered = memory::Remembered {
                            versions,
                            expires_at: found.expires_at,
                            tenant: (*tenant).clone(),
                            billing: (*billing).clone(),
                            member: member.clone(),
                        };
                        memory::remember(&session_id, tenant_id, remembered);
                    }
                    return Ok(Self::person(state, *tenant, *billing, member, scope));
                }
                // The cached tenant is gone (and its slug maybe taken by
                // another): forget it and look the slug up again, once.
                Lookup::StaleSlug if from_cache => state.tenant_slugs.remove(slug),
                Lookup::NotAMember | Lookup::StaleSlug => return Err(AppError::NotFound),
            }
        }
    }

    /// A person's request, whether the door read its rows now or found them
    /// unchanged since it remembered them.
    fn person(
        state: &AppState,
        tenant: Tenant,
        billing: BillingState,
        member: Member,
        scope: TenantScope,
    ) -> Self {
        Self {
            tenant,
            billing,
            member,
            scope,
            navigation: state.navigation.clone(),
            plans: state.plans,
            via_api_token: false,
        }
    }

    /// A program's request. The token names its tenant, so it is checked
    /// first, before the slug is looked at: a bad token is the same 401
    /// whether or not the slug exists (no oracle on which organisations
    /// exist), and a good token on any URL but its tenant's is a 404.
    async fn with_api_token(
        state: &AppState,
        secret: &str,
        slug: &str,
        intent: Intent,
    ) -> Result<Self, AppError> {
        let tenant_id = crate::api_tokens::tenant_of(secret).ok_or(AppError::InvalidApiToken)?;
        let mut scope = for_tenant(&state.db, tenant_id, intent).await?;
        let (creator, token_role) = crate::api_tokens::authenticate(&state.db, &mut scope, secret)
            .await?
            .ok_or(AppError::InvalidApiToken)?;
        match membership_of(&mut scope, creator, slug).await? {
            Lookup::Member(tenant, billing, mut member) => {
                member.role = token_role.at_most(member.role);
                Ok(Self {
                    tenant: *tenant,
                    billing: *billing,
                    member,
                    scope,
                    navigation: state.navigation.clone(),
                    plans: state.plans,
                    via_api_token: true,
                })
            }
            Lookup::NotAMember | Lookup::StaleSlug => Err(AppError::NotFound),
        }
    }
}

/// The tenant's name, slug and time zone and billing state; the
/// membership's id and role.
struct MembershipRow {
    name: String,
    slug: String,
    time_zone: String,
    membership_id: Option<MembershipId>,
    role: Option<String>,
    billing: BillingState,
}

impl<'r, R> sqlx::FromRow<'r, R> for MembershipRow
where
    R: sqlx::Row,
    &'r str: sqlx::ColumnIndex<R>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<MembershipId>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    BillingState: sqlx::FromRow<'r, R>,
    Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    fn from_row(row: &'r R) -> Result<Self, sqlx::Error> {
        Ok(Self {
            name: row.try_get("name")?,
            slug: row.try_get("slug")?,
            time_zone: row.try_get("time_zone")?,
            membership_id: row.try_get("membership_id")?,
            role: row.try_get("role")?,
            billing: BillingState::from_row(row)?,
        })
    }
}

enum Lookup {
    Member(Box<Tenant>, Box<BillingState>, Member),
    NotAMember,
    StaleSlug,
}

impl MembershipRow {
    /// What the row (`None`: the scope's tenant is gone) says of `user` in
    /// the tenant that the URL names by `slug`.
    fn lookup(
        row: Option<Self>,
        tenant: TenantId,
        user: UserId,
        slug: &str,
    ) -> Result<Lookup, AppError> {
        let Some(row) = row.filter(|row| row.slug == slug) else {
            return Ok(Lookup::StaleSlug);
        };
        let (Some(membership_id), Some(role)) = (row.membership_id, row.role) else {
            return Ok(Lookup::NotAMember);
        };
        Ok(Lookup::Member(
            Box::new(Tenant {
                id: tenant,
                name: row.name,
                slug: row.slug,
                time_zone: row.time_zone,
            }),
            Box::new(row.billing),
            Member {
                membership_id,
                user_id: user,
                role: Role::parse(&role)?,
                impersonated_by: None,
            },
        ))
    }
}

/// The scope's tenant and `user`'s membership in it.
async fn membership_of(
    scope: &mut TenantScope,
    user: UserId,
    slug: &str,
) -> Result<Lookup, AppError> {
    let row = membership_row(scope, user).await?;
    MembershipRow::lookup(row, scope.tenant_id(), user, slug)
}

/// The scope's tenant with `user`'s membership in it; `None` when the
/// tenant is gone.
async fn membership_row(
    scope: &mut TenantScope,
    user: UserId,
) -> Result<Option<MembershipRow>, AppError> {
    let tenant_id = scope.tenant_id();
    Ok(on_tx!(scope.tx(), |conn| {
        sqlx::query_as(concat!(
            "SELECT t.name, t.slug, t.time_zone, m.id AS membership_id, m.role, ",
            crate::billing_columns!(),
            " FROM tenants t LEFT JOIN memberships m ON m.tenant_id = t.id AND m.user_id = $2 \
             WHERE t.id = $1"
        ))
        .bind(tenant_id)
        .bind(user)
        .fetch_optional(conn)
        .await
    })?)
}

/// A person's request, read in one query: the session's user, the
/// super-admin acting as them, the session's idle expiry, and the scope's
/// tenant with the user's membership (`None` when the tenant is gone).
struct SessionRow {
    user_id: UserId,
    impersonator: Option<UserId>,
    /// The impersonator is no longer a super-admin.
    impersonation_ended: bool,
    expires_at: i64,
    /// The session's, the tenant's and the membership's (PostgreSQL, a
    /// member's request).
    versions: Option<RowVersions>,
    tenant: Option<MembershipRow>,
}

impl<'r, R> sqlx::FromRow<'r, R> for SessionRow
where
    R: sqlx::Row,
    &'r str: sqlx::ColumnIndex<R>,
    UserId: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<UserId>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<i64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    bool: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    MembershipRow: sqlx::FromRow<'r, R>,
    Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    fn from_row(row: &'r R) -> Result<Self, sqlx::Error> {
        let tenant_found: Option<String> = row.try_get("name")?;
        let version = |column| row.try_get::<Option<i64>, _>(column);
        let row_id = |column| row.try_get::<Option<String>, _>(column);
        let versions = match (
            row_id("session_row")?,
            version("session_version")?,
            version("tenant_version")?,
            row_id("membership_row")?,
            version("membership_version")?,
        ) {
            (
                Some(session_row),
                Some(session),
                Some(tenant),
                Some(membership_row),
                Some(membership),
            ) => RowVersions::new(&session_row, session, tenant, &membership_row, membership),
            _ => None,
        };
        Ok(Self {
            versions,
            user_id: row.try_get("user_id")?,
            impersonator: row.try_get("impersonator")?,
            impersonation_ended: row.try_get("impersonation_ended")?,
            expires_at: row.try_get("expires_at")?,
            tenant: tenant_found
                .map(|_| MembershipRow::from_row(row))
                .transpose()?,
        })
    }
}

impl SessionRow {
    fn lookup(&mut self, tenant: TenantId, slug: &str) -> Result<Lookup, AppError> {
        let mut lookup = MembershipRow::lookup(self.tenant.take(), tenant, self.user_id, slug)?;
        if let Lookup::Member(_, _, member) = &mut lookup {
            member.impersonated_by = self.impersonator;
        }
        Ok(lookup)
    }
}

/// The tenant's and the membership's row versions, for the door's memory
/// (PostgreSQL's `xmin` and `ctid`; NULL on SQLite, which remembers
/// nothing).
macro_rules! row_versions {
    (sqlite) => {
        "NULL AS tenant_version, NULL AS membership_version, NULL AS membership_row, "
    };
    (postgres) => {
        "t.xmin::text::bigint AS tenant_version, m.xmin::text::bigint AS membership_version, \
         m.ctid::text AS membership_row, "
    };
}

/// The door's query for a person, on the backend whose FROM item reads the
/// session ([`crate::signed_in_session!`]): `$1` the scope's tenant.
macro_rules! session_and_membership {
    ($backend:tt) => {
        concat!(
            "SELECT s.user_id, s.impersonator, s.impersonation_ended, s.expires_at, t.name, t.slug, t.time_zone, \
             m.id AS membership_id, m.role, s.version AS session_version, s.row_id AS session_row, ",
            row_versions!($backend),
            crate::billing_columns!(),
            " FROM ",
            crate::signed_in_session!($backend),
            " s LEFT JOIN tenants t ON t.id = $1 \
             LEFT JOIN memberships m ON m.tenant_id = t.id AND m.user_id = s.user_id"
        )
    };
}

crate::row! {
    /// The request's session as `current_session` shows it.
    struct LiveSession {
        user_id: UserId,
        impersonator: Option<UserId>,
        expires_at: i64,
    }
}

/// As [`session_and_membership`], on a Citus coordinator: the session alone
/// first, so that Citus leaves that query to PostgreSQL and the view keeps
/// its owner's right on `sessions` (joined with distributed tables, Citus
/// would run the view's query again as the scope's role); then the
/// impersonator, and the tenant with the membership. Row versions are not
/// read: the door's memory is off on Citus.
async fn session_and_membership_apart(
    scope: &mut TenantScope,
    session_id: &str,
    bounds: LiveBounds,
) -> Result<Option<SessionRow>, AppError> {
    let session: Option<LiveSession> = on_tx!(scope.tx(), |conn| {
        sqlx::query_as(
            "SELECT user_id, impersonator, expires_at FROM current_session \
             WHERE id = $1 AND expires_at > $2 AND created_at > $3",
        )
        .bind(session_id)
        .bind(bounds.now)
        .bind(bounds.started_after)
        .fetch_optional(conn)
        .await
    })?;
    let Some(LiveSession {
        user_id,
        impersonator,
        expires_at,
    }) = session
    else {
        return Ok(None);
    };
    let impersonation_ended = match impersonator {
        Some(impersonator) => {
            let still_super_admin: bool = on_tx!(scope.tx(), |conn| {
                sqlx::query_scalar(
                    "SELECT EXISTS (SELECT 1 FROM users WHERE id = $1 AND is_super_admin)",
                )
                .bind(impersonator)
                .fetch_one(conn)
                .await
            })?;
            !still_super_admin
        }
        None => false,
    };
    Ok(Some(SessionRow {
        user_id,
        impersonator,
        impersonation_ended,
        expires_at,
        versions: None,
        tenant: membership_row(scope, user_id).await?,
    }))
}

/// The signed-in session `session_id` and its user's membership in the
/// scope's tenant, in the scope's transaction; `None` for a session that is
/// gone, expired or not signed in.
async fn session_and_membership(
    scope: &mut TenantScope,
    session_id: &str,
    bounds: LiveBounds,
) -> Result<Option<SessionRow>, AppError> {
    let tenant_id = scope.tenant_id();
    let sql = match scope.tx() {
        Tx::Sqlite(_) => session_and_membership!(sqlite),
        Tx::Postgres(_) => session_and_membership!(postgres),
    };
    Ok(on_tx!(scope.tx(), |conn| {
        sqlx::query_as(sql)
            .bind(tenant_id)
            .bind(session_id)
            .bind(bounds.now)
            .bind(bounds.started_after)
            .fetch_optional(conn)
            .await
    })?)
}
