//! Restoring a tenant's archive. An archive is untrusted input (an operator
//! restores what a customer sends: "please restore our backup"), so all of
//! it is checked before anything is written, and what is written is what
//! export writes, for the manifest's tenant only:
//!
//! * **Signature.** Export signs the manifest with this installation's
//!   `LOOKUP_KEY` (`manifest.sig`), and the manifest holds every file's
//!   SHA-256: a file edited after export is refused. An archive of another
//!   installation can't be checked that way; it is imported only on the
//!   operator's word ([`Origin::AnotherInstallation`]), and every rule
//!   below still holds.
//! * **Entries and sizes.** The manifest, its signature and the files it
//!   lists, nothing else, within [`Limits`].
//! * **Tables and columns.** The tenants row, the members' accounts
//!   ([`global::USER_COLUMNS`]) and the tenant-owned tables that export
//!   writes, each with export's columns and no others. Never a credential
//!   table (API tokens, pending invitations); credential columns
//!   (`*_digest`: codes and tokens devices hold) and blind indexes are empty, as
//!   export leaves them.
//! * **Rows.** Every row belongs to the manifest's tenant.
//! * **Accounts.** A member whose email has an account here becomes that
//!   account. Otherwise one is created with the email alone: no password,
//!   no verified email, no privilege. Its owner sets a password through
//!   "Forgot your password?", which the emailed link also verifies.
//! * **One unit.** The accounts, the tenant and its rows are written in one
//!   transaction: an import that fails, or is killed, half-way leaves
//!   nothing, and running it again does the whole import.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufRead, BufReader, Read, Seek};

use serde_json::Value;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::values::{self, Row};
use super::{
    FORMAT, FORMAT_VERSION, MANIFEST, Manifest, PortabilityError, SIGNATURE, TENANT_FILE,
    USERS_FILE, emptied_columns, global, left_out, sealed_in, signature,
};
use crate::crypto::sealed::SealedColumn;
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
    /// Members whose account was created by the import: they have no
    /// password yet, and set one through "Forgot your password?".
    pub new_users: Vec<String>,
}

/// Where an archive comes from, which decides whether its signature is
/// checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Exported here (the same `LOOKUP_KEY`): the signature must verify.
    ThisInstallation,
    /// Exported by another installation, whose key this one doesn't have:
    /// the operator vouches for the file (docs/tenancy.md, "Tenant export").
    AnotherInstallation,
}

/// What an import reads at most, so a crafted archive can't exhaust memory
/// or run for ever. Each is refused with an error naming it.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Size of `manifest.json`.
    pub manifest_bytes: u64,
    /// Length of one line (one row) of a file.
    pub line_bytes: u64,
    /// Entries in the zip.
    pub entries: usize,
    /// Bytes of all the files, decompressed (a zip bomb stops here).
    pub total_bytes: u64,
    /// Size of each of the two files held whole (the tenant and its members).
    pub held_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            manifest_bytes: 1 << 20,
            line_bytes: 1 << 20,
            entries: 1_000,
            total_bytes: 16 << 30,
            held_bytes: 64 << 20,
        }
    }
}

/// An archive checked, ready to write: the tables' rows stay in the
/// archive, read again a chunk at a time as they are written.
struct Checked {
    manifest: Manifest,
    /// The two small files, read whole.
    tenant: Vec<Row>,
    users: Vec<Row>,
}

/// What export writes of each table: its columns, and those it empties.
struct Expected {
    columns: BTreeSet<String>,
    emptied: BTreeSet<String>,
    /// The column naming the row's tenant (`id` for the tenants row), or
    /// none (users).
    tenant_column: Option<&'static str>,
}

/// Rows written per chunk: what an import holds in memory at a time.
const CHUNK: usize = 1_000;

/// Restores the archive in `input` into `db`, encrypting the app's `sealed`
/// columns under `keys`.
///
/// # Errors
/// An archive that is damaged, unsigned (from this installation), edited,
/// over a limit, newer, or holds anything export doesn't write; a tenant
/// that exists; a database failure. In every case nothing is written.
pub async fn import<R: Read + Seek>(
    db: &Db,
    keys: &Keys,
    lookup: &LookupKey,
    sealed: &[&SealedColumn],
    input: R,
    origin: Origin,
    limits: &Limits,
) -> Result<Imported, PortabilityError> {
    let mut zip = zip::ZipArchive::new(input)?;
    let tables = schema::tables(db).await?;
    let owned = schema::tenant_owned(&tables);
    let expected = expected(sealed, &tables, &owned)?;
    let checked = check(&mut zip, lookup, origin, limits, &expected)?;
    let here = schema::version(db).await?;
    if checked.manifest.schema_version > here {
        return Err(PortabilityError::Newer {
            archive: checked.manifest.schema_version,
            here,
        });
    }
    let tenant = &checked.manifest.tenant;
    if global::tenant_exists(db, tenant.id, &tenant.slug).await? {
        return Err(PortabilityError::Conflict(format!(
            "an organisation with the id {} or the slug {} exists here: delete it first, or import \
             into another database",
            tenant.id, tenant.slug
        )));
    }
    let (users, new_users) = members_here(db, &checked.users).await?;

    // One transaction, in the tenant's own scope (the policies let a scope
    // write its tenant's row, and the scope role may create accounts with
    // these columns only, as signup does).
    let mut scope = for_tenant(db, tenant.id, Intent::Write).await?;
    let accounts: Vec<Row> = new_users.iter().map(|(_, row)| row.clone()).collect();
    values::insert(scope.tx(), &tables["users"], &columns(&accounts), &accounts).await?;
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
            .find(|f| f.table == table.name && f.path != TENANT_FILE)
        else {
            continue;
        };
        let mut lines = JsonLines::open(&mut zip, &file.path, limits)?;
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
            let rows = prepare(keys, lookup, sealed, table, chunk, &users)?;
            values::insert(scope.tx(), table, &columns(&rows), &rows).await?;
        }
    }
    scope.commit().await?;
    Ok(Imported {
        tenant: tenant.id,
        slug: tenant.slug.clone(),
        rows: checked.manifest.files.iter().map(|f| f.rows).sum(),
        new_users: new_users.into_iter().map(|(email, _)| email).collect(),
    })
}

/// What export writes, by table name, for this database's schema.
fn expected(
    sealed: &[&SealedColumn],
    tables: &BTreeMap<String, Table>,
    owned: &[Table],
) -> Result<BTreeMap<String, Expected>, PortabilityError> {
    let table = |name: &str| {
        tables
            .get(name)
            .ok_or_else(|| PortabilityError::Damaged(format!("this database has no {name} table")))
    };
    let all_columns = |t: &Table| t.columns.iter().map(|c| c.name.clone()).collect();
    let mut expected = BTreeMap::from([
        (
            "tenants".to_owned(),
            Expected {
                columns: all_columns(table("tenants")?),
                emptied: BTreeSet::new(),
                tenant_column: Some("id"),
            },
        ),
        (
            "users".to_owned(),
            Expected {
                columns: global::USER_COLUMNS
                    .iter()
                    .map(|c| (*c).to_owned())
                    .collect(),
                emptied: BTreeSet::new(),
                tenant_column: None,
            },
        ),
    ]);
    let credentials = left_out(owned);
    for t in owned.iter().filter(|t| !credentials.contains(&t.name)) {
        expected.insert(
            t.name.clone(),
            Expected {
                columns: all_columns(t),
                emptied: emptied_columns(sealed, t),
                tenant_column: Some("tenant_id"),
            },
        );
    }
    Ok(expected)
}

/// The path of `table`'s file in an archive.
fn path_of(table: &str) -> String {
    match table {
        "tenants" => TENANT_FILE.to_owned(),
        "users" => USERS_FILE.to_owned(),
        _ => format!("tables/{table}.jsonl"),
    }
}

/// Checks the archive against its signature and manifest, file by file and
/// line by line (holding one row at a time, but for the two small files).
fn check<R: Read + Seek>(
    zip: &mut zip::ZipArchive<R>,
    lookup: &LookupKey,
    origin: Origin,
    limits: &Limits,
    expected: &BTreeMap<String, Expected>,
) -> Result<Checked, PortabilityError> {
    if zip.len() > limits.entries {
        return Err(PortabilityError::TooLarge(format!(
            "it holds {} entries, more than the {} an import reads",
            zip.len(),
            limits.entries
        )));
    }
    let manifest_bytes = entry(zip, MANIFEST, limits.manifest_bytes)?;
    if origin == Origin::ThisInstallation {
        let signed = entry(zip, SIGNATURE, 1024).ok();
        let expected_signature = signature(lookup, &manifest_bytes);
        let valid = signed.is_some_and(|s| bool::from(s.ct_eq(expected_signature.as_bytes())));
        if !valid {
            return Err(PortabilityError::Unsigned);
        }
    }
    let manifest: Manifest = serde_json::from_slice(&manifest_bytes)
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
    let mut listed = BTreeSet::new();
    for file in &manifest.files {
        if !expected.contains_key(&file.table) {
            return Err(PortabilityError::Refused(format!(
                "it holds rows of {}, which an export never writes",
                file.table
            )));
        }
        if file.path != path_of(&file.table) || !listed.insert(file.path.as_str()) {
            return Err(PortabilityError::Damaged(format!(
                "the manifest lists {} for {}",
                file.path, file.table
            )));
        }
    }
    for required in [TENANT_FILE, USERS_FILE] {
        if !listed.contains(required) {
            return Err(PortabilityError::Damaged(format!("{required} is missing")));
        }
    }
    let names = zip
        .file_names()
        .map(|name| name.map(std::borrow::Cow::into_owned))
        .collect::<Result<Vec<String>, _>>()?;
    if let Some(stray) = names
        .iter()
        .find(|n| ![MANIFEST, SIGNATURE].contains(&n.as_str()) && !listed.contains(n.as_str()))
    {
        return Err(PortabilityError::Refused(format!(
            "it holds {stray}, which the manifest doesn't list"
        )));
    }

    let tenant_id = manifest.tenant.id.to_string();
    let mut read_so_far = 0_u64;
    let (mut tenant, mut users) = (Vec::new(), Vec::new());
    for file in &manifest.files {
        let rules = &expected[&file.table];
        let held = [TENANT_FILE, USERS_FILE].contains(&file.path.as_str());
        let mut lines = JsonLines::open(zip, &file.path, limits)?;
        let mut hash = Sha256::new();
        let mut rows = 0_u64;
        let mut first_columns: Option<Vec<String>> = None;
        // A file edited after export is told as such (its checksum), so a
        // refused row is reported once the whole file is read.
        let mut refusal = None;
        while let Some(row) = lines.next(Some(&mut hash))? {
            rows += 1;
            if refusal.is_none() {
                // Written a chunk at a time with the first row's columns.
                let carried: Vec<String> = row.keys().cloned().collect();
                refusal = check_row(&file.table, rules, &row, &tenant_id)
                    .err()
                    .or_else(|| {
                        (first_columns.get_or_insert_with(|| carried.clone()) != &carried).then(
                            || {
                                PortabilityError::Damaged(format!(
                                    "the rows of {} don't all carry the same columns",
                                    file.path
                                ))
                            },
                        )
                    });
            }
            match file.path.as_str() {
                TENANT_FILE => tenant.push(row),
                USERS_FILE => users.push(row),
                _ => {}
            }
            if held && lines.read > limits.held_bytes {
                return Err(PortabilityError::TooLarge(format!(
                    "{} is larger than {} bytes",
                    file.path, limits.held_bytes
                )));
            }
            if read_so_far + lines.read > limits.total_bytes {
                return Err(PortabilityError::TooLarge(format!(
                    "its files hold more than {} bytes",
                    limits.total_bytes
                )));
            }
        }
        read_so_far += lines.read;
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
        if let Some(refusal) = refusal {
            return Err(refusal);
        }
    }
    let [row] = tenant.as_slice() else {
        return Err(PortabilityError::Damaged(format!(
            "{TENANT_FILE} holds {} rows, not one",
            tenant.len()
        )));
    };
    let slug = row.get("slug").and_then(Value::as_str).unwrap_or_default();
    if slug != manifest.tenant.slug || !crate::tenancy::global::is_slug(slug) {
        return Err(PortabilityError::Refused(format!(
            "the organisation's slug {slug:?} is not the manifest's, or not a slug"
        )));
    }
    Ok(Checked {
        manifest,
        tenant,
        users,
    })
}

/// One row against what export writes of its table.
fn check_row(
    table: &str,
    rules: &Expected,
    row: &Row,
    tenant: &str,
) -> Result<(), PortabilityError> {
    if let Some(column) = row.keys().find(|c| !rules.columns.contains(*c)) {
        return Err(PortabilityError::Refused(format!(
            "{table}.{column} is not a column an export writes"
        )));
    }
    if let Some(column) = rules
        .emptied
        .iter()
        .find(|c| row.get(*c).is_some_and(|v| !v.is_null()))
    {
        return Err(PortabilityError::Refused(format!(
            "{table}.{column} holds a value: credentials never come from an archive"
        )));
    }
    if let Some(column) = rules.tenant_column
        && row.get(column).and_then(Value::as_str) != Some(tenant)
    {
        return Err(PortabilityError::Refused(format!(
            "a row of {table} belongs to another organisation than the manifest's ({tenant})"
        )));
    }
    Ok(())
}

/// A JSON Lines file of the archive, read a row at a time.
struct JsonLines<'a, R: Read + Seek> {
    path: String,
    reader: BufReader<zip::read::ZipFile<'a, R>>,
    line: Vec<u8>,
    line_bytes: u64,
    /// Bytes read so far.
    read: u64,
}

impl<'a, R: Read + Seek> JsonLines<'a, R> {
    fn open(
        zip: &'a mut zip::ZipArchive<R>,
        path: &str,
        limits: &Limits,
    ) -> Result<Self, PortabilityError> {
        let file = zip
            .by_name(path)
            .map_err(|_| PortabilityError::Damaged(format!("{path} is missing")))?;
        Ok(Self {
            path: path.to_owned(),
            reader: BufReader::new(file),
            line: Vec::new(),
            line_bytes: limits.line_bytes,
            read: 0,
        })
    }

    /// The next row; its line's bytes (and those of the empty lines before
    /// it) are added to `hash`, if given.
    fn next(&mut self, mut hash: Option<&mut Sha256>) -> Result<Option<Row>, PortabilityError> {
        loop {
            self.line.clear();
            let read = (&mut self.reader)
                .take(self.line_bytes + 1)
                .read_until(b'\n', &mut self.line)
                .map_err(|e| PortabilityError::Damaged(format!("{}: {e}", self.path)))?;
            if read == 0 {
                return Ok(None);
            }
            self.read += read as u64;
            if read as u64 > self.line_bytes {
                return Err(PortabilityError::TooLarge(format!(
                    "a line of {} is longer than {} bytes",
                    self.path, self.line_bytes
                )));
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

/// One file of the archive, whole, if it is at most `limit` bytes.
fn entry<R: Read + Seek>(
    zip: &mut zip::ZipArchive<R>,
    path: &str,
    limit: u64,
) -> Result<Vec<u8>, PortabilityError> {
    let file = zip
        .by_name(path)
        .map_err(|_| PortabilityError::Damaged(format!("{path} is missing")))?;
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| PortabilityError::Damaged(format!("{path}: {e}")))?;
    if bytes.len() as u64 > limit {
        return Err(PortabilityError::TooLarge(format!(
            "{path} is larger than {limit} bytes"
        )));
    }
    Ok(bytes)
}

/// The accounts the archive's members are here: an account with the same
/// email is theirs; otherwise a new one, to create with the email alone.
/// Returns archive id → id here, and each new account's email and row.
async fn members_here(
    db: &Db,
    rows: &[Row],
) -> Result<(HashMap<String, UserId>, Vec<(String, Row)>), PortabilityError> {
    let mut map = HashMap::new();
    let mut new_users = Vec::new();
    for row in rows {
        let text = |column: &str| row.get(column).and_then(Value::as_str);
        let (Some(archived), Some(email), Some(created_at)) = (
            text("id").and_then(|id| id.parse::<UserId>().ok()),
            text("email"),
            text("created_at"),
        ) else {
            return Err(PortabilityError::Damaged(
                "a user without an id, an email or a creation time".to_owned(),
            ));
        };
        if map.contains_key(&archived.to_string()) {
            return Err(PortabilityError::Damaged(format!(
                "the user {archived} is listed twice"
            )));
        }
        let id = match global::user_by_email(db, email).await? {
            Some(existing) => existing,
            None => {
                let id = if global::user_exists(db, archived).await? {
                    UserId::new()
                } else {
                    archived
                };
                let account = Row::from_iter([
                    ("id".to_owned(), Value::from(id.to_string())),
                    ("email".to_owned(), Value::from(email)),
                    ("created_at".to_owned(), Value::from(created_at)),
                ]);
                new_users.push((email.to_owned(), account));
                id
            }
        };
        map.insert(archived.to_string(), id);
    }
    Ok((map, new_users))
}

/// The rows of `table` as this database stores them: user ids mapped,
/// encrypted columns sealed under this database's keys (and their blind
/// indexes computed).
fn prepare(
    keys: &Keys,
    lookup: &LookupKey,
    sealed: &[&SealedColumn],
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
    let sealed = sealed_in(sealed, &table.name);
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
