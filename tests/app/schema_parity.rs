//! The two migration trees (`migrations/sqlite`, `migrations/postgres`, and
//! each module's pair) describe one schema: the same tables and columns, of
//! the same kinds up to the backends' type mapping, the same nullability,
//! unique keys and foreign keys (with what a delete does). A column added to
//! one tree only fails here. PostgreSQL only adds what SQLite has no word
//! for (Row-Level Security, roles and grants), which this test doesn't read,
//! and the foreign keys modules list in `POSTGRES_ONLY_FOREIGN_KEYS`.

use std::collections::BTreeSet;

use app::db::{Backend, Db};

use crate::support::{Options, TestApp, TestDatabase, postgres_available};

/// A column: its name, kind (see [`kind`]) and whether it may be NULL.
type ColumnShape = (String, &'static str, bool);
/// A unique key: its columns (`<expr>` for an expression) and whether it
/// is partial (`WHERE …`).
type UniqueKey = (String, bool);
/// A foreign key: columns, the table and columns it references, and what a
/// delete of the referenced row does.
type ForeignKey = (String, String, String, String);

/// One table as both backends can describe it.
#[derive(Debug, PartialEq, Eq)]
struct Shape {
    columns: Vec<ColumnShape>,
    unique: BTreeSet<UniqueKey>,
    foreign: BTreeSet<ForeignKey>,
}

/// A column type, as the two backends' types map onto each other: SQLite
/// keeps UUIDs, times and dates as text, and booleans as integers.
fn kind(declared: &str) -> &'static str {
    match declared.to_ascii_lowercase().as_str() {
        "uuid" | "text" | "timestamptz" | "date" => "text",
        "int4" | "int8" | "integer" | "bigint" | "bool" | "boolean" => "integer",
        "bytea" | "blob" => "blob",
        other => panic!("a column type the parity test doesn't map yet: {other}"),
    }
}

/// Both backends name what a delete does the SQL way.
fn on_delete(postgres_code: &str) -> String {
    match postgres_code {
        "c" => "CASCADE",
        "n" => "SET NULL",
        "d" => "SET DEFAULT",
        "r" => "RESTRICT",
        _ => "NO ACTION",
    }
    .to_owned()
}

/// (table, columns, partial) of a unique key, as the catalog lists it.
type UniqueRow = (String, String, bool);
/// (table, columns, referenced table, referenced columns, on delete).
type ForeignRow = (String, String, String, String, String);

async fn shapes(db: &Db) -> Vec<(String, Shape)> {
    let tables = app::db::schema::tables(db).await.expect("the schema");
    let (unique, foreign): (Vec<UniqueRow>, Vec<ForeignRow>) = match db {
        Db::Sqlite(pool) => {
            let unique = sqlx::query_as(
                    "SELECT m.name, group_concat(coalesce(ii.name, '<expr>'), ','), il.partial = 1 \
                     FROM sqlite_master m, pragma_index_list(m.name) il, pragma_index_info(il.name) ii \
                     WHERE m.type = 'table' AND il.\"unique\" = 1 \
                     GROUP BY m.name, il.name ORDER BY m.name, il.name",
                )
                .fetch_all(pool)
                .await
                .expect("SQLite's unique keys");
            let rows: Vec<(String, i64, String, String, Option<String>, String)> = sqlx::query_as(
                "SELECT m.name, f.id, f.\"from\", f.\"table\", f.\"to\", f.on_delete \
                     FROM sqlite_master m, pragma_foreign_key_list(m.name) f \
                     WHERE m.type = 'table' ORDER BY m.name, f.id, f.seq",
            )
            .fetch_all(pool)
            .await
            .expect("SQLite's foreign keys");
            let mut foreign: Vec<(String, String, String, String, String)> = Vec::new();
            let mut last: Option<(String, i64)> = None;
            for (table, id, from, to_table, to, action) in rows {
                // A reference without columns names the primary key.
                let to = to.unwrap_or_else(|| "id".to_owned());
                if last.as_ref() == Some(&(table.clone(), id)) {
                    let key = foreign.last_mut().expect("the key begun");
                    key.1.push_str(&format!(",{from}"));
                    key.3.push_str(&format!(",{to}"));
                } else {
                    foreign.push((table.clone(), from, to_table, to, action));
                    last = Some((table, id));
                }
            }
            (unique, foreign)
        }
        Db::Postgres(postgres) => {
            let unique = sqlx::query_as(
                "SELECT t.relname::text, array_to_string(ARRAY( \
                         SELECT CASE WHEN k.attnum = 0 THEN '<expr>' ELSE a.attname::text END \
                         FROM unnest(ix.indkey::int2[]) WITH ORDINALITY k(attnum, n) \
                         LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum \
                         ORDER BY k.n), ','), ix.indpred IS NOT NULL \
                     FROM pg_index ix JOIN pg_class t ON t.oid = ix.indrelid \
                     WHERE ix.indisunique AND t.relnamespace = current_schema()::regnamespace \
                       AND t.relname <> '_sqlx_migrations'",
            )
            .fetch_all(&postgres.pool)
            .await
            .expect("PostgreSQL's unique keys");
            let columns = |side: &str, table: &str| {
                format!(
                    "array_to_string(ARRAY(SELECT a.attname::text \
                         FROM unnest(c.{side}) WITH ORDINALITY k(attnum, n) \
                         JOIN pg_attribute a ON a.attrelid = c.{table} AND a.attnum = k.attnum \
                         ORDER BY k.n), ',')"
                )
            };
            let foreign = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT t.relname::text, {}, r.relname::text, {}, c.confdeltype::text \
                     FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid \
                     JOIN pg_class r ON r.oid = c.confrelid \
                     WHERE c.contype = 'f' AND c.connamespace = current_schema()::regnamespace",
                columns("conkey", "conrelid"),
                columns("confkey", "confrelid"),
            )))
            .fetch_all(&postgres.pool)
            .await
            .expect("PostgreSQL's foreign keys");
            let foreign = foreign
                .into_iter()
                .map(
                    |(t, from, r, to, code): (String, String, String, String, String)| {
                        (t, from, r, to, on_delete(&code))
                    },
                )
                .collect();
            (unique, foreign)
        }
    };
    tables
        .into_iter()
        .map(|(name, table)| {
            let shape = Shape {
                columns: table
                    .columns
                    .iter()
                    .map(|c| (c.name.clone(), kind(&c.kind), c.nullable))
                    .collect(),
                unique: unique
                    .iter()
                    .filter(|(t, _, _)| *t == name)
                    .map(|(_, columns, partial)| (columns.clone(), *partial))
                    .collect(),
                foreign: foreign
                    .iter()
                    .filter(|(t, ..)| *t == name)
                    .map(|(_, from, to_table, to, action)| {
                        (from.clone(), to_table.clone(), to.clone(), action.clone())
                    })
                    .collect(),
            };
            (name, shape)
        })
        .collect()
}

#[tokio::test]
async fn sqlite_and_postgres_migrations_yield_the_same_schema() {
    if !postgres_available().await {
        return;
    }
    let mut described = Vec::new();
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let database = TestDatabase::create(backend).await;
        let app = TestApp::spawn(&database, Options::default()).await;
        described.push(shapes(&app.db).await);
        app.stop().await;
        database.drop().await;
    }
    let (mut postgres, sqlite) = (
        described.pop().expect("PostgreSQL"),
        described.pop().expect("SQLite"),
    );
    for (table, columns, referenced) in crate::modules::POSTGRES_ONLY_FOREIGN_KEYS
        .iter()
        .copied()
        .flatten()
    {
        let shape = &mut postgres
            .iter_mut()
            .find(|(t, _)| t == table)
            .expect("the table")
            .1;
        let before = shape.foreign.len();
        shape
            .foreign
            .retain(|(from, to, ..)| !(from == columns && to == referenced));
        assert_eq!(
            shape.foreign.len(),
            before - 1,
            "{table} still has the key the list explains"
        );
    }
    let names =
        |tables: &Vec<(String, Shape)>| tables.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(names(&sqlite), names(&postgres), "the same tables");
    let mut differences = Vec::new();
    for ((table, on_sqlite), (_, on_postgres)) in sqlite.iter().zip(postgres.iter()) {
        for (what, a, b) in [
            (
                "columns",
                format!("{:?}", on_sqlite.columns),
                format!("{:?}", on_postgres.columns),
            ),
            (
                "unique keys",
                format!("{:?}", on_sqlite.unique),
                format!("{:?}", on_postgres.unique),
            ),
            (
                "foreign keys",
                format!("{:?}", on_sqlite.foreign),
                format!("{:?}", on_postgres.foreign),
            ),
        ] {
            if a != b {
                differences.push(format!(
                    "{table}, {what}:\n  SQLite     {a}\n  PostgreSQL {b}"
                ));
            }
        }
    }
    assert!(
        differences.is_empty(),
        "the migration trees differ:\n{}",
        differences.join("\n")
    );
}
