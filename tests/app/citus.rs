//! Citus: when `TEST_DATABASE_URL` names a Citus coordinator with workers
//! (`../shared/citus/cluster up` starts one on :5440), the PostgreSQL half
//! of every test runs on a distributed database, and the tests below check
//! what only a cluster shows.
//!
//! Each test database is made on every node from a template that was
//! migrated and distributed once (by the app's own `citus-distribute`),
//! with four shards per table so copies stay quick. The app connects as the
//! superuser, as on plain PostgreSQL, and its scopes switch to the scope
//! role; Citus reaches the workers as that role, so the template lets it
//! log in (the start-up check refuses a Citus set-up where it can't).

use std::str::FromStr;

use app::db::citus::{Step, distribute};
use app::db::{Backend, DatabaseUrl, Db};
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{AssertSqlSafe, Connection};
use tokio::sync::OnceCell;

use crate::support::{self, run_on, test_database_url};

/// Shards per distributed table in the test databases (Citus' default, 32,
/// makes each copy of the template slow).
const SHARDS: u32 = 4;

/// A node of the cluster.
#[derive(Debug, Clone)]
struct Node {
    host: String,
    port: u16,
}

/// The cluster behind `TEST_DATABASE_URL`.
#[derive(Debug)]
pub struct Cluster {
    coordinator: Node,
    workers: Vec<Node>,
}

/// The cluster, when `TEST_DATABASE_URL`'s server is a Citus coordinator:
/// its maintenance database has the citus extension, and workers.
pub async fn cluster() -> Option<&'static Cluster> {
    static CLUSTER: OnceCell<Option<Cluster>> = OnceCell::const_new();
    CLUSTER
        .get_or_init(|| async {
            let mut admin = support::admin().await;
            let citus: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus')",
            )
            .fetch_one(&mut admin)
            .await
            .expect("read pg_extension");
            if !citus {
                return None;
            }
            let workers: Vec<(String, i32)> = sqlx::query_as(
                "SELECT nodename::text, nodeport FROM pg_dist_node \
                 WHERE groupid <> 0 AND isactive AND noderole = 'primary' ORDER BY nodeport",
            )
            .fetch_all(&mut admin)
            .await
            .expect("read pg_dist_node");
            // Every database with the extension runs a maintenance worker
            // on every node; PostgreSQL's default of 8 runs out after a few
            // test databases, and Citus 13.2 then crashes the coordinator.
            let worker_processes: String = sqlx::query_scalar("SHOW max_worker_processes")
                .fetch_one(&mut admin)
                .await
                .expect("read max_worker_processes");
            assert!(
                worker_processes.parse::<u32>().is_ok_and(|n| n >= 64),
                "the Citus cluster needs max_worker_processes of 64 or more (it has \
                 {worker_processes}): ALTER SYSTEM SET max_worker_processes = 128 on every node, \
                 then restart them (.ci/run does)"
            );
            assert!(
                !workers.is_empty(),
                "TEST_DATABASE_URL is a Citus coordinator without workers: add them \
                 (../shared/citus/cluster up does)"
            );
            let options = PgConnectOptions::from_str(&test_database_url()).expect("a URL");
            Some(Cluster {
                coordinator: Node {
                    host: options.get_host().to_owned(),
                    port: options.get_port(),
                },
                workers: workers
                    .into_iter()
                    .map(|(host, port)| Node {
                        host,
                        port: u16::try_from(port).expect("a port"),
                    })
                    .collect(),
            })
        })
        .await
        .as_ref()
}

impl Cluster {
    /// The coordinator, then the workers.
    fn nodes(&self) -> impl Iterator<Item = &Node> {
        std::iter::once(&self.coordinator).chain(&self.workers)
    }

    /// A superuser connection to `database` on `node`.
    async fn connect(node: &Node, database: &str) -> PgConnection {
        let options = PgConnectOptions::from_str(&test_database_url())
            .expect("a URL")
            .host(&node.host)
            .port(node.port)
            .database(database);
        PgConnection::connect_with(&options)
            .await
            .unwrap_or_else(|e| panic!("connect to {node:?}: {e}"))
    }

    /// Runs `sql` in the maintenance database of each node.
    async fn on_every_node(&self, sql: &str) {
        for node in self.nodes() {
            let mut admin = Self::connect(node, "postgres").await;
            sqlx::query(AssertSqlSafe(sql.to_owned()))
                .execute(&mut admin)
                .await
                .unwrap_or_else(|e| panic!("{sql} on {node:?}: {e}"));
        }
    }

    /// A new database on every node, distributed as the template is;
    /// returns its name and URL.
    pub async fn create_database(&self) -> (String, String) {
        let template = self.template().await;
        let name = format!("test_{}", uuid::Uuid::new_v4().simple());
        self.on_every_node(&format!("CREATE DATABASE {name} TEMPLATE {template}"))
            .await;
        let url = support::database_url(&name);
        (name, url)
    }

    pub async fn drop_database(&self, name: &str) {
        for node in self.nodes() {
            let mut admin = Self::connect(node, "postgres").await;
            // FORCE ends sessions, but not Citus' maintenance daemon, which
            // may be connected still: end it, and try again if it was busy.
            let mut attempts = 0;
            loop {
                sqlx::query(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                     WHERE datname = $1 AND pid <> pg_backend_pid()",
                )
                .bind(name)
                .execute(&mut admin)
                .await
                .expect("end the database's sessions");
                let dropped = sqlx::query(AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&mut admin)
                .await;
                match dropped {
                    Ok(_) => break,
                    Err(_) if attempts < 20 => {
                        attempts += 1;
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    }
                    Err(e) => panic!("drop {name} on {node:?}: {e}"),
                }
            }
        }
    }

    /// A database on every node with the citus extension and the workers
    /// added, migrated up to `version` (every migration when `None`), not yet
    /// distributed.
    async fn migrated_database(&self, name: &str, version: Option<i64>) -> Db {
        self.drop_database(name).await;
        self.on_every_node(&format!("CREATE DATABASE {name}")).await;
        for node in self.nodes() {
            sqlx::query("CREATE EXTENSION citus")
                .execute(&mut Self::connect(node, name).await)
                .await
                .expect("create the citus extension");
        }
        let mut coordinator = Self::connect(&self.coordinator, name).await;
        sqlx::query("SELECT citus_set_coordinator_host($1, $2)")
            .bind(&self.coordinator.host)
            .bind(i32::from(self.coordinator.port))
            .execute(&mut coordinator)
            .await
            .expect("set the coordinator host");
        for worker in &self.workers {
            // Seen once, with other test databases being made beside it:
            // "failure on connection marked as essential". Adding a node is
            // idempotent, so it is tried again.
            let mut attempt = 0;
            while let Err(e) = sqlx::query("SELECT citus_add_node($1, $2)")
                .bind(&worker.host)
                .bind(i32::from(worker.port))
                .execute(&mut coordinator)
                .await
            {
                attempt += 1;
                assert!(attempt < 3, "add the worker {worker:?}: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            }
        }
        sqlx::query(AssertSqlSafe(format!(
            "ALTER DATABASE {name} SET citus.shard_count = {SHARDS}"
        )))
        .execute(&mut coordinator)
        .await
        .expect("set the shard count");
        let url: DatabaseUrl = support::database_url(name).parse().expect("a URL");
        let db = Db::connect(&url, 2)
            .await
            .expect("connect");
        match version {
            Some(version) => app::db::migrate_to(&db, version).await,
            None => app::db::migrate(&db).await,
        }
        .expect("migrate");
        db
    }

    /// The template, built once per set of migrations (and version of
    /// `citus-distribute`) under an advisory lock, so concurrent test runs
    /// wait for one build. Finished, it accepts no connections: that marks
    /// it done, and keeps Citus' maintenance daemon out of it, which would
    /// stop `CREATE DATABASE … TEMPLATE` from copying it.
    async fn template(&self) -> &'static str {
        static TEMPLATE: OnceCell<String> = OnceCell::const_new();
        TEMPLATE
            .get_or_init(|| async {
                // A new template when the migrations, `citus-distribute` or
                // this recipe change.
                let hash = support::migrations_hash()
                    ^ support::hash_of((
                        include_str!("../../crates/kernel/src/db/citus.rs"),
                        include_str!("citus.rs"),
                    ));
                let name = format!("citus_template_{hash:016x}");
                let mut admin = Self::connect(&self.coordinator, "postgres").await;
                let lock = i64::from_ne_bytes(hash.to_ne_bytes());
                sqlx::query("SELECT pg_advisory_lock($1)")
                    .bind(lock)
                    .execute(&mut admin)
                    .await
                    .expect("lock");
                let done: bool = sqlx::query_scalar(
                    "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1 AND NOT datallowconn)",
                )
                .bind(&name)
                .fetch_one(&mut admin)
                .await
                .expect("read pg_database");
                if !done {
                    let db = self.migrated_database(&name, None).await;
                    app::db::citus::distribute(&db)
                        .await
                        .expect("citus-distribute the template");
                    db.close().await;
                    self.on_every_node(&format!(
                        "ALTER DATABASE {name} WITH ALLOW_CONNECTIONS false"
                    ))
                    .await;
                    self.on_every_node(&format!(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                         WHERE datname = '{name}' AND pid <> pg_backend_pid()"
                    ))
                    .await;
                }
                // Roles and settings are the cluster's, not the template's:
                // what the app's start-up check asks of a superuser's Citus.
                self.on_every_node(&format!(
                    "ALTER ROLE {} LOGIN",
                    app::db::scope_role::SCOPE_ROLE
                ))
                .await;
                self.on_every_node(
                    "ALTER SYSTEM SET citus.skip_advisory_lock_permission_checks = on",
                )
                .await;
                self.on_every_node("SELECT pg_reload_conf()").await;
                sqlx::query("SELECT pg_advisory_unlock($1)")
                    .bind(lock)
                    .execute(&mut admin)
                    .await
                    .expect("unlock");
                name
            })
            .await
    }
}

/// The cluster, or `None` (and a note) when the tests don't run on one.
async fn or_skip() -> Option<&'static Cluster> {
    let cluster = if support::postgres_available().await {
        cluster().await
    } else {
        None
    };
    if cluster.is_none() {
        eprintln!("skipped: TEST_DATABASE_URL is not a Citus coordinator");
    }
    cluster
}

/// Every tenant-owned table distributed on tenant_id, co-located, with
/// shards on every worker; the global tables they reference copied to
/// every node.
async fn assert_distributed(db: &Db, cluster: &Cluster) {
    let Db::Postgres(postgres) = db else {
        unreachable!("Citus is PostgreSQL")
    };
    let tables: Vec<(String, String, String, i64, i64)> = sqlx::query_as(
        "SELECT t.table_name::text, t.citus_table_type, t.distribution_column, t.colocation_id::bigint, \
                (SELECT count(DISTINCT p.nodeport) FROM pg_dist_shard s \
                 JOIN pg_dist_placement pl USING (shardid) \
                 JOIN pg_dist_node p ON p.groupid = pl.groupid \
                 WHERE s.logicalrelid = t.table_name AND p.groupid <> 0) AS workers \
         FROM citus_tables t ORDER BY 1",
    )
    .fetch_all(&postgres.pool)
    .await
    .expect("read citus_tables");
    let of = |kind: &str| -> Vec<String> {
        tables
            .iter()
            .filter(|t| t.1 == kind)
            .map(|t| t.0.clone())
            .collect()
    };
    assert_eq!(
        of("reference"),
        ["tenants", "user_identities", "users"],
        "{tables:?}"
    );
    assert_eq!(
        of("distributed"),
        crate::fixtures::tenant_owned_tables(db).await,
        "every tenant-owned table is distributed: {tables:?}"
    );
    assert!(of("local").is_empty(), "none left on the coordinator: {tables:?}");
    let workers = i64::try_from(cluster.workers.len()).expect("a count");
    for (table, kind, column, colocation, on) in &tables {
        if kind == "distributed" {
            assert_eq!(column, "tenant_id", "{table}");
            assert_eq!(*colocation, tables.iter().find(|t| t.1 == "distributed").unwrap().3, "{table} is co-located");
            assert_eq!(*on, workers, "{table} has shards on every worker");
        } else {
            assert_eq!(*on, workers, "{table} is copied to every worker");
        }
    }
}

#[tokio::test]
async fn every_tenant_owned_table_is_distributed_over_every_worker_and_a_second_run_changes_nothing() {
    let Some(cluster) = or_skip().await else {
        return;
    };
    run_on(Backend::Postgres, |app| async move {
        assert_distributed(&app.db, cluster).await;
        let again = distribute(&app.db).await.expect("a second run");
        assert!(
            again.iter().all(|step| matches!(step, Step::AlreadyDone(_))),
            "{again:?}"
        );
        assert_distributed(&app.db, cluster).await;
    })
    .await;
}

/// What the command's first version left (every table linked to tenants
/// turned into a Citus-local table on the coordinator) is undone and
/// distributed by running the command again.
#[tokio::test]
async fn a_database_left_on_the_coordinator_is_distributed_by_running_the_command_again() {
    let Some(cluster) = or_skip().await else {
        return;
    };
    let name = format!("test_{}", uuid::Uuid::new_v4().simple());
    let db = cluster.migrated_database(&name, None).await;
    let Db::Postgres(postgres) = &db else {
        unreachable!("Citus is PostgreSQL")
    };
    sqlx::query("SELECT create_reference_table('tenants')")
        .execute(&postgres.pool)
        .await
        .expect("the first version's first step");
    let memberships: String = sqlx::query_scalar(
        "SELECT citus_table_type FROM citus_tables WHERE table_name = 'memberships'::regclass",
    )
    .fetch_one(&postgres.pool)
    .await
    .unwrap();
    assert_eq!(memberships, "local", "Citus made the linked tables local");
    distribute(&db).await.expect("citus-distribute");
    assert_distributed(&db, cluster).await;
    db.close().await;
    cluster.drop_database(&name).await;
}

app::row! {
    /// Where a tenant's shard of a co-located group lives.
    struct Placement {
        shard: i64,
        host: String,
        port: i32,
    }
}

/// The worker holding `tenant`'s shard of `table` (and of every table
/// co-located with it).
async fn placement_of(db: &Db, table: &str, tenant: app::ids::TenantId) -> Placement {
    let Db::Postgres(postgres) = db else {
        unreachable!("Citus is PostgreSQL")
    };
    sqlx::query_as(
        "SELECT p.shardid AS shard, n.nodename::text AS host, n.nodeport AS port \
         FROM pg_dist_placement p JOIN pg_dist_node n ON n.groupid = p.groupid \
         WHERE p.shardid = get_shard_id_for_distribution_column($1::regclass, $2)",
    )
    .bind(table)
    .bind(tenant.to_string())
    .fetch_one(&postgres.pool)
    .await
    .expect("the tenant's placement")
}

/// Rebalancing as Citus does it, while the app serves: a tenant's shards
/// move to the other worker (`citus_move_shard_placement`) while its
/// members keep adding locations; every request is answered, and every
/// location answered as created is there afterwards, on the other worker.
/// The move copies with writes held (`block_writes`): Citus' default, by
/// logical replication, stops at the first row, since PostgreSQL 15 won't
/// let its subscription write into a table with Row-Level Security.
#[tokio::test]
async fn a_tenants_shards_move_to_the_other_worker_while_it_writes_and_nothing_is_lost() {
    let Some(cluster) = or_skip().await else {
        return;
    };
    run_on(Backend::Postgres, |app| async move {
        let f = crate::fixtures::TenantFixture::create(&app.db, "cafe").await;
        let Db::Postgres(postgres) = &app.db else {
            unreachable!("Citus is PostgreSQL")
        };
        // Enough rows (archived sites) that the copy takes a while.
        sqlx::query(
            "INSERT INTO locations (tenant_id, id, name, time_zone, archived_at, created_at) \
             SELECT $1, gen_random_uuid(), 'Old ' || n, 'UTC', now(), now() \
             FROM generate_series(1, 50000) AS n",
        )
        .bind(f.id)
        .execute(&postgres.pool)
        .await
        .expect("old sites");
        let before = placement_of(&app.db, "locations", f.id).await;
        let target = cluster
            .workers
            .iter()
            .find(|w| (w.host.as_str(), i32::from(w.port)) != (before.host.as_str(), before.port))
            .expect("another worker");
        let client = app.client_for(f.owner).await;
        let moved = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writing = {
            let (app, client, slug, moved) =
                (app.clone(), client.clone(), f.slug.clone(), moved.clone());
            tokio::spawn(async move {
                // Each write: its id, when it was sent and when answered.
                let mut created = Vec::new();
                let mut after_move = 0;
                while after_move < 5 {
                    if moved.load(std::sync::atomic::Ordering::Acquire) {
                        after_move += 1;
                    }
                    let sent = std::time::Instant::now();
                    let response = client
                        .post(app.url(&format!("/api/v1/t/{slug}/locations")))
                        .json(&serde_json::json!({
                            "name": format!("Site {}", created.len()),
                            "time_zone": "UTC",
                        }))
                        .send()
                        .await
                        .expect("POST");
                    assert_eq!(response.status(), 201, "every write answered during the move");
                    let body: serde_json::Value = response.json().await.expect("JSON");
                    let id = body["id"].as_str().expect("an id").to_owned();
                    created.push((id, sent, std::time::Instant::now()));
                }
                created
            })
        };
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let move_started = std::time::Instant::now();
        sqlx::query(
            "SELECT citus_move_shard_placement($1, $2, $3, $4, $5, \
                                               shard_transfer_mode => 'block_writes')",
        )
        .bind(before.shard)
        .bind(&before.host)
        .bind(before.port)
        .bind(&target.host)
        .bind(i32::from(target.port))
        .execute(&postgres.pool)
        .await
        .expect("move the tenant's shards");
        let move_ended = std::time::Instant::now();
        moved.store(true, std::sync::atomic::Ordering::Release);
        let after = placement_of(&app.db, "locations", f.id).await;
        assert_eq!(
            (after.host.as_str(), after.port),
            (target.host.as_str(), i32::from(target.port)),
            "moved"
        );
        let created = writing.await.expect("the writes");
        assert!(
            created
                .iter()
                .any(|(_, sent, answered)| *sent < move_ended && *answered > move_started),
            "a write was under way during the move ({:?})",
            move_ended - move_started
        );
        // Counted as the superuser, on the shard's new worker.
        let ids: Vec<&str> = created.iter().map(|(id, ..)| id.as_str()).collect();
        let kept: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM locations WHERE tenant_id = $1 AND id = ANY($2::uuid[])",
        )
        .bind(f.id)
        .bind(&ids)
        .fetch_one(&postgres.pool)
        .await
        .expect("count");
        assert_eq!(kept, i64::try_from(ids.len()).expect("a count"), "no location lost");
        let old: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM locations WHERE tenant_id = $1 AND archived_at IS NOT NULL",
        )
        .bind(f.id)
        .fetch_one(&postgres.pool)
        .await
        .expect("count");
        assert_eq!(old, 50_000, "no old site lost");
    })
    .await;
}

/// A large tenant gets shards of its own: `isolate_tenant_to_new_shard`
/// splits its hash value out of its shard, for every co-located table. All
/// its rows are there afterwards, alone on their shard, the app serves it,
/// and the tenant beside it is untouched.
#[tokio::test]
async fn a_large_tenant_is_isolated_on_shards_of_its_own() {
    let Some(_) = or_skip().await else {
        return;
    };
    run_on(Backend::Postgres, |app| async move {
        let big = crate::fixtures::TenantFixture::create(&app.db, "big").await;
        let small = crate::fixtures::TenantFixture::create(&app.db, "small").await;
        let rows = |tenant| crate::tenant_export::owned_rows(&app.db, tenant);
        let (big_rows, small_rows) = (rows(big.id).await, rows(small.id).await);
        let Db::Postgres(postgres) = &app.db else {
            unreachable!()
        };
        sqlx::query(
            "SELECT isolate_tenant_to_new_shard('locations', $1::uuid, 'CASCADE', \
                                                shard_transfer_mode => 'block_writes')",
        )
        .bind(big.id.to_string())
        .execute(&postgres.pool)
        .await
        .expect("isolate the tenant");
        let shard = placement_of(&app.db, "locations", big.id).await.shard;
        let (low, high): (String, String) = sqlx::query_as(
            "SELECT shardminvalue, shardmaxvalue FROM pg_dist_shard WHERE shardid = $1",
        )
        .bind(shard)
        .fetch_one(&postgres.pool)
        .await
        .expect("the new shard");
        assert_eq!(low, high, "a shard for one hash value: the tenant's");
        assert_eq!(rows(big.id).await, big_rows, "every row of the tenant kept");
        assert_eq!(rows(small.id).await, small_rows, "the other tenant untouched");
        let listed = app
            .client_for(big.owner)
            .await
            .get(app.url("/api/v1/t/big/locations"))
            .send()
            .await
            .expect("GET");
        assert_eq!(listed.status(), 200, "the app serves it");
    })
    .await;
}

/// A database distributed at the previous release's schema takes the
/// newest migration, whatever it is, and `citus-distribute` afterwards
/// distributes any table it adds: the procedure docs/scaling-out.md gives
/// for a migration added later.
#[tokio::test]
async fn the_newest_migration_applies_to_a_distributed_database() {
    let Some(cluster) = or_skip().await else {
        return;
    };
    let versions = app::db::migration_versions(Backend::Postgres);
    let [.., previous, newest] = versions[..] else {
        panic!("at least two migrations")
    };
    let name = format!("test_{}", uuid::Uuid::new_v4().simple());
    let db = cluster.migrated_database(&name, Some(previous)).await;
    distribute(&db)
        .await
        .expect("distribute the previous release's schema");
    app::db::migrate(&db)
        .await
        .expect("the newest migration applies on Citus");
    let Db::Postgres(postgres) = &db else {
        unreachable!("Citus is PostgreSQL")
    };
    let applied: Option<i64> =
        sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success")
            .fetch_one(&postgres.pool)
            .await
            .expect("the ledger");
    assert_eq!(applied, Some(newest));
    distribute(&db).await.expect("distribute what it added");
    assert_distributed(&db, cluster).await;
    db.close().await;
    cluster.drop_database(&name).await;
}

/// A tenant-owned table a later migration adds, written as
/// docs/scaling-out.md says (its keys after `app_tenant_table`, in a `DO`
/// block), applied as migrations are (one text, one transaction) to a
/// distributed database: distributed on tenant_id and co-located with the
/// others, its shards under the tenant policy, its keys enforced.
#[tokio::test]
async fn a_tenant_owned_table_added_by_a_later_migration_is_distributed_with_its_keys() {
    let Some(cluster) = or_skip().await else {
        return;
    };
    run_on(Backend::Postgres, |app| async move {
        let Db::Postgres(postgres) = &app.db else {
            unreachable!("Citus is PostgreSQL")
        };
        let migration = "CREATE TABLE notes (\
                tenant_id UUID NOT NULL, id UUID NOT NULL, location_id UUID NOT NULL, \
                body TEXT NOT NULL, PRIMARY KEY (tenant_id, id)); \
             SELECT app_tenant_table('notes'); \
             DO $$ BEGIN \
                ALTER TABLE notes ADD FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE; \
                ALTER TABLE notes ADD FOREIGN KEY (tenant_id, location_id) \
                    REFERENCES locations (tenant_id, id) ON DELETE CASCADE; \
             END $$;";
        let mut tx = postgres.pool.begin().await.unwrap();
        sqlx::raw_sql(migration)
            .execute(&mut *tx)
            .await
            .expect("the migration applies on Citus");
        tx.commit().await.unwrap();
        assert_distributed(&app.db, cluster).await;
        let again = distribute(&app.db).await.expect("citus-distribute after it");
        assert!(
            again.iter().all(|step| matches!(step, Step::AlreadyDone(_))),
            "{again:?}"
        );

        let shards: Vec<(String, i64)> = sqlx::query_as(
            "SELECT result, count(*) FROM run_command_on_shards('notes', \
                $c$SELECT c.relrowsecurity::text || ' ' || c.relforcerowsecurity::text || ' ' || \
                          (SELECT string_agg(polname, ',') FROM pg_policy p WHERE p.polrelid = c.oid) \
                   FROM pg_class c WHERE c.oid = '%1$s'::regclass$c$) GROUP BY 1",
        )
        .fetch_all(&postgres.pool)
        .await
        .unwrap();
        assert_eq!(shards.len(), 1, "every shard alike: {shards:?}");
        assert_eq!(shards[0].0, "true true tenant_isolation", "{shards:?}");

        let f = crate::fixtures::TenantFixture::create(&app.db, "cafe").await;
        let note = |location: uuid::Uuid| {
            sqlx::query("INSERT INTO notes (tenant_id, id, location_id, body) VALUES ($1, $2, $3, 'hi')")
                .bind(f.id)
                .bind(uuid::Uuid::now_v7())
                .bind(location)
                .execute(&postgres.pool)
        };
        note(f.locations[0].as_uuid()).await.expect("a note at a location of the tenant");
        let refused = note(uuid::Uuid::now_v7()).await.expect_err("no such location");
        assert!(refused.to_string().contains("foreign key"), "{refused}");
    })
    .await;
}
