//! The product modules the app is built with. A module is a crate of its
//! own (`crates/<name>/`, with `templates/<name>/`, `static/<name>/`,
//! `migrations/<name>/` and `tests/app/modules/<name>/`) built only from
//! the kernel's public patterns. It registers like a core capability, with a
//! [`Capability`], listed here; the composition root (`src/lib.rs`) reaches
//! modules only through [`ALL`].
//!
//! An app generated without a module (`cargo generate … -d <module>=false`)
//! gets this file without the lines whose trailing comment names the module,
//! and none of its folders or its Cargo feature: tests/template.rs keeps the
//! twin in step.

use crate::capability::Capability;
{% if time_tracking %}#[cfg(feature = "time-tracking")] // module: time_tracking
{% endif %}{% if time_tracking %}pub use time_tracking; // module: time_tracking
{% endif %}
/// Every module of this app.
pub const ALL: &[Capability] = &[
{% if time_tracking %}    #[cfg(feature = "time-tracking")] // module: time_tracking
{% endif %}{% if time_tracking %}    time_tracking::CAPABILITY, // module: time_tracking
{% endif %}];
