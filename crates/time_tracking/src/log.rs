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

use std::collections::HashMap;

use serde::Serialize;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::settings::Settings;
use super::{LogEntryId, SubjectId};
use kernel::tenancy::TenantScope;
use kernel::{on_tx, row};

/// What an entry records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Punch,
    Edit,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Punch => "punch",
            Self::Edit => "edit",
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

/// What a check of a tenant's log found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Verification {
    /// Entries checked.
    pub entries: i64,
    /// `null` when the chain, and every record it covers, is intact.
    pub first_broken: Option<Broken>,
}

/// The first place the log doesn't hold.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Broken {
    /// The entry's sequence number (`null` for a record with no entry).
    pub seq: Option<i64>,
    pub entry_id: Option<LogEntryId>,
    pub problem: String,
}

row! {
    /// A log entry, as stored.
    struct EntryRow {
        id: LogEntryId,
        seq: i64,
        kind: String,
        subject_id: SubjectId,
        content: String,
        prev_hash: String,
        hash: String,
    }
}

/// How many entries verification reads at a time.
const PAGE: i64 = 1000;

/// Recomputes the tenant's chain from the first entry, and checks each
/// entry against the punch or edit it records (so a row changed directly
/// in the database is found too), and that every record has its entry.
pub async fn verify(scope: &mut TenantScope) -> Result<Verification, sqlx::Error> {
    let mut records: HashMap<SubjectId, (&'static str, String)> = HashMap::new();
    for (subject, content) in super::punches::log_contents(scope).await? {
        records.insert(subject, (Kind::Punch.as_str(), content));
    }
    for (subject, content) in super::shifts::edits::log_contents(scope).await? {
        records.insert(subject, (Kind::Edit.as_str(), content));
    }
    let head = super::settings::read(scope).await?;
    let tenant = scope.tenant_id();
    let mut previous = (0_i64, String::new());
    loop {
        let after = previous.0;
        let page: Vec<EntryRow> = on_tx!(scope.tx(), |conn| sqlx::query_as(
            "SELECT id, seq, kind, subject_id, content, prev_hash, hash FROM time_log \
             WHERE tenant_id = $1 AND seq > $2 ORDER BY seq LIMIT $3"
        )
        .bind(tenant)
        .bind(after)
        .bind(PAGE)
        .fetch_all(conn)
        .await)?;
        let done = i64::try_from(page.len()).unwrap_or(PAGE) < PAGE;
        for EntryRow {
            id,
            seq,
            kind,
            subject_id: subject,
            content,
            prev_hash,
            hash: entry_hash,
        } in page
        {
            let broken = |problem: String| Verification {
                entries: seq,
                first_broken: Some(Broken {
                    seq: Some(seq),
                    entry_id: Some(id),
                    problem,
                }),
            };
            if seq != previous.0 + 1 {
                return Ok(broken(format!(
                    "entries #{} to #{} are missing",
                    previous.0 + 1,
                    seq - 1
                )));
            }
            if prev_hash != previous.1 {
                return Ok(broken(
                    "it doesn't follow the entry before it: its previous hash differs".to_owned(),
                ));
            }
            if hash(&prev_hash, seq, &kind, subject, &content) != entry_hash {
                return Ok(broken(
                    "it was changed: its hash doesn't match its content".to_owned(),
                ));
            }
            match records.remove(&subject) {
                Some((_, record)) if record == content => {}
                Some(_) => {
                    return Ok(broken(format!(
                        "the {kind} {subject} it records was changed in the database"
                    )));
                }
                None => {
                    return Ok(broken(format!(
                        "the {kind} {subject} it records is gone from the database"
                    )));
                }
            }
            previous = (seq, entry_hash);
        }
        if done {
            break;
        }
    }
    let entries = previous.0;
    let mut first_broken = None;
    if (head.log_seq, &head.log_hash) != (previous.0, &previous.1) {
        first_broken = Some(Broken {
            seq: Some(previous.0 + 1),
            entry_id: None,
            problem: format!(
                "the log ends at entry #{} but its head says #{}: entries were removed",
                previous.0, head.log_seq
            ),
        });
    } else if let Some((subject, (kind, _))) = records.into_iter().min_by_key(|(s, _)| *s) {
        first_broken = Some(Broken {
            seq: None,
            entry_id: None,
            problem: format!("the {kind} {subject} has no log entry: it was added in the database"),
        });
    }
    Ok(Verification {
        entries,
        first_broken,
    })
}
