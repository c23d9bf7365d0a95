//! Queries on the global `users` table. Creating a user happens inside the
//! tenant scope that creates their first tenant (see `accounts::signup`);
//! everything else about an account is here.

use time::OffsetDateTime;

use super::CurrentUser;
use super::email::Email;
use super::tokens::Purpose;
use crate::db::Db;
use crate::ids::UserId;
use crate::on_backend;

/// Marks `$email` verified for `$user` if it is still their address and
/// not verified yet, on `$executor`.
macro_rules! mark_verified {
    ($user:expr, $email:expr, $now:expr, $executor:expr) => {
        sqlx::query(
            "UPDATE users SET email_verified_at = $3 \
             WHERE id = $1 AND lower(email) = $2 AND email_verified_at IS NULL",
        )
        .bind($user)
        .bind($email)
        .bind($now)
        .execute($executor)
        .await
        .map(drop)
    };
}

/// Deletes the live token with this digest and purpose on `$executor`,
/// returning its user and the address it was sent to: using a token is
/// deleting it, so two uses can't both succeed.
macro_rules! take_token {
    ($digest:expr, $purpose:expr, $now:expr, $executor:expr) => {
        sqlx::query_as::<_, (UserId, String)>(
            "DELETE FROM account_tokens WHERE digest = $1 AND purpose = $2 AND expires_at > $3 \
             RETURNING user_id, email",
        )
        .bind($digest)
        .bind($purpose.name())
        .bind($now.unix_timestamp())
        .fetch_optional($executor)
        .await
    };
}

/// # Errors
/// When the database fails.
pub async fn find_user(db: &Db, id: UserId) -> Result<Option<CurrentUser>, sqlx::Error> {
    let row: Option<(String, bool, bool)> = on_backend!(db, |pool| sqlx::query_as(
        "SELECT email, is_super_admin, email_verified_at IS NOT NULL FROM users WHERE id = $1"
    )
    .bind(id)
    .fetch_optional(pool)
    .await)?;
    Ok(
        row.map(|(email, is_super_admin, email_verified)| CurrentUser {
            id,
            email,
            is_super_admin,
            email_verified,
        }),
    )
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

/// Keeps a mailed token's digest, for `user` at `email`, until `expires_at`.
///
/// # Errors
/// When the database fails.
pub async fn insert_token(
    db: &Db,
    digest: &str,
    purpose: Purpose,
    user: UserId,
    email: &Email,
    expires_at: i64,
) -> Result<(), sqlx::Error> {
    on_backend!(db, |pool| sqlx::query(
        "INSERT INTO account_tokens (digest, purpose, user_id, email, expires_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)"
    )
    .bind(digest)
    .bind(purpose.name())
    .bind(user)
    .bind(email.as_str())
    .bind(expires_at)
    .bind(OffsetDateTime::now_utc().unix_timestamp())
    .execute(pool)
    .await
    .map(drop))
}

/// Whether a live token with this digest exists, without using it.
///
/// # Errors
/// When the database fails.
pub async fn token_is_live(db: &Db, digest: &str, purpose: Purpose) -> Result<bool, sqlx::Error> {
    on_backend!(db, |pool| sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM account_tokens \
                        WHERE digest = $1 AND purpose = $2 AND expires_at > $3)"
    )
    .bind(digest)
    .bind(purpose.name())
    .bind(OffsetDateTime::now_utc().unix_timestamp())
    .fetch_one(pool)
    .await)
}

/// Uses up a live email-verification token and marks its address verified,
/// if it is still the user's. Returns the user, `None` for a token that is
/// unknown, used or expired.
///
/// # Errors
/// When the database fails.
pub async fn verify_email(db: &Db, digest: &str) -> Result<Option<UserId>, sqlx::Error> {
    let now = OffsetDateTime::now_utc();
    on_backend!(db, |pool| {
        let mut tx = pool.begin().await?;
        let owner = take_token!(digest, Purpose::VerifyEmail, now, &mut *tx)?;
        if let Some((user, email)) = &owner {
            mark_verified!(user, email, now, &mut *tx)?;
        }
        tx.commit().await?;
        Ok(owner.map(|(user, _)| user))
    })
}

/// Uses up a live password-reset token: sets the new password hash, marks
/// the address verified (the user proved they read its mail), and ends
/// every session and every other reset link of the user, in one
/// transaction. Returns the user, `None` for a token that is unknown, used
/// or expired.
///
/// # Errors
/// When the database fails.
pub async fn reset_password(
    db: &Db,
    digest: &str,
    password_hash: &str,
) -> Result<Option<UserId>, sqlx::Error> {
    let now = OffsetDateTime::now_utc();
    on_backend!(db, |pool| {
        let mut tx = pool.begin().await?;
        let owner = take_token!(digest, Purpose::ResetPassword, now, &mut *tx)?;
        let Some((user, email)) = owner else {
            return Ok(None);
        };
        sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1")
            .bind(user)
            .bind(password_hash)
            .execute(&mut *tx)
            .await?;
        mark_verified!(&user, &email, now, &mut *tx)?;
        sqlx::query("DELETE FROM account_tokens WHERE user_id = $1 AND purpose = $2")
            .bind(user)
            .bind(Purpose::ResetPassword.name())
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(user)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(user))
    })
}

/// Marks `email` verified for `user`, if it is still their address: an
/// invitation accepted through its emailed link proves they read it.
///
/// # Errors
/// When the database fails.
pub async fn mark_email_verified(db: &Db, user: UserId, email: &Email) -> Result<(), sqlx::Error> {
    let now = OffsetDateTime::now_utc();
    on_backend!(db, |pool| mark_verified!(user, email.as_str(), now, pool))
}

/// Deletes tokens past their expiry.
///
/// # Errors
/// When the database fails.
pub async fn delete_expired_tokens(db: &Db) -> Result<u64, sqlx::Error> {
    on_backend!(db, |pool| sqlx::query(
        "DELETE FROM account_tokens WHERE expires_at <= $1"
    )
    .bind(OffsetDateTime::now_utc().unix_timestamp())
    .execute(pool)
    .await
    .map(|done| done.rows_affected()))
}
