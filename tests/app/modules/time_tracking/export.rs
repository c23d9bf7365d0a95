//! The core's tenant export with the module's data: employees (national ids
//! encrypted), shifts and their edits, the tamper-evident log, absences,
//! holidays and pay rules come back row by row, on both backends and across
//! them, with the log still verifying and national ids still found.

use app::db::Backend;
use app::ids::TenantId;
use serde_json::{Value, json};

use super::{edit, hire, hire_linked};
use crate::fixtures::TenantFixture;
use crate::support::{TestApp, backend_test, run_on};
use crate::tenant_export::{
    across_backends, contents, export_archive, import_vouched_for, owned_rows, round_trip,
};
use crate::untrusted_archives::forge_rows;

/// A tenant with some of everything the module stores.
async fn busy_tenant(app: &TestApp) -> TenantId {
    let f = TenantFixture::create(&app.db, "cafe").await;
    let owner = app.client_for(f.owner).await;
    let maria = hire(app, &f, "Maria", 0).await;
    let patched = owner
        .patch(app.url(&format!("/api/v1/t/cafe/employees/{}", maria.id)))
        .json(&json!({"national_id": "12345678Z"}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 200);
    let (status, body) = edit(
        app,
        &f,
        f.owner,
        &json!({"action": "add", "employee_id": maria.id, "location_id": f.locations[0],
                "start": "2026-11-16T08:00:00Z", "end": "2026-11-16T16:00:00Z",
                "reason": "Paper timesheet."}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let posts = [
        (
            "/api/v1/t/cafe/absences".to_owned(),
            json!({"employee_id": maria.id, "day": "2026-11-17", "kind": "sick", "minutes": 480}),
        ),
        (
            format!("/api/v1/t/cafe/locations/{}/holidays/load", f.locations[0]),
            json!({"calendar": "es-ct"}),
        ),
    ];
    for (path, body) in posts {
        let response = app.post_json(&owner, &path, &body).await;
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
    }
    let rules = owner
        .put(app.url(&format!(
            "/api/v1/t/cafe/locations/{}/pay-rules",
            f.locations[0]
        )))
        .json(
            &json!({"daily_overtime_minutes": 480, "weekly_overtime_minutes": 2400,
                      "overtime_percent": 150, "sunday_holiday_percent": 200}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(rules.status(), 200);
    f.id
}

backend_test!(the_module_data_survives_export_delete_import);
async fn the_module_data_survives_export_delete_import(backend: Backend) {
    run_on(backend, |app| async move {
        let tenant = busy_tenant(&app).await;
        round_trip(&app, tenant).await;

        let owner: app::ids::UserId = app::on_backend!(&app.db, |pool| sqlx::query_scalar(
            "SELECT user_id FROM memberships WHERE tenant_id = $1 AND role = 'owner'"
        )
        .bind(tenant)
        .fetch_one(pool)
        .await)
        .unwrap();
        let client = app.client_for(owner).await;
        let verification: Value = app
            .get_json(&client, "/api/v1/t/cafe/time-log/verification")
            .await;
        assert_eq!(verification["first_broken"], Value::Null, "{verification}");
        let found: Value = app
            .get_json(&client, "/api/v1/t/cafe/employees?national_id=12345678z")
            .await;
        assert_eq!(
            found[0]["national_id"], "12345678Z",
            "sealed again and found: {found}"
        );
    })
    .await;
}

#[tokio::test]
async fn the_module_data_moves_between_backends() {
    across_backends(|app| async move { busy_tenant(&app).await }).await;
}

backend_test!(an_archive_with_a_pin_a_kiosk_token_or_a_blind_index_is_refused);
/// The module's credentials (employees' PIN digests, kiosks' pairing and
/// device tokens) and the national ids' blind index are empty in an archive
/// and must be empty in one imported: a crafted archive can't bring a PIN
/// or a paired kiosk of its choosing.
async fn an_archive_with_a_pin_a_kiosk_token_or_a_blind_index_is_refused(backend: Backend) {
    run_on(backend, |app| async move {
        let tenant = busy_tenant(&app).await;
        let (location, owner): (app::ids::LocationId, app::ids::UserId) =
            app::on_backend!(&app.db, |pool| sqlx::query_as(
                "SELECT l.id, m.user_id FROM locations l JOIN memberships m \
                 ON m.tenant_id = l.tenant_id AND m.role = 'owner' WHERE l.tenant_id = $1 LIMIT 1"
            )
            .bind(tenant)
            .fetch_one(pool)
            .await)
            .unwrap();
        let owner = app.client_for(owner).await;
        let kiosk = app
            .post_json(
                &owner,
                "/api/v1/t/cafe/kiosks",
                &json!({"location_id": location, "name": "Bar tablet"}),
            )
            .await;
        assert_eq!(kiosk.status(), 201);
        let archive = export_archive(&app, tenant).await;
        app::tenants::delete(&app.state, tenant, &app::billing::BillingState::default())
            .await
            .unwrap();
        for (file, column) in [
            ("tables/employee_locations.jsonl", "pin_digest"),
            ("tables/kiosk_devices.jsonl", "token_digest"),
            ("tables/kiosk_devices.jsonl", "pairing_digest"),
            ("tables/employees.jsonl", "national_id_index"),
        ] {
            assert!(!contents(&archive)[file].is_empty(), "{file} has rows");
            let crafted = forge_rows(&archive, file, |row| {
                row.insert(column.to_owned(), json!("0".repeat(64)));
            });
            let error = import_vouched_for(&app, &crafted)
            .await
            .expect_err(column);
            assert!(
                error
                    .to_string()
                    .contains(&format!("{column} holds a value: credentials never come")),
                "{column}: {error}"
            );
            assert!(owned_rows(&app.db, tenant).await.values().all(|n| *n == 0));
        }
    })
    .await;
}

/// An employee in an archive may be linked only to a member of the
/// organisation: PostgreSQL's foreign key refuses a link to anyone else, and
/// the import writes nothing. (SQLite has kept links by trigger alone since
/// the module's first migration, and the app checks its own writes there.)
#[tokio::test]
async fn an_archive_linking_an_employee_to_no_member_is_refused_on_postgres() {
    run_on(Backend::Postgres, |app| async move {
        let f = TenantFixture::create(&app.db, "cafe").await;
        hire_linked(&app, &f, "Maria", 0, Some(f.staff_membership)).await;
        let archive = export_archive(&app, f.id).await;
        app::tenants::delete(&app.state, f.id, &app::billing::BillingState::default())
            .await
            .unwrap();
        let crafted = forge_rows(&archive, "tables/employees.jsonl", |row| {
            row.insert("membership_id".to_owned(), json!(uuid::Uuid::now_v7()));
        });
        let error = import_vouched_for(&app, &crafted)
        .await
        .expect_err("a link to no member");
        assert!(
            error
                .to_string()
                .contains("employees_tenant_id_membership_id_fkey"),
            "{error}"
        );
        assert!(owned_rows(&app.db, f.id).await.values().all(|n| *n == 0));

        // The archive as exported comes back, its link with it.
        import_vouched_for(&app, &archive)
        .await
        .expect("the archive as exported");
    })
    .await;
}
