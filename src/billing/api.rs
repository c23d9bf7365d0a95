//! The billing JSON API, under `/api/v1/t/{slug}/billing` (owners).

use serde::Serialize;
use time::OffsetDateTime;

use super::{Entitlement, Usage};
use crate::api::ErrorBody;
use crate::error::AppError;
use crate::http::extract::Json;
use crate::http::routes::{Access, Routes, get};
use crate::tenancy::{Action, InTenant};

pub fn routes() -> Routes {
    Routes::new().add("/api/v1/t/{slug}/billing", Access::Tenant, get(status))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct BillingStatus {
    pub entitlement: Entitlement,
    pub usage: Usage,
    /// Stripe's subscription status, if there is a subscription.
    pub subscription_status: Option<String>,
}

/// The tenant's plan, its limits and what is used.
#[utoipa::path(get, path = "/api/v1/t/{slug}/billing", tag = "billing",
    params(("slug" = String, Path, description = "The tenant's URL slug")),
    responses((status = 200, body = BillingStatus), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn status(mut t: InTenant) -> Result<Json<BillingStatus>, AppError> {
    t.member.authorize(Action::ManageBilling)?;
    Ok(Json(BillingStatus {
        entitlement: super::entitlement(&t.tenant.billing, OffsetDateTime::now_utc()),
        usage: super::usage_of(&mut t.scope).await?,
        subscription_status: t.tenant.billing.subscription_status.clone(),
    }))
}
