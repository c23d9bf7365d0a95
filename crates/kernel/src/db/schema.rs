//! The live schema, read from the database's catalog: for code that must
//! cover every table, including ones added after it was written (tenant
//! export, import and deletion).

use std::collections::{BTreeMap, BTreeSet};

use super::Db;
use crate::{on_backend, row};

/// A table, its columns in order, and the tables its foreign keys name.
#[derive(Clone, Debug)]
pub struct Table {
    pub name: String,
    pub columns: Vec<Column>,
    /// `(column, referenced table)` for every foreign key column.
    pub references: Vec<(String, String)>,
}

#[derive(Clone, Debug)]
pub struct Column {
    pub name: String,
    /// The type as the catalog names it: PostgreSQL's `udt_name` (`uuid`,
    /// `int4`, `timestamptz`…) or SQLite's declared type (`TEXT`…).
    pub kind: String,
    pub nullable: bool,
}

impl Table {
    pub fn has_column(&self, name: &str) -> bool {
        self.columns.iter().any(|c| c.name == name)
    }
}

row! {
    /// A column as the catalog lists it.
    struct ColumnRow {
        table_name: String,
        column_name: String,
        kind: String,
        nullable: bool,
    }
}

row! {
    /// A foreign key's column as the catalog lists it.
    struct ReferenceRow {
        table_name: String,
        column_name: String,
        referenced: String,
    }
}

/// The highest migration applied.
pub async fn version(db: &Db) -> Result<i64, sqlx::Error> {
    on_backend!(db, |pool| sqlx::query_scalar(
        "SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success"
    )
    .fetch_one(pool)
    .await)
}

/// Every table of the app (not the migrations' bookkeeping), by name.
pub async fn tables(db: &Db) -> Result<BTreeMap<String, Table>, sqlx::Error> {
    let (columns, references): (Vec<ColumnRow>, Vec<ReferenceRow>) = match db {
        Db::Sqlite(pool) => {
            let columns = sqlx::query_as(
                    "SELECT m.name AS table_name, c.name AS column_name, c.type AS kind, \
                     c.\"notnull\" = 0 AS nullable \
                     FROM sqlite_master m, pragma_table_info(m.name) c \
                     WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> '_sqlx_migrations' \
                     ORDER BY m.name, c.cid",
                )
                .fetch_all(pool)
                .await?;
            let references = sqlx::query_as(
                "SELECT m.name AS table_name, f.\"from\" AS column_name, f.\"table\" AS referenced \
                     FROM sqlite_master m, pragma_foreign_key_list(m.name) f \
                     WHERE m.type = 'table'",
            )
            .fetch_all(pool)
            .await?;
            (columns, references)
        }
        Db::Postgres(postgres) => {
            let columns = sqlx::query_as(
                "SELECT c.table_name::text AS table_name, c.column_name::text AS column_name, \
                     c.udt_name::text AS kind, c.is_nullable = 'YES' AS nullable \
                     FROM information_schema.columns c JOIN information_schema.tables t \
                       ON t.table_schema = c.table_schema AND t.table_name = c.table_name \
                     WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE' \
                       AND c.table_name <> '_sqlx_migrations' \
                     ORDER BY c.table_name, c.ordinal_position",
            )
            .fetch_all(&postgres.pool)
            .await?;
            let references = sqlx::query_as(
                "SELECT DISTINCT child.relname::text AS table_name, a.attname::text AS column_name, \
                     parent.relname::text AS referenced \
                     FROM pg_constraint k \
                     JOIN pg_class child ON child.oid = k.conrelid \
                     JOIN pg_class parent ON parent.oid = k.confrelid \
                     JOIN pg_namespace n ON n.oid = child.relnamespace \
                     JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = ANY (k.conkey) \
                     WHERE k.contype = 'f' AND n.nspname = current_schema()",
            )
            .fetch_all(&postgres.pool)
            .await?;
            (columns, references)
        }
    };
    let mut tables: BTreeMap<String, Table> = BTreeMap::new();
    for column in columns {
        tables
            .entry(column.table_name.clone())
            .or_insert_with(|| Table {
                name: column.table_name,
                columns: Vec::new(),
                references: Vec::new(),
            })
            .columns
            .push(Column {
                name: column.column_name,
                kind: column.kind,
                nullable: column.nullable,
            });
    }
    for reference in references {
        if let Some(table) = tables.get_mut(&reference.table_name) {
            table
                .references
                .push((reference.column_name, reference.referenced));
        }
    }
    for table in tables.values_mut() {
        table.references.sort();
    }
    Ok(tables)
}

/// The tables of `tables` holding a tenant's rows (every one with a
/// `tenant_id`), each after the tables it references, so rows can be
/// inserted in this order and deleted in the reverse.
pub fn tenant_owned(tables: &BTreeMap<String, Table>) -> Vec<Table> {
    let owned: BTreeMap<&str, &Table> = tables
        .values()
        .filter(|t| t.has_column("tenant_id"))
        .map(|t| (t.name.as_str(), t))
        .collect();
    let mut ordered = Vec::new();
    let mut placed = BTreeSet::new();
    while placed.len() < owned.len() {
        let before = placed.len();
        for (name, table) in &owned {
            let ready = table.references.iter().all(|(_, parent)| {
                parent == name
                    || !owned.contains_key(parent.as_str())
                    || placed.contains(parent.as_str())
            });
            if !placed.contains(name) && ready {
                placed.insert(*name);
                ordered.push((*table).clone());
            }
        }
        if placed.len() == before {
            // A cycle between tables: keep the rest in name order.
            ordered.extend(
                owned
                    .iter()
                    .filter(|(name, _)| !placed.contains(*name))
                    .map(|(_, t)| (*t).clone()),
            );
            break;
        }
    }
    ordered
}
