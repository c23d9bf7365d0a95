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
use crate::ids::{RowId, TenantId};
use crate::on_backend;
use crate::on_tx;
use crate::tenancy::scope::{Intent, ScopeError, TenantScope, for_tenant};

/// A column of sealed values. Its table has an `id` column (and, when
/// tenant-owned, a `tenant_id` one).
pub struct SealedColumn {
    pub table: &'static str,
    pub column: &'static str,
    /// Names the value in its associated data and its blind index.
    pub purpose: &'static str,
    pub tenant_owned: bool,
    pub blind_index: Option<BlindIndex>,
}

/// A column holding the keyed hash of a sealed column's plaintext.
pub struct BlindIndex {
    pub column: &'static str,
    /// How a value is written down in many ways that mean the same (case,
    /// spaces): applied before hashing, on writes and on lookups alike.
    pub normalize: fn(&str) -> String,
}

/// The core's sealed column: users' two-factor secrets.
pub const TWO_FACTOR_SECRET: SealedColumn = SealedColumn {
    table: "users",
    column: "totp_secret",
    purpose: "totp",
    tenant_owned: false,
    blind_index: None,
};

/// Every sealed column of the app: the core's and its modules'.
pub fn all() -> Vec<&'static SealedColumn> {
    std::iter::once(&TWO_FACTOR_SECRET)
        .chain(crate::modules::ALL.iter().flat_map(|module| module.sealed))
        .collect()
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
    stored.starts_with(&format!("{VERSION}."))
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

/// A value to re-encrypt: its row, and what the column holds now.
type Stale = (RowId, String);

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
                let (done, last) = match tenant {
                    Some(tenant) => {
                        let mut scope = for_tenant(db, tenant, Intent::Write).await?;
                        let stale =
                            tenant_rows::stale(&mut scope, column, &newest, after, batch).await?;
                        let mut done = 0;
                        for (id, old) in &stale {
                            let (new, digest) = reseal(keys, lookup, column, *id, old)?;
                            done +=
                                tenant_rows::replace(&mut scope, column, *id, old, &new, digest)
                                    .await?;
                        }
                        scope.commit().await?;
                        (done, stale.last().map(|(id, _)| *id))
                    }
                    None => {
                        let stale = global::stale(db, column, &newest, after, batch).await?;
                        let mut done = 0;
                        for (id, old) in &stale {
                            let (new, digest) = reseal(keys, lookup, column, *id, old)?;
                            done += global::replace(db, column, *id, old, &new, digest).await?;
                        }
                        (done, stale.last().map(|(id, _)| *id))
                    }
                };
                rewritten += done;
                match last {
                    Some(last) => after = last,
                    None => break,
                }
            }
            rotation.remaining += match tenant {
                Some(tenant) => {
                    let mut scope = for_tenant(db, tenant, Intent::Read).await?;
                    tenant_rows::count_stale(&mut scope, column, &newest).await?
                }
                None => global::count_stale(db, column, &newest).await?,
            };
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

mod tenant_rows {
    use super::*;

    pub(super) async fn stale(
        scope: &mut TenantScope,
        column: &SealedColumn,
        newest: &str,
        after: RowId,
        batch: i64,
    ) -> Result<Vec<Stale>, sqlx::Error> {
        let tenant = scope.tenant_id();
        let sql = format!(
            "SELECT id, {c} FROM {t} WHERE tenant_id = $1 AND id > $2 AND {cond} ORDER BY id LIMIT $3",
            c = column.column,
            t = column.table,
            cond = stale_condition(column, newest),
        );
        on_tx!(scope.tx(), |conn| sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(tenant)
            .bind(after)
            .bind(batch)
            .fetch_all(conn)
            .await)
    }

    pub(super) async fn replace(
        scope: &mut TenantScope,
        column: &SealedColumn,
        id: RowId,
        old: &str,
        new: &str,
        digest: Option<String>,
    ) -> Result<u64, sqlx::Error> {
        let tenant = scope.tenant_id();
        let sql = update_sql(column);
        on_tx!(scope.tx(), |conn| {
            let query = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(id)
                .bind(new)
                .bind(old)
                .bind(tenant);
            match digest {
                Some(digest) => query.bind(digest),
                None => query,
            }
            .execute(conn)
            .await
            .map(|done| done.rows_affected())
        })
    }

    pub(super) async fn count_stale(
        scope: &mut TenantScope,
        column: &SealedColumn,
        newest: &str,
    ) -> Result<u64, sqlx::Error> {
        let tenant = scope.tenant_id();
        let sql = format!(
            "SELECT COUNT(*) FROM {t} WHERE tenant_id = $1 AND {cond}",
            t = column.table,
            cond = stale_condition(column, newest),
        );
        let count: i64 = on_tx!(scope.tx(), |conn| sqlx::query_scalar(sqlx::AssertSqlSafe(
            sql
        ))
        .bind(tenant)
        .fetch_one(conn)
        .await)?;
        Ok(count.unsigned_abs())
    }
}

/// The same on a global table (users), straight on the pool.
mod global {
    use super::*;

    pub(super) async fn stale(
        db: &Db,
        column: &SealedColumn,
        newest: &str,
        after: RowId,
        batch: i64,
    ) -> Result<Vec<Stale>, sqlx::Error> {
        let sql = format!(
            "SELECT id, {c} FROM {t} WHERE id > $1 AND {cond} ORDER BY id LIMIT $2",
            c = column.column,
            t = column.table,
            cond = stale_condition(column, newest),
        );
        on_backend!(db, |pool| sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(after)
            .bind(batch)
            .fetch_all(pool)
            .await)
    }

    pub(super) async fn replace(
        db: &Db,
        column: &SealedColumn,
        id: RowId,
        old: &str,
        new: &str,
        digest: Option<String>,
    ) -> Result<u64, sqlx::Error> {
        let sql = update_sql(column);
        on_backend!(db, |pool| {
            let query = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .bind(id)
                .bind(new)
                .bind(old);
            match digest.clone() {
                Some(digest) => query.bind(digest),
                None => query,
            }
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        })
    }

    pub(super) async fn count_stale(
        db: &Db,
        column: &SealedColumn,
        newest: &str,
    ) -> Result<u64, sqlx::Error> {
        let sql = format!(
            "SELECT COUNT(*) FROM {t} WHERE {cond}",
            t = column.table,
            cond = stale_condition(column, newest),
        );
        let count: i64 = on_backend!(db, |pool| sqlx::query_scalar(sqlx::AssertSqlSafe(
            sql.clone()
        ))
        .fetch_one(pool)
        .await)?;
        Ok(count.unsigned_abs())
    }
}

/// Replaces row `$1`'s value with `$2`, only if it still holds what was
/// read (`$3`); then come the tenant, when tenant-owned, and the blind
/// index's digest, when there is one.
fn update_sql(column: &SealedColumn) -> String {
    let mut next = 4;
    let mut param = || {
        next += 1;
        format!("${}", next - 1)
    };
    let tenant = if column.tenant_owned {
        format!(" AND tenant_id = {}", param())
    } else {
        String::new()
    };
    let index = match &column.blind_index {
        Some(index) => format!(", {} = {}", index.column, param()),
        None => String::new(),
    };
    format!(
        "UPDATE {t} SET {c} = $2{index} WHERE id = $1 AND {c} = $3{tenant}",
        t = column.table,
        c = column.column,
    )
}
