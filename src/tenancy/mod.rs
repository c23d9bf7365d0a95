//! Tenancy: who may reach which tenant's data, and how.
//!
//! * [`scope`]: `for_tenant` opens the transaction every tenant-owned query
//!   runs in; repository functions take the [`TenantScope`] it returns.
//! * [`super_admin`]: `all_tenants_unsafe`, the one audited way across tenants.
//! * [`permissions`]: the one place that decides what a member's role allows.
//! * [`InTenant`]: the request extractor that resolves `/t/{slug}/…` and the
//!   signed-in user's membership, and opens the request's scope.

pub mod global;
pub mod permissions;
pub mod scope;
pub mod super_admin;

use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};

use crate::accounts::SignedIn;
use crate::error::AppError;
use crate::http::AppState;
use crate::ids::{MembershipId, TenantId, UserId};
use crate::on_tx;
pub use permissions::{Action, Permission};
pub use scope::{Intent, ScopeError, TenantScope, for_tenant};

/// A member's role in a tenant. Owners and admins see every location; managers
/// and staff see the locations granted to them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Owner,
    Admin,
    Manager,
    Staff,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Owner, Role::Admin, Role::Manager, Role::Staff];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Admin => "admin",
            Self::Manager => "manager",
            Self::Staff => "staff",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Owner => "Owner",
            Self::Admin => "Admin",
            Self::Manager => "Manager",
            Self::Staff => "Staff",
        }
    }

    /// # Errors
    /// A value the schema's CHECK constraint would not allow.
    pub fn parse(text: &str) -> Result<Self, AppError> {
        Self::ALL
            .into_iter()
            .find(|role| role.as_str() == text)
            .ok_or_else(|| {
                AppError::Unprocessable(format!(
                    "unknown role {text:?}: expected owner, admin, manager or staff"
                ))
            })
    }

    /// The less powerful of two roles (owner > admin > manager > staff).
    pub fn at_most(self, other: Role) -> Role {
        if self.rank() >= other.rank() {
            self
        } else {
            other
        }
    }

    /// Whether this role is at most as powerful as `other`.
    pub fn within(self, other: Role) -> bool {
        self.rank() >= other.rank()
    }

    /// 0 for owners, up to 3 for staff.
    fn rank(self) -> usize {
        Self::ALL
            .iter()
            .position(|role| *role == self)
            .unwrap_or(Self::ALL.len())
    }

    /// Whether the role sees every location rather than its granted ones.
    pub fn sees_all_locations(self) -> bool {
        matches!(self, Self::Owner | Self::Admin)
    }
}

/// The tenant a request is in, as its members see it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Tenant {
    pub id: TenantId,
    pub name: String,
    pub slug: String,
    pub time_zone: String,
    /// Read with the membership (same query), for `billing::entitlement`.
    #[serde(skip)]
    pub billing: crate::billing::BillingState,
}

/// The signed-in user's membership in the request's tenant.
#[derive(Clone, Debug)]
pub struct Member {
    pub membership_id: MembershipId,
    pub user_id: UserId,
    pub role: Role,
    /// The super-admin acting as this member (an impersonation), if any.
    pub impersonated_by: Option<UserId>,
}

impl Member {
    /// Who what this member does is recorded as done by: the super-admin
    /// while impersonating (what they do is theirs, not the owner's), else
    /// the member. For authors of records (edits, invitations, absences),
    /// never for what the member may do.
    pub fn author(&self) -> UserId {
        self.impersonated_by.unwrap_or(self.user_id)
    }
}

/// A request inside one tenant: the tenant from the URL's `{slug}`, the
/// signed-in user's membership in it, and the request's scope (one
/// transaction for the whole request). A slug that doesn't exist and a
/// tenant the user doesn't belong to are the same 404.
pub struct InTenant {
    pub tenant: Tenant,
    pub member: Member,
    pub scope: TenantScope,
    /// The request came with an API token (acting as its creator), not a
    /// person's session.
    pub via_api_token: bool,
}

impl InTenant {
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
        // An API client sends a token (under /api/ only) and no session;
        // anyone else is the session's user.
        match crate::api_tokens::presented(parts) {
            Some(secret) => Self::with_api_token(state, &secret, slug, intent).await,
            None => {
                let SignedIn(user) =
                    <SignedIn as FromRequestParts<_>>::from_request_parts(parts, state).await?;
                let mut request = Self::with_session(state, user, slug, intent).await?;
                request.member.impersonated_by = super_admin::impersonator(parts, state).await?;
                Ok(request)
            }
        }
    }
}

impl InTenant {
    /// A person's request: the slug names the tenant (cached), and the user
    /// must be a member of it.
    async fn with_session(
        state: &AppState,
        user: UserId,
        slug: &str,
        intent: Intent,
    ) -> Result<Self, AppError> {
        let mut cached = state.tenant_slugs.get(slug);
        loop {
            let from_cache = cached.is_some();
            let tenant_id = match cached.take() {
                Some(id) => id,
                None => {
                    let id = global::tenant_id_by_slug(&state.db, slug)
                        .await?
                        .ok_or(AppError::NotFound)?;
                    state.tenant_slugs.insert(slug, id);
                    id
                }
            };
            let mut scope = for_tenant(&state.db, tenant_id, intent).await?;
            match membership_of(&mut scope, user, slug).await? {
                Lookup::Member(tenant, member) => {
                    return Ok(Self {
                        tenant: *tenant,
                        member,
                        scope,
                        via_api_token: false,
                    });
                }
                // The cached tenant is gone (and its slug maybe taken by
                // another): forget it and look the slug up again, once.
                Lookup::StaleSlug if from_cache => state.tenant_slugs.remove(slug),
                Lookup::NotAMember | Lookup::StaleSlug => return Err(AppError::NotFound),
            }
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
            Lookup::Member(tenant, mut member) => {
                member.role = token_role.at_most(member.role);
                Ok(Self {
                    tenant: *tenant,
                    member,
                    scope,
                    via_api_token: true,
                })
            }
            Lookup::NotAMember | Lookup::StaleSlug => Err(AppError::NotFound),
        }
    }
}

/// The token of an `Authorization: Bearer …` header.
pub fn bearer_token(parts: &Parts) -> Option<String> {
    let value = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

/// Tenant ids by URL slug, so a tenant request needn't look its slug up
/// every time. Slugs never change; an entry can only go stale when its tenant
/// is deleted and the slug reused, which the membership query notices.
#[derive(Debug, Default)]
pub struct SlugCache(std::sync::RwLock<std::collections::HashMap<String, TenantId>>);

impl SlugCache {
    const CAPACITY: usize = 10_000;

    fn get(&self, slug: &str) -> Option<TenantId> {
        self.0.read().ok()?.get(slug).copied()
    }

    fn insert(&self, slug: &str, id: TenantId) {
        if let Ok(mut map) = self.0.write() {
            if map.len() >= Self::CAPACITY {
                map.clear();
            }
            map.insert(slug.to_owned(), id);
        }
    }

    fn remove(&self, slug: &str) {
        if let Ok(mut map) = self.0.write() {
            map.remove(slug);
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
    billing: crate::billing::BillingState,
}

impl<'r, R> sqlx::FromRow<'r, R> for MembershipRow
where
    R: sqlx::Row,
    &'r str: sqlx::ColumnIndex<R>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<MembershipId>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    crate::billing::BillingState: sqlx::FromRow<'r, R>,
    Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    fn from_row(row: &'r R) -> Result<Self, sqlx::Error> {
        Ok(Self {
            name: row.try_get("name")?,
            slug: row.try_get("slug")?,
            time_zone: row.try_get("time_zone")?,
            membership_id: row.try_get("membership_id")?,
            role: row.try_get("role")?,
            billing: crate::billing::BillingState::from_row(row)?,
        })
    }
}

enum Lookup {
    Member(Box<Tenant>, Member),
    NotAMember,
    StaleSlug,
}

/// The scope's tenant and `user`'s membership in it, checking that the
/// tenant still has `slug`.
async fn membership_of(
    scope: &mut TenantScope,
    user: UserId,
    slug: &str,
) -> Result<Lookup, AppError> {
    let tenant_id = scope.tenant_id();
    let row: Option<MembershipRow> = on_tx!(scope.tx(), |conn| {
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
    })?;
    let Some(row) = row else {
        return Ok(Lookup::StaleSlug);
    };
    if row.slug != slug {
        return Ok(Lookup::StaleSlug);
    }
    let (Some(membership_id), Some(role)) = (row.membership_id, row.role) else {
        return Ok(Lookup::NotAMember);
    };
    Ok(Lookup::Member(
        Box::new(Tenant {
            id: tenant_id,
            name: row.name,
            slug: row.slug,
            time_zone: row.time_zone,
            billing: row.billing,
        }),
        Member {
            membership_id,
            user_id: user,
            role: Role::parse(&role)?,
            impersonated_by: None,
        },
    ))
}
