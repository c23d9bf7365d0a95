//! API tokens: programmatic access to one tenant's JSON API, sent as
//! `Authorization: Bearer <token>`. Owners and admins create them with a
//! name and a role no higher than their own; the token is shown once and
//! only its digest is kept. A token acts with its role (never above its
//! creator's current role) and sees the locations its creator's membership
//! sees; it records when it was last used; a revoked or unknown token is a
//! 401.
//!
//! The token names its tenant (`api_<tenant id>_<secret>`), so it is looked
//! up inside that tenant's scope, like any tenant data, and a request for
//! another tenant's URL is a 404 without looking.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::db::Db;
use crate::error::AppError;
use crate::ids::{ApiTokenId, MembershipId, TenantId, UserId};
use crate::tenancy::{Action, Intent, Member, Role, TenantScope, for_tenant};
use crate::tokens::digest;
use crate::validation::{self, FieldErrors};
use crate::{on_tx, row};

const PREFIX: &str = "api_";

/// How stale `last_used_at` may get before a use records it again (one
/// write a minute per busy token, not one per request).
const LAST_USED_PRECISION: i64 = 60;

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ApiToken {
    pub id: ApiTokenId,
    pub name: String,
    pub role: Role,
    /// The email of the member who created it.
    pub created_by: String,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// What creating a token sends.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
pub struct NewApiToken {
    /// What it is for ("Nightly export"), 1 to 100 characters.
    pub name: String,
    /// At most the creator's own role.
    pub role: Role,
    /// The creator's current password: a session alone can't mint a
    /// credential.
    #[serde(default)]
    pub password: String,
}

/// A new token: `secret` is the value to send, shown this once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedApiToken {
    pub token: ApiToken,
    pub secret: String,
}

row! {
    /// A token as [`select`] reads it, its role as stored.
    struct TokenRow {
        id: ApiTokenId,
        name: String,
        role: String,
        created_by: String,
        last_used_at: Option<OffsetDateTime>,
        revoked_at: Option<OffsetDateTime>,
        created_at: OffsetDateTime,
    }
}

/// The tenant's tokens, live ones first, newest first.
pub async fn list(scope: &mut TenantScope) -> Result<Vec<ApiToken>, AppError> {
    select(scope, None, None).await
}

/// The tokens a member created (for their account page).
pub async fn created_by(
    scope: &mut TenantScope,
    membership: MembershipId,
) -> Result<Vec<ApiToken>, AppError> {
    select(scope, None, Some(membership)).await
}

async fn select(
    scope: &mut TenantScope,
    only: Option<ApiTokenId>,
    creator: Option<MembershipId>,
) -> Result<Vec<ApiToken>, AppError> {
    let tenant = scope.tenant_id();
    let by_id = crate::db::optional_filter("t.id = $2", "$2", only.is_some());
    let by_creator = crate::db::optional_filter("t.membership_id = $3", "$3", creator.is_some());
    let sql = format!(
        "SELECT t.id, t.name, t.role, u.email AS created_by, t.last_used_at, t.revoked_at, \
         t.created_at \
         FROM api_tokens t JOIN memberships m ON m.tenant_id = t.tenant_id AND m.id = t.membership_id \
         JOIN users u ON u.id = m.user_id \
         WHERE t.tenant_id = $1 AND {by_id} AND {by_creator} \
         ORDER BY t.revoked_at IS NOT NULL, t.id DESC"
    );
    let rows: Vec<TokenRow> = on_tx!(scope.tx(), |conn| {
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(tenant)
            .bind(only)
            .bind(creator)
            .fetch_all(conn)
            .await
    })?;
    rows.into_iter()
        .map(|row| {
            Ok(ApiToken {
                id: row.id,
                name: row.name,
                role: Role::parse(&row.role)?,
                created_by: row.created_by,
                last_used_at: row.last_used_at,
                revoked_at: row.revoked_at,
                created_at: row.created_at,
            })
        })
        .collect()
}

/// Creates a token for the scope's tenant, as `creator`. The inner error
/// is a name to fix.
///
/// # Errors
/// 403 when the creator may not manage tokens or asks for a role above
/// their own; a database failure.
pub async fn create(
    scope: &mut TenantScope,
    creator: &Member,
    input: &NewApiToken,
) -> Result<Result<CreatedApiToken, FieldErrors>, AppError> {
    creator.authorize(Action::ManageApiTokens)?;
    if !input.role.within(creator.role) {
        return Err(AppError::Forbidden(
            "A token's role can't be higher than your own.".to_owned(),
        ));
    }
    let mut errors = FieldErrors::default();
    let name = validation::text(&mut errors, "name", &input.name, true, 100);
    if let Err(errors) = errors.or_ok(()) {
        return Ok(Err(errors));
    }
    let tenant = scope.tenant_id();
    let id = ApiTokenId::new();
    let secret = crate::tokens::tenant_secret(PREFIX, tenant);
    on_tx!(scope.tx(), |conn| {
        sqlx::query(
        "INSERT INTO api_tokens (tenant_id, id, name, role, token_digest, membership_id, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)"
    )
    .bind(tenant)
    .bind(id)
    .bind(&name)
    .bind(input.role.as_str())
    .bind(digest(&secret))
    .bind(creator.membership_id)
    .bind(OffsetDateTime::now_utc())
    .execute(conn)
    .await
    .map(drop)
    })?;
    let token = select(scope, Some(id), None)
        .await?
        .pop()
        .ok_or(AppError::NotFound)?;
    Ok(Ok(CreatedApiToken { token, secret }))
}

/// Revokes a token: from now on it is a 401. Revoking twice is a 404, as
/// for a token the tenant doesn't have. Owners and admins revoke any
/// token; anyone revokes the tokens they created.
///
/// # Errors
/// 403 for a member who may not; 404; a database failure.
pub async fn revoke(
    scope: &mut TenantScope,
    member: &Member,
    id: ApiTokenId,
) -> Result<ApiToken, AppError> {
    let may_manage = member.authorize(Action::ManageApiTokens);
    let tenant = scope.tenant_id();
    let revoked = on_tx!(scope.tx(), |conn| sqlx::query(
        "UPDATE api_tokens SET revoked_at = $3 \
         WHERE tenant_id = $1 AND id = $2 AND revoked_at IS NULL AND ($4 OR membership_id = $5)"
    )
    .bind(tenant)
    .bind(id)
    .bind(OffsetDateTime::now_utc())
    .bind(may_manage.is_ok())
    .bind(member.membership_id)
    .execute(conn)
    .await
    .map(|done| done.rows_affected()))?;
    if revoked == 0 {
        return Err(may_manage.err().unwrap_or(AppError::NotFound));
    }
    select(scope, Some(id), None)
        .await?
        .pop()
        .ok_or(AppError::NotFound)
}

/// The API token a request presents. Tokens are accepted under `/api/`
/// only, by this one rule: pages and forms are for people, so a bearer
/// header there is ignored and the request is the session's (or nobody's).
pub fn presented(parts: &axum::http::request::Parts) -> Option<String> {
    if crate::api::is_api_path(parts.uri.path()) {
        crate::http::extract::bearer_token(parts)
    } else {
        None
    }
}

/// The tenant a bearer token names, if it has the shape of one.
pub fn tenant_of(secret: &str) -> Option<TenantId> {
    crate::tokens::tenant_of(PREFIX, secret)
}

row! {
    /// A live token as [`authenticate`] finds it.
    struct LiveToken {
        id: ApiTokenId,
        role: String,
        creator: UserId,
        last_used_at: Option<OffsetDateTime>,
    }
}

/// Who `secret` acts as in the scope's tenant: the token's creator, and the
/// token's role (the caller caps it at the creator's current one). `None`
/// for an unknown or revoked token. The use is recorded at most once a
/// minute, in a task of its own: the request's scope may be read-only,
/// and on SQLite a writing one holds the only write lock.
pub(crate) async fn authenticate(
    db: &Db,
    scope: &mut TenantScope,
    secret: &str,
) -> Result<Option<(UserId, Role)>, AppError> {
    let tenant = scope.tenant_id();
    let live: Option<LiveToken> = on_tx!(scope.tx(), |conn| sqlx::query_as(
        "SELECT t.id, t.role, m.user_id AS creator, t.last_used_at FROM api_tokens t \
         JOIN memberships m ON m.tenant_id = t.tenant_id AND m.id = t.membership_id \
         WHERE t.tenant_id = $1 AND t.token_digest = $2 AND t.revoked_at IS NULL"
    )
    .bind(tenant)
    .bind(digest(secret))
    .fetch_optional(conn)
    .await)?;
    let Some(LiveToken {
        id,
        role,
        creator,
        last_used_at,
    }) = live
    else {
        return Ok(None);
    };
    let now = OffsetDateTime::now_utc();
    if last_used_at.is_none_or(|at| (now - at).whole_seconds() >= LAST_USED_PRECISION) {
        let db = db.clone();
        tokio::spawn(async move {
            let recorded = async {
                let mut scope = for_tenant(&db, tenant, Intent::Write).await?;
                record_use(&mut scope, id, now).await?;
                scope.commit().await?;
                Ok::<_, AppError>(())
            };
            if let Err(error) = recorded.await {
                tracing::warn!(%error, token = %id, "cannot record an API token's use");
            }
        });
    }
    Ok(Some((creator, Role::parse(&role)?)))
}

async fn record_use(
    scope: &mut TenantScope,
    id: ApiTokenId,
    at: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    let tenant = scope.tenant_id();
    on_tx!(scope.tx(), |conn| sqlx::query(
        "UPDATE api_tokens SET last_used_at = $3 WHERE tenant_id = $1 AND id = $2"
    )
    .bind(tenant)
    .bind(id)
    .bind(at)
    .execute(conn)
    .await
    .map(drop))
}
