//! The product modules the app is built with. A module is a folder of its
//! own (`src/modules/<name>/`, `templates/<name>/`, `static/<name>/`,
//! `migrations/<name>/`, `tests/app/modules/<name>/`) built only from the
//! core's public patterns, and it is registered here and nowhere else: the
//! core reaches modules only through [`ALL`].
//!
//! An app generated without a module (`cargo generate … -d <module>=false`)
//! gets this file without the lines whose trailing comment names the module,
//! and none of its folders or its Cargo feature: tests/template.rs keeps the
//! twin in step.

use std::future::Future;
use std::pin::Pin;

use crate::config::Config;
use crate::db::Db;
use crate::http::routes::Routes;
use crate::pages::NavLink;
use crate::tenancy::super_admin::SuperAdmin;
use crate::tenancy::{Member, Tenant};
{% if time_tracking %}#[cfg(feature = "time-tracking")] // module: time_tracking
{% endif %}{% if time_tracking %}pub mod time_tracking; // module: time_tracking
{% endif %}
/// What a module adds to the app.
pub struct Module {
    /// Its pages and API routes, in the route registry.
    pub routes: fn() -> Routes,
    /// Its part of the API's OpenAPI document.
    pub openapi: fn() -> utoipa::openapi::OpenApi,
    /// Its links in a tenant's navigation, as this member sees them.
    pub nav: fn(&Tenant, &Member) -> Vec<NavLink>,
    /// Its subcommands of the app's command line.
    pub commands: Commands,
    /// Its jobs due once per period on each tenant's clock.
    pub schedules: &'static [crate::jobs::scheduled::Schedule],
    /// Its tenant-owned columns encrypted by the app (personal data), which
    /// `rotate-keys` re-encrypts and tenant export writes out decrypted.
    pub sealed: &'static [crate::crypto::sealed::SealedColumn],
}

/// A module's subcommands: a clap `Subcommand` enum's functions, added to
/// the app's command line and run once the database is migrated.
pub struct Commands {
    /// `<C as clap::Subcommand>::augment_subcommands`.
    pub augment: fn(clap::Command) -> clap::Command,
    /// `<C as clap::Subcommand>::has_subcommand`.
    pub has: fn(&str) -> bool,
    /// Runs the subcommand in the app's matches.
    pub run: fn(CommandContext, clap::ArgMatches) -> CommandRun,
}

/// What a module's subcommand runs with.
pub struct CommandContext {
    /// Connected and migrated.
    pub db: Db,
    pub config: Config,
    /// Whoever runs a command on the server holds DATABASE_URL already: an
    /// operator, for `all_tenants_unsafe` (audited as `cli:<user>`).
    pub operator: SuperAdmin,
}

/// A running module subcommand; its error is printed as the app's.
pub type CommandRun =
    Pin<Box<dyn Future<Output = Result<(), Box<dyn std::error::Error + Send + Sync>>> + Send>>;

/// Every module of this app.
pub const ALL: &[Module] = &[
{% if time_tracking %}    #[cfg(feature = "time-tracking")] // module: time_tracking
{% endif %}{% if time_tracking %}    time_tracking::MODULE, // module: time_tracking
{% endif %}];
