//! Integration tests: one binary (linking the app once), a module per
//! capability. Each test runs on SQLite and PostgreSQL (see support).

mod assets_and_styling;
mod errors;
mod health_and_metrics;
mod pages_and_sessions;
mod route_registry;
mod startup;
mod support;
