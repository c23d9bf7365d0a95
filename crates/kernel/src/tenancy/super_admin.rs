//! The one cross-tenant path. [`all_tenants_unsafe`] needs a [`SuperAdmin`]
//! (made only by the panel's extractors and the way back from an
//! impersonation, in `access::super_admin`, and by operator commands of the
//! CLI: a test checks) and a reason, and records both in the
//! `super_admin_audit` table before it opens anything.

use time::OffsetDateTime;

use super::scope::{Binding, Intent, ScopeError, begin};
use crate::db::Tx;

use crate::db::Db;
use crate::ids::{AuditEntryId, UserId};
use crate::on_backend;

/// Proof that a super-admin is acting. The fields are private: code outside
/// this module obtains one only through [`Self::for_user`] (the access
/// layer's extractors) or [`Self::for_cli`].
pub struct SuperAdmin {
    user: Option<UserId>,
    actor: String,
}

impl SuperAdmin {
    /// For operator commands (`app tenants`): whoever runs them on the server
    /// already holds DATABASE_URL. Only `cli.rs` calls this (a test checks).
    pub fn for_cli() -> Self {
        let operator = std::env::var("USER").unwrap_or_else(|_| "unknown".to_owned());
        Self {
            user: None,
            actor: format!("cli:{operator}"),
        }
    }
}

/// The session key that holds, while a super-admin acts as a tenant's
/// owner, the super-admin's own user id: the way back.
pub const IMPERSONATOR_KEY: &str = "impersonator";

impl SuperAdmin {
    /// A signed-in super-admin, for the extractors of `access::super_admin`
    /// (which check the flag, the second factor and the panel's password),
    /// and only them (a test checks).
    pub(crate) fn for_user(id: UserId, email: &str) -> Self {
        Self {
            user: Some(id),
            actor: format!("user:{email}"),
        }
    }

    /// The super-admin's user id (`None` for the CLI).
    pub fn user_id(&self) -> Option<UserId> {
        self.user
    }
}

/// A transaction that sees every tenant's rows.
pub struct AllTenantsScope {
    tx: Tx,
}

impl AllTenantsScope {
    pub fn tx(&mut self) -> &mut Tx {
        &mut self.tx
    }

    /// # Errors
    /// When the commit fails (nothing was written).
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }
}

/// Opens a transaction over all tenants, after recording who asked and why.
/// The audit entry is committed first, on its own, so it survives whatever
/// the scope then does.
///
/// # Errors
/// An empty reason, or a database error.
pub async fn all_tenants_unsafe(
    db: &Db,
    admin: &SuperAdmin,
    reason: &str,
    intent: Intent,
) -> Result<AllTenantsScope, ScopeError> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(ScopeError::MissingReason);
    }
    audit(db, admin, reason).await?;
    let tx = begin(db, Binding::AllTenants, intent).await?;
    Ok(AllTenantsScope { tx })
}

/// Records in the audit log, committed on its own, what a super-admin does
/// and why: every `all_tenants_unsafe`, and actions that open no scope
/// (ending an impersonation).
pub async fn audit(db: &Db, admin: &SuperAdmin, reason: &str) -> Result<(), sqlx::Error> {
    tracing::warn!(actor = admin.actor, reason, "super-admin audit");
    on_backend!(db, |pool| sqlx::query(
        "INSERT INTO super_admin_audit (id, actor_user_id, actor, reason, created_at) \
         VALUES ($1, $2, $3, $4, $5)"
    )
    .bind(AuditEntryId::new())
    .bind(admin.user)
    .bind(&admin.actor)
    .bind(reason)
    .bind(OffsetDateTime::now_utc())
    .execute(pool)
    .await
    .map(drop))
}
