//! Queries on the global `users` table. Creating a user happens inside the
//! tenant scope that creates their first tenant (see `accounts::signup`);
//! everything else about an account is here.

use time::OffsetDateTime;

use super::CurrentUser;
use super::email::Email;
use super::tokens::Purpose;
use crate::db::Db;
use crate::ids::{PasskeyId, UserId};
use crate::jobs::Purge;
use crate::{on_backend, row};

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

row! {
    /// A used token: its user and the address it was sent to.
    pub struct TakenToken {
        pub user_id: UserId,
        pub email: String,
    }
}

/// Deletes the live token with this digest and purpose on `$executor`,
/// returning its user and the address it was sent to: using a token is
/// deleting it, so two uses can't both succeed.
macro_rules! take_token {
    ($digest:expr, $purpose:expr, $now:expr, $executor:expr) => {
        sqlx::query_as::<_, TakenToken>(
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

pub async fn find_user(db: &Db, id: UserId) -> Result<Option<CurrentUser>, sqlx::Error> {
    on_backend!(db, |pool| sqlx::query_as(
        "SELECT id, email, is_super_admin, email_verified_at IS NOT NULL AS email_verified, \
         totp_secret IS NOT NULL AS two_factor FROM users WHERE id = $1"
    )
    .bind(id)
    .fetch_optional(pool)
    .await)
}

row! {
    /// A user's id and password hash (`None` for an account that has none
    /// yet).
    pub struct Credentials {
        pub id: UserId,
        pub password_hash: Option<String>,
    }
}

/// The user with this email and their password hash (`None` for an account
/// that has none yet).
pub async fn credentials(db: &Db, email: &Email) -> Result<Option<Credentials>, sqlx::Error> {
    on_backend!(db, |pool| sqlx::query_as(
        "SELECT id, password_hash FROM users WHERE lower(email) = $1"
    )
    .bind(email.as_str())
    .fetch_optional(pool)
    .await)
}

/// Replaces a password hash made with old parameters, unless it changed in
/// the meantime (a password reset racing the sign-in).
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

/// What granting super-admin came to.
#[derive(Debug, PartialEq, Eq)]
pub enum SuperAdminGrant {
    Granted(UserId),
    NoAccount,
    /// The account has no second factor: a super-admin's password alone
    /// (or with an authenticator enrolled by whoever has it) must never
    /// open the panel, so two-factor comes first.
    NoSecondFactor,
}

/// Makes the account with `email` a super-admin, if it has two-factor on.
/// Only the `create-superadmin` command calls this: no web path grants it.
pub async fn grant_super_admin(db: &Db, email: &Email) -> Result<SuperAdminGrant, sqlx::Error> {
    let granted: Option<UserId> = on_backend!(db, |pool| sqlx::query_scalar(
        "UPDATE users SET is_super_admin = true \
         WHERE lower(email) = $1 AND totp_secret IS NOT NULL RETURNING id"
    )
    .bind(email.as_str())
    .fetch_optional(pool)
    .await)?;
    if let Some(user) = granted {
        return Ok(SuperAdminGrant::Granted(user));
    }
    let exists: bool = on_backend!(db, |pool| sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM users WHERE lower(email) = $1)"
    )
    .bind(email.as_str())
    .fetch_one(pool)
    .await)?;
    Ok(if exists {
        SuperAdminGrant::NoSecondFactor
    } else {
        SuperAdminGrant::NoAccount
    })
}

/// A mailed token to keep: its digest, for `user` at `email`, until
/// `expires_at`, bound to `browser` (a digest) if given.
pub struct NewToken<'a> {
    pub digest: &'a str,
    pub purpose: Purpose,
    pub user: UserId,
    pub email: &'a Email,
    pub expires_at: i64,
    pub browser: Option<&'a str>,
}

pub async fn insert_token(db: &Db, token: &NewToken<'_>) -> Result<(), sqlx::Error> {
    on_backend!(db, |pool| {
        sqlx::query(
        "INSERT INTO account_tokens (digest, purpose, user_id, email, expires_at, created_at, browser_digest) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)"
    )
    .bind(token.digest)
    .bind(token.purpose.name())
    .bind(token.user)
    .bind(token.email.as_str())
    .bind(token.expires_at)
    .bind(OffsetDateTime::now_utc().unix_timestamp())
    .bind(token.browser)
    .execute(pool)
    .await
    .map(drop)
    })
}

/// Whether a live token with this digest exists, without using it.
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

/// What using a sign-in link came to.
pub enum SignInLink {
    /// The link was live and bound to this browser: it is spent, and the
    /// address it was mailed to (still the user's) is verified.
    SignsIn { user: UserId, two_factor: bool },
    /// Live, but bound to another browser: left live for that one.
    OtherBrowser,
    /// Unknown, used, expired, or mailed to an address the user has since
    /// changed.
    Dead,
}

/// The binding of a live sign-in link: `Some(browser digest)`, or `None`
/// for a link that is unknown, used or expired.
pub async fn live_sign_in_link(db: &Db, digest: &str) -> Result<Option<String>, sqlx::Error> {
    on_backend!(db, |pool| sqlx::query_scalar(
        "SELECT coalesce(browser_digest, '') FROM account_tokens \
         WHERE digest = $1 AND purpose = $2 AND expires_at > $3"
    )
    .bind(digest)
    .bind(Purpose::SignIn.name())
    .bind(OffsetDateTime::now_utc().unix_timestamp())
    .fetch_optional(pool)
    .await)
}

/// Uses up a live sign-in link bound to `browser` (the digest of the
/// asking browser's secret; `None` for a browser that holds none), in one
/// transaction.
pub async fn use_sign_in_link(
    db: &Db,
    digest: &str,
    browser: Option<&str>,
) -> Result<SignInLink, sqlx::Error> {
    let elsewhere = || async {
        Ok(match live_sign_in_link(db, digest).await? {
            Some(_) => SignInLink::OtherBrowser,
            None => SignInLink::Dead,
        })
    };
    let Some(browser) = browser else {
        return elsewhere().await;
    };
    let now = OffsetDateTime::now_utc();
    on_backend!(db, |pool| {
        let mut tx = pool.begin().await?;
        let taken = sqlx::query_as::<_, TakenToken>(
            "DELETE FROM account_tokens \
             WHERE digest = $1 AND purpose = $2 AND expires_at > $3 AND browser_digest = $4 \
             RETURNING user_id, email",
        )
        .bind(digest)
        .bind(Purpose::SignIn.name())
        .bind(now.unix_timestamp())
        .bind(browser)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(TakenToken {
            user_id: user,
            email,
        }) = taken
        else {
            drop(tx);
            return elsewhere().await;
        };
        // A link mailed before an email change signs no one in.
        let two_factor: Option<bool> = sqlx::query_scalar(
            "SELECT totp_secret IS NOT NULL FROM users WHERE id = $1 AND lower(email) = $2",
        )
        .bind(user)
        .bind(&email)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(two_factor) = two_factor else {
            tx.commit().await?;
            return Ok(SignInLink::Dead);
        };
        mark_verified!(&user, &email, now, &mut *tx)?;
        tx.commit().await?;
        Ok(SignInLink::SignsIn { user, two_factor })
    })
}

/// Uses up a live link that confirms an address: an email-verification
/// link marks its address verified, if it is still the user's; an
/// email-change link makes its address the user's, verified, unless another
/// account has taken it meanwhile (and links mailed to the old address stop
/// working). Returns the user, `None` for a link that is unknown, used,
/// expired, or whose address was taken.
pub async fn verify_email(db: &Db, digest: &str) -> Result<Option<UserId>, sqlx::Error> {
    let now = OffsetDateTime::now_utc();
    on_backend!(db, |pool| {
        let mut tx = pool.begin().await?;
        if let Some(TakenToken {
            user_id: user,
            email,
        }) = take_token!(digest, Purpose::VerifyEmail, now, &mut *tx)?
        {
            mark_verified!(&user, &email, now, &mut *tx)?;
            tx.commit().await?;
            return Ok(Some(user));
        }
        let Some(TakenToken {
            user_id: user,
            email,
        }) = take_token!(digest, Purpose::ChangeEmail, now, &mut *tx)?
        else {
            return Ok(None);
        };
        let changed = match sqlx::query(
            "UPDATE users SET email = $2, email_verified_at = $3 \
             WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM users WHERE lower(email) = $2 AND id <> $1)",
        )
        .bind(user)
        .bind(&email)
        .bind(now)
        .execute(&mut *tx)
        .await
        {
            Ok(done) => done.rows_affected(),
            // Another account took the address at this moment: the unique
            // index decides, and the link is spent.
            Err(sqlx::Error::Database(error)) if error.is_unique_violation() => return Ok(None),
            Err(error) => return Err(error),
        };
        if changed == 1 {
            sqlx::query("DELETE FROM account_tokens WHERE user_id = $1")
                .bind(user)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok((changed == 1).then_some(user))
    })
}

/// A new password voids the links that could open the account without it:
/// pending reset links and sign-in links ($1 the user, $2 and $3 the two
/// purposes). Resetting to lock an intruder out must not leave them a link
/// they asked for a minute before.
const VOID_PASSWORD_LINKS: &str =
    "DELETE FROM account_tokens WHERE user_id = $1 AND purpose IN ($2, $3)";

/// What a reset that first confirms an address removes: the other ways
/// into the account (each signs in alone), which its maker may have added
/// before its owner came. A second factor stays: a reset link never
/// signs past one, whoever holds the mailbox.
const FORGET_UNCONFIRMED_WAYS_IN: [&str; 2] = [
    "DELETE FROM passkeys WHERE user_id = $1",
    "DELETE FROM user_identities WHERE user_id = $1",
];

/// Uses up a live password-reset token: sets the new password hash, marks
/// the address verified (the user proved they read its mail), and ends
/// every session and every other reset link of the user (and, for an
/// address confirmed only now, the other ways in), in one transaction.
/// Returns the user, `None` for a token that is unknown, used or expired.
pub async fn reset_password(
    db: &Db,
    digest: &str,
    password_hash: &str,
) -> Result<Option<UserId>, sqlx::Error> {
    let now = OffsetDateTime::now_utc();
    on_backend!(db, |pool| {
        let mut tx = pool.begin().await?;
        let owner = take_token!(digest, Purpose::ResetPassword, now, &mut *tx)?;
        let Some(TakenToken {
            user_id: user,
            email,
        }) = owner
        else {
            return Ok(None);
        };
        // A link sent before an email change resets nothing.
        let updated =
            sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1 AND lower(email) = $3")
                .bind(user)
                .bind(password_hash)
                .bind(&email)
                .execute(&mut *tx)
                .await?;
        if updated.rows_affected() == 0 {
            return Ok(None);
        }
        let unconfirmed: bool =
            sqlx::query_scalar("SELECT email_verified_at IS NULL FROM users WHERE id = $1")
                .bind(user)
                .fetch_one(&mut *tx)
                .await?;
        if unconfirmed {
            // Whoever made the account may not be who reads the address
            // (anyone can sign up with someone else's): the ways in they may
            // have added go, and the address's owner starts afresh.
            for forget in FORGET_UNCONFIRMED_WAYS_IN {
                sqlx::query(forget).bind(user).execute(&mut *tx).await?;
            }
        }
        mark_verified!(&user, &email, now, &mut *tx)?;
        sqlx::query(VOID_PASSWORD_LINKS)
            .bind(user)
            .bind(Purpose::ResetPassword.name())
            .bind(Purpose::SignIn.name())
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
pub async fn mark_email_verified(db: &Db, user: UserId, email: &Email) -> Result<(), sqlx::Error> {
    let now = OffsetDateTime::now_utc();
    on_backend!(db, |pool| mark_verified!(user, email.as_str(), now, pool))
}

/// Mailed tokens past their expiry, in the hourly purge.
pub const EXPIRED_TOKENS: Purge = Purge {
    name: "tokens",
    run: |db| Box::pin(delete_expired_tokens(db)),
};

/// Deletes tokens past their expiry.
pub async fn delete_expired_tokens(db: &Db) -> Result<u64, sqlx::Error> {
    on_backend!(db, |pool| sqlx::query(
        "DELETE FROM account_tokens WHERE expires_at <= $1"
    )
    .bind(OffsetDateTime::now_utc().unix_timestamp())
    .execute(pool)
    .await
    .map(|done| done.rows_affected()))
}

/// The user's encrypted TOTP secret, if they enrolled.
pub async fn totp_secret(db: &Db, user: UserId) -> Result<Option<String>, sqlx::Error> {
    let secret: Option<Option<String>> = on_backend!(db, |pool| sqlx::query_scalar(
        "SELECT totp_secret FROM users WHERE id = $1"
    )
    .bind(user)
    .fetch_optional(pool)
    .await)?;
    Ok(secret.flatten())
}

/// Enrols the user: their encrypted secret, the step of the code that
/// confirmed it (so it can't be used again), and new recovery codes (the
/// old ones go), in one transaction. `false` (and no change) when they are
/// enrolled already: a second enrolment must not replace the first.
pub async fn enable_totp(
    db: &Db,
    user: UserId,
    encrypted_secret: &str,
    step: i64,
    recovery_digests: &[String],
) -> Result<bool, sqlx::Error> {
    on_backend!(db, |pool| {
        let mut tx = pool.begin().await?;
        let enrolled = sqlx::query(
            "UPDATE users SET totp_secret = $2, totp_last_step = $3 WHERE id = $1 AND totp_secret IS NULL",
        )
        .bind(user)
        .bind(encrypted_secret)
        .bind(step)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if enrolled == 0 {
            return Ok(false);
        }
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
            .bind(user)
            .execute(&mut *tx)
            .await?;
        for digest in recovery_digests {
            sqlx::query("INSERT INTO recovery_codes (user_id, digest) VALUES ($1, $2)")
                .bind(user)
                .bind(digest)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await.map(|()| true)
    })
}

/// Accepts the code of `step` once: only if no code of this step or a
/// later one was accepted before (one statement, so two concurrent uses
/// of a code can't both pass).
pub async fn accept_totp_step(db: &Db, user: UserId, step: i64) -> Result<bool, sqlx::Error> {
    let updated = on_backend!(db, |pool| {
        sqlx::query(
        "UPDATE users SET totp_last_step = $2 \
         WHERE id = $1 AND totp_secret IS NOT NULL AND (totp_last_step IS NULL OR totp_last_step < $2)"
    )
    .bind(user)
    .bind(step)
    .execute(pool)
    .await
    .map(|done| done.rows_affected())
    })?;
    Ok(updated == 1)
}

/// Uses up an unused recovery code of the user.
pub async fn use_recovery_code(db: &Db, user: UserId, digest: &str) -> Result<bool, sqlx::Error> {
    let updated = on_backend!(db, |pool| {
        sqlx::query(
        "UPDATE recovery_codes SET used_at = $3 WHERE user_id = $1 AND digest = $2 AND used_at IS NULL"
    )
    .bind(user)
    .bind(digest)
    .bind(OffsetDateTime::now_utc().unix_timestamp())
    .execute(pool)
    .await
    .map(|done| done.rows_affected())
    })?;
    Ok(updated == 1)
}

/// How many recovery codes the user has left.
pub async fn recovery_codes_left(db: &Db, user: UserId) -> Result<i64, sqlx::Error> {
    on_backend!(db, |pool| sqlx::query_scalar(
        "SELECT count(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL"
    )
    .bind(user)
    .fetch_one(pool)
    .await)
}

/// Turns two-factor authentication off: the secret and the recovery codes go.
pub async fn disable_totp(db: &Db, user: UserId) -> Result<(), sqlx::Error> {
    on_backend!(db, |pool| {
        let mut tx = pool.begin().await?;
        sqlx::query("UPDATE users SET totp_secret = NULL, totp_last_step = NULL WHERE id = $1")
            .bind(user)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
            .bind(user)
            .execute(&mut *tx)
            .await?;
        tx.commit().await
    })
}

/// Whether an account other than `user` has `email` (any case).
pub async fn email_taken(db: &Db, user: UserId, email: &Email) -> Result<bool, sqlx::Error> {
    on_backend!(db, |pool| sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM users WHERE lower(email) = $1 AND id <> $2)"
    )
    .bind(email.as_str())
    .bind(user)
    .fetch_one(pool)
    .await)
}

/// Forgets the user's pending email changes: a new request replaces them.
pub async fn cancel_email_changes(db: &Db, user: UserId) -> Result<(), sqlx::Error> {
    on_backend!(db, |pool| sqlx::query(
        "DELETE FROM account_tokens WHERE user_id = $1 AND purpose = $2"
    )
    .bind(user)
    .bind(Purpose::ChangeEmail.name())
    .execute(pool)
    .await
    .map(drop))
}

/// Sets a new password hash; pending reset and sign-in links stop working.
pub async fn set_password_hash(
    db: &Db,
    user: UserId,
    password_hash: &str,
) -> Result<(), sqlx::Error> {
    on_backend!(db, |pool| {
        let mut tx = pool.begin().await?;
        sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1")
            .bind(user)
            .bind(password_hash)
            .execute(&mut *tx)
            .await?;
        sqlx::query(VOID_PASSWORD_LINKS)
            .bind(user)
            .bind(Purpose::ResetPassword.name())
            .bind(Purpose::SignIn.name())
            .execute(&mut *tx)
            .await?;
        tx.commit().await
    })
}

/// Deletes the account with its sessions; its memberships (and their API
/// tokens), tokens and recovery codes go with it (foreign keys).
pub async fn delete_user(db: &Db, user: UserId) -> Result<(), sqlx::Error> {
    on_backend!(db, |pool| {
        let mut tx = pool.begin().await?;
        sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(user)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(user)
            .execute(&mut *tx)
            .await?;
        tx.commit().await
    })
}

row! {
    /// Who a provider's account signs in.
    pub struct IdentityOwner {
        pub id: UserId,
        pub two_factor: bool,
    }
}

/// The user `subject` at `provider` (as `issuer`) signs in, if it is
/// linked.
pub async fn identity_owner(
    db: &Db,
    provider: &str,
    issuer: &str,
    subject: &str,
) -> Result<Option<IdentityOwner>, sqlx::Error> {
    on_backend!(db, |pool| sqlx::query_as(
        "SELECT u.id, u.totp_secret IS NOT NULL AS two_factor \
         FROM user_identities i JOIN users u ON u.id = i.user_id \
         WHERE i.provider = $1 AND i.issuer = $2 AND i.subject = $3"
    )
    .bind(provider)
    .bind(issuer)
    .bind(subject)
    .fetch_optional(pool)
    .await)
}

row! {
    /// A provider account linked to a user, as the account page lists it.
    pub struct Identity {
        pub provider: String,
        /// The address the provider gave when it was linked.
        pub email: String,
        pub created_at: OffsetDateTime,
    }
}

/// The user's linked provider accounts, oldest first.
pub async fn identities(db: &Db, user: UserId) -> Result<Vec<Identity>, sqlx::Error> {
    on_backend!(db, |pool| sqlx::query_as(
        "SELECT provider, email, created_at FROM user_identities \
         WHERE user_id = $1 ORDER BY created_at, provider"
    )
    .bind(user)
    .fetch_all(pool)
    .await)
}

/// Links `subject` at `provider` (as `issuer`) to `user`. `false` (and no
/// change) when that account is linked already, to them or anyone, or they
/// have another account at that provider linked.
pub async fn link_identity(
    db: &Db,
    user: UserId,
    provider: &str,
    issuer: &str,
    subject: &str,
    email: &str,
) -> Result<bool, sqlx::Error> {
    on_backend!(db, |pool| sqlx::query(
        "INSERT INTO user_identities (provider, issuer, subject, user_id, email, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING"
    )
    .bind(provider)
    .bind(issuer)
    .bind(subject)
    .bind(user)
    .bind(email)
    .bind(OffsetDateTime::now_utc())
    .execute(pool)
    .await
    .map(|done| done.rows_affected() == 1))
}

/// Locks the user's row on `$executor` (so a second removal of a sign-in
/// method waits for this one, on both backends) and reads whether they have
/// a password.
macro_rules! lock_user {
    ($user:expr, $executor:expr) => {{
        let password: Option<Option<String>> =
            sqlx::query_scalar("UPDATE users SET id = id WHERE id = $1 RETURNING password_hash")
                .bind($user)
                .fetch_optional($executor)
                .await?;
        password.flatten().is_some()
    }};
}

/// Whether the user, who has a password or not, still has a way to sign
/// in on `$executor`: the password, a provider among `$configured` (one the
/// app no longer offers signs no one in), or a passkey.
macro_rules! another_way {
    ($user:expr, $password:expr, $configured:expr, $executor:expr) => {{
        let providers: Vec<String> =
            sqlx::query_scalar("SELECT provider FROM user_identities WHERE user_id = $1")
                .bind($user)
                .fetch_all(&mut *$executor)
                .await?;
        let passkeys: i64 = sqlx::query_scalar("SELECT count(*) FROM passkeys WHERE user_id = $1")
            .bind($user)
            .fetch_one(&mut *$executor)
            .await?;
        $password
            || passkeys > 0
            || providers
                .iter()
                .any(|provider| $configured.contains(&provider.as_str()))
    }};
}

/// Runs `$delete`, which removes one of `$user`'s ways to sign in, in a
/// transaction kept only if another way remains ([`Unlinked`] says what
/// happened). The user's row is locked first, so two removals at once
/// can't both pass the check.
macro_rules! remove_way {
    ($pool:expr, $user:expr, $configured:expr, $delete:expr) => {{
        let mut tx = $pool.begin().await?;
        let password = lock_user!($user, &mut *tx);
        if $delete.execute(&mut *tx).await?.rows_affected() == 0 {
            return Ok(Unlinked::NotLinked);
        }
        if !another_way!($user, password, $configured, &mut *tx) {
            return Ok(Unlinked::LastWay);
        }
        tx.commit().await?;
        Ok(Unlinked::Done)
    }};
}

/// What unlinking a provider did.
#[derive(Debug, PartialEq, Eq)]
pub enum Unlinked {
    Done,
    /// Nothing: it was the account's last way to sign in.
    LastWay,
    /// Nothing: no account at that provider is linked.
    NotLinked,
}

/// Unlinks the user's account at `provider`, unless nothing else would
/// sign them in then: no password, and no other provider among
/// `configured` (one the app no longer offers signs no one in). One
/// transaction, so two unlinks at once can't both pass the check.
pub async fn unlink_identity(
    db: &Db,
    user: UserId,
    provider: &str,
    configured: &[&str],
) -> Result<Unlinked, sqlx::Error> {
    on_backend!(db, |pool| remove_way!(
        pool,
        user,
        configured,
        sqlx::query("DELETE FROM user_identities WHERE user_id = $1 AND provider = $2")
            .bind(user)
            .bind(provider)
    ))
}

row! {
    /// A passkey, as the account page lists it.
    pub struct PasskeyListed {
        pub id: PasskeyId,
        pub name: String,
        pub created_at: OffsetDateTime,
        pub last_used_at: Option<OffsetDateTime>,
    }
}

/// The user's passkeys, oldest first.
pub async fn passkeys(db: &Db, user: UserId) -> Result<Vec<PasskeyListed>, sqlx::Error> {
    on_backend!(db, |pool| sqlx::query_as(
        "SELECT id, name, created_at, last_used_at FROM passkeys WHERE user_id = $1 \
         ORDER BY created_at"
    )
    .bind(user)
    .fetch_all(pool)
    .await)
}

/// The stored records (webauthn-rs' JSON) of the user's passkeys, so a new
/// registration can exclude the authenticators that have one already.
pub async fn passkey_records(db: &Db, user: UserId) -> Result<Vec<String>, sqlx::Error> {
    on_backend!(db, |pool| sqlx::query_scalar(
        "SELECT passkey FROM passkeys WHERE user_id = $1"
    )
    .bind(user)
    .fetch_all(pool)
    .await)
}

/// A new passkey. `false` (and no change) when its credential is stored
/// already.
pub struct NewPasskey<'a> {
    pub user: UserId,
    pub name: &'a str,
    pub credential_id: &'a str,
    pub record: &'a str,
}

pub async fn insert_passkey(db: &Db, passkey: &NewPasskey<'_>) -> Result<bool, sqlx::Error> {
    on_backend!(db, |pool| sqlx::query(
        "INSERT INTO passkeys (id, user_id, name, credential_id, passkey, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING"
    )
    .bind(PasskeyId::new())
    .bind(passkey.user)
    .bind(passkey.name)
    .bind(passkey.credential_id)
    .bind(passkey.record)
    .bind(OffsetDateTime::now_utc())
    .execute(pool)
    .await
    .map(|done| done.rows_affected() == 1))
}

row! {
    /// The passkey a sign-in presented, and whose it is.
    pub struct PasskeyOwner {
        pub id: PasskeyId,
        pub user_id: UserId,
        pub passkey: String,
    }
}

pub async fn passkey_by_credential(
    db: &Db,
    credential_id: &str,
) -> Result<Option<PasskeyOwner>, sqlx::Error> {
    on_backend!(db, |pool| sqlx::query_as(
        "SELECT id, user_id, passkey FROM passkeys WHERE credential_id = $1"
    )
    .bind(credential_id)
    .fetch_optional(pool)
    .await)
}

/// Records a sign-in with the user's passkey: its new record (the
/// signature counter moved) and when. `false` when it is gone (removed
/// while the sign-in was under way): then it signs no one in.
pub async fn passkey_used(
    db: &Db,
    user: UserId,
    id: PasskeyId,
    record: &str,
) -> Result<bool, sqlx::Error> {
    on_backend!(db, |pool| sqlx::query(
        "UPDATE passkeys SET passkey = $3, last_used_at = $4 WHERE id = $1 AND user_id = $2"
    )
    .bind(id)
    .bind(user)
    .bind(record)
    .bind(OffsetDateTime::now_utc())
    .execute(pool)
    .await
    .map(|done| done.rows_affected() == 1))
}

/// Renames one of the user's passkeys; `false` when they have no such one.
pub async fn rename_passkey(
    db: &Db,
    user: UserId,
    id: PasskeyId,
    name: &str,
) -> Result<bool, sqlx::Error> {
    on_backend!(db, |pool| sqlx::query(
        "UPDATE passkeys SET name = $3 WHERE id = $1 AND user_id = $2"
    )
    .bind(id)
    .bind(user)
    .bind(name)
    .execute(pool)
    .await
    .map(|done| done.rows_affected() == 1))
}

/// Removes one of the user's passkeys, unless nothing else would sign them
/// in then (as [`unlink_identity`]).
pub async fn delete_passkey(
    db: &Db,
    user: UserId,
    id: PasskeyId,
    configured: &[&str],
) -> Result<Unlinked, sqlx::Error> {
    on_backend!(db, |pool| remove_way!(
        pool,
        user,
        configured,
        sqlx::query("DELETE FROM passkeys WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(user)
    ))
}
