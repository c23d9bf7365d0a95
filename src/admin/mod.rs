//! The super-admin panel: the doors (pages and API handlers) and the
//! registration. The records are the kernel's (`kernel::admin`),
//! re-exported here, so `crate::admin` is the whole capability.

mod confirm;
pub mod impersonation;
pub mod pages;
mod single_sign_on;

pub use kernel::admin::*;

use kernel::capability::Capability;

/// The super-admin panel, as the composition root (`src/lib.rs`) registers it.
pub const CAPABILITY: Capability = Capability {
    routes: &[pages::routes, single_sign_on::routes],
    around: &[impersonation::around],
    ..Capability::NONE
};
