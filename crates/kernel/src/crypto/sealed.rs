//! Columns whose values the app encrypts before they reach the database
//! (personal data, two-factor secrets), and `rotate-keys`, which moves every
//! such value onto the newest key while the app keeps serving.
//!
//! A value is sealed for its row: the associated data is
//! `"{purpose}:{row id}"`, so a ciphertext copied onto another row doesn't
//! decrypt. A column may have a blind index: the keyed hash (`LOOKUP_KEY`)
//! of its normalised plaintext, which finds a row without the plaintext
//! ever being stored or sent to the database.

use std::fmt::Display;

use super::{CryptoError, Keys, LookupKey, VERSION};
use crate::db::Db;
use crate::db::Tx;
use crate::ids::{RowId, TenantId};
use crate::tenancy::scope::{Intent, ScopeError, TenantScope, for_tenant};
use crate::{on_tx, row};

/// A column of sealed values. Its table has an `id` column (and, when
/// tenant-owned, a `tenant_id` one).
pub struct SealedColumn {
    pub table: &'static str,
    pub column: &'static str,
    /// Names the value in its associated data and its blind index.
    pub purpose: &'static str,
    pub tenant_owned: bool,
    pub blind_index: Option<BlindIndex>,
    /// A credential (a client secret): tenant export writes it empty and
    /// import leaves it empty, to be entered again (the column is
    /// nullable). Personal data is exported, decrypted.
    pub credential: bool,
}

/// A column holding the keyed hash of a sealed column's plaintext.
pub struct BlindIndex {
    pub column: &'static str,
    /// How a value is written down in many ways that mean the same (case,
    /// spaces): applied before hashing, on writes and on lookups alike.
    pub normalize: fn(&str) -> String,
}

impl SealedColumn {
    /// The associated data of the value in row `id`.
    pub fn owner(&self, id: impl Display) -> String {
        format!("{}:{id}", self.purpose)
    }

    /// What the column holds for `plaintext` in row `id`. An empty value
    /// stays empty: there is nothing in it to hide.
    pub fn seal(&self, keys: &Keys, id: impl Display, plaintext: &str) -> String {
        if plaintext.is_empty() {
            String::new()
        } else {
            keys.encrypt(&self.owner(id), plaintext.as_bytes())
        }
    }

    /// The plaintext of a column value. A value stored before the column was
    /// sealed (no version prefix) is returned as it is, until `rotate-keys`
    /// seals it.
    ///
    /// # Errors
    /// A key no longer configured, or a value changed or moved.
    pub fn open(&self, keys: &Keys, id: impl Display, stored: &str) -> Result<String, CryptoError> {
        let bytes = open_bytes(keys, &self.owner(id), stored)?;
        String::from_utf8(bytes).map_err(|_| CryptoError::Corrupt)
    }

    /// The blind index of `plaintext` (`None` without a blind index, or for
    /// an empty value).
    pub fn digest(&self, lookup: &LookupKey, plaintext: &str) -> Option<String> {
        let index = self.blind_index.as_ref()?;
        let normalized = (index.normalize)(plaintext);
        (!normalized.is_empty()).then(|| lookup.digest(self.purpose, &normalized))
    }

    fn name(&self) -> String {
        format!("{}.{}", self.table, self.column)
    }
}

fn open_bytes(keys: &Keys, owner: &str, stored: &str) -> Result<Vec<u8>, CryptoError> {
    if is_sealed(stored) {
        keys.decrypt(owner, stored)
    } else {
        Ok(stored.as_bytes().to_vec())
    }
}

fn is_sealed(stored: &str) -> bool {
    stored
        .strip_prefix(VERSION)
        .is_some_and(|rest| rest.starts_with('.'))
}

/// What a rotation did, column by column.
#[derive(Debug, Default)]
pub struct Rotation {
    /// `(table.column, values re-encrypted)`.
    pub rewritten: Vec<(String, u64)>,
    /// Values still not under the newest key when it finished: written
    /// meanwhile by an instance that doesn't list the newest key first.
    pub remaining: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum RotateError {
    #[error("{column} of row {id}: {source}")]
    Value {
        column: String,
        id: RowId,
        source: CryptoError,
    },
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Scope(#[from] ScopeError),
}

row! {
    /// A value to re-encrypt: its row, and what the column holds now.
    struct Stale {
        id: RowId,
        value: String,
    }
}

/// Re-encrypts every value of `columns` that isn't under the newest key (or
/// isn't encrypted yet), `batch` rows per transaction, so requests keep
/// being served between batches and an interrupted run resumes where it
/// stopped. A row written meanwhile is left to its writer: each update only
/// replaces the exact value it read.
///
/// # Errors
/// A value that no configured key decrypts (nothing after it is touched),
/// or a database failure.
pub async fn rotate(
    db: &Db,
    keys: &Keys,
    lookup: &LookupKey,
    columns: &[&SealedColumn],
    batch: i64,
) -> Result<Rotation, RotateError> {
    let newest = format!("{VERSION}.{}.%", keys.newest_fingerprint());
    let tenants = crate::tenancy::global::all_tenant_ids(db).await?;
    let mut rotation = Rotation::default();
    for column in columns {
        let mut rewritten = 0;
        let owners: Vec<Option<TenantId>> = if column.tenant_owned {
            tenants.iter().copied().map(Some).collect()
        } else {
            vec![None]
        };
        for tenant in owners {
            let mut after = RowId::from(uuid::Uuid::nil());
            loop {
                let mut rows = Rows::open(db, column, tenant, Intent::Write).await?;
                let stale = rows.stale(&newest, after, batch).await?;
                for Stale { id, value: old } in &stale {
                    let (new, digest) = reseal(keys, lookup, column, *id, old)?;
                    rewritten += rows.replace(*id, old, &new, digest).await?;
                }
                rows.commit().await?;
                match stale.last() {
                    Some(last) => after = last.id,
                    None => break,
                }
            }
            let mut rows = Rows::open(db, column, tenant, Intent::Read).await?;
            rotation.remaining += rows.count_stale(&newest).await?;
        }
        rotation.rewritten.push((column.name(), rewritten));
    }
    Ok(rotation)
}

/// `old` under the newest key, and its blind index.
fn reseal(
    keys: &Keys,
    lookup: &LookupKey,
    column: &SealedColumn,
    id: RowId,
    old: &str,
) -> Result<(String, Option<String>), RotateError> {
    let failed = |source| RotateError::Value {
        column: column.name(),
        id,
        source,
    };
    let owner = column.owner(id);
    let plaintext = open_bytes(keys, &owner, old).map_err(failed)?;
    let digest = match column.blind_index {
        Some(_) => {
            let text =
                String::from_utf8(plaintext.clone()).map_err(|_| failed(CryptoError::Corrupt))?;
            column.digest(lookup, &text)
        }
        None => None,
    };
    Ok((keys.encrypt(&owner, &plaintext), digest))
}

/// The condition on a value that isn't under the newest key (`$newest` is
/// a LIKE pattern of its prefix).
fn stale_condition(column: &SealedColumn, newest: &str) -> String {
    let c = column.column;
    format!("{c} IS NOT NULL AND {c} <> '' AND {c} NOT LIKE '{newest}'")
}

/// One column's rows in one transaction: a tenant's scope for a
/// tenant-owned column (its rows only, Row-Level Security in force), a
/// plain transaction for a global one.
struct Rows<'a> {
    column: &'a SealedColumn,
    owner: Owner,
}

enum Owner {
    Tenant(TenantScope),
    Global(Tx),
}

impl<'a> Rows<'a> {
    async fn open(
        db: &Db,
        column: &'a SealedColumn,
        tenant: Option<TenantId>,
        intent: Intent,
    ) -> Result<Self, RotateError> {
        let owner = match tenant {
            Some(tenant) => Owner::Tenant(for_tenant(db, tenant, intent).await?),
            None => Owner::Global(Tx::global(db).await?),
        };
        Ok(Self { column, owner })
    }

    /// The transaction, and the tenant its statements are bound to.
    fn tx(&mut self) -> (&mut Tx, Option<TenantId>) {
        match &mut self.owner {
            Owner::Tenant(scope) => {
                let tenant = scope.tenant_id();
                (scope.tx(), Some(tenant))
            }
            Owner::Global(tx) => (tx, None),
        }
    }

    /// ` AND tenant_id = $n` in a tenant's scope; nothing on a global table.
    fn tenant_condition(&self, n: usize) -> String {
        match self.owner {
            Owner::Tenant(_) => format!(" AND tenant_id = ${n}"),
            Owner::Global(_) => String::new(),
        }
    }

    async fn commit(self) -> Result<(), RotateError> {
        match self.owner {
            Owner::Tenant(scope) => scope.commit().await?,
            Owner::Global(tx) => tx.commit().await?,
        }
        Ok(())
    }

    /// Up to `batch` values after row `after` not under the newest key.
    async fn stale(
        &mut self,
        newest: &str,
        after: RowId,
        batch: i64,
    ) -> Result<Vec<Stale>, sqlx::Error> {
        let sql = format!(
            "SELECT id, {c} AS value FROM {t} WHERE id > $1 AND {cond}{tenant} ORDER BY id LIMIT $2",
            c = self.column.column,
            t = self.column.table,
            cond = stale_condition(self.column, newest),
            tenant = self.tenant_condition(3),
        );
        let (tx, tenant) = self.tx();
        on_tx!(tx, |conn| {
            let query = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(after)
                .bind(batch);
            match tenant {
                Some(tenant) => query.bind(tenant),
                None => query,
            }
            .fetch_all(conn)
            .await
        })
    }

    /// Replaces row `id`'s value with `new` (and its blind index), only if
    /// it still holds `old`.
    async fn replace(
        &mut self,
        id: RowId,
        old: &str,
        new: &str,
        digest: Option<String>,
    ) -> Result<u64, sqlx::Error> {
        // $1 the row, $2 the new value, $3 the value read; then the tenant
        // and the blind index's digest, when there are.
        let tenant_condition = self.tenant_condition(4);
        let index = self
            .column
            .blind_index
            .as_ref()
            .map_or(String::new(), |index| {
                let n = if tenant_condition.is_empty() { 4 } else { 5 };
                format!(", {} = ${n}", index.column)
            });
        let sql = format!(
            "UPDATE {t} SET {c} = $2{index} WHERE id = $1 AND {c} = $3{tenant_condition}",
            t = self.column.table,
            c = self.column.column,
        );
        let (tx, tenant) = self.tx();
        on_tx!(tx, |conn| {
            let query = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(id)
                .bind(new)
                .bind(old);
            let query = match tenant {
                Some(tenant) => query.bind(tenant),
                None => query,
            };
            match digest {
                Some(digest) => query.bind(digest),
                None => query,
            }
            .execute(conn)
            .await
            .map(|done| done.rows_affected())
        })
    }

    /// How many values are not under the newest key.
    async fn count_stale(&mut self, newest: &str) -> Result<u64, sqlx::Error> {
        let sql = format!(
            "SELECT COUNT(*) FROM {t} WHERE {cond}{tenant}",
            t = self.column.table,
            cond = stale_condition(self.column, newest),
            tenant = self.tenant_condition(1),
        );
        let (tx, tenant) = self.tx();
        let count: i64 = on_tx!(tx, |conn| {
            let query = sqlx::query_scalar(sqlx::AssertSqlSafe(sql));
            match tenant {
                Some(tenant) => query.bind(tenant),
                None => query,
            }
            .fetch_one(conn)
            .await
        })?;
        Ok(count.unsigned_abs())
    }
}
