//! Invitations: the doors (pages and API handlers) and the registration. The
//! records are the kernel's (`kernel::invitations`), re-exported here, so
//! `crate::invitations` is the whole capability.

pub mod api;
pub mod pages;

pub use kernel::invitations::*;

use kernel::capability::Capability;

/// Invitations, as the composition root (`src/lib.rs`) registers it.
pub const CAPABILITY: Capability = Capability {
    routes: &[pages::routes, api::routes, accept::routes],
    schedules: &[PURGE_EXPIRED],
    ..Capability::NONE
};
