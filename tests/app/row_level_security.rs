//! PostgreSQL's Row-Level Security, the second layer under the scopes, tested
//! on its own: deliberately unscoped SQL inside a tenant scope, the schema
//! rules read from the live catalog, and the two kinds of database user the
//! app may connect as. (SQLite has no such layer: these tests skip it.)

use std::str::FromStr;

use app::config::Config;
use app::db::Tx;
use app::db::{Backend, Db};
use app::ids::{LocationId, TenantId};
use app::tenancy::scope::{Intent, for_tenant, for_tenant_reading_session, for_user};
use sqlx::AssertSqlSafe;
use sqlx::postgres::PgConnectOptions;

use crate::fixtures::{TenantFixture, tenant_owned_tables};
use crate::support::{
    self, Options, TestApp, admin, backend_test, postgres_available, run_on, test_database_url,
};
use crate::tenant_export::{assert_same_rows, export_archive, import_archive, owned_rows};

/// These tests run on PostgreSQL only: a scope's connection, as such.
fn pg(tx: &mut Tx) -> &mut sqlx::PgConnection {
    match tx {
        Tx::Postgres(tx) => tx,
        Tx::Sqlite(_) => unreachable!("PostgreSQL only"),
    }
}

macro_rules! on_pg {
    ($tx:expr, |$conn:ident| $body:expr) => {{
        let $conn = pg($tx);
        $body
    }};
}

async fn count_where(db: &Db, table: &str, tenant: TenantId) -> i64 {
    let Db::Postgres(postgres) = db else {
        unreachable!()
    };
    sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT count(*) FROM {table} WHERE tenant_id = $1"
    )))
    .bind(tenant)
    .fetch_one(&postgres.pool)
    .await
    .expect("count as the test's superuser")
}

fn is_rls_violation(error: &sqlx::Error) -> bool {
    error.to_string().contains("row-level security")
}

/// Whether the scope role holds `privilege` on `table`.
async fn scope_role_may(db: &Db, table: &str, privilege: &str) -> bool {
    let Db::Postgres(postgres) = db else {
        unreachable!()
    };
    sqlx::query_scalar("SELECT has_table_privilege('app_tenant', $1, $2)")
        .bind(table)
        .bind(privilege)
        .fetch_one(&postgres.pool)
        .await
        .unwrap()
}

fn is_permission_denied(error: &sqlx::Error) -> bool {
    error.to_string().contains("permission denied")
}

/// The scope role's rights on each table that the migrations in `folder`
/// create, as `GRANT` would name them: "SELECT", "INSERT (email, id)".
async fn scope_role_grants(db: &Db, folder: &str) -> Vec<(String, Vec<String>)> {
    let Db::Postgres(postgres) = db else {
        unreachable!()
    };
    let rows: Vec<(String, String, Option<String>)> = sqlx::query_as(
        "SELECT c.relname::text, a.privilege_type, NULL FROM pg_class c, aclexplode(c.relacl) a \
         WHERE c.relnamespace = 'public'::regnamespace AND a.grantee = 'app_tenant'::regrole \
         UNION ALL \
         SELECT c.relname::text, a.privilege_type, att.attname::text \
         FROM pg_class c JOIN pg_attribute att ON att.attrelid = c.oid, aclexplode(att.attacl) a \
         WHERE c.relnamespace = 'public'::regnamespace AND a.grantee = 'app_tenant'::regrole \
         ORDER BY 1, 2, 3",
    )
    .fetch_all(&postgres.pool)
    .await
    .unwrap();
    let mut created = Vec::new();
    for file in std::fs::read_dir(folder).unwrap() {
        let sql = std::fs::read_to_string(file.unwrap().path()).unwrap();
        created.extend(sql.split("CREATE TABLE ").skip(1).filter_map(|rest| {
            rest.split(|c: char| !(c.is_alphanumeric() || c == '_'))
                .next()
                .map(str::to_owned)
        }));
    }
    created.sort();
    created
        .into_iter()
        .map(|table| {
            let mut rights: Vec<String> = Vec::new();
            for (_, privilege, column) in rows.iter().filter(|(t, _, _)| *t == table) {
                match column {
                    None => rights.push(privilege.clone()),
                    Some(column) => match rights
                        .iter_mut()
                        .find(|r| r.starts_with(&format!("{privilege} (")))
                    {
                        Some(listed) => {
                            listed.pop();
                            listed.push_str(&format!(", {column})"));
                        }
                        None => rights.push(format!("{privilege} ({column})")),
                    },
                }
            }
            rights.sort();
            (table, rights)
        })
        .collect()
}

/// Every right the scope role can hold on a table.
pub const ALL_RIGHTS: &[&str] = &["DELETE", "INSERT", "SELECT", "UPDATE"];

/// Checks the scope role's rights on the tables the migrations in `folder`
/// create. By default a tenant-owned table (one with `tenant_id`) gives it
/// [`ALL_RIGHTS`], as Row-Level Security fences the rows, and any other
/// table none; `different` lists the tables that differ (table, rights as
/// `GRANT` names them). A right given or withheld against that fails.
pub async fn assert_scope_role_grants(db: &Db, folder: &str, different: &[(&str, &[&str])]) {
    let granted = scope_role_grants(db, folder).await;
    let tenant_owned = crate::fixtures::tenant_owned_tables(db).await;
    let expected: Vec<(String, Vec<String>)> = granted
        .iter()
        .map(|(table, _)| {
            let rights = match different.iter().find(|(listed, _)| listed == table) {
                Some((_, rights)) => rights,
                None if tenant_owned.contains(table) => ALL_RIGHTS,
                None => &[][..],
            };
            let mut rights: Vec<String> = rights.iter().map(|r| (*r).to_owned()).collect();
            rights.sort();
            (table.clone(), rights)
        })
        .collect();
    for (table, _) in different {
        assert!(
            granted.iter().any(|(created, _)| created == table),
            "{table} is not created in {folder}"
        );
    }
    assert_eq!(granted, expected, "the scope role's rights, table by table");
}

backend_test!(the_scope_role_holds_only_the_rights_its_scopes_need);
/// Least privilege: the scope role holds, table by table, only what scopes
/// do (migrations/postgres/0019): no right at all on credentials and the
/// queue's bookkeeping, no change to accounts or the audit log.
async fn the_scope_role_holds_only_the_rights_its_scopes_need(backend: Backend) {
    run_on(backend, |app| async move {
        if app.backend() == Backend::Sqlite {
            return;
        }
        // The tenant-owned tables hold every right; the credentials and the
        // queue's bookkeeping (sessions, account_tokens, recovery_codes,
        // periodic_runs, scheduled_runs, scheduled_effects, tenant_leases,
        // and Stripe's inbox, stripe_events) none: these are the others.
        assert_scope_role_grants(
            &app.db,
            "migrations/postgres",
            &[
                // What was emailed for an event, recorded with the email.
                ("billing_notices", &["INSERT", "SELECT"]),
                // Stripe's invoices, as their events stored them.
                ("invoices", &["INSERT", "SELECT", "UPDATE"]),
                ("jobs", &["INSERT"]),
                ("rate_limit_counters", &["INSERT", "SELECT", "UPDATE"]),
                ("super_admin_audit", &["SELECT"]),
                ("tenants", ALL_RIGHTS),
                // Signing up with a provider links the identity in the
                // scope that creates the user.
                ("user_identities", &["INSERT"]),
                (
                    "users",
                    &[
                        "INSERT (created_at, email, id, is_super_admin, password_hash)",
                        "SELECT",
                    ],
                ),
            ],
        )
        .await;
        // And in a scope, that is what it can do.
        let a = TenantFixture::create(&app.db, "alpha").await;
        for (table, statement) in [
            ("sessions", "SELECT count(*) FROM sessions"),
            ("recovery_codes", "SELECT count(*) FROM recovery_codes"),
            ("account_tokens", "DELETE FROM account_tokens"),
            ("jobs", "UPDATE jobs SET attempts = 0"),
            ("users", "UPDATE users SET password_hash = ''"),
        ] {
            let mut scope = for_tenant(&app.db, a.id, Intent::Write).await.unwrap();
            let done = on_pg!(scope.tx(), |conn| sqlx::query(AssertSqlSafe(statement))
                .execute(conn)
                .await);
            assert!(
                done.as_ref().is_err_and(is_permission_denied),
                "{table}: {done:?}"
            );
        }
    })
    .await;
}

backend_test!(a_scope_reads_only_the_session_it_was_opened_for);
/// The door reads its request's session through the `current_session`
/// view (the scope role has no right on `sessions`): a scope opened for a
/// session sees that one row, whatever it asks for, and any other scope
/// sees none.
async fn a_scope_reads_only_the_session_it_was_opened_for(backend: Backend) {
    run_on(backend, |app| async move {
        if app.backend() == Backend::Sqlite {
            return;
        }
        let a = TenantFixture::create(&app.db, "alpha").await;
        for user in [a.owner, a.admin, a.staff] {
            app.client_for(user).await;
        }
        let Db::Postgres(postgres) = &app.db else {
            unreachable!()
        };
        let sessions: Vec<String> = sqlx::query_scalar("SELECT id FROM sessions ORDER BY id")
            .fetch_all(&postgres.pool)
            .await
            .unwrap();
        assert_eq!(sessions.len(), 3);
        let own = &sessions[0];
        let count_in = async |session: Option<&str>, sql: String| {
            let mut scope = match session {
                Some(id) => for_tenant_reading_session(&app.db, a.id, id, Intent::Read).await,
                None => for_tenant(&app.db, a.id, Intent::Read).await,
            }
            .unwrap();
            on_pg!(scope.tx(), |conn| sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql))
                .fetch_one(conn)
                .await)
        };
        let all = "SELECT count(*) FROM current_session".to_owned();
        assert_eq!(count_in(Some(own), all.clone()).await.unwrap(), 1);
        let other = format!("SELECT count(*) FROM current_session WHERE id = '{}'", sessions[1]);
        assert_eq!(
            count_in(Some(own), other).await.unwrap(),
            0,
            "another session, asked for by id, is not there"
        );
        let denied = count_in(Some(own), "SELECT count(*) FROM sessions".to_owned()).await;
        assert!(denied.as_ref().is_err_and(is_permission_denied), "{denied:?}");
        let unnamed = count_in(None, all).await.unwrap();
        assert_eq!(unnamed, 0, "a scope opened for no session sees none");
    })
    .await;
}

backend_test!(one_call_makes_a_new_table_tenant_owned);
/// `app_tenant_table()` (migration 0024), which a new tenant-owned table's
/// PostgreSQL migration calls: after it the table is fenced as every other
/// (RLS enabled and forced, the one policy, the scope role's rights), and
/// narrower rights are granted as asked; anything but a list of DML rights
/// is refused.
async fn one_call_makes_a_new_table_tenant_owned(backend: Backend) {
    run_on(backend, |app| async move {
        if app.backend() == Backend::Sqlite {
            return;
        }
        let a = TenantFixture::create(&app.db, "alpha").await;
        let b = TenantFixture::create(&app.db, "bravo").await;
        for (table, rights) in [("probe_notes", None), ("probe_records", Some("SELECT, INSERT"))] {
            app.execute(&format!(
                "CREATE TABLE {table} (tenant_id UUID NOT NULL REFERENCES tenants (id), \
                 id UUID NOT NULL, PRIMARY KEY (tenant_id, id))"
            ))
            .await;
            app.execute(&match rights {
                None => format!("SELECT app_tenant_table('{table}')"),
                Some(rights) => format!("SELECT app_tenant_table('{table}', '{rights}')"),
            })
            .await;
            for tenant in [a.id, b.id] {
                app.execute(&format!(
                    "INSERT INTO {table} VALUES ('{tenant}', '{}')",
                    uuid::Uuid::now_v7()
                ))
                .await;
            }
            let mut scope = for_tenant(&app.db, a.id, Intent::Write).await.unwrap();
            let seen: i64 = on_pg!(scope.tx(), |conn| sqlx::query_scalar(AssertSqlSafe(
                format!("SELECT count(*) FROM {table}")
            ))
            .fetch_one(conn)
            .await)
            .unwrap();
            assert_eq!(seen, 1, "{table}: a scope sees its tenant's row only");
            let planted = on_pg!(scope.tx(), |conn| sqlx::query(AssertSqlSafe(format!(
                "INSERT INTO {table} VALUES ($1, $2)"
            )))
            .bind(b.id)
            .bind(uuid::Uuid::now_v7())
            .execute(conn)
            .await);
            assert!(
                planted.as_ref().is_err_and(is_rls_violation),
                "{table}: a row of another tenant is refused: {planted:?}"
            );
            drop(scope);
            let all = ["SELECT", "INSERT", "UPDATE", "DELETE"];
            let granted = rights.map_or(&all[..], |_| &all[..2]);
            for privilege in all {
                assert_eq!(
                    scope_role_may(&app.db, table, privilege).await,
                    granted.contains(&privilege),
                    "{table}: {privilege}"
                );
            }
        }
        let Db::Postgres(postgres) = &app.db else {
            unreachable!()
        };
        let refused = sqlx::query("SELECT app_tenant_table('probe_notes', 'ALL; DROP TABLE tenants')")
            .execute(&postgres.pool)
            .await;
        assert!(
            refused.as_ref().is_err_and(|e| e.to_string().contains("rights must be a list")),
            "{refused:?}"
        );
    })
    .await;
}

backend_test!(inside_a_tenant_scope_unscoped_sql_touches_only_that_tenants_rows);
async fn inside_a_tenant_scope_unscoped_sql_touches_only_that_tenants_rows(backend: Backend) {
    run_on(backend, |app| async move {
        if app.backend() == Backend::Sqlite {
            return;
        }
        let on_citus = crate::citus::cluster().await.is_some();
        let a = TenantFixture::create(&app.db, "alpha").await;
        let b = TenantFixture::create(&app.db, "bravo").await;
        // A row in every tenant-owned table, as the isolation suite makes
        // them: the fixture's, the modules', the rest through the API.
        crate::tenant_isolation::resource_ids(&app, &a).await;
        crate::tenant_isolation::resource_ids(&app, &b).await;
        let schema = app::db::schema::tables(&app.db).await.unwrap();
        for table in tenant_owned_tables(&app.db).await {
            let own = count_where(&app.db, &table, a.id).await;
            assert!(own > 0 && count_where(&app.db, &table, b.id).await > 0, "{table} has rows of both");
            let mut scope = for_tenant(&app.db, a.id, Intent::Write).await.unwrap();
            let seen: i64 = on_pg!(scope.tx(), |conn| sqlx::query_scalar(AssertSqlSafe(format!(
                "SELECT count(*) FROM {table}"
            )))
            .fetch_one(conn)
            .await)
            .unwrap();
            assert_eq!(seen, own, "SELECT on {table} sees only A's rows");
            // A copy of one of A's rows, but B's: refused by the policy (which
            // PostgreSQL checks before constraints and keys).
            let columns: Vec<&str> = schema[&table].columns.iter().map(|c| c.name.as_str()).collect();
            let values: Vec<&str> = columns
                .iter()
                .map(|c| if *c == "tenant_id" { "$1::uuid" } else { c })
                .collect();
            let planted = on_pg!(scope.tx(), |conn| sqlx::query(AssertSqlSafe(format!(
                "INSERT INTO {table} ({}) SELECT {} FROM {table} LIMIT 1",
                columns.join(", "),
                values.join(", ")
            )))
            .bind(b.id)
            .execute(conn)
            .await);
            assert!(
                planted.as_ref().is_err_and(is_rls_violation),
                "inserting a row of B into {table} is refused: {planted:?}"
            );
            drop(scope);

            // What the role may do to the table, it does to A's rows only;
            // what it may not (an audit trail's changes), it can't do at all.
            let may_update = scope_role_may(&app.db, &table, "UPDATE").await;
            let mut scope = for_tenant(&app.db, a.id, Intent::Write).await.unwrap();
            let updated = on_pg!(scope.tx(), |conn| sqlx::query(AssertSqlSafe(format!(
                "UPDATE {table} SET tenant_id = tenant_id"
            )))
            .execute(conn)
            .await);
            match updated {
                Ok(done) if may_update => {
                    assert_eq!(done.rows_affected() as i64, own, "UPDATE on {table} touches only A's rows")
                }
                Err(e) if !may_update && is_permission_denied(&e) => {}
                other => panic!("UPDATE on {table} (granted: {may_update}): {other:?}"),
            }
            drop(scope);
            let may_delete = scope_role_may(&app.db, &table, "DELETE").await;
            let mut scope = for_tenant(&app.db, a.id, Intent::Write).await.unwrap();
            let deleted = on_pg!(scope.tx(), |conn| sqlx::query(AssertSqlSafe(format!("DELETE FROM {table}")))
                .execute(conn)
                .await);
            match deleted {
                Ok(done) if may_delete => {
                    assert_eq!(done.rows_affected() as i64, own, "DELETE on {table} touches only A's rows")
                }
                // Rows that records point at (a module's append-only
                // records) can't be deleted at all: nothing to count.
                Err(sqlx::Error::Database(e)) if may_delete && e.code().as_deref() == Some("23503") => {}
                Err(e) if !may_delete && is_permission_denied(&e) => {}
                other => panic!("DELETE on {table} (granted: {may_delete}): {other:?}"),
            }
            drop(scope); // rolled back
            if !may_update {
                continue;
            }

            let mut scope = for_tenant(&app.db, a.id, Intent::Write).await.unwrap();
            let moved = on_pg!(scope.tx(), |conn| sqlx::query(AssertSqlSafe(format!(
                "UPDATE {table} SET tenant_id = $1"
            )))
            .bind(b.id)
            .execute(conn)
            .await);
            // Citus refuses it first: a row's tenant_id is where it lives.
            let refused = |e: &sqlx::Error| {
                is_rls_violation(e)
                    || (on_citus
                        && e.as_database_error()
                            .is_some_and(|e| e.message() == "modifying the partition value of rows is not allowed"))
            };
            assert!(
                moved.as_ref().is_err_and(refused),
                "moving {table} rows to B is refused: {moved:?}"
            );
        }

        let mut scope = for_tenant(&app.db, a.id, Intent::Write).await.unwrap();
        let inserted = on_pg!(scope.tx(), |conn| sqlx::query(
            "INSERT INTO locations (tenant_id, id, name, time_zone, created_at) VALUES ($1, $2, 'Planted', 'UTC', now())"
        )
        .bind(b.id)
        .bind(LocationId::new())
        .execute(conn)
        .await);
        assert!(inserted.as_ref().is_err_and(is_rls_violation), "{inserted:?}");
        drop(scope);

        // A scope writes only its own tenants row, and never users or the
        // audit log.
        let mut scope = for_tenant(&app.db, a.id, Intent::Write).await.unwrap();
        let renamed = on_pg!(scope.tx(), |conn| sqlx::query("UPDATE tenants SET name = name")
            .execute(conn)
            .await)
        .unwrap()
        .rows_affected();
        assert_eq!(renamed, 1, "UPDATE tenants without WHERE touches only A's row");
        let promoted = on_pg!(scope.tx(), |conn| sqlx::query("UPDATE users SET is_super_admin = true")
            .execute(conn)
            .await);
        assert!(promoted.as_ref().is_err_and(is_permission_denied), "{promoted:?}");
        drop(scope);
        // It may name is_super_admin (Citus names its default), but not make one.
        let mut scope = for_tenant(&app.db, a.id, Intent::Write).await.unwrap();
        let made = on_pg!(scope.tx(), |conn| sqlx::query(
            "INSERT INTO users (id, email, created_at, is_super_admin) VALUES ($1, 'root@example.test', now(), true)"
        )
        .bind(app::ids::UserId::new())
        .execute(conn)
        .await);
        assert!(made.as_ref().is_err_and(is_rls_violation), "{made:?}");
        drop(scope);
        let mut scope = for_tenant(&app.db, a.id, Intent::Write).await.unwrap();
        let erased = on_pg!(scope.tx(), |conn| sqlx::query("DELETE FROM super_admin_audit")
            .execute(conn)
            .await);
        assert!(erased.as_ref().is_err_and(is_permission_denied), "{erased:?}");
        drop(scope);

        // No tenant bound: the tables read as empty, but for a user's own
        // memberships (the tenant switcher's view).
        let mut scope = for_user(&app.db, a.owner).await.unwrap();
        for table in tenant_owned_tables(&app.db).await {
            let seen: i64 = on_pg!(scope.tx(), |conn| sqlx::query_scalar(AssertSqlSafe(format!(
                "SELECT count(*) FROM {table}"
            )))
            .fetch_one(conn)
            .await)
            .unwrap();
            let expected = i64::from(table == "memberships");
            assert_eq!(seen, expected, "{table} in a user scope");
        }
        let Db::Postgres(postgres) = &app.db else { unreachable!() };
        let mut tx = postgres
            .pool
            .begin_with("BEGIN; SET LOCAL ROLE app_tenant")
            .await
            .unwrap();
        for table in tenant_owned_tables(&app.db).await {
            let seen: i64 = sqlx::query_scalar(AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
                .fetch_one(&mut *tx)
                .await
                .unwrap();
            assert_eq!(seen, 0, "the scope role without a tenant sees nothing in {table}");
        }
    })
    .await;
}

backend_test!(the_live_schema_keeps_the_tenant_rules_on_every_tenant_owned_table);
async fn the_live_schema_keeps_the_tenant_rules_on_every_tenant_owned_table(backend: Backend) {
    run_on(backend, |app| async move {
        let Db::Postgres(postgres) = &app.db else { return };
        let pool = &postgres.pool;
        for table in tenant_owned_tables(&app.db).await {
            let (not_null, rls, forced): (bool, bool, bool) = sqlx::query_as(
                "SELECT a.attnotnull, c.relrowsecurity, c.relforcerowsecurity \
                 FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' \
                 WHERE c.oid = $1::regclass",
            )
            .bind(&table)
            .fetch_one(pool)
            .await
            .unwrap();
            assert!(not_null, "{table}.tenant_id is NOT NULL");
            assert!(rls && forced, "{table} has RLS enabled and forced");

            // Every key, unique constraint and index leads with tenant_id;
            // the primary key is exactly (tenant_id, id).
            let indexes: Vec<(String, bool, Vec<String>)> = sqlx::query_as(
                "SELECT i.indexrelid::regclass::text, i.indisprimary, \
                        array_agg(coalesce(a.attname::text, '(expression)') ORDER BY k.ord) \
                 FROM pg_index i \
                 CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) \
                 LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum \
                 WHERE i.indrelid = $1::regclass GROUP BY 1, 2",
            )
            .bind(&table)
            .fetch_all(pool)
            .await
            .unwrap();
            assert!(indexes.iter().any(|(_, primary, columns)| *primary && columns == &["tenant_id", "id"]),
                "{table}'s primary key is (tenant_id, id): {indexes:?}");
            for (index, _, columns) in &indexes {
                assert_eq!(columns.first().map(String::as_str), Some("tenant_id"), "{index} on {table} leads with tenant_id");
            }

            // Foreign keys to other tenant-owned tables are composite on tenant_id.
            let foreign_keys: Vec<(String, String, Vec<String>, Vec<String>)> = sqlx::query_as(
                "SELECT con.conname::text, con.confrelid::regclass::text, \
                   (SELECT array_agg(a.attname::text ORDER BY k.ord) FROM unnest(con.conkey) WITH ORDINALITY k(n, ord) \
                      JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n), \
                   (SELECT array_agg(a.attname::text ORDER BY k.ord) FROM unnest(con.confkey) WITH ORDINALITY k(n, ord) \
                      JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n) \
                 FROM pg_constraint con WHERE con.contype = 'f' AND con.conrelid = $1::regclass",
            )
            .bind(&table)
            .fetch_all(pool)
            .await
            .unwrap();
            let owned = tenant_owned_tables(&app.db).await;
            for (name, target, columns, target_columns) in foreign_keys {
                if owned.contains(&target) {
                    assert_eq!(columns.first().map(String::as_str), Some("tenant_id"), "{table}.{name}");
                    assert_eq!(target_columns.first().map(String::as_str), Some("tenant_id"), "{table}.{name}");
                } else {
                    assert!(["tenants", "users"].contains(&target.as_str()), "{table}.{name} points at global {target}");
                }
            }

            // One policy binds reads and writes to the scope's tenants (its
            // own, or all in the audited escape hatch) as a range of the
            // leading key, which PostgreSQL uses as an index condition
            // (migrations/postgres/0023_one_tenant_policy.sql). A second
            // permissive policy on the tenant's rows would be ORed with it,
            // and PostgreSQL would filter and sort every row of the tenant.
            let policies: Vec<(String, Option<String>, Option<String>, String)> = sqlx::query_as(
                "SELECT policyname::text, qual, with_check, cmd::text FROM pg_policies WHERE tablename = $1",
            )
            .bind(&table)
            .fetch_all(pool)
            .await
            .unwrap();
            let range = "((tenant_id >= app_scope_first()) AND (tenant_id <= app_scope_last()))";
            assert!(
                policies.iter().any(|(_, using, check, _)| {
                    using.as_deref() == Some(range) && check.as_deref() == Some(range)
                }),
                "{table} has the tenant policy {range} in USING and WITH CHECK: {policies:?}"
            );
            // Any other policy only widens reads, on a scope's setting (the
            // switcher's own memberships).
            for (name, using, check, command) in &policies {
                if using.as_deref() == Some(range) {
                    continue;
                }
                let using = using.as_deref().unwrap_or_default();
                assert!(
                    command == "SELECT" && check.is_none(),
                    "{table}'s policy {name} is one more ORed with the tenant's: {using}"
                );
                assert!(
                    using.contains("app.user_id"),
                    "{table}'s policy {name} reads a scope's setting: {using}"
                );
            }
        }
    })
    .await;
}

/// A login role of the test cluster, created once (roles are cluster-wide, so
/// parallel runs tolerate each other's).
pub async fn ensure_role(name: &str, attributes: &str) {
    sqlx::query(AssertSqlSafe(format!(
        "DO $$ BEGIN CREATE ROLE {name} LOGIN PASSWORD '{name}' {attributes}; \
         EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
    )))
    .execute(&mut admin().await)
    .await
    .expect("create role");
}

/// A fresh, empty database owned by `role`: its name, and the URL for
/// connecting to it as that role.
pub async fn database_owned_by(role: &str) -> (String, String) {
    let name = format!("test_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(AssertSqlSafe(format!(
        "CREATE DATABASE {name} OWNER {role}"
    )))
    .execute(&mut admin().await)
    .await
    .expect("create database");
    let options = PgConnectOptions::from_str(&test_database_url()).unwrap();
    let url = format!(
        "postgres://{role}:{role}@{}:{}/{name}",
        options.get_host(),
        options.get_port()
    );
    (name, url)
}

/// The app's configuration for the database at `url`.
fn config_at(url: &str) -> Config {
    Config::from_lookup(|var| (var == "DATABASE_URL").then(|| url.to_owned())).unwrap()
}

pub async fn drop_database(name: &str) {
    sqlx::query(AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut admin().await)
    .await
    .expect("drop database");
}

#[tokio::test]
async fn an_ordinary_owner_is_bound_by_force_alone() {
    if !postgres_available().await {
        return;
    }
    ensure_role("app_owner_test", "NOSUPERUSER NOCREATEROLE NOBYPASSRLS").await;
    let (name, url) = database_owned_by("app_owner_test").await;
    let db = app::cli::connect_and_migrate(&config_at(&url))
        .await
        .expect("starts as an ordinary owner");

    // Fixtures through scopes: the owner itself is bound by the policies.
    let tenants = [TenantId::new(), TenantId::new()];
    for (i, tenant) in tenants.iter().enumerate() {
        let mut scope = for_tenant(&db, *tenant, Intent::Write).await.unwrap();
        on_pg!(scope.tx(), |conn| sqlx::query(
            "INSERT INTO tenants (id, name, slug, time_zone, created_at) VALUES ($1, 'T', $2, 'UTC', now()); "
        )
        .bind(*tenant)
        .bind(format!("owner-test-{i}"))
        .execute(&mut *conn)
        .await)
        .unwrap();
        for _ in 0..=i {
            on_pg!(scope.tx(), |conn| sqlx::query(
                "INSERT INTO locations (tenant_id, id, name, time_zone, created_at) VALUES ($1, $2, $3, 'UTC', now())"
            )
            .bind(*tenant)
            .bind(LocationId::new())
            .bind(LocationId::new().to_string())
            .execute(conn)
            .await)
            .unwrap();
        }
        scope.commit().await.unwrap();
    }
    let mut scope = for_tenant(&db, tenants[1], Intent::Read).await.unwrap();
    let seen: i64 = on_pg!(scope.tx(), |conn| sqlx::query_scalar(
        "SELECT count(*) FROM locations"
    )
    .fetch_one(conn)
    .await)
    .unwrap();
    assert_eq!(seen, 2, "the second tenant's two locations only");
    drop(scope);
    let Db::Postgres(postgres) = &db else {
        unreachable!()
    };
    let unscoped: i64 = sqlx::query_scalar("SELECT count(*) FROM locations")
        .fetch_one(&postgres.pool)
        .await
        .unwrap();
    assert_eq!(unscoped, 0, "outside any scope the owner sees nothing");
    db.close().await;
    drop_database(&name).await;
}

#[tokio::test]
async fn the_app_refuses_to_start_as_a_user_that_bypasses_rls_without_the_scope_role() {
    if !postgres_available().await {
        return;
    }
    ensure_role("app_bypass_test", "NOSUPERUSER NOCREATEROLE BYPASSRLS").await;
    let (name, url) = database_owned_by("app_bypass_test").await;
    let error = app::cli::connect_and_migrate(&config_at(&url))
        .await
        .expect_err("start-up is refused");
    let message = error.to_string();
    assert!(
        message.contains("refusing to start") && message.contains("bypasses Row-Level Security"),
        "{message}"
    );
    assert!(
        message.contains("GRANT app_tenant TO \"app_bypass_test\""),
        "{message}"
    );
    // The binary says so and stops, before it serves anything.
    let folder = tempfile::tempdir().expect("a folder");
    let output = crate::startup::command(folder.path(), &[("DATABASE_URL", &url), ("PORT", "0")])
        .arg("serve")
        .output()
        .expect("run the binary");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("refusing to start"), "{stderr}");
    drop_database(&name).await;
}

/// A scope that can't open (here: its role switch refused, as after a
/// `REVOKE app_tenant`) fails its request and leaves its connection as it
/// found it: sqlx rolls back the failed opening before the connection goes
/// back to the pool, so none goes back inside a failed transaction, and the
/// next request on it works as soon as the grant is back.
#[tokio::test]
async fn a_scope_that_cannot_open_leaves_its_connection_usable() {
    if !postgres_available().await {
        return;
    }
    let role = "app_regrant_test";
    ensure_role(role, "NOSUPERUSER NOCREATEROLE BYPASSRLS").await;
    let as_admin = |sql: String| async move {
        sqlx::query(AssertSqlSafe(sql.clone()))
            .execute(&mut admin().await)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    };
    let grant = || as_admin(format!("GRANT app_tenant TO {role}"));
    let revoke = || as_admin(format!("REVOKE app_tenant FROM {role}"));
    grant().await;
    let (name, url) = database_owned_by(role).await;
    // One connection, so the request after the failure gets the same one.
    let config = Config::from_lookup(|var| match var {
        "DATABASE_URL" => Some(url.clone()),
        "DATABASE_POOL_SIZE" => Some("1".to_owned()),
        _ => None,
    })
    .unwrap();
    let db = app::cli::connect_and_migrate(&config)
        .await
        .expect("starts with the grant");
    let tenant = TenantId::new();

    revoke().await;
    let refused = for_tenant(&db, tenant, Intent::Read).await;
    grant().await;
    let error = refused.err().expect("no scope without the role");
    assert!(
        error.to_string().contains("permission denied to set role"),
        "{error}"
    );

    let mut scope = for_tenant(&db, tenant, Intent::Read)
        .await
        .expect("the same connection opens the next scope");
    let seen: i64 = on_pg!(scope.tx(), |conn| sqlx::query_scalar(
        "SELECT count(*) FROM locations"
    )
    .fetch_one(conn)
    .await)
    .expect("and queries in it");
    assert_eq!(seen, 0);
    drop(scope);
    db.close().await;
    drop_database(&name).await;
}

backend_test!(citus_distribution_follows_foreign_keys_and_needs_citus);
async fn citus_distribution_follows_foreign_keys_and_needs_citus(backend: Backend) {
    run_on(backend, |app| async move {
        use app::db::citus::{CitusError, distribute, plan};
        if app.backend() == Backend::Sqlite {
            assert!(matches!(
                distribute(&app.db).await,
                Err(CitusError::NotPostgres)
            ));
            return;
        }
        let plan = plan(&app.db).await.unwrap();
        // What tenant-owned tables point at, and what a scope writes beside
        // it (a provider signup's identity), parents first.
        assert_eq!(plan.reference, ["tenants", "users", "user_identities"]);
        let mut distributed = plan.distributed.clone();
        distributed.sort();
        let mut tenant_owned = crate::fixtures::tenant_owned_tables(&app.db).await;
        tenant_owned.sort();
        assert_eq!(
            distributed, tenant_owned,
            "every tenant-owned table is distributed"
        );
        // Each table comes after the tables its foreign keys name.
        let at = |table: &str| plan.distributed.iter().position(|t| t == table).unwrap();
        for (parent, child) in [
            ("memberships", "location_grants"),
            ("locations", "location_grants"),
            ("invitations", "invitation_locations"),
            ("locations", "invitation_locations"),
            ("memberships", "api_tokens"),
        ] {
            assert!(at(parent) < at(child), "{parent} before {child}: {plan:?}");
        }
        if crate::citus::cluster().await.is_some() {
            return; // what it does there: crate::citus
        }
        let error = distribute(&app.db)
            .await
            .expect_err("plain PostgreSQL has no Citus");
        assert!(
            error.to_string().contains("CREATE EXTENSION citus"),
            "{error}"
        );
    })
    .await;
}

/// The door's check (`door_unchanged`) runs as its owner: an ordinary owner
/// is bound by FORCE, so it sees the tenant only once the scope's tenant
/// setting is made, earlier in the same statement; were it not, every
/// request would read the door in full.
#[tokio::test]
async fn an_ordinary_owners_door_serves_a_sessions_next_requests_from_memory() {
    if !postgres_available().await {
        return;
    }
    ensure_role("app_owner_memory", "NOSUPERUSER NOCREATEROLE NOBYPASSRLS").await;
    let (name, url) = database_owned_by("app_owner_memory").await;
    let app = TestApp::spawn_on(&url, crate::door_memory::with_metrics()).await;
    let owner = crate::fixtures::user(&app.db, "owner@cafe.test").await;
    let cafe = app::tenants::ValidTenant {
        name: "Cafe".to_owned(),
        time_zone: "UTC".to_owned(),
    };
    app::tenants::create(&app.db, owner, &cafe).await.unwrap();
    let client = app.client_for(owner).await;
    for _ in 0..3 {
        let response = client
            .get(app.url("/api/v1/t/cafe/locations"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    assert_eq!(crate::door_memory::remembered(&app).await, (2, 0));
    app.stop().await;
    drop_database(&name).await;
}

#[tokio::test]
async fn an_ordinary_owner_deletes_exports_and_imports_a_tenant() {
    if !postgres_available().await {
        return;
    }
    ensure_role("app_owner_life", "NOSUPERUSER NOCREATEROLE NOBYPASSRLS").await;
    let (name, url) = database_owned_by("app_owner_life").await;
    let app = TestApp::spawn_on(&url, Options::with_keys(&[[7; 32]])).await;
    // Counted as the superuser, whom the policies don't bind.
    let observer = Db::connect(&support::database_url(&name).parse().expect("a URL"), 2)
        .await
        .expect("the superuser's view");
    // Set up as the app itself does it: tenants through their own scopes.
    let owner = crate::fixtures::user(&app.db, "owner@cafe.test").await;
    let create = |name: &str| app::tenants::ValidTenant {
        name: name.to_owned(),
        time_zone: "UTC".to_owned(),
    };
    let cafe = app::tenants::create(&app.db, owner, &create("Cafe"))
        .await
        .unwrap();
    let deli = app::tenants::create(&app.db, owner, &create("Deli"))
        .await
        .unwrap();
    let client = app.client_for(owner).await;
    let created = client
        .post(app.url("/api/v1/t/cafe/locations"))
        .json(&serde_json::json!({ "name": "Harbour", "time_zone": "UTC" }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let (cafe_rows, deli_rows) = (
        owned_rows(&observer, cafe.id).await,
        owned_rows(&observer, deli.id).await,
    );
    assert_eq!(cafe_rows["locations"], 2);
    let archive = export_archive(&app, cafe.id).await;

    app.give_password(&client).await;
    let deleted = client
        .delete(app.url("/api/v1/t/cafe"))
        .json(&serde_json::json!({ "confirm": "cafe", "password": crate::accounts::PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    let gone = owned_rows(&observer, cafe.id).await;
    assert!(gone.values().all(|n| *n == 0), "rows left: {gone:?}");
    assert_eq!(owned_rows(&observer, deli.id).await, deli_rows);

    import_archive(&app, &archive).await.expect("import");
    assert_eq!(owned_rows(&observer, cafe.id).await, cafe_rows);
    assert_same_rows(&archive, &export_archive(&app, cafe.id).await);
    let locations = client
        .get(app.url("/api/v1/t/cafe/locations"))
        .send()
        .await
        .unwrap();
    assert_eq!(locations.status(), 200, "the owner is back in");

    observer.close().await;
    app.stop().await;
    drop_database(&name).await;
}
