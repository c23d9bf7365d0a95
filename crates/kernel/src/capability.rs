//! What a capability adds to the app, as one value: the core's capabilities
//! (`accounts`, `locations`, `billing`, …) and the product modules
//! (`crate::modules`) each expose a [`Capability`], and the composition
//! root (`src/lib.rs`) lists them once. Nothing else names a capability to
//! register it: a new one is a folder and two lines in `lib.rs`.

use std::future::Future;
use std::pin::Pin;

use crate::billing::catalog::Quota;
use crate::config::Config;
use crate::crypto::sealed::SealedColumn;
use crate::db::Db;
use crate::http::Around;
use crate::http::routes::NavLink;
use crate::http::routes::{Pitch, Routes};
use crate::jobs::scheduled::Schedule;
use crate::jobs::{JobKind, Purge};
use crate::tenancy::super_admin::SuperAdmin;
use crate::tenancy::{Member, Tenant};

/// A capability's part of the app. Start from [`Capability::NONE`] and set
/// what it has.
pub struct Capability {
    /// Its pages and API routes, in the route registry (whose API routes
    /// also make the OpenAPI document): one function per file of handlers.
    pub routes: &'static [fn() -> Routes],
    /// Middleware it wraps around every route (inside the CSRF check).
    pub around: &'static [Around],
    /// The OpenAPI tags its API routes use, with what each covers.
    pub api_tags: &'static [ApiTag],
    /// Its links in a tenant's navigation, as this member sees them.
    pub nav: fn(&Tenant, &Member) -> Vec<NavLink>,
    /// Its subcommands of the app's command line.
    pub commands: Option<Commands>,
    /// Its kinds of background work.
    pub jobs: &'static [JobKind],
    /// Its jobs due once per period on each tenant's clock.
    pub schedules: &'static [Schedule],
    /// What it deletes in the hourly purge.
    pub purges: &'static [Purge],
    /// Its columns encrypted by the app (personal data, secrets), which
    /// `rotate-keys` re-encrypts and tenant export writes out decrypted.
    pub sealed: &'static [SealedColumn],
    /// What the landing page says of the product, for a product module.
    pub pitch: Option<&'static Pitch>,
    /// What the app is sold by, for a product module that sells by
    /// something other than members: the seat of per-seat plans.
    pub seat: Option<&'static Quota>,
}

impl Capability {
    /// A capability with nothing: no routes, links, commands, jobs or
    /// sealed columns.
    pub const NONE: Self = Self {
        routes: &[],
        around: &[],
        api_tags: &[],
        nav: no_links,
        commands: None,
        jobs: &[],
        schedules: &[],
        purges: &[],
        sealed: &[],
        pitch: None,
        seat: None,
    };
}

fn no_links(_: &Tenant, _: &Member) -> Vec<NavLink> {
    Vec::new()
}

/// An OpenAPI tag: the name handlers give in `#[utoipa::path(tag = …)]`.
pub struct ApiTag {
    pub name: &'static str,
    pub description: &'static str,
}

/// A capability's subcommands: a clap `Subcommand` enum's functions, added
/// to the app's command line and run once the database is migrated.
pub struct Commands {
    /// `<C as clap::Subcommand>::augment_subcommands`.
    pub augment: fn(clap::Command) -> clap::Command,
    /// `<C as clap::Subcommand>::has_subcommand`.
    pub has: fn(&str) -> bool,
    /// Runs the subcommand in the app's matches.
    pub run: fn(CommandContext, clap::ArgMatches) -> CommandRun,
}

/// What a subcommand runs with.
pub struct CommandContext {
    /// Connected and migrated.
    pub db: Db,
    pub config: Config,
    /// Whoever runs a command on the server holds DATABASE_URL already: an
    /// operator, for `all_tenants_unsafe` (audited as `cli:<user>`).
    pub operator: SuperAdmin,
}

/// A running subcommand; its error is printed as the app's.
pub type CommandRun =
    Pin<Box<dyn Future<Output = Result<(), Box<dyn std::error::Error + Send + Sync>>> + Send>>;
