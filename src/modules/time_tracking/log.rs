//! The tamper-evident log: every punch and every edit is appended to a
//! per-tenant chain whose entries carry a SHA-256 over their content and
//! the previous entry's hash. Changing or removing an entry (or the row it
//! records) breaks the chain from there on, and verification names the
//! first broken entry. Entries reference people and rows by id only, so no
//! personal data sits in a table that can never be rewritten.
//!
//! Appends hold the tenant's settings row locked ([`super::settings::lock`]),
//! so the chain has one writer per tenant at a time.
//!
//! The database keeps it append-only (migrations/time_tracking): the scope
//! role may not UPDATE or DELETE it on PostgreSQL, and a trigger refuses
//! both for everyone on either backend, except when the whole tenant is
//! deleted.

use serde::Serialize;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::settings::Settings;
use super::{LogEntryId, SubjectId};
use crate::on_tx;
use crate::tenancy::TenantScope;

/// What an entry records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Punch,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Punch => "punch",
        }
    }
}

/// The hash of an entry: SHA-256 over the previous hash and the entry's
/// own fields, each on its own line, in hex.
pub fn hash(prev_hash: &str, seq: i64, kind: &str, subject: SubjectId, content: &str) -> String {
    let mut hasher = Sha256::new();
    for part in [
        prev_hash,
        &seq.to_string(),
        kind,
        &subject.to_string(),
        content,
    ] {
        hasher.update(part.as_bytes());
        hasher.update(b"\n");
    }
    hex::encode(hasher.finalize())
}

/// Appends an entry recording `subject` (whose content, ids and times only,
/// is serialised as JSON), in the scope's transaction: the entry exists
/// exactly when the change it records does. `head` is the tenant's locked
/// settings row ([`settings::lock`]), moved on to the new entry; the caller
/// stores it with [`settings::advance_log`] once its appends are done.
///
/// # Errors
/// When the database fails.
pub async fn append(
    scope: &mut TenantScope,
    head: &mut Settings,
    kind: Kind,
    subject: SubjectId,
    content: &impl Serialize,
) -> Result<(), sqlx::Error> {
    let content = serde_json::to_string(content).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let seq = head.log_seq + 1;
    let hash = hash(&head.log_hash, seq, kind.as_str(), subject, &content);
    let tenant = scope.tenant_id();
    on_tx!(scope.tx(), |conn| {
        sqlx::query(
        "INSERT INTO time_log (tenant_id, id, seq, kind, subject_id, content, prev_hash, hash, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    )
    .bind(tenant)
    .bind(LogEntryId::new())
    .bind(seq)
    .bind(kind.as_str())
    .bind(subject)
    .bind(&content)
    .bind(&head.log_hash)
    .bind(&hash)
    .bind(OffsetDateTime::now_utc())
    .execute(conn)
    .await
    .map(drop)
    })?;
    head.log_seq = seq;
    head.log_hash = hash;
    Ok(())
}
