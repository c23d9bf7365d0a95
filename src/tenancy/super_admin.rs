//! The one cross-tenant path. [`all_tenants_unsafe`] needs a [`SuperAdmin`]
//! (which only this module constructs: the request extractor, for a
//! signed-in super-admin; the way back from an impersonation that such a
//! super-admin started; and operator commands of the CLI) and a reason, and
//! records both in the `super_admin_audit` table before it opens anything.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use time::OffsetDateTime;

use super::scope::{Binding, Intent, ScopeError, begin};
use crate::db::Tx;
use tower_sessions::Session;

use crate::accounts::{CurrentUser, two_factor};
use crate::db::Db;
use crate::error::AppError;
use crate::http::AppState;
use crate::ids::{AuditEntryId, UserId};
use crate::on_backend;

/// Proof that a super-admin is acting. The fields are private: code outside
/// this module can only obtain one from the extractor,
/// [`Self::behind_impersonation`] or [`Self::for_cli`].
pub struct SuperAdmin {
    user: Option<UserId>,
    actor: String,
}

impl SuperAdmin {
    /// For operator commands (`app tenants`): whoever runs them on the server
    /// already holds DATABASE_URL. Only `cli.rs` calls this (a test checks).
    pub(crate) fn for_cli() -> Self {
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

/// The super-admin impersonating the request's user, if any (whether they
/// still are one is checked for every such request, by
/// `admin::impersonation::audit_changes`).
///
/// # Errors
/// When the session store fails.
pub(crate) async fn impersonator(
    parts: &mut Parts,
    state: &AppState,
) -> Result<Option<UserId>, AppError> {
    let session = Session::from_request_parts(parts, state)
        .await
        .map_err(|(_, reason)| AppError::Internal(reason.to_owned()))?;
    Ok(session.get::<UserId>(IMPERSONATOR_KEY).await?)
}

impl SuperAdmin {
    /// The super-admin who is impersonating this session's user (and still
    /// is a super-admin), to end it.
    ///
    /// # Errors
    /// When the session store or the database fails.
    pub(crate) async fn behind_impersonation(
        session: &Session,
        db: &Db,
    ) -> Result<Option<Self>, AppError> {
        let Some(id) = session.get::<UserId>(IMPERSONATOR_KEY).await? else {
            return Ok(None);
        };
        let admin = crate::accounts::global::find_user(db, id).await?;
        Ok(admin
            .filter(|admin| admin.is_super_admin)
            .map(|admin| Self {
                user: Some(admin.id),
                actor: format!("user:{}", admin.email),
            }))
    }

    /// The super-admin's user id (`None` for the CLI).
    pub fn user_id(&self) -> Option<UserId> {
        self.user
    }
}

/// Where a super-admin confirms their password for the panel.
pub const CONFIRM_PATH: &str = "/admin/confirm";

/// The session key that records, for this session, the super-admin who
/// confirmed their password for the panel.
const PANEL_CONFIRMED_KEY: &str = "admin_panel_confirmed";

/// A signed-in super-admin whose sign-in passed a second factor, and who
/// confirmed their password for the panel in this session (they can act as
/// any owner, so a session alone, or a password and a freshly enrolled
/// authenticator, is not enough). Anyone else, signed in or not, gets the
/// 404 of an unknown route: the admin area is not advertised. A
/// super-admin who hasn't confirmed is sent to [`CONFIRM_PATH`].
impl FromRequestParts<AppState> for SuperAdmin {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let SuperAdminToConfirm(user, session) =
            SuperAdminToConfirm::from_request_parts(parts, state).await?;
        if session.get::<UserId>(PANEL_CONFIRMED_KEY).await? != Some(user.id) {
            return Err(AppError::PanelLocked);
        }
        Ok(Self {
            user: Some(user.id),
            actor: format!("user:{}", user.email),
        })
    }
}

/// A super-admin as [`SuperAdmin`] asks, but for the confirmation of the
/// password: what the confirmation page takes.
pub struct SuperAdminToConfirm(pub CurrentUser, pub Session);

impl SuperAdminToConfirm {
    /// Records that this session's super-admin confirmed their password.
    ///
    /// # Errors
    /// When the session store fails.
    pub async fn confirmed(&self) -> Result<(), AppError> {
        mark_panel_confirmed(&self.1, self.0.id).await
    }
}

/// Records that `user`, this session's super-admin, confirmed their
/// password for the panel: at the door, or on the way back from an
/// impersonation they started with the panel open.
///
/// # Errors
/// When the session store fails.
pub(crate) async fn mark_panel_confirmed(session: &Session, user: UserId) -> Result<(), AppError> {
    session.insert(PANEL_CONFIRMED_KEY, user).await?;
    Ok(())
}

impl FromRequestParts<AppState> for SuperAdminToConfirm {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let user = match CurrentUser::from_request_parts(parts, state).await {
            Ok(user) if user.is_super_admin => user,
            Ok(_) | Err(AppError::Unauthorized) => return Err(AppError::NotFound),
            Err(other) => return Err(other),
        };
        let session = Session::from_request_parts(parts, state)
            .await
            .map_err(|(_, reason)| AppError::Internal(reason.to_owned()))?;
        let verified = two_factor::verified_user(&session).await?;
        if !user.two_factor || verified != Some(user.id) {
            return Err(AppError::Forbidden(
                "Super-admin pages need two-factor authentication: turn it on at \
                 /account/two-factor, then sign in again with a code."
                    .to_owned(),
            ));
        }
        Ok(Self(user, session))
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
///
/// # Errors
/// When the database fails.
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
