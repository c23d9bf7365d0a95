//! The operator's view across tenants. Everything here reads through
//! `all_tenants_unsafe`, so every look is audited.

pub mod pages;

use time::OffsetDateTime;

use crate::ids::TenantId;
use crate::on_tx;
use crate::tenancy::super_admin::AllTenantsScope;

/// One line of the tenant overview.
#[derive(Clone, Debug)]
pub struct TenantSummary {
    pub id: TenantId,
    pub name: String,
    pub slug: String,
    pub members: i64,
    pub locations: i64,
    pub created_at: OffsetDateTime,
}

/// Every tenant with its number of members and active locations, newest
/// first.
///
/// # Errors
/// When the database fails.
pub async fn tenant_overview(
    scope: &mut AllTenantsScope,
) -> Result<Vec<TenantSummary>, sqlx::Error> {
    let rows: Vec<(TenantId, String, String, i64, i64, OffsetDateTime)> = on_tx!(
        scope.tx(),
        |conn| {
            sqlx::query_as(
            "SELECT t.id, t.name, t.slug, \
                (SELECT count(*) FROM memberships m WHERE m.tenant_id = t.id), \
                (SELECT count(*) FROM locations l WHERE l.tenant_id = t.id AND l.archived_at IS NULL), \
                t.created_at \
             FROM tenants t ORDER BY t.created_at DESC, t.id"
        )
        .fetch_all(conn)
        .await
        }
    )?;
    Ok(rows
        .into_iter()
        .map(
            |(id, name, slug, members, locations, created_at)| TenantSummary {
                id,
                name,
                slug,
                members,
                locations,
                created_at,
            },
        )
        .collect())
}
