//! A lease on one kind of work for one tenant (`tenant_leases`): while a
//! worker holds it, no other worker does that work for that tenant. The
//! billing job holds the tenant's `billing` lease across its reads of
//! Stripe and the short transaction that applies them, so two readings of
//! one subscription are never applied out of order, and no database
//! transaction is held across the network.
//!
//! A lease lasts [`super::LEASE`], longer than any job may run
//! ([`super::RUN_TIMEOUT`]): a live holder has always finished, or been cut
//! off, first (and a run cut off releases it as it is dropped); a process
//! that dies holding one frees it when it expires.

use std::time::Duration;

use crate::db::Db;
use crate::ids::TenantId;

/// A held lease, released when dropped (a run cut off by its timeout, too)
/// or with [`release`](Self::release).
#[must_use = "a lease is held until dropped"]
pub struct TenantLease {
    db: Db,
    tenant: TenantId,
    name: &'static str,
    /// `None` once released.
    holder: Option<String>,
}

/// How often a waiting worker asks again.
const RETRY_EVERY: Duration = Duration::from_millis(100);

impl TenantLease {
    /// Takes `tenant`'s lease on `name`, waiting up to `patience` while
    /// another worker holds it; `None` if it is still held then.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn acquire(
        db: &Db,
        tenant: TenantId,
        name: &'static str,
        patience: Duration,
    ) -> Result<Option<Self>, sqlx::Error> {
        let holder = crate::tokens::random_token();
        let give_up = tokio::time::Instant::now() + patience;
        loop {
            let now = super::unix_now();
            let lease = i64::try_from(super::LEASE.as_secs()).unwrap_or(i64::MAX);
            let expires_at = now.saturating_add(lease);
            if super::global::take_lease(db, tenant, name, &holder, now, expires_at).await? {
                return Ok(Some(Self {
                    db: db.clone(),
                    tenant,
                    name,
                    holder: Some(holder),
                }));
            }
            if tokio::time::Instant::now() + RETRY_EVERY > give_up {
                return Ok(None);
            }
            tokio::time::sleep(RETRY_EVERY).await;
        }
    }

    /// Lets the next worker take it now. A failure is logged: the lease
    /// then expires on its own.
    pub async fn release(mut self) {
        if let Some(holder) = self.holder.take() {
            release(&self.db, self.tenant, self.name, &holder).await;
        }
    }
}

impl Drop for TenantLease {
    /// Released in the background: a job's run dropped half-way (cut off
    /// by its timeout, a panic) frees the tenant at once, not in 5 minutes.
    fn drop(&mut self) {
        if let Some(holder) = self.holder.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let (db, tenant, name) = (self.db.clone(), self.tenant, self.name);
            runtime.spawn(async move { release(&db, tenant, name, &holder).await });
        }
    }
}

async fn release(db: &Db, tenant: TenantId, name: &str, holder: &str) {
    if let Err(error) = super::global::release_lease(db, tenant, name, holder).await {
        tracing::warn!(%error, %tenant, lease = name, "a lease was not released; it expires on its own");
    }
}
