//! The global rows an archive carries, outside any tenant scope: the
//! tenants row (read; import writes it in the tenant's scope) and its
//! members' users.

use serde_json::Value;

use super::values::{self, Row};
use crate::db::Db;
use crate::db::schema::Table;
use crate::ids::{TenantId, UserId};
use crate::on_backend;
use crate::tenancy::scope::Tx;

/// The users an archive carries, by these columns only: never a password
/// hash, a two-factor secret or a super-admin flag.
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

/// Inserts rows of a global table outside any tenant scope: an archive's
/// users (few: the tenant's members).
pub async fn insert(
    db: &Db,
    table: &Table,
    columns: &[String],
    rows: &[Row],
) -> Result<(), sqlx::Error> {
    let mut tx = Tx::global(db).await?;
    values::insert(&mut tx, table, columns, rows).await?;
    tx.commit().await
}

/// Undoes a failed import's users (the tenant's own rows were one
/// transaction, never committed).
pub async fn remove_users(db: &Db, users: &[UserId]) -> Result<(), sqlx::Error> {
    for user in users {
        on_backend!(db, |pool| sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(*user)
            .execute(pool)
            .await
            .map(drop))?;
    }
    Ok(())
}

/// A JSON id as the typed id it is.
pub fn user_id(value: &Value) -> Option<UserId> {
    value.as_str()?.parse().ok()
}
