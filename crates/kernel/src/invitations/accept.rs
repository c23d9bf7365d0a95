//! Following an invitation link: `/invitations/{tenant_id}/{token}`. The
//! tenant is in the link so that the invitation is read inside that
//! tenant's scope. Whoever follows it must be, or become, the invited email:
//!
//! * signed in as that email: one button joins the tenant;
//! * signed out, with an account for that email: sign in first;
//! * signed out, without one: choose a password, and the account is made
//!   and joined in one transaction (its email counts as confirmed: the
//!   link proves its owner reads it).
//!
//! Accepting twice does nothing more; an expired, revoked or replaced link
//! is refused. Attempts count against the `InvitationAcceptance` rate limit.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tower_sessions::Session;
use utoipa_axum::routes;

use super::link_path;
use crate::accounts::email::Email;
use crate::accounts::password::{self, Password};
use crate::accounts::{self, CurrentUser, EMAIL_TAKEN, SignedIn};
use crate::api::ErrorBody;
use crate::error::AppError;
use crate::http::client_address::ClientAddress;
use crate::http::extract::{Form, Json, Path};
use crate::http::routes::{Access, Routes, get};
use crate::http::{AppState, csrf};
use crate::ids::{InvitationId, TenantId, UserId};
use crate::pages::{Layout, render};
use crate::rate_limits::{self, Limit};
use crate::tenancy::{Intent, Role, TenantScope, for_tenant};
use crate::validation::FieldErrors;
use crate::{on_tx, row};

pub fn routes() -> Routes {
    Routes::new()
        .add(
            "/invitations/{tenant_id}/{token}",
            Access::Public,
            get(page).post(accept_page),
        )
        .api(Access::Public, routes!(accept_api))
}

/// An invitation as its link shows it.
struct Found {
    id: InvitationId,
    tenant_name: String,
    slug: String,
    email: String,
    role: Role,
    live: bool,
    accepted_by: Option<UserId>,
}

row! {
    /// An invitation with its tenant, as [`find`] reads it.
    struct FoundRow {
        id: InvitationId,
        tenant_name: String,
        slug: String,
        email: String,
        role: String,
        expires_at: i64,
        accepted_by: Option<UserId>,
    }
}

async fn find(scope: &mut TenantScope, token: &str) -> Result<Option<Found>, AppError> {
    let tenant = scope.tenant_id();
    let row: Option<FoundRow> = on_tx!(scope.tx(), |conn| {
        sqlx::query_as(
        "SELECT i.id, t.name AS tenant_name, t.slug, i.email, i.role, i.expires_at, i.accepted_by \
         FROM invitations i JOIN tenants t ON t.id = i.tenant_id \
         WHERE i.tenant_id = $1 AND i.token_digest = $2"
    )
    .bind(tenant)
    .bind(crate::tokens::digest(token))
    .fetch_optional(conn)
    .await
    })?;
    let Some(row) = row else {
        return Ok(None);
    };
    Ok(Some(Found {
        id: row.id,
        tenant_name: row.tenant_name,
        slug: row.slug,
        email: row.email,
        role: Role::parse(&row.role)?,
        live: row.accepted_by.is_none()
            && row.expires_at > OffsetDateTime::now_utc().unix_timestamp(),
        accepted_by: row.accepted_by,
    }))
}

/// Accepts `found` for `user`, whose email must be the invited one, and
/// verified (`email_verified`: an account made with someone else's address
/// can't join where that address was invited, even holding the link): marks
/// it used (guarded, so two acceptances can't both succeed), and adds the
/// membership with its location grants unless the user is a member already.
/// The user who accepted it before gets nothing more.
async fn accept_in(
    scope: &mut TenantScope,
    found: &Found,
    user: UserId,
    email: &str,
    email_verified: bool,
) -> Result<(), AppError> {
    if found.accepted_by == Some(user) {
        return Ok(());
    }
    if !found.live {
        return Err(AppError::InvalidLink);
    }
    if !email.eq_ignore_ascii_case(&found.email) {
        return Err(AppError::Forbidden(format!(
            "This invitation was sent to {}: sign in with that email to accept it.",
            found.email
        )));
    }
    if !email_verified {
        return Err(AppError::Forbidden(format!(
            "Confirm your email first: follow the link we sent to {} (the banner sends \
             another), then open this invitation again.",
            found.email
        )));
    }
    let tenant = scope.tenant_id();
    let claimed = on_tx!(scope.tx(), |conn| sqlx::query(
        "UPDATE invitations SET accepted_at = $3, accepted_by = $4 \
         WHERE tenant_id = $1 AND id = $2 AND accepted_at IS NULL"
    )
    .bind(tenant)
    .bind(found.id)
    .bind(OffsetDateTime::now_utc())
    .bind(user)
    .execute(conn)
    .await
    .map(|done| done.rows_affected()))?;
    if claimed == 0 {
        return Err(AppError::InvalidLink);
    }
    if let Some(membership) = crate::members::add(scope, user, found.role).await? {
        let locations = on_tx!(scope.tx(), |conn| {
            sqlx::query_scalar(
            "SELECT location_id FROM invitation_locations WHERE tenant_id = $1 AND invitation_id = $2"
        )
        .bind(tenant)
        .bind(found.id)
        .fetch_all(conn)
        .await
        })?;
        crate::members::replace_grants(scope, membership, &locations).await?;
    }
    Ok(())
}

/// Opens the link's tenant scope and reads the invitation; an unknown
/// tenant or token is the same invalid link.
async fn open(
    state: &AppState,
    tenant: &str,
    token: &str,
    intent: Intent,
) -> Result<(TenantScope, Found), AppError> {
    let tenant: TenantId = tenant.parse().map_err(|_| AppError::InvalidLink)?;
    let mut scope = for_tenant(&state.db, tenant, intent).await?;
    let found = find(&mut scope, token)
        .await?
        .ok_or(AppError::InvalidLink)?;
    Ok((scope, found))
}

/// Who follows the link: a signed-in user, or someone signed out whose
/// password makes the invited account.
enum Who {
    SignedIn(CurrentUser),
    NewAccount { password: String },
}

impl Who {
    /// # Errors
    /// 401 when signed out without a password.
    fn of(user: Option<CurrentUser>, password: Option<String>) -> Result<Self, AppError> {
        match (user, password) {
            (Some(user), _) => Ok(Self::SignedIn(user)),
            (None, Some(password)) => Ok(Self::NewAccount { password }),
            (None, None) => Err(AppError::Unauthorized),
        }
    }
}

/// Accepts as the signed-in user, or creates the invited account and signs
/// it in on `session`. Returns the invitation (for where to go). The inner
/// error is a password to fix.
async fn accept(
    state: &AppState,
    client: ClientAddress,
    session: &Session,
    (tenant, token): (&str, &str),
    who: Who,
) -> Result<Result<Found, FieldErrors>, AppError> {
    state
        .rate_limits
        .check_address(Limit::InvitationAcceptance, client.0)?;
    rate_limits::count_account(
        &state.db,
        Limit::InvitationAcceptance,
        &format!("{tenant}/{token}"),
    )
    .await?;
    match who {
        Who::SignedIn(user) => {
            let (mut scope, found) = open(state, tenant, token, Intent::Write).await?;
            accept_in(
                &mut scope,
                &found,
                user.id,
                &user.email,
                user.email_verified,
            )
            .await?;
            scope.commit().await?;
            Ok(Ok(found))
        }
        Who::NewAccount { password } => {
            let password = match Password::parse(&password) {
                Ok(password) => password,
                Err(message) => return Ok(Err(FieldErrors::single("password", message))),
            };
            let hash = password::hash(password).await?;
            let (mut scope, found) = open(state, tenant, token, Intent::Write).await?;
            let email = Email::parse(&found.email).map_err(|e| AppError::Internal(e.to_owned()))?;
            if !found.live {
                return Err(AppError::InvalidLink);
            }
            // A new account with a password can't sign in at a domain whose
            // organisation requires its single sign-on.
            crate::sso::refuse_if_required(state, email.as_str()).await?;
            let Some(user) = accounts::insert_user(&mut scope, &email, Some(&hash)).await? else {
                return Ok(Err(FieldErrors::single("password", EMAIL_TAKEN)));
            };
            // The link proves its owner reads the invited address.
            accept_in(&mut scope, &found, user, email.as_str(), true).await?;
            scope.commit().await?;
            accounts::global::mark_email_verified(&state.db, user, &email).await?;
            accounts::start_session(session, user).await?;
            Ok(Ok(found))
        }
    }
}

/// What the page shows, by who follows the link.
enum View {
    Invalid,
    /// Signed in as the invited email.
    Join,
    /// Signed in as someone else.
    OtherAccount {
        signed_in_as: String,
    },
    /// Signed out; the invited email has an account.
    SignIn {
        login: String,
    },
    /// Signed out; choose a password.
    SignUp,
}

#[derive(Template)]
#[template(path = "invitations/accept.html")]
struct AcceptPage {
    layout: Layout,
    view: View,
    action: String,
    tenant_name: String,
    email: String,
    role: &'static str,
    error: Option<String>,
}

async fn page(
    State(state): State<AppState>,
    layout: Layout,
    session: Session,
    user: Option<SignedIn>,
    Path((tenant, token)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let action = link_path(&tenant, &token);
    let found = match open(&state, &tenant, &token, Intent::Read).await {
        Ok((_, found)) => found,
        Err(AppError::InvalidLink) => return invalid(layout, action),
        Err(error) => return Err(error),
    };
    let user = match user {
        Some(SignedIn(id)) => accounts::global::find_user(&state.db, id).await?,
        None => None,
    };
    if let Some(user) = &user
        && found.accepted_by == Some(user.id)
    {
        return Ok(Redirect::to(&format!("/t/{}/locations", found.slug)).into_response());
    }
    if !found.live {
        return invalid(layout, action);
    }
    let view = match user {
        Some(user) if user.email.eq_ignore_ascii_case(&found.email) => View::Join,
        Some(user) => View::OtherAccount {
            signed_in_as: user.email,
        },
        None => {
            let email = Email::parse(&found.email).map_err(|e| AppError::Internal(e.to_owned()))?;
            if accounts::global::credentials(&state.db, &email)
                .await?
                .is_some()
            {
                let next: String = form_urlencoded::byte_serialize(action.as_bytes()).collect();
                View::SignIn {
                    login: format!("/login?next={next}"),
                }
            } else {
                View::SignUp
            }
        }
    };
    let page = AcceptPage {
        layout: layout.with_csrf(&session).await?,
        view,
        action,
        tenant_name: found.tenant_name,
        email: found.email,
        role: found.role.label(),
        error: None,
    };
    Ok(render(&page)?.into_response())
}

fn invalid(layout: Layout, action: String) -> Result<Response, AppError> {
    let page = AcceptPage {
        layout,
        view: View::Invalid,
        action,
        tenant_name: String::new(),
        email: String::new(),
        role: "",
        error: None,
    };
    Ok((StatusCode::BAD_REQUEST, render(&page)?).into_response())
}

#[derive(Deserialize)]
struct AcceptForm {
    #[serde(default)]
    password: Option<String>,
}

async fn accept_page(
    State(state): State<AppState>,
    client: ClientAddress,
    layout: Layout,
    session: Session,
    user: Option<CurrentUser>,
    Path((tenant, token)): Path<(String, String)>,
    Form(form): Form<AcceptForm>,
) -> Result<Response, AppError> {
    let link = (tenant.as_str(), token.as_str());
    match accept(
        &state,
        client,
        &session,
        link,
        Who::of(user, form.password)?,
    )
    .await
    {
        Ok(Ok(found)) => {
            crate::sessions::flash::push(
                &session,
                crate::sessions::flash::Flash::success(format!(
                    "Welcome to {}!",
                    found.tenant_name
                )),
            )
            .await?;
            Ok(Redirect::to(&format!("/t/{}/locations", found.slug)).into_response())
        }
        Ok(Err(errors)) => {
            let (_, found) = open(&state, &tenant, &token, Intent::Read).await?;
            let page = AcceptPage {
                layout: layout.with_csrf(&session).await?,
                view: View::SignUp,
                action: link_path(&tenant, &token),
                tenant_name: found.tenant_name,
                email: found.email,
                role: found.role.label(),
                error: errors.get("password").map(str::to_owned),
            };
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response())
        }
        Err(AppError::InvalidLink) => invalid(layout, link_path(&tenant, &token)),
        Err(error) => Err(error),
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct AcceptInput {
    /// The tenant id and the token: the last two path segments of the link.
    pub tenant_id: String,
    pub token: String,
    /// For someone without an account: creates it with the invited email,
    /// and signs it in. Leave out when signed in.
    #[serde(default)]
    pub password: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Accepted {
    pub tenant_name: String,
    /// The tenant's URL slug: its API lives under /api/v1/t/{slug}/.
    pub slug: String,
    pub role: Role,
    /// The session's CSRF token, for later requests (a new account is signed
    /// in by this request).
    pub csrf_token: String,
}

/// Accepts an invitation as the signed-in user (whose email must be the
/// invited one), or, signed out, creates the invited account with
/// `password` and signs it in. Accepting again changes nothing.
#[utoipa::path(post, path = "/api/v1/invitations/accept", tag = "accounts",
    request_body = AcceptInput,
    responses((status = 200, body = Accepted), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub(crate) async fn accept_api(
    State(state): State<AppState>,
    client: ClientAddress,
    session: Session,
    user: Option<CurrentUser>,
    Json(input): Json<AcceptInput>,
) -> Result<Json<Accepted>, AppError> {
    let link = (input.tenant_id.as_str(), input.token.as_str());
    let found = accept(
        &state,
        client,
        &session,
        link,
        Who::of(user, input.password)?,
    )
    .await??;
    Ok(Json(Accepted {
        tenant_name: found.tenant_name,
        slug: found.slug,
        role: found.role,
        csrf_token: csrf::token(&session).await?,
    }))
}
