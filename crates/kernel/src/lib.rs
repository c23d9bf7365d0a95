//! The app's kernel: the foundation (configuration, database, tenancy,
//! HTTP, jobs, mail), the doors' extractors and the pages' kit, and every
//! capability's records and services. It names no route of a capability:
//! their pages and API handlers (the doors) and their registration live in
//! the app's crate at the repository's root, which re-exports this crate's
//! modules, so `app::tenancy` is `kernel::tenancy`. Split off so that an
//! edit to a door rebuilds only the small crate above (docs/measured.md).

// Templates name kernel items by one path in every crate (`kernel::…`),
// this one included.
extern crate self as kernel;

// The foundation: no capability in it (tests/app/layers.rs keeps it so).
pub mod api;
pub mod brand;
pub mod capability;
pub mod config;
pub mod crypto;
pub mod db;
pub mod error;
pub mod http;
pub mod ids;
pub mod jobs;
pub mod mail;
pub mod rate_limits;
pub mod sessions;
pub mod telemetry;
pub mod tenancy;
pub mod tokens;
pub mod validation;

// The doors' extractors (who is asking, in which tenant) and the pages' kit.
pub mod access;
pub mod pages;

// The capabilities' records and services.
pub mod accounts;
pub mod admin;
pub mod api_tokens;
pub mod billing;
pub mod invitations;
pub mod locations;
pub mod members;
pub mod sso;
pub mod tenants;
