//! Tenant import treats the archive as untrusted input: an operator restores
//! what a customer sends, and a crafted archive must not create privileged
//! accounts, bring back credentials, reach another organisation, exhaust
//! memory, or leave half an import behind.

use app::db::Backend;
use std::collections::BTreeMap;
use std::io::Read as _;
use std::process::Stdio;

use app::on_backend;
use app::tenants::portability::PortabilityError;
use app::tenants::portability::import::{Limits, Origin};
use base64::Engine as _;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::fixtures::TenantFixture;
use crate::support::{Options, TestApp, TestDatabase, backend_test, run_on, run_on_with};
use crate::tenant_export::{
    entries, export_archive, import_vouched_for, import_with, manifest, owned_rows, zipped,
};

/// An archive rebuilt from `files` (name → text) after `change`: the
/// manifest lists every `.jsonl` file with its true checksum and row count,
/// as a forger would write it; there is no signature, so it imports only as
/// another installation's. `change` may add or remove files.
pub fn forge(archive: &[u8], change: impl FnOnce(&mut BTreeMap<String, String>)) -> Vec<u8> {
    let mut files: BTreeMap<String, String> = entries(archive).into_iter().collect();
    files.remove("manifest.sig");
    change(&mut files);
    let mut listed = manifest(archive);
    let table_of = |path: &str| match path {
        "tenant.jsonl" => "tenants".to_owned(),
        "users.jsonl" => "users".to_owned(),
        other => other
            .trim_start_matches("tables/")
            .trim_end_matches(".jsonl")
            .to_owned(),
    };
    listed["files"] = files
        .iter()
        .filter(|(path, _)| path.ends_with(".jsonl"))
        .map(|(path, text)| {
            json!({
                "path": path,
                "table": table_of(path),
                "rows": text.lines().filter(|line| !line.is_empty()).count(),
                "sha256": hex::encode(Sha256::digest(text.as_bytes())),
            })
        })
        .collect();
    files.insert("manifest.json".to_owned(), listed.to_string());
    zipped(files.into_iter().collect())
}

/// The rows of a JSON Lines file, changed by `change`, as text again.
pub fn map_rows(text: &str, change: impl Fn(&mut serde_json::Map<String, Value>)) -> String {
    text.lines()
        .map(|line| {
            let mut row: serde_json::Map<String, Value> = serde_json::from_str(line).unwrap();
            change(&mut row);
            Value::Object(row).to_string() + "\n"
        })
        .collect()
}

/// [`forge`] with every row of `file` changed by `change`.
pub fn forge_rows(
    archive: &[u8],
    file: &str,
    change: impl Fn(&mut serde_json::Map<String, Value>),
) -> Vec<u8> {
    forge(archive, |files| {
        let text = map_rows(&files[file], change);
        files.insert(file.to_owned(), text);
    })
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    let sql = sql.to_owned();
    on_backend!(&app.db, |pool| sqlx::query_scalar(sqlx::AssertSqlSafe(
        sql.clone()
    ))
    .fetch_one(pool)
    .await)
    .expect("count")
}

/// What a target database holds that an import could have written: every
/// account, and each tenant's rows.
async fn state_of(app: &TestApp, tenants: &[app::ids::TenantId]) -> Vec<String> {
    let mut state = vec![format!(
        "users: {}",
        count(app, "SELECT COUNT(*) FROM users").await
    )];
    for tenant in tenants {
        state.push(format!(
            "{tenant}: {:?}",
            owned_rows(&app.db, *tenant).await
        ));
    }
    state
}

backend_test!(a_crafted_archive_brings_no_privilege_credential_or_other_tenants_row);
async fn a_crafted_archive_brings_no_privilege_credential_or_other_tenants_row(backend: Backend) {
    run_on(backend, |app| async move {
        let cafe = TenantFixture::create(&app.db, "cafe").await;
        let archive = export_archive(&app, cafe.id).await;
        // The target already serves another organisation.
        let empty = TestDatabase::create(app.db.backend()).await;
        let target = TestApp::spawn(&empty, Options::default()).await;
        let deli = TenantFixture::create(&target.db, "deli").await;
        let before = state_of(&target, &[cafe.id, deli.id]).await;
        let deli_id = deli.id.to_string();
        let cafe_id = cafe.id.to_string();
        let stolen_token = format!("api_{}_chosen", cafe.id.as_uuid().simple());

        let token_row = json!({
            "tenant_id": cafe_id, "id": uuid::Uuid::now_v7(), "name": "backdoor",
            "role": "owner", "token_digest": app::tokens::digest(&stolen_token),
            "membership_id": cafe.manager_membership, "created_at": "2026-01-01T00:00:00Z",
            "last_used_at": null, "revoked_at": null,
        });
        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
            (
                "a super-admin with a chosen password",
                forge_rows(&archive, "users.jsonl", |row| {
                    row.insert("is_super_admin".to_owned(), json!(true));
                    row.insert(
                        "password_hash".to_owned(),
                        json!("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"),
                    );
                }),
                "users.is_super_admin is not a column an export writes",
            ),
            (
                "a two-factor secret",
                forge_rows(&archive, "users.jsonl", |row| {
                    row.insert("totp_secret".to_owned(), json!("JBSWY3DPEHPK3PXP"));
                }),
                "users.totp_secret is not a column an export writes",
            ),
            (
                "an API token with a chosen secret",
                forge(&archive, |files| {
                    files.insert(
                        "tables/api_tokens.jsonl".to_owned(),
                        format!("{token_row}\n"),
                    );
                }),
                "it holds rows of api_tokens, which an export never writes",
            ),
            (
                "sessions",
                forge(&archive, |files| {
                    files.insert(
                        "tables/sessions.jsonl".to_owned(),
                        "{\"id\": \"x\", \"data\": \"{}\"}\n".to_owned(),
                    );
                }),
                "it holds rows of sessions, which an export never writes",
            ),
            (
                "a location of another organisation",
                forge_rows(&archive, "tables/locations.jsonl", |row| {
                    row.insert("tenant_id".to_owned(), json!(deli_id));
                }),
                "a row of locations belongs to another organisation",
            ),
            (
                "the tenant row of another organisation",
                forge_rows(&archive, "tenant.jsonl", |row| {
                    row.insert("id".to_owned(), json!(deli_id));
                }),
                "a row of tenants belongs to another organisation",
            ),
            (
                "a column the table doesn't export",
                forge_rows(&archive, "tables/memberships.jsonl", |row| {
                    row.insert("is_owner".to_owned(), json!(true));
                }),
                "memberships.is_owner is not a column an export writes",
            ),
            (
                "an entry the manifest doesn't list",
                forge(&archive, |files| {
                    files.insert("notes.txt".to_owned(), "hello".to_owned());
                }),
                "it holds notes.txt, which the manifest doesn't list",
            ),
        ];
        for (case, crafted, expected) in cases {
            // Past the signature on purpose: these rules hold for an archive
            // the operator vouches for, too.
            let error = import_vouched_for(&target, &crafted)
            .await
            .expect_err(case);
            assert!(
                matches!(error, PortabilityError::Refused(_)),
                "{case}: {error:?}"
            );
            assert!(error.to_string().contains(expected), "{case}: {error}");
            assert_eq!(
                state_of(&target, &[cafe.id, deli.id]).await,
                before,
                "{case}: nothing written ({:?})",
                app.backend()
            );
        }
        let token = crate::support::bearer(&stolen_token)
            .get(target.url("/api/v1/t/cafe/locations"))
            .send()
            .await
            .unwrap();
        assert_eq!(token.status(), 401, "no token came in");
        target.stop().await;
        empty.drop().await;
    })
    .await;
}

backend_test!(an_archive_is_signed_and_an_edited_or_foreign_one_is_refused_unless_vouched_for);
/// Export signs the manifest with the installation's key; another
/// installation refuses the archive unless the operator says where it
/// comes from, and an archive edited after export is refused here.
async fn an_archive_is_signed_and_an_edited_or_foreign_one_is_refused_unless_vouched_for(
    backend: Backend,
) {
    run_on(backend, |app| async move {
        let cafe = TenantFixture::create(&app.db, "cafe").await;
        let archive = export_archive(&app, cafe.id).await;
        let names: Vec<String> = entries(&archive).into_iter().map(|(n, _)| n).collect();
        assert!(names.contains(&"manifest.sig".to_owned()), "{names:?}");

        // Edited here: a location renamed, checksums fixed, signature kept.
        let mut edited: BTreeMap<String, String> = entries(&archive).into_iter().collect();
        let renamed = edited["tables/locations.jsonl"].replacen("\"name\":\"", "\"name\":\"X", 1);
        edited.insert("tables/locations.jsonl".to_owned(), renamed.clone());
        let mut listed = manifest(&archive);
        for file in listed["files"].as_array_mut().unwrap() {
            if file["path"] == "tables/locations.jsonl" {
                file["sha256"] = json!(hex::encode(Sha256::digest(renamed.as_bytes())));
            }
        }
        edited.insert("manifest.json".to_owned(), listed.to_string());
        let edited = zipped(edited.into_iter().collect());
        app::tenants::delete(&app.state, cafe.id, &app::billing::BillingState::default())
            .await
            .unwrap();
        for (case, bad) in [("edited", &edited), ("unsigned", &forge(&archive, |_| {}))] {
            let error = import_with(&app, bad, Origin::ThisInstallation, &Limits::default())
                .await
                .expect_err(case);
            assert!(matches!(error, PortabilityError::Unsigned), "{case}: {error:?}");
            assert!(
                error.to_string().contains("--from-another-installation"),
                "{case}: the message says what to do: {error}"
            );
            assert!(owned_rows(&app.db, cafe.id).await.values().all(|n| *n == 0));
        }

        // Another installation (another LOOKUP_KEY) can't check it...
        let elsewhere_db = TestDatabase::create(app.db.backend()).await;
        let elsewhere = TestApp::spawn(&elsewhere_db, another_installation()).await;
        let error = import_with(&elsewhere, &archive, Origin::ThisInstallation, &Limits::default())
            .await
            .expect_err("a foreign signature");
        assert!(matches!(error, PortabilityError::Unsigned), "{error:?}");
        // ...and takes it on the operator's word, creating accounts with
        // the email alone.
        let imported = import_vouched_for(&elsewhere, &archive)
            .await
            .expect("vouched for");
        assert_eq!(imported.new_users.len(), 4);
        assert_eq!(
            count(
                &elsewhere,
                "SELECT COUNT(*) FROM users WHERE password_hash IS NULL AND email_verified_at IS NULL \
                 AND totp_secret IS NULL AND NOT is_super_admin"
            )
            .await,
            4,
            "imported accounts have no password, no verified email, no privilege"
        );
        elsewhere.stop().await;
        elsewhere_db.drop().await;
    })
    .await;
}

/// An installation of its own: other keys.
fn another_installation() -> Options {
    let key = base64::engine::general_purpose::STANDARD.encode([7_u8; 32]);
    Options {
        vars: vec![("ENCRYPTION_KEYS", key.clone()), ("LOOKUP_KEY", key)],
        ..Options::default()
    }
}

backend_test!(an_archive_over_a_limit_is_refused_naming_the_limit);
async fn an_archive_over_a_limit_is_refused_naming_the_limit(backend: Backend) {
    run_on(backend, |app| async move {
        let cafe = TenantFixture::create(&app.db, "cafe").await;
        let archive = export_archive(&app, cafe.id).await;
        app::tenants::delete(&app.state, cafe.id, &app::billing::BillingState::default())
            .await
            .unwrap();
        let small = |change: fn(&mut Limits)| {
            let mut limits = Limits::default();
            change(&mut limits);
            limits
        };
        let cases = [
            (
                small(|l| l.manifest_bytes = 100),
                "manifest.json is larger than 100 bytes",
            ),
            (small(|l| l.line_bytes = 50), "is longer than 50 bytes"),
            (small(|l| l.entries = 3), "more than the 3 an import reads"),
            (
                small(|l| l.total_bytes = 500),
                "its files hold more than 500 bytes",
            ),
            (
                small(|l| l.held_bytes = 10),
                "tenant.jsonl is larger than 10 bytes",
            ),
        ];
        for (limits, expected) in cases {
            let error = import_with(&app, &archive, Origin::ThisInstallation, &limits)
                .await
                .expect_err(expected);
            assert!(matches!(error, PortabilityError::TooLarge(_)), "{error:?}");
            assert!(error.to_string().contains(expected), "{error}");
        }
        // The default line limit, met by one row of 2 MiB.
        let huge = forge_rows(&archive, "tables/locations.jsonl", |row| {
            row.insert("address".to_owned(), json!("x".repeat(2 << 20)));
        });
        let error = import_vouched_for(&app, &huge)
            .await
            .expect_err("a 2 MiB line");
        assert!(
            error.to_string().contains("longer than 1048576 bytes"),
            "{error}"
        );
        assert!(owned_rows(&app.db, cafe.id).await.values().all(|n| *n == 0));
        import_with(&app, &archive, Origin::ThisInstallation, &Limits::default())
            .await
            .expect("within the limits");
    })
    .await;
}

backend_test!(randomly_mutated_archives_are_refused_cleanly_or_imported_within_the_rules);
/// Random mutations of a valid archive (columns added, tenant ids changed,
/// values grown, credentials set, lines dropped or doubled, bytes cut):
/// import either refuses with an error, writing nothing, or imports rows
/// of the manifest's tenant only, and accounts without a password or
/// privilege. Never a panic. Checksums are fixed and the signature skipped
/// on most cases, so the mutations reach the checks behind them.
async fn randomly_mutated_archives_are_refused_cleanly_or_imported_within_the_rules(
    backend: Backend,
) {
    run_on(backend, |app| async move {
        let cafe = TenantFixture::create(&app.db, "cafe").await;
        let archive = export_archive(&app, cafe.id).await;
        let empty = TestDatabase::create(app.db.backend()).await;
        let target = TestApp::spawn(&empty, Options::default()).await;
        let deli = TenantFixture::create(&target.db, "deli").await;
        let deli_before = owned_rows(&target.db, deli.id).await;
        let users_before = count(&target, "SELECT COUNT(*) FROM users").await;
        let files: Vec<String> = entries(&archive)
            .into_iter()
            .map(|(name, _)| name)
            .filter(|name| name.ends_with(".jsonl"))
            .collect();
        // (column, value) a forger would set.
        let deli_owner_email: String = on_backend!(&target.db, |pool| sqlx::query_scalar(
            "SELECT email FROM users WHERE id = $1"
        )
        .bind(deli.owner)
        .fetch_one(pool)
        .await)
        .unwrap();
        let changes = [
            ("tenant_id", json!(deli.id.to_string())),
            ("tenant_id", json!(uuid::Uuid::now_v7().to_string())),
            ("id", json!(deli.id.to_string())),
            ("is_super_admin", json!(true)),
            (
                "password_hash",
                json!("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"),
            ),
            ("totp_secret", json!("JBSWY3DPEHPK3PXP")),
            ("token_digest", json!("ab12")),
            ("pin_digest", json!("ab12")),
            ("role", json!("owner")),
            ("user_id", json!(uuid::Uuid::now_v7().to_string())),
            ("email", json!(deli_owner_email)),
            ("name", json!("x".repeat(5000))),
            ("created_at", json!(7)),
            ("unheard_of", json!({"nested": [1]})),
        ];
        let mutation = (
            0..files.len(),
            0..4_usize,
            0..changes.len(),
            0..7_u8,
            0..4_u8,
            any::<u16>(),
        );
        let mut runner = TestRunner::deterministic();
        let cases = if app.backend() == app::db::Backend::Sqlite {
            120
        } else {
            40
        };
        let (mut refused, mut imported) = (0, 0);
        for case in 0..cases {
            let (file, line, change, kind, fix, cut) =
                mutation.new_tree(&mut runner).expect("a case").current();
            let path = files[file].clone();
            let (column, value) = changes[change].clone();
            // Most checksums fixed, so the change reaches the row checks.
            let fix = fix != 0;
            let mutate = |text: &str| -> String {
                let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
                if lines.is_empty() {
                    return text.to_owned();
                }
                let at = line % lines.len();
                match kind {
                    0..=2 => {
                        let mut row: Value = serde_json::from_str(&lines[at]).unwrap();
                        row[column] = value.clone();
                        lines[at] = row.to_string();
                    }
                    3 => {
                        lines.remove(at);
                    }
                    4 => lines.push(lines[at].clone()),
                    _ => {
                        let keep = usize::from(cut) % (lines[at].len() + 1);
                        lines[at].truncate(keep);
                    }
                }
                lines.join("\n") + "\n"
            };
            let mutated = if kind == 6 && !fix {
                // Bytes cut from the zip itself.
                archive[..usize::from(cut) % archive.len()].to_vec()
            } else if fix {
                forge(&archive, |files| {
                    let text = mutate(&files[&path]);
                    files.insert(path.clone(), text);
                })
            } else {
                crate::tenant_export::rewrite(&archive, &path, mutate, false)
            };
            let origin = if case % 4 == 0 {
                Origin::ThisInstallation
            } else {
                Origin::AnotherInstallation
            };
            let label =
                format!("case {case}: {path} line {line} kind {kind} {column}={value} fixed={fix}");
            match import_with(&target, &mutated, origin, &Limits::default()).await {
                Err(_) => {
                    refused += 1;
                    assert!(
                        owned_rows(&target.db, cafe.id)
                            .await
                            .values()
                            .all(|n| *n == 0),
                        "{label}: a refused import wrote nothing"
                    );
                    assert_eq!(
                        count(&target, "SELECT COUNT(*) FROM users").await,
                        users_before,
                        "{label}: no account created"
                    );
                }
                Ok(done) => {
                    imported += 1;
                    assert_eq!(done.tenant, cafe.id, "{label}");
                    assert_eq!(
                        count(
                            &target,
                            "SELECT COUNT(*) FROM users WHERE password_hash IS NOT NULL \
                               OR totp_secret IS NOT NULL OR is_super_admin"
                        )
                        .await,
                        0,
                        "{label}: no account came with a password or privilege"
                    );
                    let api_tokens = owned_rows(&target.db, cafe.id).await["api_tokens"];
                    assert_eq!(api_tokens, 0, "{label}: no credential came in");
                    assert_eq!(
                        owned_rows(&target.db, deli.id).await,
                        deli_before,
                        "{label}: the other organisation is untouched"
                    );
                    app::tenants::delete(
                        &target.state,
                        cafe.id,
                        &app::billing::BillingState::default(),
                    )
                    .await
                    .expect("delete for the next case");
                    // Its members' accounts too (in one transaction, which on
                    // Citus reads memberships' shards one node at a time,
                    // as a write to users after it requires).
                    let orphans =
                        "DELETE FROM users WHERE id NOT IN (SELECT user_id FROM memberships)";
                    match target.backend() {
                        Backend::Sqlite => target.execute(orphans).await,
                        Backend::Postgres => {
                            target
                                .execute_all(&[
                                    "SET LOCAL citus.multi_shard_modify_mode = 'sequential'",
                                    orphans,
                                ])
                                .await;
                        }
                    }
                }
            }
        }
        assert!(
            refused > 0 && imported > 0,
            "both outcomes seen: {refused} refused, {imported} imported"
        );
        target.stop().await;
        empty.drop().await;
    })
    .await;
}

backend_test!(an_import_killed_at_any_moment_leaves_all_or_nothing);
/// An import killed at any moment leaves all of it or none of it, and
/// running it again says the truth about the accounts it creates.
async fn an_import_killed_at_any_moment_leaves_all_or_nothing(backend: Backend) {
    run_on_with(
        backend,
        || Options::with_keys(&[[1; 32]]),
        |app| async move {
            let cafe = TenantFixture::create(&app.db, "cafe").await;
            let archive = export_archive(&app, cafe.id).await;
            // Many locations, so the write takes a while to be killed in.
            let big = forge(&archive, |files| {
                let template: Value =
                    serde_json::from_str(files["tables/locations.jsonl"].lines().next().unwrap())
                        .unwrap();
                let mut text = files["tables/locations.jsonl"].clone();
                for n in 0..20_000 {
                    let mut row = template.clone();
                    row["id"] = json!(uuid::Uuid::now_v7().to_string());
                    row["name"] = json!(format!("Site {n}"));
                    text.push_str(&row.to_string());
                    text.push('\n');
                }
                files.insert("tables/locations.jsonl".to_owned(), text);
            });
            let expected_locations = 20_002;
            let folder = tempfile::tempdir().expect("folder");
            std::fs::write(folder.path().join("big.zip"), &big).unwrap();
            let target_db = TestDatabase::create(app.db.backend()).await;
            let target = TestApp::spawn(&target_db, Options::with_keys(&[[1; 32]])).await;
            let mut vars = Options::with_keys(&[[1; 32]]).vars;
            vars.push(("DATABASE_URL", target.database_url.clone()));
            let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let import = || {
                let mut command = crate::startup::command(folder.path(), &vars);
                command
                    .args(["import-tenant", "big.zip", "--from-another-installation"])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped());
                command
            };
            let locations = || count(&target, "SELECT COUNT(*) FROM locations");
            let users = || count(&target, "SELECT COUNT(*) FROM users");
            let undo = || async {
                app::tenants::delete(&target.state, cafe.id, &app::billing::BillingState::default())
                    .await
                    .expect("delete the imported tenant");
                target.execute("DELETE FROM users").await;
            };
            // How long a whole import takes here, to kill the next ones
            // all along the way (most of it is the write).
            let started = std::time::Instant::now();
            assert!(import().status().expect("import").success());
            let whole = started.elapsed();
            assert_eq!((locations().await, users().await), (expected_locations, 4));
            undo().await;
            for percent in [20, 40, 55, 70, 80, 90, 97] {
                let mut child = import().spawn().expect("start the import");
                tokio::time::sleep(whole * percent / 100).await;
                let _ = child.kill(); // SIGKILL, as the OOM killer or a crash would
                let _ = child.wait();
                match (locations().await, users().await) {
                    (0, 0) => {}
                    (n, 4) if n == expected_locations => undo().await,
                    other => panic!(
                        "killed at {percent}% of {whole:?}: half an import is left: {other:?} ({:?})",
                        app.backend()
                    ),
                }
            }
            let mut child = import().spawn().expect("start the import");
            let mut stdout = String::new();
            child.stdout.take().unwrap().read_to_string(&mut stdout).unwrap();
            assert!(child.wait().unwrap().success());
            assert_eq!(
                stdout.matches("no password yet").count(),
                4,
                "the re-run lists every account it created: {stdout}"
            );
            assert_eq!((locations().await, users().await), (expected_locations, 4));
            target.stop().await;
            target_db.drop().await;
        },
    )
    .await;
}
