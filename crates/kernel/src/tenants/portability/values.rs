//! Rows of any table as JSON objects, in one form for both backends, and
//! back: ids and dates as text, timestamps RFC 3339 in UTC (as the app
//! writes them on SQLite), booleans and numbers as JSON's.

use serde_json::{Map, Value};
use sqlx::{Row as _, TypeInfo as _, ValueRef as _};
use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime, UtcOffset};

use crate::db::Tx;
use crate::db::schema::Table;

pub type Row = Map<String, Value>;

/// Rows per INSERT statement, at most (and fewer for wide tables).
const CHUNK: usize = 200;

/// `SELECT` of every column of `table`, then `rest` (conditions, order).
pub fn select_sql(table: &Table, rest: &str) -> String {
    let columns: Vec<&str> = table.columns.iter().map(|c| c.name.as_str()).collect();
    format!("SELECT {} FROM {} {rest}", columns.join(", "), table.name)
}

pub fn from_postgres(table: &Table, row: &sqlx::postgres::PgRow) -> Result<Row, sqlx::Error> {
    let mut out = Map::new();
    for (i, column) in table.columns.iter().enumerate() {
        let value = match column.kind.as_str() {
            "uuid" => row
                .try_get::<Option<uuid::Uuid>, _>(i)?
                .map(|id| Value::from(id.hyphenated().to_string())),
            "bool" => row.try_get::<Option<bool>, _>(i)?.map(Value::from),
            "int2" => row.try_get::<Option<i16>, _>(i)?.map(Value::from),
            "int4" => row.try_get::<Option<i32>, _>(i)?.map(Value::from),
            "int8" => row.try_get::<Option<i64>, _>(i)?.map(Value::from),
            "float4" | "float8" => row.try_get::<Option<f64>, _>(i)?.map(Value::from),
            "timestamptz" => row
                .try_get::<Option<OffsetDateTime>, _>(i)?
                .map(|at| Value::from(timestamp(at))),
            "date" => row
                .try_get::<Option<Date>, _>(i)?
                .map(|day| Value::from(day.to_string())),
            _ => row.try_get::<Option<String>, _>(i)?.map(Value::from),
        };
        out.insert(column.name.clone(), value.unwrap_or(Value::Null));
    }
    Ok(out)
}

pub fn from_sqlite(table: &Table, row: &sqlx::sqlite::SqliteRow) -> Result<Row, sqlx::Error> {
    let mut out = Map::new();
    for (i, column) in table.columns.iter().enumerate() {
        let raw = row.try_get_raw(i)?;
        let value = if raw.is_null() {
            Value::Null
        } else {
            let storage = raw.type_info().name().to_owned();
            match storage.as_str() {
                "INTEGER" if column.kind.eq_ignore_ascii_case("BOOLEAN") => {
                    Value::from(row.try_get::<i64, _>(i)? != 0)
                }
                "INTEGER" => Value::from(row.try_get::<i64, _>(i)?),
                "REAL" => Value::from(row.try_get::<f64, _>(i)?),
                _ => Value::from(row.try_get::<String, _>(i)?),
            }
        };
        out.insert(column.name.clone(), value);
    }
    Ok(out)
}

/// As the app stores it on SQLite (sqlx writes RFC 3339).
fn timestamp(at: OffsetDateTime) -> String {
    at.to_offset(UtcOffset::UTC)
        .format(&Rfc3339)
        .unwrap_or_default()
}

/// Inserts `rows` (objects with `columns`) into `table`, in chunks.
///
/// # Errors
/// When the database refuses a row.
pub async fn insert(
    tx: &mut Tx,
    table: &Table,
    columns: &[String],
    rows: &[Row],
) -> Result<(), sqlx::Error> {
    if columns.is_empty() {
        return Ok(());
    }
    let per_statement = (30_000 / columns.len()).clamp(1, CHUNK);
    for chunk in rows.chunks(per_statement) {
        match tx {
            Tx::Sqlite(tx) => {
                let sql = insert_sql(table, columns, chunk.len(), |n, _| format!("${n}"));
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                for row in chunk {
                    for column in columns {
                        query = match row.get(column).unwrap_or(&Value::Null) {
                            Value::Null => query.bind(None::<String>),
                            Value::Bool(b) => query.bind(*b),
                            Value::Number(n) => match n.as_i64() {
                                Some(i) => query.bind(i),
                                None => query.bind(n.as_f64()),
                            },
                            Value::String(s) => query.bind(s.clone()),
                            other => query.bind(other.to_string()),
                        };
                    }
                }
                query.execute(&mut **tx).await?;
            }
            Tx::Postgres(tx) => {
                let kinds: Vec<&str> = columns
                    .iter()
                    .map(|name| {
                        table
                            .columns
                            .iter()
                            .find(|c| &c.name == name)
                            .map_or("text", |c| c.kind.as_str())
                    })
                    .collect();
                let sql = insert_sql(table, columns, chunk.len(), |n, i| {
                    format!("CAST(${n} AS {})", kinds[i])
                });
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                for row in chunk {
                    for column in columns {
                        let text = match row.get(column).unwrap_or(&Value::Null) {
                            Value::Null => None,
                            Value::String(s) => Some(s.clone()),
                            other => Some(other.to_string()),
                        };
                        query = query.bind(text);
                    }
                }
                query.execute(&mut **tx).await?;
            }
        }
    }
    Ok(())
}

/// `INSERT INTO table (columns) VALUES (…), (…)`, each placeholder written
/// by `placeholder(number, column index)`.
fn insert_sql(
    table: &Table,
    columns: &[String],
    rows: usize,
    placeholder: impl Fn(usize, usize) -> String,
) -> String {
    let mut n = 0;
    let tuples: Vec<String> = (0..rows)
        .map(|_| {
            let values: Vec<String> = (0..columns.len())
                .map(|i| {
                    n += 1;
                    placeholder(n, i)
                })
                .collect();
            format!("({})", values.join(", "))
        })
        .collect();
    format!(
        "INSERT INTO {} ({}) VALUES {}",
        table.name,
        columns.join(", "),
        tuples.join(", ")
    )
}
