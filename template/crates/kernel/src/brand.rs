//! The product's name as people see it. `cargo generate` sets it from the
//! `app_name` placeholder (template/src/brand.rs).

pub const APP_NAME: &str = "{{app_name}}";
