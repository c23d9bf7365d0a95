//! The app as a library: `main.rs` only calls [`cli::main`], and the tests
//! drive the same code through [`app::router`] and [`http::Server`].
//! [`app`] lists every capability once; each capability is a folder that
//! exposes a [`capability::Capability`].

pub mod access;
pub mod accounts;
pub mod admin;
pub mod api;
pub mod api_tokens;
pub mod app;
pub mod billing;
pub mod brand;
pub mod capability;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod db;
pub mod error;
pub mod http;
pub mod ids;
pub mod invitations;
pub mod jobs;
pub mod locations;
pub mod mail;
pub mod members;
pub mod modules;
pub mod pages;
pub mod rate_limits;
pub mod sessions;
pub mod telemetry;
pub mod tenancy;
pub mod tenants;
pub mod tokens;
pub mod validation;
