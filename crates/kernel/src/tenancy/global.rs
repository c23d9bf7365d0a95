//! Queries on the global `tenants` table that run outside any scope: finding
//! the tenant a URL names, before its scope can be opened, and listing them.

use crate::db::Db;
use crate::ids::TenantId;
use crate::on_backend;

/// The tenant whose URL slug is `slug`. A text that can't be a slug
/// ([`is_slug`]) names none, and
/// never reaches the database, which might refuse its bytes (PostgreSQL
/// refuses a NUL in text).
pub async fn tenant_id_by_slug(db: &Db, slug: &str) -> Result<Option<TenantId>, sqlx::Error> {
    if !is_slug(slug) {
        return Ok(None);
    }
    on_backend!(db, |pool| sqlx::query_scalar(
        "SELECT id FROM tenants WHERE slug = $1"
    )
    .bind(slug)
    .fetch_optional(pool)
    .await)
}

/// Whether `text` has a slug's shape: lowercase ASCII letters, digits and
/// dashes.
pub fn is_slug(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Every tenant's id, for work done tenant by tenant (each in its own
/// scope), such as the periodic purge.
pub async fn all_tenant_ids(db: &Db) -> Result<Vec<TenantId>, sqlx::Error> {
    on_backend!(db, |pool| sqlx::query_scalar(
        "SELECT id FROM tenants ORDER BY id"
    )
    .fetch_all(pool)
    .await)
}
