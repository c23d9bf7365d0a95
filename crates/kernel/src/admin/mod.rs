//! The operator's view across tenants, for super-admins. Everything that
//! reads or changes a tenant goes through `all_tenants_unsafe`, so every
//! look and every action is in the audit log, with the reason given.

pub mod revenue;

use time::OffsetDateTime;

use crate::billing::BillingState;
use crate::ids::{TenantId, UserId};
use crate::tenancy::super_admin::{AllTenantsScope, SuperAdmin};
use crate::{on_backend, on_tx, row};

/// Tenants on one page of the list.
pub const PAGE_SIZE: i64 = 25;

/// One line of the tenant overview.
#[derive(Clone, Debug)]
pub struct TenantSummary {
    pub id: TenantId,
    pub name: String,
    pub slug: String,
    pub members: i64,
    pub locations: i64,
    pub created_at: OffsetDateTime,
    pub billing: BillingState,
}

impl<'r, R> sqlx::FromRow<'r, R> for TenantSummary
where
    R: sqlx::Row,
    &'r str: sqlx::ColumnIndex<R>,
    TenantId: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    OffsetDateTime: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    BillingState: sqlx::FromRow<'r, R>,
{
    fn from_row(row: &'r R) -> Result<Self, sqlx::Error> {
        Ok(Self {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
            slug: row.try_get("slug")?,
            members: row.try_get("members")?,
            locations: row.try_get("locations")?,
            created_at: row.try_get("created_at")?,
            billing: BillingState::from_row(row)?,
        })
    }
}

/// The overview of the tenants `$page` selects (a WHERE, ORDER BY and
/// LIMIT on `tenants`): each with its members and active locations, counted
/// for that page only, newest first. The counts are grouped by tenant and
/// joined, not correlated subqueries, which Citus refuses across its
/// distributed tables.
macro_rules! summary_of_page {
    ($page:literal) => {
        concat!(
            "WITH page AS MATERIALIZED (SELECT id, name, slug, created_at, ",
            crate::billing_columns!(),
            " FROM tenants ",
            $page,
            ") SELECT page.id, page.name, page.slug, page.created_at, ",
            "coalesce(m.n, 0) AS members, coalesce(l.n, 0) AS locations, ",
            crate::billing_columns!(),
            " FROM page \
             LEFT JOIN (SELECT tenant_id, count(*) AS n FROM memberships \
                        WHERE tenant_id IN (SELECT id FROM page) GROUP BY tenant_id) m \
                    ON m.tenant_id = page.id \
             LEFT JOIN (SELECT tenant_id, count(*) AS n FROM locations \
                        WHERE archived_at IS NULL AND tenant_id IN (SELECT id FROM page) \
                        GROUP BY tenant_id) l \
                    ON l.tenant_id = page.id \
             ORDER BY page.created_at DESC, page.id"
        )
    };
}

/// A `LIKE` pattern matching `text` anywhere, its wildcards escaped.
fn contains_pattern(text: &str) -> String {
    let escaped = text
        .trim()
        .to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// One page (from 0) of the tenants whose name or slug contains `search`,
/// newest first, with their members, active locations and billing state;
/// and whether there are more.
pub async fn tenant_overview(
    scope: &mut AllTenantsScope,
    search: &str,
    page: i64,
) -> Result<(Vec<TenantSummary>, bool), sqlx::Error> {
    let pattern = contains_pattern(search);
    let rows: Vec<TenantSummary> = on_tx!(scope.tx(), |conn| sqlx::query_as(summary_of_page!(
        "WHERE lower(name) LIKE $1 ESCAPE '\\' OR lower(slug) LIKE $1 ESCAPE '\\' \
         ORDER BY created_at DESC, id LIMIT $2 OFFSET $3"
    ))
    .bind(&pattern)
    .bind(PAGE_SIZE + 1)
    .bind(page.max(0) * PAGE_SIZE)
    .fetch_all(conn)
    .await)?;
    Ok(one_page(rows, PAGE_SIZE))
}

/// One tenant, as in the overview.
pub async fn tenant(
    scope: &mut AllTenantsScope,
    id: TenantId,
) -> Result<Option<TenantSummary>, sqlx::Error> {
    on_tx!(scope.tx(), |conn| sqlx::query_as(summary_of_page!(
        "WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await)
}

row! {
    /// An owner of a tenant.
    pub struct Owner {
        pub id: UserId,
        pub email: String,
    }
}

/// The tenant's owners, oldest membership first.
pub async fn owners(
    scope: &mut AllTenantsScope,
    tenant: TenantId,
) -> Result<Vec<Owner>, sqlx::Error> {
    on_tx!(scope.tx(), |conn| sqlx::query_as(
        "SELECT u.id, u.email FROM memberships m JOIN users u ON u.id = m.user_id \
         WHERE m.tenant_id = $1 AND m.role = 'owner' ORDER BY m.created_at, u.email"
    )
    .bind(tenant)
    .fetch_all(conn)
    .await)
}

row! {
    /// An entry of the audit log.
    #[derive(Clone, Debug)]
    pub struct AuditEntry {
        pub actor: String,
        pub reason: String,
        pub created_at: OffsetDateTime,
    }
}

/// Audit entries on one page (from 0), newest first, and whether there are
/// more.
pub async fn audit_log(
    db: &crate::db::Db,
    _admin: &SuperAdmin,
    page: i64,
) -> Result<(Vec<AuditEntry>, bool), sqlx::Error> {
    let entries: Vec<AuditEntry> = on_backend!(db, |pool| sqlx::query_as(
        "SELECT actor, reason, created_at FROM super_admin_audit \
         ORDER BY created_at DESC, id DESC LIMIT $1 OFFSET $2"
    )
    .bind(AUDIT_PAGE_SIZE + 1)
    .bind(page.max(0) * AUDIT_PAGE_SIZE)
    .fetch_all(pool)
    .await)?;
    Ok(one_page(entries, AUDIT_PAGE_SIZE))
}

/// A page from `size + 1` rows: the first `size`, and whether there are
/// more.
fn one_page<T>(mut rows: Vec<T>, size: i64) -> (Vec<T>, bool) {
    let size = usize::try_from(size).unwrap_or(usize::MAX);
    let more = rows.len() > size;
    rows.truncate(size);
    (rows, more)
}

/// Audit entries on one page.
pub const AUDIT_PAGE_SIZE: i64 = 50;
