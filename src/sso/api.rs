//! Single sign-on's JSON API, under `/api/v1/t/{slug}/sso` (owners): what
//! is set up, for an owner's scripts and monitoring. Setting it up happens
//! on the page, which asks for the password.

use axum::extract::State;
use serde::Serialize;
use utoipa_axum::routes;

use crate::access::InTenant;
use crate::api::ErrorBody;
use crate::error::AppError;
use crate::http::AppState;
use crate::http::extract::Json;
use crate::http::routes::{Access, Routes};
use crate::tenancy::{Action, Role};

pub fn routes() -> Routes {
    Routes::new().api(Access::Tenant, routes!(show))
}

/// The tenant's single sign-on (never the client secret).
#[derive(Serialize, utoipa::ToSchema)]
pub struct SingleSignOn {
    /// The tenant's plan includes it.
    pub included: bool,
    pub provider: Option<Provider>,
    pub domains: Vec<DomainClaim>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Provider {
    pub issuer: String,
    pub client_id: String,
    /// The role people from its domains join with.
    pub default_role: Role,
    /// People at the verified domains can sign in no other way.
    pub required: bool,
    /// A sign-in through the current settings has worked.
    pub worked: bool,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct DomainClaim {
    pub domain: String,
    pub verified: bool,
}

/// What single sign-on the tenant has set up.
#[utoipa::path(get, path = "/api/v1/t/{slug}/sso", tag = "single-sign-on",
    params(("slug" = String, Path, description = "The tenant's URL slug")),
    responses((status = 200, body = SingleSignOn), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn show(
    State(state): State<AppState>,
    mut t: InTenant,
) -> Result<Json<SingleSignOn>, AppError> {
    t.member.authorize(Action::ManageSingleSignOn)?;
    let connection = super::connection(&mut t.scope).await?;
    let domains = super::global::domains(&state.db, t.tenant.id).await?;
    Ok(Json(SingleSignOn {
        included: t.entitlement().allows(&super::SINGLE_SIGN_ON),
        provider: connection.map(|saved| Provider {
            issuer: saved.issuer,
            client_id: saved.client_id,
            default_role: saved.default_role,
            required: saved.required,
            worked: saved.worked,
        }),
        domains: domains
            .into_iter()
            .map(|claim| DomainClaim {
                verified: claim.verified_at.is_some(),
                domain: claim.domain,
            })
            .collect(),
    }))
}
