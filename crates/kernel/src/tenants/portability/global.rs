//! The global rows an archive carries, read outside any tenant scope: the
//! tenants row and its members' users (import writes both in the tenant's
//! scope).

use super::values::{self, Row};
use crate::db::Db;
use crate::db::schema::Table;
use crate::ids::{TenantId, UserId};
use crate::on_backend;

/// The users an archive carries, by these columns only: never a password
/// hash, a two-factor secret or a super-admin flag. (Import creates an
/// account from the id, email and creation time alone.)
pub const USER_COLUMNS: [&str; 4] = ["id", "email", "email_verified_at", "created_at"];

/// Rows of a global `table` whose `id` is one of `ids`.
pub async fn rows_by_id(db: &Db, table: &Table, ids: &[String]) -> Result<Vec<Row>, sqlx::Error> {
    let mut rows = Vec::new();
    for id in ids {
        match db {
            Db::Sqlite(pool) => {
                let sql = values::select_sql(table, "WHERE id = $1");
                if let Some(row) = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(id)
                    .fetch_optional(pool)
                    .await?
                {
                    rows.push(values::from_sqlite(table, &row)?);
                }
            }
            Db::Postgres(postgres) => {
                let sql = values::select_sql(table, "WHERE id = CAST($1 AS uuid)");
                if let Some(row) = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(id)
                    .fetch_optional(&postgres.pool)
                    .await?
                {
                    rows.push(values::from_postgres(table, &row)?);
                }
            }
        }
    }
    Ok(rows)
}

/// Whether a tenant with this id or slug exists.
pub async fn tenant_exists(db: &Db, id: TenantId, slug: &str) -> Result<bool, sqlx::Error> {
    on_backend!(db, |pool| sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM tenants WHERE id = $1 OR slug = $2)"
    )
    .bind(id)
    .bind(slug)
    .fetch_one(pool)
    .await)
}

/// The user with this email (any case), if there is one.
pub async fn user_by_email(db: &Db, email: &str) -> Result<Option<UserId>, sqlx::Error> {
    on_backend!(db, |pool| sqlx::query_scalar(
        "SELECT id FROM users WHERE lower(email) = lower($1)"
    )
    .bind(email)
    .fetch_optional(pool)
    .await)
}

pub async fn user_exists(db: &Db, id: UserId) -> Result<bool, sqlx::Error> {
    on_backend!(db, |pool| sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM users WHERE id = $1)"
    )
    .bind(id)
    .fetch_one(pool)
    .await)
}
