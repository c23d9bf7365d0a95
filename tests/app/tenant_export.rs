//! One tenant out and back: export → delete → import compared table by
//! table and row by row; PostgreSQL → SQLite → PostgreSQL; damaged, newer
//! and conflicting archives refused with nothing written. The helpers serve
//! the modules' own round trips, with their data.

use std::collections::BTreeMap;
use std::future::Future;
use std::io::{Cursor, Read, Write};

use app::db::{Backend, Db};
use app::ids::TenantId;
use app::tenants::portability::import::{Imported, Limits, Origin};
use app::tenants::portability::{PortabilityError, export, import};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::fixtures::{TenantFixture, tables_of_a_tenant};
use crate::support::{
    Options, TestApp, TestDatabase, backend_test, postgres_available, run_on, run_on_with,
};

pub async fn export_archive(app: &TestApp, tenant: TenantId) -> Vec<u8> {
    let keys = app.state.keys.as_deref().expect("keys");
    let lookup = app.state.lookup_key.as_deref().expect("lookup key");
    let mut out = Cursor::new(Vec::new());
    export::export(
        &app.db,
        keys,
        lookup,
        &app::sealed_columns(),
        tenant,
        &mut out,
    )
    .await
    .expect("export");
    out.into_inner()
}

/// Imports an archive this installation exported (its signature checked).
pub async fn import_archive(app: &TestApp, archive: &[u8]) -> Result<Imported, PortabilityError> {
    import_with(app, archive, Origin::ThisInstallation, &Limits::default()).await
}

/// Imports an archive the operator vouches for, whatever signed it
/// (`--from-another-installation`), within the default limits.
pub async fn import_vouched_for(
    app: &TestApp,
    archive: &[u8],
) -> Result<Imported, PortabilityError> {
    import_with(app, archive, Origin::AnotherInstallation, &Limits::default()).await
}

pub async fn import_with(
    app: &TestApp,
    archive: &[u8],
    origin: Origin,
    limits: &Limits,
) -> Result<Imported, PortabilityError> {
    let keys = app.state.keys.as_deref().expect("keys");
    let lookup = app.state.lookup_key.as_deref().expect("lookup key");
    import::import(
        &app.db,
        keys,
        lookup,
        &app::sealed_columns(),
        Cursor::new(archive),
        origin,
        limits,
    )
    .await
}

/// Every file of the archive, by name, as text.
pub fn entries(archive: &[u8]) -> Vec<(String, String)> {
    let mut zip = zip::ZipArchive::new(Cursor::new(archive)).expect("a zip");
    let names: Vec<String> = zip.file_names().map(|n| n.unwrap().into_owned()).collect();
    names
        .into_iter()
        .map(|name| {
            let mut text = String::new();
            zip.by_name(&name)
                .unwrap()
                .read_to_string(&mut text)
                .unwrap();
            (name, text)
        })
        .collect()
}

/// Each file's rows by path (the manifest's date left out).
pub fn contents(archive: &[u8]) -> BTreeMap<String, Vec<Value>> {
    entries(archive)
        .into_iter()
        .filter(|(name, _)| name.ends_with(".jsonl"))
        .map(|(name, text)| {
            let rows = text
                .lines()
                .map(|line| serde_json::from_str(line).expect("JSON"))
                .collect();
            (name, rows)
        })
        .collect()
}

pub fn manifest(archive: &[u8]) -> Value {
    let (_, text) = entries(archive)
        .into_iter()
        .find(|(name, _)| name == "manifest.json")
        .expect("a manifest");
    serde_json::from_str(&text).unwrap()
}

/// Rows the tenant owns in each tenant-owned table (every table with a
/// tenant_id, read from the schema), and its tenants row.
pub async fn owned_rows(db: &Db, tenant: TenantId) -> BTreeMap<String, i64> {
    let mut counts = BTreeMap::new();
    for (table, key) in tables_of_a_tenant(db).await {
        let sql = format!("SELECT COUNT(*) FROM {table} WHERE {key} = $1");
        let count: i64 = app::on_backend!(db, |pool| sqlx::query_scalar(sqlx::AssertSqlSafe(
            sql.clone()
        ))
        .bind(tenant)
        .fetch_one(pool)
        .await)
        .unwrap();
        counts.insert(table, count);
    }
    counts
}

/// Asserts two archives hold the same rows, file by file.
pub fn assert_same_rows(before: &[u8], after: &[u8]) {
    let (before, after) = (contents(before), contents(after));
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>()
    );
    for (file, rows) in &before {
        assert_eq!(rows.len(), after[file].len(), "{file}: row count");
        for (a, b) in rows.iter().zip(&after[file]) {
            assert_eq!(a, b, "{file}: row");
        }
    }
}

/// Export, delete (every tenant-owned row gone), import, export again: the
/// same rows.
pub async fn round_trip(app: &TestApp, tenant: TenantId) {
    let counts = owned_rows(&app.db, tenant).await;
    let before = export_archive(app, tenant).await;
    app::tenants::delete(&app.state, tenant, &app::billing::BillingState::default())
        .await
        .expect("delete");
    let gone = owned_rows(&app.db, tenant).await;
    assert!(gone.values().all(|n| *n == 0), "rows left: {gone:?}");

    let imported = import_archive(app, &before).await.expect("import");
    assert!(
        imported.new_users.is_empty(),
        "the members' accounts are still here"
    );
    let after = export_archive(app, tenant).await;
    assert_same_rows(&before, &after);
    let left_out = manifest(&before)["left_out"].to_string();
    for (table, count) in owned_rows(&app.db, tenant).await {
        if !left_out.contains(&format!("\"{table}:")) {
            assert_eq!(count, counts[&table], "{table}");
        }
    }
}

/// A tenant set up by `setup` on PostgreSQL, moved to SQLite, then to
/// another PostgreSQL database: every archive holds the same rows.
pub async fn across_backends<F, Fut>(setup: F)
where
    F: FnOnce(TestApp) -> Fut,
    Fut: Future<Output = TenantId>,
{
    if !postgres_available().await {
        eprintln!("PostgreSQL not reachable: the cross-backend round trip needs it");
        return;
    }
    let databases = [
        TestDatabase::create(Backend::Postgres).await,
        TestDatabase::create(Backend::Sqlite).await,
        TestDatabase::create(Backend::Postgres).await,
    ];
    let mut apps = Vec::new();
    for database in &databases {
        apps.push(TestApp::spawn(database, Options::default()).await);
    }
    let tenant = setup(apps[0].clone()).await;
    let first = export_archive(&apps[0], tenant).await;
    import_archive(&apps[1], &first).await.expect("into SQLite");
    let second = export_archive(&apps[1], tenant).await;
    import_archive(&apps[2], &second)
        .await
        .expect("back into PostgreSQL");
    let third = export_archive(&apps[2], tenant).await;
    assert_same_rows(&first, &second);
    assert_same_rows(&first, &third);
    assert_eq!(manifest(&second)["source_backend"], "sqlite");
    for app in apps {
        app.stop().await;
    }
    for database in databases {
        database.drop().await;
    }
}

/// The archive with one file changed by `change`; the manifest's checksum
/// is fixed too when `fix_checksum` (which voids the signature: such an
/// archive imports only as one from another installation).
pub fn rewrite(
    archive: &[u8],
    path: &str,
    change: impl Fn(&str) -> String,
    fix_checksum: bool,
) -> Vec<u8> {
    let mut files = entries(archive);
    let changed = change(&files.iter().find(|(n, _)| n == path).unwrap().1);
    if fix_checksum {
        let (_, manifest) = files
            .iter_mut()
            .find(|(n, _)| n == "manifest.json")
            .unwrap();
        let mut parsed: Value = serde_json::from_str(manifest).unwrap();
        for file in parsed["files"].as_array_mut().unwrap() {
            if file["path"] == path {
                file["sha256"] = Value::from(hex::encode(Sha256::digest(changed.as_bytes())));
            }
        }
        *manifest = parsed.to_string();
    }
    files.iter_mut().find(|(n, _)| n == path).unwrap().1 = changed;
    zipped(files)
}

/// A zip of these files.
pub fn zipped(files: Vec<(String, String)>) -> Vec<u8> {
    let mut out = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, text) in files {
        out.start_file(name, zip::write::SimpleFileOptions::default())
            .unwrap();
        out.write_all(text.as_bytes()).unwrap();
    }
    out.finish().unwrap().into_inner()
}

backend_test!(export_delete_import_restores_every_row);
async fn export_delete_import_restores_every_row(backend: Backend) {
    run_on(backend, |app| async move {
        let f = TenantFixture::create(&app.db, "cafe").await;
        let other = TenantFixture::create(&app.db, "deli").await;
        let untouched = owned_rows(&app.db, other.id).await;
        let archive = export_archive(&app, f.id).await;
        let files = contents(&archive);
        assert_eq!(files["tables/locations.jsonl"].len(), 2);
        assert_eq!(files["users.jsonl"].len(), 4, "one per member");
        for user in &files["users.jsonl"] {
            let fields: Vec<&String> = user.as_object().unwrap().keys().collect();
            assert_eq!(fields, ["created_at", "email", "email_verified_at", "id"]);
        }
        assert!(
            manifest(&archive)["sensitive"]
                .as_str()
                .unwrap()
                .contains("plaintext")
        );

        round_trip(&app, f.id).await;
        assert_eq!(
            owned_rows(&app.db, other.id).await,
            untouched,
            "the other tenant is untouched"
        );
        let owner = app.client_for(f.owner).await;
        let page = owner
            .get(app.url("/t/cafe/locations"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            page.status(),
            200,
            "the restored owner signs in to their organisation"
        );
    })
    .await;
}

#[tokio::test]
async fn an_archive_moves_from_postgres_to_sqlite_and_back_unchanged() {
    across_backends(|app| async move { TenantFixture::create(&app.db, "cafe").await.id }).await;
}

backend_test!(a_damaged_newer_or_conflicting_archive_is_refused_with_nothing_written);
async fn a_damaged_newer_or_conflicting_archive_is_refused_with_nothing_written(backend: Backend) {
    run_on(backend, |app| async move {
        let f = TenantFixture::create(&app.db, "cafe").await;
        let archive = export_archive(&app, f.id).await;
        // Into an empty database: the members' accounts don't exist there.
        let empty = TestDatabase::create(app.db.backend()).await;
        let target = TestApp::spawn(&empty, Options::default()).await;
        let users = || async {
            app::on_backend!(&target.db, |pool| sqlx::query_scalar::<_, i64>(
                "SELECT COUNT(*) FROM users"
            )
            .fetch_one(pool)
            .await)
            .unwrap()
        };

        let tampered = rewrite(
            &archive,
            "tables/locations.jsonl",
            |t| t.replacen('a', "b", 1),
            false,
        );
        let truncated = archive[..archive.len() / 2].to_vec();
        let newer = rewrite(
            &archive,
            "manifest.json",
            |t| {
                let mut m: Value = serde_json::from_str(t).unwrap();
                m["schema_version"] = Value::from(m["schema_version"].as_i64().unwrap() + 1);
                m.to_string()
            },
            false,
        );
        // Checksums right, but a row the database refuses (an empty name):
        // it fails half-way, after the users and the tenant were written.
        let refused_row = rewrite(
            &archive,
            "tables/locations.jsonl",
            |t| {
                let mut lines: Vec<String> = t.lines().map(str::to_owned).collect();
                let mut row: Value = serde_json::from_str(&lines[1]).unwrap();
                row["name"] = Value::from("");
                lines[1] = row.to_string();
                lines.join("\n") + "\n"
            },
            true,
        );
        // Each as another installation's archive (its signature not
        // checked), so the checks behind the signature are what refuse it;
        // and the edited ones again as this installation's.
        let edited = [
            ("newer", newer.clone(), "not signed by this installation"),
            (
                "refused row",
                refused_row.clone(),
                "not signed by this installation",
            ),
        ];
        for (case, bad, expect, origin) in [
            (
                "tampered",
                tampered,
                "checksum",
                Origin::AnotherInstallation,
            ),
            (
                "truncated",
                truncated,
                "damaged",
                Origin::AnotherInstallation,
            ),
            ("newer", newer, "newer version", Origin::AnotherInstallation),
            (
                "refused row",
                refused_row,
                "database",
                Origin::AnotherInstallation,
            ),
        ]
        .into_iter()
        .chain(edited.map(|(case, bad, expect)| (case, bad, expect, Origin::ThisInstallation)))
        {
            let error = import_with(&target, &bad, origin, &Limits::default())
                .await
                .expect_err(case);
            assert!(error.to_string().contains(expect), "{case}: {error}");
            let counts = owned_rows(&target.db, f.id).await;
            assert!(
                counts.values().all(|n| *n == 0),
                "{case}: nothing written: {counts:?}"
            );
            assert_eq!(users().await, 0, "{case}: no account created");
        }

        let imported = import_archive(&target, &archive)
            .await
            .expect("the archive itself");
        assert_eq!(imported.new_users.len(), 4, "accounts without passwords");
        let again = import_archive(&target, &archive)
            .await
            .expect_err("a second time");
        assert!(again.to_string().contains("exists here"), "{again}");
        let hashes: i64 = app::on_backend!(&target.db, |pool| sqlx::query_scalar(
            "SELECT COUNT(*) FROM users WHERE password_hash IS NOT NULL"
        )
        .fetch_one(pool)
        .await)
        .unwrap();
        assert_eq!(hashes, 0, "no password travels");
        target.stop().await;
        empty.drop().await;
    })
    .await;
}

backend_test!(the_export_and_import_commands_restore_a_tenant_from_a_file);
/// The operator's commands, as the binary runs them: `export-tenant`
/// writes the archive (and no file at all for an unknown slug), and
/// `import-tenant` refuses a damaged archive with one line and nothing
/// written, then restores the good one row for row.
async fn the_export_and_import_commands_restore_a_tenant_from_a_file(backend: Backend) {
    run_on_with(
        backend,
        || Options::with_keys(&[[1; 32]]),
        |app| async move {
            let f = TenantFixture::create(&app.db, "cafe").await;
            let before = export_archive(&app, f.id).await;
            let folder = tempfile::tempdir().expect("folder");
            let mut vars = Options::with_keys(&[[1; 32]]).vars;
            vars.push(("DATABASE_URL", app.database_url.clone()));
            let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let run = |args: &[&str]| {
                let output = crate::startup::command(folder.path(), &vars)
                    .args(args)
                    .output()
                    .expect("run the binary");
                (
                    output.status.success(),
                    String::from_utf8_lossy(&output.stdout).into_owned(),
                    String::from_utf8_lossy(&output.stderr).trim().to_owned(),
                )
            };
            let path = |name: &str| folder.path().join(name).display().to_string();

            let (succeeded, _, stderr) =
                run(&["export-tenant", "nobody", "--output", &path("x.zip")]);
            assert!(!succeeded);
            assert_eq!(stderr.lines().count(), 1, "{stderr}");
            assert!(stderr.contains("nobody"), "{stderr}");
            assert!(!folder.path().join("x.zip").exists());

            let (succeeded, stdout, stderr) =
                run(&["export-tenant", "cafe", "--output", &path("cafe.zip")]);
            assert!(succeeded, "{stderr}");
            assert!(stdout.contains("rows in"), "{stdout}");
            assert!(stdout.contains("personal data in plaintext"), "{stdout}");
            let archive = std::fs::read(folder.path().join("cafe.zip")).expect("the archive");
            assert_same_rows(&before, &archive);
            let damaged = rewrite(
                &archive,
                "tenant.jsonl",
                |t| t.replacen("cafe", "cafd", 1),
                false,
            );
            std::fs::write(folder.path().join("damaged.zip"), damaged).expect("write");

            let scope = app::tenancy::for_tenant(&app.db, f.id, app::tenancy::Intent::Write)
                .await
                .unwrap();
            assert!(app::tenants::delete_row(scope).await.unwrap());
            let (succeeded, _, stderr) = run(&["import-tenant", &path("damaged.zip")]);
            assert!(!succeeded);
            assert_eq!(stderr.lines().count(), 1, "{stderr}");
            assert!(stderr.starts_with("error: nothing imported:"), "{stderr}");
            assert!(
                owned_rows(&app.db, f.id)
                    .await
                    .values()
                    .all(|&rows| rows == 0),
                "nothing written"
            );

            // Edited with its checksums fixed: only the signature tells.
            let edited = rewrite(
                &archive,
                "tenant.jsonl",
                |t| t.replacen("\"name\":\"", "\"name\":\"Not ", 1),
                true,
            );
            std::fs::write(folder.path().join("edited.zip"), edited).expect("write");
            let (succeeded, _, stderr) = run(&["import-tenant", &path("edited.zip")]);
            assert!(!succeeded);
            assert!(
                stderr.contains("not signed by this installation")
                    && stderr.contains("--from-another-installation"),
                "{stderr}"
            );

            let (succeeded, stdout, stderr) = run(&["import-tenant", &path("cafe.zip")]);
            assert!(succeeded, "{stderr}");
            assert!(stdout.contains("restored cafe ("), "{stdout}");
            assert_same_rows(&before, &export_archive(&app, f.id).await);
        },
    )
    .await;
}
