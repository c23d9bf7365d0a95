//! One tenant's data out of a database and back into one (either backend):
//! `export-tenant`, `import-tenant`, and the owners' download.
//!
//! The archive is a zip: `manifest.json` (format, schema version, and each
//! file's row count and SHA-256), `tenant.jsonl` (the tenants row),
//! `users.jsonl` (the members' accounts: id, email, dates; never password
//! hashes, two-factor secrets, sessions or tokens) and one
//! `tables/<table>.jsonl` per tenant-owned table, read from the live schema
//! so a new table travels unasked. Values are JSON in one form for both
//! backends (ids and dates as text, timestamps RFC 3339 in UTC).
//!
//! Credentials don't travel: columns named `*_digest` (codes and tokens a device holds)
//! and encrypted credentials (`SealedColumn::credential`: a single sign-on
//! client secret) are emptied, and tables whose rows are credentials (a required digest:
//! API tokens, pending invitations) are left out, with the rows that
//! depend on them. Encrypted columns are written **in plaintext** and
//! encrypted again under the target's keys on import: the archive is
//! personal data, and the manifest says so.
//!
//! `manifest.sig` signs the manifest (and so, through its checksums, every
//! file) with the installation's `LOOKUP_KEY`; import treats the archive as
//! untrusted input ([`import`]).

pub mod export;
mod global;
pub mod import;
mod values;

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::crypto::LookupKey;
use crate::crypto::sealed::SealedColumn;
use crate::db::schema::Table;
use crate::ids::TenantId;

/// What `format` says in every archive.
pub const FORMAT: &str = "tenant-export";
/// The layout of the archive itself (not the schema): bumped when it
/// changes incompatibly.
pub const FORMAT_VERSION: u32 = 1;

const MANIFEST: &str = "manifest.json";
/// The manifest's signature: [`signature`], in hex.
const SIGNATURE: &str = "manifest.sig";
const TENANT_FILE: &str = "tenant.jsonl";
const USERS_FILE: &str = "users.jsonl";

#[derive(Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub format_version: u32,
    /// The highest migration of the database it came from.
    pub schema_version: i64,
    pub exported_at: String,
    pub source_backend: String,
    /// A reminder, in the file, of what it holds.
    pub sensitive: String,
    pub tenant: ManifestTenant,
    pub files: Vec<ManifestFile>,
    /// Tables not exported, and why.
    pub left_out: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ManifestTenant {
    pub id: TenantId,
    pub slug: String,
    pub name: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ManifestFile {
    pub path: String,
    /// The table its rows go to (`tenants` and `users` for the first two).
    pub table: String,
    pub rows: u64,
    pub sha256: String,
}

const SENSITIVE: &str = "Personal data in plaintext (national ids are decrypted for export). \
    Keep this file encrypted at rest and delete it when done.";

#[derive(Debug, thiserror::Error)]
pub enum PortabilityError {
    #[error("no organisation has the slug {0:?}")]
    NoSuchTenant(String),
    #[error("the archive is damaged or not a tenant export: {0}")]
    Damaged(String),
    #[error(
        "the archive comes from a newer version of the app (schema {archive}, this database {here}): \
         upgrade this app first"
    )]
    Newer { archive: i64, here: i64 },
    #[error(
        "the archive is not signed by this installation: it was edited after export, or comes \
         from another installation (check it as docs/tenancy.md says, then import it with \
         --from-another-installation)"
    )]
    Unsigned,
    #[error("the archive holds what an export never writes: {0}")]
    Refused(String),
    #[error("the archive is too large: {0}")]
    TooLarge(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Keys(String),
    #[error("the database failed: {0}")]
    Database(#[from] sqlx::Error),
    #[error("{0}")]
    Scope(#[from] crate::tenancy::ScopeError),
    #[error("writing the archive failed: {0}")]
    Io(#[from] std::io::Error),
}

impl From<PortabilityError> for crate::error::AppError {
    fn from(error: PortabilityError) -> Self {
        match error {
            PortabilityError::Database(error) => Self::Database(error),
            PortabilityError::NoSuchTenant(_) => Self::NotFound,
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<zip::result::ZipError> for PortabilityError {
    fn from(error: zip::result::ZipError) -> Self {
        Self::Damaged(error.to_string())
    }
}

/// The signature of a manifest: a keyed hash (HMAC-SHA256) under the
/// installation's lookup key, for this purpose only.
fn signature(lookup: &LookupKey, manifest: &[u8]) -> String {
    lookup.digest("tenant-export-manifest", &String::from_utf8_lossy(manifest))
}

/// The columns of `table` that export empties and import wants empty:
/// credentials (`*_digest`: codes and tokens devices hold; encrypted
/// secrets, such as a single sign-on client secret) and the blind indexes
/// of encrypted columns (recomputed on import).
fn emptied_columns(sealed: &[&SealedColumn], table: &Table) -> BTreeSet<String> {
    let in_table = sealed_in(sealed, &table.name);
    let blind_indexes: Vec<&str> = in_table
        .iter()
        .filter_map(|sealed| sealed.blind_index.as_ref().map(|index| index.column))
        .collect();
    let credentials: Vec<&str> = in_table
        .iter()
        .filter(|sealed| sealed.credential)
        .map(|sealed| sealed.column)
        .collect();
    table
        .columns
        .iter()
        .map(|c| c.name.as_str())
        .filter(|name| {
            name.ends_with("_digest") || blind_indexes.contains(name) || credentials.contains(name)
        })
        .map(str::to_owned)
        .collect()
}

/// Tables whose rows are credentials, and those that depend on them.
fn left_out(tables: &[Table]) -> Vec<String> {
    let mut out: Vec<String> = tables
        .iter()
        .filter(|t| {
            t.columns
                .iter()
                .any(|c| c.name.ends_with("_digest") && !c.nullable)
        })
        .map(|t| t.name.clone())
        .collect();
    loop {
        let more: Vec<String> = tables
            .iter()
            .filter(|t| !out.contains(&t.name))
            .filter(|t| t.references.iter().any(|(_, parent)| out.contains(parent)))
            .map(|t| t.name.clone())
            .collect();
        if more.is_empty() {
            return out;
        }
        out.extend(more);
    }
}

/// The encrypted columns (of the app's, `sealed`) in `table`, looked up
/// once per table, not per value.
fn sealed_in<'a>(sealed: &[&'a SealedColumn], table: &str) -> Vec<&'a SealedColumn> {
    sealed
        .iter()
        .copied()
        .filter(|s| s.tenant_owned && s.table == table)
        .collect()
}
