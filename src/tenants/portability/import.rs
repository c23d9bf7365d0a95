//! Restoring a tenant's archive: everything is checked before anything is
//! written (checksums, row counts, schema version, tables and columns, a
//! tenant of the same id or slug), and a write that fails half-way is
//! undone.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufRead, BufReader, Read, Seek};

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::values::{self, Row};
use super::{
    FORMAT, FORMAT_VERSION, MANIFEST, Manifest, PortabilityError, TENANT_FILE, USERS_FILE, global,
    sealed_in,
};
use crate::crypto::{Keys, LookupKey};
use crate::db::Db;
use crate::db::schema::{self, Table};
use crate::ids::{TenantId, UserId};
use crate::tenancy::scope::{Intent, for_tenant};

/// What an import restored.
#[derive(Debug)]
pub struct Imported {
    pub tenant: TenantId,
    pub slug: String,
    pub rows: u64,
    /// Members whose account was created by the import: they set a
    /// password through "Forgot your password?".
    pub new_users: Vec<String>,
}

/// An archive checked, ready to write: the tables' rows stay in the
/// archive, read again a chunk at a time as they are written.
struct Checked {
    manifest: Manifest,
    /// The columns each table's rows carry.
    columns: HashMap<String, BTreeSet<String>>,
    /// The two small files, read whole.
    tenant: Vec<Row>,
    users: Vec<Row>,
}

/// Rows written per chunk: what an import holds in memory at a time.
const CHUNK: usize = 1_000;

/// Restores the archive in `input` into `db`, encrypting under `keys`.
///
/// # Errors
/// A damaged, foreign or newer archive, a tenant that exists, or a database
/// failure; in every case nothing is left written.
pub async fn import<R: Read + Seek>(
    db: &Db,
    keys: &Keys,
    lookup: &LookupKey,
    input: R,
) -> Result<Imported, PortabilityError> {
    let mut zip = zip::ZipArchive::new(input)?;
    let checked = check(&mut zip)?;
    let here = schema::version(db).await?;
    if checked.manifest.schema_version > here {
        return Err(PortabilityError::Newer {
            archive: checked.manifest.schema_version,
            here,
        });
    }
    let tables = schema::tables(db).await?;
    let owned = schema::tenant_owned(&tables);
    for (table, columns) in &checked.columns {
        let target = tables.get(table).ok_or_else(|| {
            PortabilityError::Damaged(format!("this database has no table {table}"))
        })?;
        if let Some(column) = columns.iter().find(|c| !target.has_column(c)) {
            return Err(PortabilityError::Damaged(format!(
                "this database has no column {table}.{column}"
            )));
        }
    }
    let tenant = &checked.manifest.tenant;
    if global::tenant_exists(db, tenant.id, &tenant.slug).await? {
        return Err(PortabilityError::Conflict(format!(
            "an organisation with the id {} or the slug {} exists here: delete it first, or import \
             into another database",
            tenant.id, tenant.slug
        )));
    }

    let (users, new_users, created) = restore_users(db, &tables, &checked.users).await?;
    let written = async {
        // The tenants row in the tenant's own scope too: one transaction for
        // the whole tenant, and the policies let a scope write its own
        // tenant row (an app connected as an ordinary owner is bound by them).
        let mut scope = for_tenant(db, tenant.id, Intent::Write).await?;
        values::insert(
            scope.tx(),
            &tables["tenants"],
            &columns(&checked.tenant),
            &checked.tenant,
        )
        .await?;
        for table in &owned {
            let Some(file) = checked
                .manifest
                .files
                .iter()
                .find(|f| f.table == table.name)
            else {
                continue;
            };
            let mut lines = JsonLines::open(&mut zip, &file.path)?;
            loop {
                let mut chunk = Vec::with_capacity(CHUNK);
                while chunk.len() < CHUNK
                    && let Some(row) = lines.next(None)?
                {
                    chunk.push(row);
                }
                if chunk.is_empty() {
                    break;
                }
                let rows = prepare(keys, lookup, table, chunk, &users)?;
                values::insert(scope.tx(), table, &columns(&rows), &rows).await?;
            }
        }
        scope.commit().await?;
        Ok::<_, PortabilityError>(())
    }
    .await;
    if let Err(error) = written {
        global::remove_users(db, &created).await?;
        return Err(error);
    }
    Ok(Imported {
        tenant: tenant.id,
        slug: tenant.slug.clone(),
        rows: checked.manifest.files.iter().map(|f| f.rows).sum(),
        new_users,
    })
}

/// Checks the archive against its manifest, file by file and line by line
/// (holding one row at a time): format, checksums, row counts, and that
/// every line is a row.
fn check<R: Read + Seek>(zip: &mut zip::ZipArchive<R>) -> Result<Checked, PortabilityError> {
    let manifest: Manifest = serde_json::from_slice(&entry(zip, MANIFEST)?)
        .map_err(|e| PortabilityError::Damaged(format!("{MANIFEST}: {e}")))?;
    if manifest.format != FORMAT {
        return Err(PortabilityError::Damaged(format!(
            "its format is {:?}",
            manifest.format
        )));
    }
    if manifest.format_version > FORMAT_VERSION {
        return Err(PortabilityError::Newer {
            archive: i64::from(manifest.format_version),
            here: i64::from(FORMAT_VERSION),
        });
    }
    for required in [TENANT_FILE, USERS_FILE] {
        if !manifest.files.iter().any(|f| f.path == required) {
            return Err(PortabilityError::Damaged(format!("{required} is missing")));
        }
    }
    let mut columns: HashMap<String, BTreeSet<String>> = HashMap::new();
    let (mut tenant, mut users) = (Vec::new(), Vec::new());
    for file in &manifest.files {
        let mut lines = JsonLines::open(zip, &file.path)?;
        let mut hash = Sha256::new();
        let mut rows = 0_u64;
        let carried = columns.entry(file.table.clone()).or_default();
        while let Some(row) = lines.next(Some(&mut hash))? {
            rows += 1;
            carried.extend(row.keys().cloned());
            match file.path.as_str() {
                TENANT_FILE => tenant.push(row),
                USERS_FILE => users.push(row),
                _ => {}
            }
        }
        if hex::encode(hash.finalize()) != file.sha256 {
            return Err(PortabilityError::Damaged(format!(
                "{} doesn't match its checksum",
                file.path
            )));
        }
        if rows != file.rows {
            return Err(PortabilityError::Damaged(format!(
                "{} holds {rows} rows, the manifest says {}",
                file.path, file.rows
            )));
        }
    }
    Ok(Checked {
        manifest,
        columns,
        tenant,
        users,
    })
}

/// A JSON Lines file of the archive, read a row at a time.
struct JsonLines<'a, R: Read + Seek> {
    path: String,
    reader: BufReader<zip::read::ZipFile<'a, R>>,
    line: Vec<u8>,
}

impl<'a, R: Read + Seek> JsonLines<'a, R> {
    fn open(zip: &'a mut zip::ZipArchive<R>, path: &str) -> Result<Self, PortabilityError> {
        let file = zip
            .by_name(path)
            .map_err(|_| PortabilityError::Damaged(format!("{path} is missing")))?;
        Ok(Self {
            path: path.to_owned(),
            reader: BufReader::new(file),
            line: Vec::new(),
        })
    }

    /// The next row; its line's bytes (and those of the empty lines before
    /// it) are added to `hash`, if given.
    fn next(&mut self, mut hash: Option<&mut Sha256>) -> Result<Option<Row>, PortabilityError> {
        loop {
            self.line.clear();
            let read = self
                .reader
                .read_until(b'\n', &mut self.line)
                .map_err(|e| PortabilityError::Damaged(format!("{}: {e}", self.path)))?;
            if read == 0 {
                return Ok(None);
            }
            if let Some(hash) = hash.as_deref_mut() {
                hash.update(&self.line);
            }
            let text = self.line.strip_suffix(b"\n").unwrap_or(&self.line);
            if text.is_empty() {
                continue;
            }
            return serde_json::from_slice(text)
                .map(Some)
                .map_err(|e| PortabilityError::Damaged(format!("{}: {e}", self.path)));
        }
    }
}

/// One file of the archive, whole.
fn entry<R: Read + Seek>(
    zip: &mut zip::ZipArchive<R>,
    path: &str,
) -> Result<Vec<u8>, PortabilityError> {
    let mut file = zip
        .by_name(path)
        .map_err(|_| PortabilityError::Damaged(format!("{path} is missing")))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)
        .map_err(|e| PortabilityError::Damaged(format!("{path}: {e}")))?;
    Ok(bytes)
}

/// The users the archive's members become here: an account with the same
/// email is theirs; otherwise one is created without a password. Returns
/// archive id → id here, the new accounts' emails, and their ids.
async fn restore_users(
    db: &Db,
    tables: &BTreeMap<String, Table>,
    rows: &[Row],
) -> Result<(HashMap<String, UserId>, Vec<String>, Vec<UserId>), PortabilityError> {
    let mut map = HashMap::new();
    let (mut emails, mut created) = (Vec::new(), Vec::new());
    let mut new_rows = Vec::new();
    for row in rows {
        let (Some(archived), Some(email)) = (global::user_id(&row["id"]), row["email"].as_str())
        else {
            return Err(PortabilityError::Damaged(
                "a user without id or email".to_owned(),
            ));
        };
        let id = match global::user_by_email(db, email).await? {
            Some(existing) => existing,
            None => {
                let id = if global::user_exists(db, archived).await? {
                    UserId::new()
                } else {
                    archived
                };
                let mut row = row.clone();
                row.insert("id".to_owned(), Value::from(id.to_string()));
                new_rows.push(row);
                emails.push(email.to_owned());
                created.push(id);
                id
            }
        };
        map.insert(archived.to_string(), id);
    }
    global::insert(db, &tables["users"], &columns(&new_rows), &new_rows).await?;
    Ok((map, emails, created))
}

/// The rows of `table` as this database stores them: user ids mapped,
/// encrypted columns sealed under this database's keys (and their blind
/// indexes computed).
fn prepare(
    keys: &Keys,
    lookup: &LookupKey,
    table: &Table,
    rows: Vec<Row>,
    users: &HashMap<String, UserId>,
) -> Result<Vec<Row>, PortabilityError> {
    let user_columns: Vec<&str> = table
        .references
        .iter()
        .filter(|(_, parent)| parent == "users")
        .map(|(column, _)| column.as_str())
        .collect();
    let sealed = sealed_in(&table.name);
    rows.into_iter()
        .map(|mut row| {
            let id = row
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            for column in &user_columns {
                if let Some(archived) = row.get(*column).and_then(Value::as_str) {
                    let mapped = users.get(archived).ok_or_else(|| {
                        PortabilityError::Damaged(format!(
                            "{}.{column} names no member",
                            table.name
                        ))
                    })?;
                    row.insert((*column).to_owned(), Value::from(mapped.to_string()));
                }
            }
            for column in &sealed {
                let Some(plaintext) = row
                    .get(column.column)
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                else {
                    continue;
                };
                row.insert(
                    column.column.to_owned(),
                    Value::from(column.seal(keys, &id, &plaintext)),
                );
                if let Some(index) = &column.blind_index {
                    let digest = column.digest(lookup, &plaintext);
                    row.insert(
                        index.column.to_owned(),
                        digest.map_or(Value::Null, Value::from),
                    );
                }
            }
            Ok(row)
        })
        .collect()
}

/// The columns rows carry (all rows of a file carry the same).
fn columns(rows: &[Row]) -> Vec<String> {
    rows.first()
        .map(|row| row.keys().cloned().collect())
        .unwrap_or_default()
}
