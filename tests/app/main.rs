//! Integration tests: one binary (linking the app once), a module per
//! capability. Each test runs on SQLite and PostgreSQL (see support).

mod account;
mod accounts;
mod admin;
mod api;
mod api_tokens;
mod assets_and_styling;
mod billing;
mod browser;
mod concurrency;
mod email_links;
mod errors;
mod fixtures;
mod health_and_metrics;
mod invitations;
mod jobs_and_mail;
mod locations;
mod members;
mod modules;
mod pages_and_sessions;
mod rate_limits;
mod reauthentication;
mod role_matrix;
mod route_registry;
mod row_level_security;
mod sign_in_redirects;
mod sql_rule;
mod startup;
mod stripe_billing;
mod stripe_mock;
mod support;
mod tenant_export;
mod tenant_isolation;
mod tenants;
mod two_factor;
mod untrusted_archives;
