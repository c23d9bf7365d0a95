//! `citus-distribute`: turns a migrated PostgreSQL database on a Citus
//! coordinator into a sharded one. Every tenant-owned table (every table with
//! a tenant_id column) becomes a distributed table on tenant_id, all
//! co-located, so a tenant's rows and their joins live on one worker. The
//! global tables that tenant-owned tables reference (tenants, users) become
//! reference tables, copied to every worker, so those foreign keys hold
//! there; so do the global tables written with a user in one scope
//! ([`WRITTEN_WITH_USERS`]). The other global tables (sessions, super_admin_audit, the
//! migrations ledger) stay on the coordinator: they are busy or small and
//! never joined with tenant data. Tables are handled in foreign-key order,
//! and a table Citus already manages is skipped, so running it twice is safe.

use sqlx::{Connection, PgConnection, PgPool};

use super::Db;

#[derive(Debug, thiserror::Error)]
pub enum CitusError {
    #[error("citus-distribute needs a PostgreSQL DATABASE_URL (a Citus coordinator)")]
    NotPostgres,
    #[error(
        "the citus extension is not installed in this database: run CREATE EXTENSION citus on the coordinator, then this command again"
    )]
    NoCitus,
    /// Citus refused to make `table` what the plan says, with its reason.
    #[error("{table}: {reason}")]
    Refused { table: String, reason: String },
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl CitusError {
    /// Citus's message with its detail and hint, which say why.
    fn refused(table: &str, error: sqlx::Error) -> Self {
        let Some(postgres) = error
            .as_database_error()
            .and_then(|e| e.try_downcast_ref::<sqlx::postgres::PgDatabaseError>())
        else {
            return Self::Database(error);
        };
        let reason = [Some(postgres.message()), postgres.detail(), postgres.hint()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(". ");
        Self::Refused {
            table: table.to_owned(),
            reason,
        }
    }
}

/// What was done to one table.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    Reference(String),
    Distributed(String),
    AlreadyDone(String),
}

/// # Errors
/// Not PostgreSQL, no citus extension, or a Citus error.
pub async fn distribute(db: &Db) -> Result<Vec<Step>, CitusError> {
    let Db::Postgres(postgres) = db else {
        return Err(CitusError::NotPostgres);
    };
    let installed: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus')")
            .fetch_one(&postgres.pool)
            .await?;
    if !installed {
        return Err(CitusError::NoCitus);
    }
    let plan = plan(db).await?;
    // The settings below are the session's: a connection of its own, closed
    // afterwards rather than returned to the pool with them.
    let mut conn = postgres.pool.acquire().await?.detach();
    let result = distribute_on(&mut conn, plan).await;
    conn.close().await?;
    result
}

async fn distribute_on(conn: &mut PgConnection, plan: Plan) -> Result<Vec<Step>, CitusError> {
    // Left on, Citus turns every table linked to a new reference table by a
    // foreign key into a coordinator-local table. Triggers (the time log's
    // append-only one) then run on each shard, which is what they check.
    sqlx::raw_sql(
        "SET citus.enable_local_reference_table_foreign_keys = off; \
         SET citus.enable_unsafe_triggers = on",
    )
    .execute(&mut *conn)
    .await?;
    undo_local_tables(conn).await?;
    let mut steps = Vec::new();
    for table in plan.reference {
        steps.push(if managed_by_citus(conn, &table).await? {
            Step::AlreadyDone(table)
        } else {
            sqlx::query("SELECT create_reference_table($1::regclass)")
                .bind(&table)
                .execute(&mut *conn)
                .await
                .map_err(|e| CitusError::refused(&table, e))?;
            Step::Reference(table)
        });
    }
    let mut colocate_with: Option<String> = None;
    for table in plan.distributed {
        if managed_by_citus(conn, &table).await? {
            steps.push(Step::AlreadyDone(table.clone()));
        } else {
            sqlx::query(
                "SELECT create_distributed_table($1::regclass, 'tenant_id', colocate_with => $2)",
            )
            .bind(&table)
            .bind(colocate_with.as_deref().unwrap_or("default"))
            .execute(&mut *conn)
            .await
            .map_err(|e| CitusError::refused(&table, e))?;
            steps.push(Step::Distributed(table.clone()));
        }
        colocate_with.get_or_insert(table);
    }
    Ok(steps)
}

/// Tables an earlier run (or an older version of this command) left as
/// Citus-managed local tables go back to plain tables first, with the
/// tables linked to them by foreign keys, so they can be distributed.
async fn undo_local_tables(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    let local: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM citus_tables WHERE citus_table_type = 'local'",
    )
    .fetch_all(&mut *conn)
    .await?;
    for table in local {
        // Undoing one undoes those linked to it: check it is still local.
        if citus_table_type(conn, &table).await?.as_deref() == Some("local") {
            sqlx::query(
                "SELECT undistribute_table($1::regclass, cascade_via_foreign_keys => true)",
            )
            .bind(&table)
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(())
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Reference(table) => {
                write!(f, "{table}: reference table (copied to every worker)")
            }
            Self::Distributed(table) => write!(f, "{table}: distributed on tenant_id"),
            Self::AlreadyDone(table) => write!(f, "{table}: already managed by Citus, left as is"),
        }
    }
}

/// Which tables become what, in the order they must be created.
#[derive(Debug, PartialEq, Eq)]
pub struct Plan {
    pub reference: Vec<String>,
    pub distributed: Vec<String>,
}

/// Reads the plan from the live schema (no Citus needed).
///
/// # Errors
/// Not PostgreSQL, or a database error.
pub async fn plan(db: &Db) -> Result<Plan, CitusError> {
    let Db::Postgres(postgres) = db else {
        return Err(CitusError::NotPostgres);
    };
    let pool = &postgres.pool;
    let distributed = in_foreign_key_order(pool, tenant_owned_tables(pool).await?).await?;
    let existing: Vec<String> = sqlx::query_scalar(
        "SELECT relname::text FROM pg_class WHERE relkind = 'r' AND relname = ANY($1) \
         AND relnamespace = 'public'::regnamespace",
    )
    .bind(WRITTEN_WITH_USERS)
    .fetch_all(pool)
    .await?;
    // Those tables and what they reference, with what the tenant-owned
    // tables reference.
    let referencing: Vec<String> = distributed.iter().chain(&existing).cloned().collect();
    let mut reference = referenced_global_tables(pool, &referencing).await?;
    reference.extend(existing);
    let reference = in_foreign_key_order(pool, reference).await?;
    Ok(Plan {
        reference,
        distributed,
    })
}

async fn tenant_owned_tables(pool: &PgPool) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c \
         JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public' \
         JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped \
         WHERE c.relkind = 'r' ORDER BY c.relname",
    )
    .fetch_all(pool)
    .await
}

crate::row! {
    /// A foreign key between two tables (not a table's reference to itself).
    struct ForeignKey {
        child: String,
        parent: String,
    }
}

async fn foreign_keys(pool: &PgPool) -> Result<Vec<ForeignKey>, sqlx::Error> {
    sqlx::query_as(
        "SELECT conrelid::regclass::text AS child, confrelid::regclass::text AS parent \
         FROM pg_constraint WHERE contype = 'f' AND conrelid <> confrelid",
    )
    .fetch_all(pool)
    .await
}

/// Parents before children: a table comes after every tenant-owned table it
/// references.
async fn in_foreign_key_order(
    pool: &PgPool,
    mut remaining: Vec<String>,
) -> Result<Vec<String>, sqlx::Error> {
    let edges = foreign_keys(pool).await?;
    let mut ordered: Vec<String> = Vec::new();
    while !remaining.is_empty() {
        let ready = remaining.iter().position(|table| {
            edges.iter().all(|edge| {
                edge.child != *table
                    || !remaining.contains(&edge.parent)
                    || ordered.contains(&edge.parent)
            })
        });
        // A cycle can't be ordered; take the rest as they are.
        let next = ready.unwrap_or(0);
        ordered.push(remaining.remove(next));
    }
    Ok(ordered)
}

/// Global tables a scope writes in the same transaction as the user they
/// point to (signing up through a provider: the user and their identity).
/// Citus checks a key from a coordinator table to a reference table
/// written in that transaction as a distributed deadlock; between two
/// reference tables it is a plain key. A new such table goes here, and its
/// migration makes it a reference table on a sharded database (0039 shows
/// how).
pub const WRITTEN_WITH_USERS: &[&str] = &["user_identities"];

/// The global tables that tenant-owned tables reference, and the global
/// tables those reference in turn, parents first.
async fn referenced_global_tables(
    pool: &PgPool,
    tenant_owned: &[String],
) -> Result<Vec<String>, sqlx::Error> {
    let edges = foreign_keys(pool).await?;
    let mut referenced: Vec<String> = Vec::new();
    let mut referencing: Vec<String> = tenant_owned.to_vec();
    while let Some(table) = referencing.pop() {
        for parent in edges
            .iter()
            .filter(|edge| edge.child == table)
            .map(|edge| &edge.parent)
        {
            if !tenant_owned.contains(parent) && !referenced.contains(parent) {
                referenced.push(parent.clone());
                referencing.push(parent.clone());
            }
        }
    }
    referenced.sort();
    in_foreign_key_order(pool, referenced).await
}

/// Already a distributed or a reference table (a local one is not done).
async fn managed_by_citus(conn: &mut PgConnection, table: &str) -> Result<bool, sqlx::Error> {
    Ok(matches!(
        citus_table_type(conn, table).await?.as_deref(),
        Some("distributed" | "reference")
    ))
}

/// What Citus has made of `table` (`citus_tables`), if anything.
async fn citus_table_type(
    conn: &mut PgConnection,
    table: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT citus_table_type FROM citus_tables WHERE table_name = $1::regclass")
        .bind(table)
        .fetch_optional(conn)
        .await
}
