//! The super-admin's doors: the panel's extractors (a signed-in
//! super-admin with a second factor, who confirmed their password in this
//! session), and the way back from an impersonation. They are the only
//! callers of `SuperAdmin::for_user` (a test checks).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use tower_sessions::Session;

use crate::accounts::CurrentUser;
use crate::db::Db;
use crate::error::AppError;
use crate::http::AppState;
use crate::ids::UserId;
use crate::tenancy::super_admin::{IMPERSONATOR_KEY, SuperAdmin};

/// The super-admin who is impersonating this session's user (and still is
/// a super-admin), to end it or to audit what they do.
///
/// # Errors
/// When the session store or the database fails.
pub async fn behind_impersonation(
    session: &Session,
    db: &Db,
) -> Result<Option<SuperAdmin>, AppError> {
    let Some(id) = session.get::<UserId>(IMPERSONATOR_KEY).await? else {
        return Ok(None);
    };
    let admin = crate::accounts::global::find_user(db, id).await?;
    Ok(admin
        .filter(|admin| admin.is_super_admin)
        .map(|admin| SuperAdmin::for_user(admin.id, admin.email.as_ref())))
}

/// Ends this session's impersonation, whose super-admin no longer is one:
/// the session is cleared, and the request refused with this 403.
///
/// # Errors
/// The 403; a session store failure.
pub async fn impersonation_ended(session: &Session) -> AppError {
    if let Err(error) = session.flush().await {
        return error.into();
    }
    AppError::Forbidden(
        "This impersonation has ended: its super-admin no longer is one. Sign in again.".to_owned(),
    )
}

/// Whether the request's door reads its session in the tenant scope's own
/// query, and checks an impersonation there ([`super::InTenant`]): a
/// route under a tenant's `{slug}` (tests/app/route_registry.rs holds
/// every tenant route to that). Middleware that needs only to know whether
/// the session is an impersonation leaves a read of such a route to the
/// door, so the session isn't loaded on a connection of its own.
pub fn door_reads_session(request: &axum::extract::Request) -> bool {
    request.method().is_safe()
        && request
            .extensions()
            .get::<axum::extract::MatchedPath>()
            .is_some_and(|route| route.as_str().contains("{slug}"))
}

/// The session key that records, for this session, the super-admin who
/// confirmed their password for the panel.
const PANEL_CONFIRMED_KEY: &str = "admin_panel_confirmed";

/// A signed-in super-admin whose sign-in passed a second factor, and who
/// confirmed their password for the panel in this session (they can act as
/// any owner, so a session alone, or a password and a freshly enrolled
/// authenticator, is not enough). Anyone else, signed in or not, gets the
/// 404 of an unknown route: the admin area is not advertised. A
/// super-admin who hasn't confirmed is sent to [`crate::error::PANEL_CONFIRM_PATH`].
impl FromRequestParts<AppState> for SuperAdmin {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let SuperAdminToConfirm(user, session) =
            SuperAdminToConfirm::from_request_parts(parts, state).await?;
        if session.get::<UserId>(PANEL_CONFIRMED_KEY).await? != Some(user.id) {
            return Err(AppError::PanelLocked);
        }
        Ok(SuperAdmin::for_user(user.id, user.email.as_ref()))
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
pub async fn mark_panel_confirmed(session: &Session, user: UserId) -> Result<(), AppError> {
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
        let session = crate::sessions::of(parts, state).await?;
        let verified = crate::accounts::verified_user(&session).await?;
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
