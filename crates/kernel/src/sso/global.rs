//! The email domains tenants claim for single sign-on (`sso_domains`): a
//! global table, since the sign-in page finds a domain's tenant before any
//! tenant is known. A domain is verified for one tenant at most; any tenant
//! may have a claim waiting, so no one can hold a domain hostage with a
//! claim they can't prove.

use time::OffsetDateTime;

use crate::db::Db;
use crate::ids::TenantId;
use crate::{on_backend, row};

row! {
    /// A tenant's claim on a domain.
    pub struct Domain {
        pub domain: String,
        /// The administrative address the proof was mailed to, if any.
        pub sent_to: Option<String>,
        pub verified_at: Option<OffsetDateTime>,
        /// `email:<address>` or `super-admin:<email>`.
        pub verified_by: Option<String>,
    }
}

/// The tenant's claims, verified ones first.
pub async fn domains(db: &Db, tenant: TenantId) -> Result<Vec<Domain>, sqlx::Error> {
    on_backend!(db, |pool| sqlx::query_as(
        "SELECT domain, sent_to, verified_at, verified_by FROM sso_domains WHERE tenant = $1 \
         ORDER BY verified_at IS NULL, domain"
    )
    .bind(tenant)
    .fetch_all(pool)
    .await)
}

/// Whether any tenant has verified a domain: the sign-in page offers
/// single sign-on only then.
pub async fn any_verified(db: &Db) -> Result<bool, sqlx::Error> {
    on_backend!(db, |pool| sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM sso_domains WHERE verified_at IS NOT NULL)"
    )
    .fetch_one(pool)
    .await)
}

/// The tenant that verified `domain`, if one has.
pub async fn owner_of(db: &Db, domain: &str) -> Result<Option<TenantId>, sqlx::Error> {
    on_backend!(db, |pool| sqlx::query_scalar(
        "SELECT tenant FROM sso_domains WHERE domain = $1 AND verified_at IS NOT NULL"
    )
    .bind(domain)
    .fetch_optional(pool)
    .await)
}

/// A proof on its way: the digest of the link's token, where it was sent,
/// and until when (unix seconds) it can be followed.
pub struct Proof<'a> {
    pub sent_to: &'a str,
    pub token_digest: &'a str,
    pub expires_at: i64,
}

/// Records the tenant's claim on `domain` with a proof on its way (a new
/// proof replaces the one before). `false`, and nothing changed, when the
/// tenant has it verified already.
pub async fn claim(
    db: &Db,
    tenant: TenantId,
    domain: &str,
    proof: &Proof<'_>,
) -> Result<bool, sqlx::Error> {
    on_backend!(db, |pool| {
        sqlx::query(
        "INSERT INTO sso_domains (tenant, domain, sent_to, token_digest, expires_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (tenant, domain) DO UPDATE SET sent_to = $3, token_digest = $4, expires_at = $5 \
         WHERE sso_domains.verified_at IS NULL"
    )
    .bind(tenant)
    .bind(domain)
    .bind(proof.sent_to)
    .bind(proof.token_digest)
    .bind(proof.expires_at)
    .bind(OffsetDateTime::now_utc())
    .execute(pool)
    .await
    .map(|done| done.rows_affected() == 1)
    })
}

row! {
    /// A claim whose proof is waiting, as its link finds it.
    pub struct Waiting {
        pub tenant: TenantId,
        pub domain: String,
        pub sent_to: String,
        pub expires_at: i64,
    }
}

/// The claim waiting for the proof with this token digest.
pub async fn waiting(db: &Db, token_digest: &str) -> Result<Option<Waiting>, sqlx::Error> {
    on_backend!(db, |pool| sqlx::query_as(
        "SELECT tenant, domain, sent_to, expires_at FROM sso_domains \
         WHERE token_digest = $1 AND verified_at IS NULL"
    )
    .bind(token_digest)
    .fetch_optional(pool)
    .await)
}

/// How verifying a claim went.
#[derive(Debug, PartialEq, Eq)]
pub enum Verified {
    Done,
    /// Another tenant verified the domain first.
    Taken,
    /// The claim is gone (removed), or verified already.
    Gone,
}

/// Marks the tenant's claim on `domain` verified, by `by`, and drops its
/// proof. A domain verified by another tenant stays theirs.
pub async fn verify(
    db: &Db,
    tenant: TenantId,
    domain: &str,
    by: &str,
) -> Result<Verified, sqlx::Error> {
    if owner_of(db, domain)
        .await?
        .is_some_and(|owner| owner != tenant)
    {
        return Ok(Verified::Taken);
    }
    let updated = on_backend!(db, |pool| sqlx::query(
        "UPDATE sso_domains SET verified_at = $3, verified_by = $4, token_digest = NULL, \
         expires_at = NULL WHERE tenant = $1 AND domain = $2 AND verified_at IS NULL"
    )
    .bind(tenant)
    .bind(domain)
    .bind(OffsetDateTime::now_utc())
    .bind(by)
    .execute(pool)
    .await
    .map(|done| done.rows_affected()));
    match updated {
        Ok(1) => Ok(Verified::Done),
        Ok(_) => Ok(Verified::Gone),
        // Two tenants verifying at once: the unique index keeps one.
        Err(sqlx::Error::Database(error)) if error.is_unique_violation() => Ok(Verified::Taken),
        Err(error) => Err(error),
    }
}

/// Verifies `domain` for the tenant without a mailed proof (a
/// super-admin's word, `by`), claiming it first if it isn't.
pub async fn grant(
    db: &Db,
    tenant: TenantId,
    domain: &str,
    by: &str,
) -> Result<Verified, sqlx::Error> {
    on_backend!(db, |pool| sqlx::query(
        "INSERT INTO sso_domains (tenant, domain, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT DO NOTHING"
    )
    .bind(tenant)
    .bind(domain)
    .bind(OffsetDateTime::now_utc())
    .execute(pool)
    .await
    .map(drop))?;
    verify(db, tenant, domain, by).await
}

/// Drops the tenant's claim on `domain`, verified or not. `false` when it
/// had none.
pub async fn remove(db: &Db, tenant: TenantId, domain: &str) -> Result<bool, sqlx::Error> {
    on_backend!(db, |pool| sqlx::query(
        "DELETE FROM sso_domains WHERE tenant = $1 AND domain = $2"
    )
    .bind(tenant)
    .bind(domain)
    .execute(pool)
    .await
    .map(|done| done.rows_affected() == 1))
}

/// Ends every session of everyone at the tenant's verified domains but
/// `keep` (the owner's own, who switched the requirement on): sessions
/// opened another way must not outlive it. Returns how many ended.
pub async fn end_sessions_at_domains(
    db: &Db,
    tenant: TenantId,
    keep: &str,
) -> Result<u64, sqlx::Error> {
    on_backend!(db, |pool| sqlx::query(
        "DELETE FROM sessions WHERE id <> $2 AND user_id IN (\
         SELECT u.id FROM users u JOIN sso_domains d \
         ON d.tenant = $1 AND d.verified_at IS NOT NULL AND lower(u.email) LIKE '%@' || d.domain)"
    )
    .bind(tenant)
    .bind(keep)
    .execute(pool)
    .await
    .map(|done| done.rows_affected()))
}
