//! The `tenants` row itself, outside any scope.

use crate::db::Db;
use crate::ids::TenantId;
use crate::on_backend;

/// Deletes the tenant; every row it owns goes with it (each tenant-owned
/// table's `tenant_id` cascades, and the time log's guard lets a whole
/// tenant go).
///
/// # Errors
/// When the database fails.
pub async fn delete(db: &Db, tenant: TenantId) -> Result<bool, sqlx::Error> {
    on_backend!(db, |pool| sqlx::query("DELETE FROM tenants WHERE id = $1")
        .bind(tenant)
        .execute(pool)
        .await
        .map(|done| done.rows_affected() > 0))
}
