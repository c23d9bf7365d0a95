//! The product modules the app is built with. A module is a folder of its
//! own (`src/modules/<name>/`, `templates/<name>/`, `static/<name>/`,
//! `migrations/<name>/`, `tests/app/modules/<name>/`) built only from the
//! core's public patterns, and it is registered here and nowhere else: the
//! core reaches modules only through [`ALL`].
//!
//! `cargo generate … -d time_tracking=false` emits this file without the
//! lines that name the module (and without its folders).

pub mod time_tracking;

use crate::http::routes::Routes;
use crate::pages::NavLink;
use crate::tenancy::{Member, Tenant};

/// What a module adds to the app.
pub struct Module {
    /// Its pages and API routes, in the route registry.
    pub routes: fn() -> Routes,
    /// Its part of the API's OpenAPI document.
    pub openapi: fn() -> utoipa::openapi::OpenApi,
    /// Its links in a tenant's navigation, as this member sees them.
    pub nav: fn(&Tenant, &Member) -> Vec<NavLink>,
}

/// Every module of this app.
pub const ALL: &[Module] = &[time_tracking::MODULE];
