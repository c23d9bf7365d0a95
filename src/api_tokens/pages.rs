//! The API tokens page of a tenant (owners and admins): the list, the form
//! that creates one (and shows its secret once), and revoking.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use tower_sessions::Session;

use super::{ApiToken, CreatedApiToken, NewApiToken};
use crate::access::InTenant;
use crate::error::AppError;
use crate::http::AppState;
use crate::http::extract::{Form, Path};
use crate::http::routes::{Access, Routes, get, post};
use crate::ids::ApiTokenId;
use crate::pages::{Layout, TenantNav, render};
use crate::sessions::flash::{self, Flash};
use crate::tenancy::{Action, Role};
use crate::validation::FieldErrors;

pub fn routes() -> Routes {
    Routes::new()
        .add(
            "/t/{slug}/api-tokens",
            Access::Tenant,
            get(index).post(create),
        )
        .add(
            "/t/{slug}/api-tokens/{api_token_id}/revoke",
            Access::Tenant,
            post(revoke),
        )
}

#[derive(Template)]
#[template(path = "api_tokens/index.html")]
struct IndexPage {
    layout: Layout,
    nav: TenantNav,
    tokens: Vec<ApiToken>,
    /// The roles a token of this member may have.
    roles: Vec<Role>,
    /// The name field, as typed.
    token_name: String,
    errors: FieldErrors,
    /// Just created: its secret, shown this once.
    created: Option<CreatedApiToken>,
}

async fn page(
    layout: Layout,
    t: &mut InTenant,
    name: String,
    errors: FieldErrors,
    created: Option<CreatedApiToken>,
) -> Result<Html<String>, AppError> {
    t.member.authorize(Action::ManageApiTokens)?;
    let own = t.member.role;
    render(&IndexPage {
        layout,
        nav: TenantNav::new(t),
        tokens: super::list(&mut t.scope).await?,
        roles: Role::ALL
            .into_iter()
            .filter(|role| role.within(own))
            .collect(),
        token_name: name,
        errors,
        created,
    })
}

async fn index(layout: Layout, mut t: InTenant) -> Result<Html<String>, AppError> {
    page(layout, &mut t, String::new(), FieldErrors::default(), None).await
}

/// Answers with the page itself (not a redirect), so the secret is shown
/// once and never stored in the session.
async fn create(
    State(state): State<AppState>,
    layout: Layout,
    mut t: InTenant,
    Form(input): Form<NewApiToken>,
) -> Result<Response, AppError> {
    t.member.authorize(Action::ManageApiTokens)?;
    let confirmed = t.reauthenticate(&state, &input.password).await?;
    let created = match confirmed {
        Ok(()) => super::create(&mut t.scope, &t.member, &input).await?,
        Err(errors) => Err(errors),
    };
    match created {
        Ok(created) => {
            // Rendered inside the transaction (it lists the new token), and
            // sent only once that commits.
            let html = page(
                layout,
                &mut t,
                String::new(),
                FieldErrors::default(),
                Some(created),
            )
            .await?;
            t.scope.commit().await?;
            Ok(html.into_response())
        }
        Err(errors) => {
            let html = page(layout, &mut t, input.name, errors, None).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, html).into_response())
        }
    }
}

/// Where to go after revoking: this page, or the account page's list.
#[derive(Default, serde::Deserialize)]
struct RevokeForm {
    #[serde(default)]
    return_to: String,
}

async fn revoke(
    session: Session,
    mut t: InTenant,
    Path((_, id)): Path<(String, ApiTokenId)>,
    Form(form): Form<RevokeForm>,
) -> Result<Redirect, AppError> {
    let token = super::revoke(&mut t.scope, &t.member, id).await?;
    t.scope.commit().await?;
    let message = format!("Revoked the token \"{}\".", token.name);
    flash::push(&session, Flash::success(message)).await?;
    if form.return_to == "/account" {
        return Ok(Redirect::to("/account"));
    }
    Ok(Redirect::to(&format!("/t/{}/api-tokens", t.tenant.slug)))
}
