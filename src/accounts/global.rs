//! Queries on the global `users` table.

use super::CurrentUser;
use crate::db::Db;
use crate::ids::UserId;
use crate::on_backend;

/// # Errors
/// When the database fails.
pub async fn find_user(db: &Db, id: UserId) -> Result<Option<CurrentUser>, sqlx::Error> {
    let row: Option<(String, bool)> = on_backend!(db, |pool| sqlx::query_as(
        "SELECT email, is_super_admin FROM users WHERE id = $1"
    )
    .bind(id)
    .fetch_optional(pool)
    .await)?;
    Ok(row.map(|(email, is_super_admin)| CurrentUser {
        id,
        email,
        is_super_admin,
    }))
}
