//! The core's tenant export with the module's data: employees (national ids
//! encrypted), shifts and their edits, the tamper-evident log, absences,
//! holidays and pay rules come back row by row, on both backends and across
//! them, with the log still verifying and national ids still found.

use app::ids::TenantId;
use serde_json::{Value, json};

use super::{edit, hire};
use crate::fixtures::TenantFixture;
use crate::support::{TestApp, each_backend};
use crate::tenant_export::{across_backends, round_trip};

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

#[tokio::test]
async fn the_module_data_survives_export_delete_import() {
    each_backend(|app| async move {
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
