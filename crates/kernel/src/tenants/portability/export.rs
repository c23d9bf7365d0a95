//! Writing a tenant's archive.

use std::collections::BTreeSet;
use std::io::{Seek, Write};

use futures_util::TryStreamExt;
use serde_json::Value;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use zip::write::SimpleFileOptions;

use super::values::{self, Row};
use super::{
    FORMAT, FORMAT_VERSION, MANIFEST, Manifest, ManifestFile, ManifestTenant, PortabilityError,
    SENSITIVE, SIGNATURE, TENANT_FILE, USERS_FILE, emptied_columns, global, left_out, sealed_in,
    signature,
};
use crate::crypto::sealed::SealedColumn;
use crate::crypto::{Keys, LookupKey};
use crate::db::Db;
use crate::db::Tx;
use crate::db::schema::{self, Table};
use crate::ids::TenantId;
use crate::tenancy::scope::{Intent, TenantScope, for_tenant};

/// What an export wrote.
#[derive(Debug)]
pub struct Exported {
    pub manifest: Manifest,
    /// Rows written, every file counted.
    pub rows: u64,
}

/// Writes the archive of `tenant` to `out`, read in one transaction (a
/// consistent snapshot), its manifest signed with `lookup`. Encrypted
/// columns (the app's `sealed`) are decrypted with `keys`.
///
/// # Errors
/// A value no key decrypts, a database failure, or a write failure.
pub async fn export<W: Write + Seek>(
    db: &Db,
    keys: &Keys,
    lookup: &LookupKey,
    sealed: &[&SealedColumn],
    tenant: TenantId,
    out: W,
) -> Result<Exported, PortabilityError> {
    let all = schema::tables(db).await?;
    let owned = schema::tenant_owned(&all);
    let left_out = left_out(&owned);
    let mut zip = Archive::new(out);

    let tenant_table = all
        .get("tenants")
        .ok_or_else(|| PortabilityError::Damaged("no tenants table".to_owned()))?;
    let tenant_rows = global::rows_by_id(db, tenant_table, &[tenant.to_string()]).await?;
    let Some(tenant_row) = tenant_rows.first() else {
        return Err(PortabilityError::NoSuchTenant(tenant.to_string()));
    };
    let text = |name: &str| tenant_row[name].as_str().unwrap_or_default().to_owned();
    let manifest_tenant = ManifestTenant {
        id: tenant,
        slug: text("slug"),
        name: text("name"),
    };
    zip.file(TENANT_FILE, "tenants", &tenant_rows)?;

    let mut scope = for_tenant(db, tenant, Intent::Read).await?;
    let mut members = Vec::new();
    for table in owned.iter().filter(|t| !left_out.contains(&t.name)) {
        let emptied = emptied_columns(sealed, table);
        let sealed = sealed_in(sealed, &table.name);
        let mut file = zip.start(&format!("tables/{}.jsonl", table.name), &table.name)?;
        // Row by row, as the database sends them: memory stays flat
        // whatever the table's size.
        read(&mut scope, table, |mut row| {
            clean(keys, table, &emptied, &sealed, &mut row)?;
            if table.name == "memberships"
                && let Some(user) = row["user_id"].as_str()
            {
                members.push(user.to_owned());
            }
            zip.row(&mut file, &row)
        })
        .await?;
        zip.finish(file);
    }
    scope.commit().await?;

    let users = all
        .get("users")
        .ok_or_else(|| PortabilityError::Damaged("no users table".to_owned()))?;
    let users: Vec<Row> = global::rows_by_id(db, users, &members)
        .await?
        .into_iter()
        .map(|row| {
            row.into_iter()
                .filter(|(column, _)| global::USER_COLUMNS.contains(&column.as_str()))
                .collect()
        })
        .collect();
    zip.file(USERS_FILE, "users", &users)?;

    let manifest = Manifest {
        format: FORMAT.to_owned(),
        format_version: FORMAT_VERSION,
        schema_version: schema::version(db).await?,
        exported_at: OffsetDateTime::now_utc()
            .format(&Rfc3339)
            .unwrap_or_default(),
        source_backend: db.backend().name().to_owned(),
        sensitive: SENSITIVE.to_owned(),
        tenant: manifest_tenant,
        files: zip.files,
        left_out: left_out
            .iter()
            .map(|t| format!("{t}: credentials don't travel"))
            .collect(),
    };
    let rows = manifest.files.iter().map(|f| f.rows).sum();
    let json = serde_json::to_vec_pretty(&manifest).map_err(std::io::Error::other)?;
    zip.writer.start_file(MANIFEST, options())?;
    zip.writer.write_all(&json)?;
    zip.writer.start_file(SIGNATURE, options())?;
    zip.writer.write_all(signature(lookup, &json).as_bytes())?;
    zip.writer.finish()?;
    Ok(Exported { manifest, rows })
}

/// The archive of `tenant`, in memory (for a download), and its file name.
///
/// # Errors
/// As [`export`].
pub async fn to_bytes(
    db: &Db,
    keys: &Keys,
    lookup: &LookupKey,
    sealed: &[&SealedColumn],
    tenant: TenantId,
) -> Result<(Vec<u8>, String), PortabilityError> {
    let mut out = std::io::Cursor::new(Vec::new());
    let exported = export(db, keys, lookup, sealed, tenant, &mut out).await?;
    let day = OffsetDateTime::now_utc().date();
    let name = format!("{}-export-{day}.zip", exported.manifest.tenant.slug);
    Ok((out.into_inner(), name))
}

/// Hands each of a tenant-owned table's rows, by id, to `each`.
async fn read(
    scope: &mut TenantScope,
    table: &Table,
    mut each: impl FnMut(Row) -> Result<(), PortabilityError>,
) -> Result<(), PortabilityError> {
    let tenant = scope.tenant_id();
    let sql = values::select_sql(table, "WHERE tenant_id = $1 ORDER BY id");
    match scope.tx() {
        Tx::Sqlite(tx) => {
            let mut rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(tenant)
                .fetch(&mut **tx);
            while let Some(row) = rows.try_next().await? {
                each(values::from_sqlite(table, &row)?)?;
            }
        }
        Tx::Postgres(tx) => {
            let mut rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(tenant)
                .fetch(&mut **tx);
            while let Some(row) = rows.try_next().await? {
                each(values::from_postgres(table, &row)?)?;
            }
        }
    }
    Ok(())
}

/// Empties the `emptied` columns (credentials, blind indexes) and decrypts
/// the `sealed` ones.
fn clean(
    keys: &Keys,
    table: &Table,
    emptied: &BTreeSet<String>,
    sealed: &[&SealedColumn],
    row: &mut Row,
) -> Result<(), PortabilityError> {
    for column in emptied {
        if let Some(value) = row.get_mut(column) {
            *value = Value::Null;
        }
    }
    let id = row
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    for column in sealed {
        if let Some(value) = row.get_mut(column.column)
            && let Some(stored) = value.as_str()
        {
            let plain = column.open(keys, &id, stored).map_err(|error| {
                PortabilityError::Keys(format!("{}.{} of {id}: {error}", table.name, column.column))
            })?;
            *value = Value::from(plain);
        }
    }
    Ok(())
}

fn options() -> SimpleFileOptions {
    SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated)
}

/// The zip being written, and what the manifest will say of its files.
struct Archive<W: Write + Seek> {
    writer: zip::ZipWriter<W>,
    files: Vec<ManifestFile>,
}

/// A JSON Lines file being written: its rows so far, and the hash of its
/// bytes.
struct OpenFile {
    file: ManifestFile,
    hash: Sha256,
}

impl<W: Write + Seek> Archive<W> {
    fn new(out: W) -> Self {
        Self {
            writer: zip::ZipWriter::new(out),
            files: Vec::new(),
        }
    }

    /// Starts the JSON Lines file `path`, of `table`'s rows.
    fn start(&mut self, path: &str, table: &str) -> Result<OpenFile, PortabilityError> {
        self.writer.start_file(path, options())?;
        Ok(OpenFile {
            file: ManifestFile {
                path: path.to_owned(),
                table: table.to_owned(),
                rows: 0,
                sha256: String::new(),
            },
            hash: Sha256::new(),
        })
    }

    /// Writes a row to `open`, the file started last.
    fn row(&mut self, open: &mut OpenFile, row: &Row) -> Result<(), PortabilityError> {
        let mut line = serde_json::to_vec(row).map_err(std::io::Error::other)?;
        line.push(b'\n');
        self.writer.write_all(&line)?;
        open.hash.update(&line);
        open.file.rows += 1;
        Ok(())
    }

    /// Ends `open`, recording its rows and checksum.
    fn finish(&mut self, open: OpenFile) {
        let OpenFile { mut file, hash } = open;
        file.sha256 = hex::encode(hash.finalize());
        self.files.push(file);
    }

    /// Writes `rows` as the JSON Lines file `path`.
    fn file(&mut self, path: &str, table: &str, rows: &[Row]) -> Result<(), PortabilityError> {
        let mut open = self.start(path, table)?;
        for row in rows {
            self.row(&mut open, row)?;
        }
        self.finish(open);
        Ok(())
    }
}
