//! The tamper-evident log: verification over HTTP and with `verify-log`
//! finds a punch changed directly in the database, and an entry changed
//! past the append-only guard.

use app::db::Backend;
use serde_json::{Value, json};

use super::{edit, hire, paired_kiosk, punch, recent, send};
use crate::fixtures::TenantFixture;
use crate::startup::command;
use crate::support::{TestApp, backend_test, run_on};

/// A day's in and out, and a correction of it: five entries.
async fn a_day_with_an_edit(app: &TestApp, f: &TenantFixture) -> String {
    let maria = hire(app, f, "Maria", 0).await;
    let (_, token) = paired_kiosk(app, f, 0).await;
    let (_, first) = send(
        app,
        &token,
        &punch(&maria.pin, "in", &recent("2026-11-20T07:00:00Z")),
    )
    .await;
    send(
        app,
        &token,
        &punch(&maria.pin, "out", &recent("2026-11-20T15:00:00Z")),
    )
    .await;
    let (status, body) = edit(
        app,
        f,
        f.owner,
        &json!({
            "action": "correct", "shift_id": first["id"], "start": &recent("2026-11-20T06:30:00Z"),
            "end": &recent("2026-11-20T15:00:00Z"), "reason": "Started early.",
        }),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    first["id"].as_str().unwrap().to_owned()
}

async fn verification(app: &TestApp, f: &TenantFixture) -> Value {
    let owner = app.client_for(f.owner).await;
    app.get_json(
        &owner,
        &format!("/api/v1/t/{}/time-log/verification", f.slug),
    )
    .await
}

/// `verify-log` on the app's database: (succeeded, stdout).
fn verify_log(app: &TestApp) -> (bool, String) {
    let folder = tempfile::tempdir().expect("folder");
    let output = command(folder.path(), &[("DATABASE_URL", &app.database_url)])
        .arg("verify-log")
        .output()
        .expect("run verify-log");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

backend_test!(verification_names_the_first_entry_a_direct_database_change_broke);
async fn verification_names_the_first_entry_a_direct_database_change_broke(backend: Backend) {
    run_on(backend, |app| async move {
        let changed_row = TenantFixture::create(&app.db, "alpha").await;
        let changed_entry = TenantFixture::create(&app.db, "bravo").await;
        let punch_id = a_day_with_an_edit(&app, &changed_row).await;
        a_day_with_an_edit(&app, &changed_entry).await;
        for f in [&changed_row, &changed_entry] {
            assert_eq!(
                verification(&app, f).await,
                json!({"entries": 5, "first_broken": null})
            );
        }
        let (succeeded, out) = verify_log(&app);
        assert!(succeeded, "{out}");
        assert_eq!(out.matches("5 entries, intact").count(), 2, "{out}");

        // Someone with database access moves a clock-in by an hour.
        app.execute(&format!(
            "UPDATE punches SET at = '2026-11-20 06:00:00+00:00' WHERE id = '{punch_id}'"
        ))
        .await;
        let broken = verification(&app, &changed_row).await;
        assert_eq!(broken["first_broken"]["seq"], 1, "{broken}");
        assert!(
            broken["first_broken"]["problem"]
                .as_str()
                .unwrap()
                .contains(&format!("punch {punch_id}")),
            "{broken}"
        );

        // The app's own connection can't change an entry; an operator who
        // lifts the guard can, and is found out.
        let rewrite = format!(
            "UPDATE time_log SET content = replace(content, '15:00:00Z', '16:00:00Z') \
             WHERE seq = 2 AND tenant_id = '{}'",
            changed_entry.id
        );
        let guarded = app::on_backend!(&app.db, |pool| sqlx::query(sqlx::AssertSqlSafe(
            rewrite.clone()
        ))
        .execute(pool)
        .await
        .map(drop));
        assert!(guarded.is_err(), "time_log is append-only");
        match app.backend() {
            app::db::Backend::Sqlite => app.execute("DROP TRIGGER time_log_no_update").await,
            app::db::Backend::Postgres => {
                // Citus asks for this before it touches a trigger on each shard.
                app.execute_all(&[
                    "SET LOCAL citus.enable_unsafe_triggers = on",
                    "ALTER TABLE time_log DISABLE TRIGGER time_log_append_only",
                ])
                .await;
            }
        }
        app.execute(&rewrite).await;
        let broken = verification(&app, &changed_entry).await;
        assert_eq!(broken["first_broken"]["seq"], 2, "{broken}");
        assert!(
            broken["first_broken"]["problem"]
                .as_str()
                .unwrap()
                .contains("hash doesn't match"),
            "{broken}"
        );

        let (succeeded, out) = verify_log(&app);
        assert!(!succeeded, "a broken log fails the command: {out}");
        assert_eq!(out.matches("BROKEN at entry #").count(), 2, "{out}");
    })
    .await;
}

backend_test!(the_scope_role_may_only_add_punches_edits_and_log_entries);
/// The module's tables, table by table, for the scope role
/// (migrations/time_tracking/postgres/0020): what must not change once
/// written (punches, their voids, edits and the log) can only be added to.
async fn the_scope_role_may_only_add_punches_edits_and_log_entries(backend: Backend) {
    run_on(backend, |app| async move {
        if app.backend() == app::db::Backend::Sqlite {
            return;
        }
        const ADD: &[&str] = &["INSERT", "SELECT"];
        const CHANGE: &[&str] = &["INSERT", "SELECT", "UPDATE"];
        // The others (absences, holidays, employee_locations,
        // location_pay_rules) hold every right, as tenant-owned tables do.
        crate::row_level_security::assert_scope_role_grants(
            &app.db,
            "migrations/time_tracking/postgres",
            &[
                ("correction_requests", CHANGE),
                ("employees", CHANGE),
                ("kiosk_devices", CHANGE),
                ("punch_voids", ADD),
                ("punches", ADD),
                ("shift_edits", ADD),
                ("time_log", ADD),
                ("time_tracking_settings", CHANGE),
            ],
        )
        .await;
    })
    .await;
}
