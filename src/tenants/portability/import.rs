//! Restoring a tenant's archive: everything is checked before anything is
//! written (checksums, row counts, schema version, tables and columns, a
//! tenant of the same id or slug), and a write that fails half-way is
//! undone.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Seek};

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

/// An archive read and checked, ready to write.
struct Checked {
    manifest: Manifest,
    /// Rows by table, in the manifest's order.
    files: Vec<(String, Vec<Row>)>,
}

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
    let checked = read(input)?;
    let here = schema::version(db).await?;
    if checked.manifest.schema_version > here {
        return Err(PortabilityError::Newer {
            archive: checked.manifest.schema_version,
            here,
        });
    }
    let tables = schema::tables(db).await?;
    let owned = schema::tenant_owned(&tables);
    for (table, rows) in &checked.files {
        let target = tables.get(table).ok_or_else(|| {
            PortabilityError::Damaged(format!("this database has no table {table}"))
        })?;
        for column in rows.iter().flat_map(|r| r.keys()) {
            if !target.has_column(column) {
                return Err(PortabilityError::Damaged(format!(
                    "this database has no column {table}.{column}"
                )));
            }
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

    let by_table: HashMap<&str, &Vec<Row>> = checked
        .files
        .iter()
        .map(|(table, rows)| (table.as_str(), rows))
        .collect();
    let (users, new_users, created) = restore_users(
        db,
        &tables,
        by_table.get("users").map_or(&[], |rows| rows.as_slice()),
    )
    .await?;
    let written = async {
        let tenant_rows = by_table
            .get("tenants")
            .copied()
            .cloned()
            .unwrap_or_default();
        global::insert(db, &tables["tenants"], &columns(&tenant_rows), &tenant_rows).await?;
        let mut scope = for_tenant(db, tenant.id, Intent::Write).await?;
        for table in &owned {
            let Some(rows) = by_table.get(table.name.as_str()) else {
                continue;
            };
            let rows = prepare(keys, lookup, table, rows, &users)?;
            values::insert(scope.tx(), table, &columns(&rows), &rows).await?;
        }
        scope.commit().await?;
        Ok::<_, PortabilityError>(())
    }
    .await;
    if let Err(error) = written {
        global::remove(db, tenant.id, &created).await?;
        return Err(error);
    }
    Ok(Imported {
        tenant: tenant.id,
        slug: tenant.slug.clone(),
        rows: checked
            .files
            .iter()
            .map(|(_, rows)| rows.len() as u64)
            .sum(),
        new_users,
    })
}

/// Reads the archive and checks every file against the manifest.
fn read<R: Read + Seek>(input: R) -> Result<Checked, PortabilityError> {
    let mut zip = zip::ZipArchive::new(input)?;
    let manifest: Manifest = serde_json::from_slice(&entry(&mut zip, MANIFEST)?)
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
    let mut files = Vec::new();
    for file in &manifest.files {
        let bytes = entry(&mut zip, &file.path)?;
        if hex::encode(Sha256::digest(&bytes)) != file.sha256 {
            return Err(PortabilityError::Damaged(format!(
                "{} doesn't match its checksum",
                file.path
            )));
        }
        let rows: Vec<Row> = bytes
            .split(|b| *b == b'\n')
            .filter(|line| !line.is_empty())
            .map(serde_json::from_slice)
            .collect::<Result<_, _>>()
            .map_err(|e| PortabilityError::Damaged(format!("{}: {e}", file.path)))?;
        if rows.len() as u64 != file.rows {
            return Err(PortabilityError::Damaged(format!(
                "{} holds {} rows, the manifest says {}",
                file.path,
                rows.len(),
                file.rows
            )));
        }
        files.push((file.table.clone(), rows));
    }
    Ok(Checked { manifest, files })
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
    rows: &[Row],
    users: &HashMap<String, UserId>,
) -> Result<Vec<Row>, PortabilityError> {
    let user_columns: Vec<&str> = table
        .references
        .iter()
        .filter(|(_, parent)| parent == "users")
        .map(|(column, _)| column.as_str())
        .collect();
    let sealed = sealed_in(&table.name);
    rows.iter()
        .map(|row| {
            let mut row = row.clone();
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
