//! The module's role × action matrix over HTTP: every `TimeAction`, tried
//! by every role through a real route, is allowed exactly where
//! `TimeAction::allowed` says (its cells are pinned in the unit test of
//! `permissions.rs`), and refused with 403 elsewhere.

use app::db::Backend;
use app::modules::time_tracking::permissions::TimeAction;
use reqwest::Method;
use serde_json::{Value, json};

use super::hire;
use crate::fixtures::{Attempt, TenantFixture, assert_role_matrix};
use crate::support::{backend_test, run_on};

/// The request that exercises `action` in the fixture's tenant, about an
/// employee at the first location (granted to the manager and the staff
/// member, so a refusal is the role's, not visibility's).
fn request(action: TimeAction, f: &TenantFixture, employee: &str) -> Attempt {
    let slug = &f.slug;
    match action {
        TimeAction::ManageEmployees => Attempt(
            Method::GET,
            format!("/api/v1/t/{slug}/employees/{employee}"),
            Value::Null,
        ),
        TimeAction::ManageDevices => Attempt(
            Method::POST,
            format!("/api/v1/t/{slug}/kiosks"),
            json!({"location_id": f.locations[0], "name": "Bar tablet"}),
        ),
        TimeAction::ViewTeamRecords => Attempt(
            Method::GET,
            format!("/api/v1/t/{slug}/employees/{employee}/shifts"),
            Value::Null,
        ),
        TimeAction::EditShifts => Attempt(
            Method::POST,
            format!("/api/v1/t/{slug}/shift-edits"),
            json!({"action": "add", "employee_id": employee, "location_id": f.locations[0],
                   "start": "2026-11-20T07:00:00Z", "end": "2026-11-20T15:00:00Z",
                   "reason": "Tablet was down."}),
        ),
        TimeAction::ViewEditFeed => Attempt(
            Method::GET,
            format!("/api/v1/t/{slug}/shift-edits"),
            Value::Null,
        ),
        TimeAction::VerifyLog => Attempt(
            Method::GET,
            format!("/api/v1/t/{slug}/time-log/verification"),
            Value::Null,
        ),
        TimeAction::RecordAbsences => Attempt(
            Method::POST,
            format!("/api/v1/t/{slug}/absences"),
            json!({"employee_id": employee, "day": "2026-11-20", "kind": "vacation", "minutes": 480}),
        ),
        TimeAction::Payroll => Attempt(
            Method::GET,
            format!("/api/v1/t/{slug}/payroll?month=2026-11"),
            Value::Null,
        ),
        TimeAction::ManagePayRules => Attempt(
            Method::PUT,
            format!("/api/v1/t/{slug}/pay-rules"),
            json!({"daily_overtime_minutes": 480, "weekly_overtime_minutes": 2400,
                   "overtime_percent": 150, "sunday_holiday_percent": 175}),
        ),
    }
}

backend_test!(every_role_can_do_exactly_what_the_time_tracking_matrix_allows);
async fn every_role_can_do_exactly_what_the_time_tracking_matrix_allows(backend: Backend) {
    run_on(backend, |app| async move {
        assert_role_matrix(&app, &TimeAction::ALL, async |action, f| {
            let employee = hire(&app, f, "Maria", 0).await;
            request(action, f, &employee.id)
        })
        .await;
    })
    .await;
}

backend_test!(a_manager_changes_an_employee_only_where_they_manage);
/// A manager acts only within their locations: updating an employee who
/// also works at a location they don't manage leaves that location as it
/// is, and their pay and activity are for an owner or admin to change.
async fn a_manager_changes_an_employee_only_where_they_manage(backend: Backend) {
    run_on(backend, |app| async move {
        let f = TenantFixture::create(&app.db, "cafe").await;
        let [managed, elsewhere] = f.locations;
        let maria = hire(&app, &f, "Maria", 0).await;
        let path = format!("/api/v1/t/cafe/employees/{}", maria.id);
        let owner = app.client_for(f.owner).await;
        let patch = |client: reqwest::Client, body: Value| {
            let url = app.url(&path);
            async move { client.patch(url).json(&body).send().await.unwrap() }
        };
        let both = patch(
            owner.clone(),
            json!({"location_ids": [managed, elsewhere], "hourly_rate_cents": 1500}),
        )
        .await;
        assert_eq!(both.status(), 200, "the owner puts Maria at both locations");

        let locations_and_pay = || async {
            let employee = app.get_json(&owner, &path).await;
            let mut locations: Vec<String> = employee["location_ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|id| id.as_str().unwrap().to_owned())
                .collect();
            locations.sort();
            (
                locations,
                employee["hourly_rate_cents"].clone(),
                employee["active"].clone(),
            )
        };
        let before = locations_and_pay().await;
        assert_eq!(before.0.len(), 2);

        let manager = app.client_for(f.manager).await;
        // Only the managed location listed: the other one stays.
        let renamed = patch(
            manager.clone(),
            json!({"name": "Maria B", "location_ids": [managed]}),
        )
        .await;
        assert_eq!(renamed.status(), 200);
        assert_eq!(
            locations_and_pay().await,
            before,
            "the other location stays"
        );
        for (body, what) in [
            (json!({"hourly_rate_cents": 9900}), "pay"),
            (json!({"active": false}), "deactivation"),
        ] {
            let refused = patch(manager.clone(), body).await;
            assert_eq!(refused.status(), 403, "{what}");
            let message = refused.text().await.unwrap();
            assert!(
                message.contains("ask an owner or admin"),
                "{what}: {message}"
            );
            assert_eq!(locations_and_pay().await, before, "{what}: nothing changed");
        }
        // The owner may; and an employee only at the manager's locations
        // is the manager's to pay.
        assert_eq!(
            patch(owner.clone(), json!({"hourly_rate_cents": 1600}))
                .await
                .status(),
            200
        );
        let pedro = hire(&app, &f, "Pedro", 0).await;
        let pedro_pay = manager
            .patch(app.url(&format!("/api/v1/t/cafe/employees/{}", pedro.id)))
            .json(&json!({"hourly_rate_cents": 1400}))
            .send()
            .await
            .unwrap();
        assert_eq!(pedro_pay.status(), 200);
    })
    .await;
}
