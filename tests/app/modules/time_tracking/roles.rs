//! The module's role × action matrix over HTTP: every `TimeAction`, tried
//! by every role through a real route, is allowed exactly where
//! `TimeAction::allowed` says (its cells are pinned in the unit test of
//! `permissions.rs`), and refused with 403 elsewhere.

use app::modules::time_tracking::permissions::TimeAction;
use app::tenancy::{Permission, Role};
use reqwest::Method;
use serde_json::{Value, json};

use super::hire;
use crate::fixtures::TenantFixture;
use crate::support::each_backend;

/// The request that exercises `action` in the fixture's tenant, about an
/// employee at the first location (granted to the manager and the staff
/// member, so a refusal is the role's, not visibility's).
fn request(action: TimeAction, f: &TenantFixture, employee: &str) -> (Method, String, Value) {
    let slug = &f.slug;
    match action {
        TimeAction::ManageEmployees => (
            Method::GET,
            format!("/api/v1/t/{slug}/employees/{employee}"),
            Value::Null,
        ),
        TimeAction::ManageDevices => (
            Method::POST,
            format!("/api/v1/t/{slug}/kiosks"),
            json!({"location_id": f.locations[0], "name": "Bar tablet"}),
        ),
        TimeAction::ViewTeamRecords => (
            Method::GET,
            format!("/api/v1/t/{slug}/employees/{employee}/shifts"),
            Value::Null,
        ),
        TimeAction::EditShifts => (
            Method::POST,
            format!("/api/v1/t/{slug}/shift-edits"),
            json!({"action": "add", "employee_id": employee, "location_id": f.locations[0],
                   "start": "2026-11-20T07:00:00Z", "end": "2026-11-20T15:00:00Z",
                   "reason": "Tablet was down."}),
        ),
        TimeAction::ViewEditFeed => (
            Method::GET,
            format!("/api/v1/t/{slug}/shift-edits"),
            Value::Null,
        ),
        TimeAction::VerifyLog => (
            Method::GET,
            format!("/api/v1/t/{slug}/time-log/verification"),
            Value::Null,
        ),
        TimeAction::RecordAbsences => (
            Method::POST,
            format!("/api/v1/t/{slug}/absences"),
            json!({"employee_id": employee, "day": "2026-11-20", "kind": "vacation", "minutes": 480}),
        ),
        TimeAction::Payroll => (
            Method::GET,
            format!("/api/v1/t/{slug}/payroll?month=2026-11"),
            Value::Null,
        ),
        TimeAction::ManagePayRules => (
            Method::PUT,
            format!("/api/v1/t/{slug}/pay-rules"),
            json!({"daily_overtime_minutes": 480, "weekly_overtime_minutes": 2400,
                   "overtime_percent": 150, "sunday_holiday_percent": 175}),
        ),
    }
}

#[tokio::test]
async fn every_role_can_do_exactly_what_the_time_tracking_matrix_allows() {
    each_backend(|app| async move {
        let mut tried = 0;
        for (a, action) in TimeAction::ALL.into_iter().enumerate() {
            let slug = format!("time-cell-{a}");
            let f = TenantFixture::create(&app.db, &slug).await;
            let employee = hire(&app, &f, "Maria", 0).await;
            for role in Role::ALL {
                let (method, path, body) = request(action, &f, &employee.id);
                let user = match role {
                    Role::Owner => f.owner,
                    Role::Admin => f.admin,
                    Role::Manager => f.manager,
                    Role::Staff => f.staff,
                };
                let client = app.client_for(user).await;
                let mut request = client.request(method.clone(), app.url(&path));
                if !body.is_null() {
                    request = request.json(&body);
                }
                let response = request.send().await.expect("request");
                let status = response.status().as_u16();
                if action.allowed(role) {
                    // An edit (an absence) that was allowed once overlaps
                    // (repeats) the next time.
                    let repeated =
                        matches!(action, TimeAction::EditShifts | TimeAction::RecordAbsences)
                            && status == 409;
                    assert!(
                        (200..300).contains(&status) || repeated,
                        "{action:?} as {role:?}: {method} {path} gave {status}"
                    );
                } else {
                    assert_eq!(status, 403, "{action:?} as {role:?}: {method} {path}");
                    let error: Value = response.json().await.expect("an error body");
                    assert_eq!(error["error"]["code"], "forbidden");
                }
                tried += 1;
            }
        }
        assert_eq!(tried, TimeAction::ALL.len() * 4);
    })
    .await;
}
