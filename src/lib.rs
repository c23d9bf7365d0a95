//! The app as a library, and its composition root: the kernel's modules
//! re-exported, every capability listed once ([`all`]), and what is built from
//! the list (the router, the OpenAPI document, the tenant navigation, the
//! schedules, the sealed columns, the command line's subcommands). Nothing
//! else names a capability to register it: a new one is its folder, a
//! `pub mod` line and a line in [`all`], both here. `main.rs` only calls
//! [`cli::main`]; the tests drive the same code through [`router`] and
//! [`http::Server`].

// The foundation, the doors' extractors and the pages' kit, from the
// kernel crate (crates/kernel), under their own names.
pub use kernel::{
    access, api, brand, capability, config, crypto, db, error, http, ids, jobs, mail, pages,
    rate_limits, sessions, telemetry, tenancy, tokens, validation,
};
// Its macros, for the doors, the tests and resources of your own
// (docs/adding-a-resource.md).
pub use kernel::{on_backend, on_tx, on_tx_locking, row, text_body, typed_id};

pub mod cli;

// The capabilities, each a folder exposing a `CAPABILITY` (its records come
// from the kernel), and the product modules (`modules.rs`).
pub mod accounts;
pub mod admin;
pub mod api_tokens;
pub mod billing;
pub mod invitations;
pub mod locations;
pub mod members;
pub mod modules;
pub mod plans;
pub mod sso;
pub mod tenants;

use std::sync::Arc;

use utoipa::openapi::tag::TagBuilder;

use crate::capability::Capability;
use crate::crypto::sealed::SealedColumn;
use crate::http::extract::Json;
use crate::http::routes::{Access, Pitch, Routes, get};
use crate::http::{AppState, Around};

/// The core's capabilities and the product modules (`crate::modules`), in
/// the order of their links in a tenant's navigation: a module's links come
/// right after the locations.
pub fn all() -> impl Iterator<Item = &'static Capability> {
    [&crate::accounts::CAPABILITY, &crate::locations::CAPABILITY]
        .into_iter()
        .chain(crate::modules::ALL)
        .chain([
            &crate::members::CAPABILITY,
            &crate::invitations::CAPABILITY,
            &crate::api_tokens::CAPABILITY,
            &crate::sso::CAPABILITY,
            &crate::billing::CAPABILITY,
            &crate::tenants::CAPABILITY,
            &crate::admin::CAPABILITY,
        ])
}

/// Every route of the app: each capability's, the HTTP layer's own, the
/// landing page, the development mailbox and the OpenAPI document.
pub fn routes() -> Routes {
    all()
        .flat_map(|capability| capability.routes)
        .fold(Routes::new(), |all, routes| all.merge(routes()))
        .merge(crate::http::routes())
        .merge(crate::pages::routes())
        .merge(crate::pages::dev_mailbox::routes())
        .add("/api/openapi.json", Access::Public, get(openapi))
}

/// The app's router with its full middleware stack.
pub fn router(state: AppState) -> axum::Router {
    router_with(state, routes())
}

/// `routes` behind the app's full middleware stack, the capabilities' own
/// included. Tests use it to mount a probe route behind the same stack.
pub fn router_with(state: AppState, routes: Routes) -> axum::Router {
    let around: Vec<Around> = all()
        .flat_map(|capability| capability.around)
        .copied()
        .collect();
    crate::http::router_with(state, routes, &around, crate::pages::error_page)
}

/// The OpenAPI 3.1 document of the API: the registered API routes'
/// operations, the capabilities' tags, and the app's name as its title.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut document = crate::api::document();
    document.merge(routes().openapi().clone());
    document.tags = Some(
        all()
            .flat_map(|capability| capability.api_tags)
            .map(|tag| {
                TagBuilder::new()
                    .name(tag.name)
                    .description(Some(tag.description))
                    .build()
            })
            .collect(),
    );
    document
}

async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(document())
}

/// The app's state, with what the capabilities add to it (the navigation,
/// the encrypted columns) and the plans it sells.
///
/// # Errors
/// The plans can't be sold as defined, or `STRIPE_PRICES` names a price
/// no plan has: one line saying so.
pub fn state(db: crate::db::Db, config: crate::config::Config) -> Result<AppState, String> {
    let plans = catalog()?;
    for key in config.stripe.price_overrides.keys() {
        let sold = plans.plans().iter().any(|plan| {
            billing::stripe::Interval::ALL.iter().any(|interval| {
                plan.price(*interval).is_some() && plan.lookup_key(*interval) == *key
            })
        });
        if !sold {
            return Err(format!(
                "invalid STRIPE_PRICES={key}=…: no plan in src/plans.rs has that price (the \
                 keys are <plan>_monthly and <plan>_yearly of its priced plans)"
            ));
        }
    }
    Ok(AppState {
        navigation: all().map(|capability| capability.nav).collect(),
        sealed: sealed_columns().into(),
        pitch: pitch(),
        plans,
        ..AppState::new(db, config)
    })
}

/// The plans of `src/plans.rs`, checked, with the seat per-seat plans bill
/// by: the first module's that declares one, else members.
///
/// # Errors
/// What is wrong with them, naming the plan.
pub fn catalog() -> Result<billing::Catalog, String> {
    let seat = all()
        .find_map(|capability| capability.seat)
        .unwrap_or(&crate::members::MEMBERS);
    billing::Catalog::new(crate::plans::PLANS, seat)
        .map_err(|error| format!("src/plans.rs: {error}"))
}

/// What the landing page says: the first capability's pitch (a product
/// module's), or the starter's own.
pub fn pitch() -> &'static Pitch {
    all()
        .find_map(|capability| capability.pitch)
        .unwrap_or(&Pitch::STARTER)
}

/// What the capabilities add to the job queue: their kinds of work, their
/// schedules and their purges.
pub fn job_registry() -> Arc<jobs::Registry> {
    Arc::new(jobs::Registry {
        kinds: all().flat_map(|capability| capability.jobs).collect(),
        schedules: all().flat_map(|capability| capability.schedules).collect(),
        purges: all().flat_map(|capability| capability.purges).collect(),
    })
}

/// Every column the app encrypts.
pub fn sealed_columns() -> Vec<&'static SealedColumn> {
    all().flat_map(|capability| capability.sealed).collect()
}
