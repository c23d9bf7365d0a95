//! Queries on the global `users` table. Creating a user happens inside the
//! tenant scope that creates their first tenant (see `accounts::signup`);
//! everything else about an account is here.

use super::CurrentUser;
use super::email::Email;
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

/// The user with this email and their password hash (`None` for an account
/// that has none yet).
///
/// # Errors
/// When the database fails.
pub async fn credentials(
    db: &Db,
    email: &Email,
) -> Result<Option<(UserId, Option<String>)>, sqlx::Error> {
    on_backend!(db, |pool| sqlx::query_as(
        "SELECT id, password_hash FROM users WHERE lower(email) = $1"
    )
    .bind(email.as_str())
    .fetch_optional(pool)
    .await)
}

/// Replaces a password hash made with old parameters, unless it changed in
/// the meantime (a password reset racing the sign-in).
///
/// # Errors
/// When the database fails.
pub async fn upgrade_password_hash(
    db: &Db,
    user: UserId,
    old: &str,
    new: &str,
) -> Result<(), sqlx::Error> {
    on_backend!(db, |pool| sqlx::query(
        "UPDATE users SET password_hash = $3 WHERE id = $1 AND password_hash = $2"
    )
    .bind(user)
    .bind(old)
    .bind(new)
    .execute(pool)
    .await
    .map(drop))
}

/// Makes the user with this email a super-admin. Only the
/// `create-superadmin` command calls this: no web path grants it.
///
/// # Errors
/// When the database fails.
pub async fn grant_super_admin(db: &Db, email: &Email) -> Result<Option<UserId>, sqlx::Error> {
    on_backend!(db, |pool| sqlx::query_scalar(
        "UPDATE users SET is_super_admin = true WHERE lower(email) = $1 RETURNING id"
    )
    .bind(email.as_str())
    .fetch_optional(pool)
    .await)
}
