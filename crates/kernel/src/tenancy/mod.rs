//! Tenancy: who may reach which tenant's data, and how.
//!
//! * [`scope`]: `for_tenant` opens the transaction every tenant-owned query
//!   runs in; repository functions take the [`TenantScope`] it returns.
//! * [`super_admin`]: `all_tenants_unsafe`, the one audited way across tenants.
//! * [`permissions`]: the one place that decides what a member's role allows.
//!
//! It names no capability: the request's doors (`crate::access`: who calls,
//! and `InTenant`, the tenant of `/t/{slug}/…` with the caller's membership
//! and the request's scope) sit above accounts, API tokens and billing.

pub mod global;
pub mod permissions;
pub mod scope;
pub mod super_admin;

use serde::{Deserialize, Serialize};

use crate::error::AppError;
use crate::ids::{MembershipId, TenantId, UserId};
pub use permissions::{Action, Permission};
pub use scope::{
    Intent, RowVersions, ScopeError, TenantScope, for_tenant, for_tenant_if_unchanged,
    for_tenant_reading_session,
};

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

/// Tenant ids by URL slug, so a tenant request needn't look its slug up
/// every time. Slugs never change; an entry can only go stale when its tenant
/// is deleted and the slug reused, which the membership query notices.
#[derive(Debug, Default)]
pub struct SlugCache(std::sync::RwLock<std::collections::HashMap<String, TenantId>>);

impl SlugCache {
    const CAPACITY: usize = 10_000;

    pub(crate) fn get(&self, slug: &str) -> Option<TenantId> {
        self.0.read().ok()?.get(slug).copied()
    }

    pub(crate) fn insert(&self, slug: &str, id: TenantId) {
        if let Ok(mut map) = self.0.write() {
            if map.len() >= Self::CAPACITY {
                map.clear();
            }
            map.insert(slug.to_owned(), id);
        }
    }

    pub(crate) fn remove(&self, slug: &str) {
        if let Ok(mut map) = self.0.write() {
            map.remove(slug);
        }
    }
}
