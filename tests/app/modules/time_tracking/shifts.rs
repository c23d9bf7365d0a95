//! Shifts derived from punches through the API, edits that keep before and
//! after, and staff's correction requests.

use app::db::Backend;
use serde_json::{Value, json};

use super::{edit, hire, hire_linked, paired_kiosk, punch, recent, recent_day, send, shifts_of};
use crate::accounts::count;
use crate::fixtures::TenantFixture;
use crate::support::{TestApp, backend_test, run_on};

/// Sends punches in order as `(kind, at)`, each recorded; the answers.
async fn punches(app: &TestApp, token: &str, pin: &str, punches: &[(&str, &str)]) -> Vec<Value> {
    let mut answers = Vec::new();
    for (kind, at) in punches {
        let (status, body) = send(app, token, &punch(pin, kind, at)).await;
        assert_eq!(status, 201, "{kind} at {at}: {body}");
        answers.push(body);
    }
    answers
}

fn flags(shift: &Value) -> Vec<&str> {
    shift["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect()
}

backend_test!(shifts_are_derived_with_overnight_cap_and_anomalies_flagged_never_dropped);
async fn shifts_are_derived_with_overnight_cap_and_anomalies_flagged_never_dropped(
    backend: Backend,
) {
    run_on(backend, |app| async move {
        let f = TenantFixture::create(&app.db, "cafe").await;
        let maria = hire(&app, &f, "Maria", 0).await;
        let (_, token) = paired_kiosk(&app, &f, 0).await;
        // Madrid is UTC+1 in November. The night is Friday's, not
        // Saturday's: `recent` keeps wall-clock times, and a Saturday night
        // can hold a clock change.
        let day = punches(
            &app,
            &token,
            &maria.pin,
            &[
                ("in", &recent("2026-11-19T07:02:00Z")),
                ("out", &recent("2026-11-19T15:00:00Z")),
            ],
        )
        .await;
        assert_eq!(
            day[1]["message"],
            "Clocked out 16:00 — Maria · 7 h 58 min today"
        );
        let night = punches(
            &app,
            &token,
            &maria.pin,
            &[
                ("in", &recent("2026-11-20T21:00:00Z")),
                ("out", &recent("2026-11-21T05:30:00Z")),
            ],
        )
        .await;
        assert_eq!(
            night[1]["message"], "Clocked out 06:30 — Maria · 8 h 30 min today",
            "an overnight shift counts on the day it began"
        );
        let days = shifts_of(
            &app,
            &f,
            f.owner,
            &maria.id,
            &recent_day("2026-11-19"),
            &recent_day("2026-11-21"),
        )
        .await;
        let minutes: Vec<i64> = days["shifts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["minutes"].as_i64().unwrap())
            .collect();
        assert_eq!(minutes, [478, 510], "the overnight shift is one shift");
        assert_eq!(days["total_minutes"], 988);
        assert_eq!(
            days["shifts"][0]["id"], day[0]["id"],
            "a shift is named by its first punch"
        );
        let saturday = shifts_of(
            &app,
            &f,
            f.owner,
            &maria.id,
            &recent_day("2026-11-21"),
            &recent_day("2026-11-21"),
        )
        .await;
        assert_eq!(
            saturday["shifts"],
            json!([]),
            "it is not counted again on the day it ended"
        );

        // Another employee's week: an out with nothing open, a forgotten
        // clock-out, a double clock-in, then punches that an offline kiosk
        // kept and sent after later ones.
        let jon = hire(&app, &f, "Jon", 0).await;
        let orphan = punches(
            &app,
            &token,
            &jon.pin,
            &[("out", &recent("2026-11-16T15:00:00Z"))],
        )
        .await;
        assert_eq!(
            orphan[0]["message"],
            "Clocked out 16:00 — Jon · no clock-in found: your manager will check it"
        );
        punches(
            &app,
            &token,
            &jon.pin,
            &[
                ("in", &recent("2026-11-18T07:00:00Z")),
                ("in", &recent("2026-11-19T07:00:00Z")),
                ("in", &recent("2026-11-19T07:01:00Z")),
                ("out", &recent("2026-11-19T15:00:00Z")),
            ],
        )
        .await;
        let (_, offline_token) = paired_kiosk(&app, &f, 0).await;
        let late = json!({"punches": [
            punch(&jon.pin, "in", &recent("2026-11-17T07:00:00Z")),
            punch(&jon.pin, "out", &recent("2026-11-17T15:00:00Z")),
        ]});
        let synced = app
            .client
            .post(app.url("/api/v1/kiosk/punches/batch"))
            .bearer_auth(&offline_token)
            .json(&late)
            .send()
            .await
            .unwrap();
        assert_eq!(synced.status(), 200);
        let week = shifts_of(
            &app,
            &f,
            f.manager,
            &jon.id,
            &recent_day("2026-11-16"),
            &recent_day("2026-11-19"),
        )
        .await;
        let shifts = week["shifts"].as_array().unwrap();
        let seen: Vec<(Vec<&str>, i64)> = shifts
            .iter()
            .map(|s| (flags(s), s["minutes"].as_i64().unwrap()))
            .collect();
        assert_eq!(
            seen,
            [
                (vec!["missing_clock_in"], 0),
                (vec!["late_arrival"], 480),
                (vec!["missing_clock_out"], 720),
                (vec!["double_in"], 480),
            ]
        );
        assert_eq!(shifts[0]["start"], Value::Null);
        assert_eq!(
            shifts[2]["end"],
            recent("2026-11-18T19:00:00Z"),
            "closed at the 12-hour cap"
        );
        assert_eq!(
            shifts[3]["punch_ids"].as_array().unwrap().len(),
            3,
            "no punch is dropped"
        );

        let manager = app.client_for(f.manager).await;
        let queue = app
            .get_json(
                &manager,
                &format!(
                    "/api/v1/t/{}/review?from={}&to={}",
                    f.slug,
                    recent_day("2026-11-16"),
                    recent_day("2026-11-22")
                ),
            )
            .await;
        assert_eq!(queue["shifts"].as_array().unwrap().len(), 4, "{queue}");
        let bad_range = manager
            .get(app.url(&format!(
                "/api/v1/t/{}/review?from=2026-11-22&to=2026-11-16",
                f.slug
            )))
            .send()
            .await
            .unwrap();
        assert_eq!(bad_range.status(), 422);
    })
    .await;
}

backend_test!(edits_keep_before_and_after_with_a_reason_and_never_overwrite);
async fn edits_keep_before_and_after_with_a_reason_and_never_overwrite(backend: Backend) {
    run_on(backend, |app| async move {
        let f = TenantFixture::create(&app.db, "cafe").await;
        let maria = hire(&app, &f, "Maria", 0).await;
        let (_, token) = paired_kiosk(&app, &f, 0).await;
        let day = punches(
            &app,
            &token,
            &maria.pin,
            &[
                ("in", &recent("2026-11-20T07:00:00Z")),
                ("out", &recent("2026-11-20T15:00:00Z")),
            ],
        )
        .await;
        let shift = day[0]["id"].clone();

        let (status, body) = edit(
            &app,
            &f,
            f.manager,
            &json!({
                "action": "correct", "shift_id": shift,
                "start": &recent("2026-11-20T06:30:00Z"), "end": &recent("2026-11-20T15:00:00Z"), "reason": "  ",
            }),
        )
        .await;
        assert_eq!(status, 422, "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("reason: "),
            "{body}"
        );

        let (status, corrected) = edit(
            &app,
            &f,
            f.manager,
            &json!({
                "action": "correct", "shift_id": shift,
                "start": &recent("2026-11-20T06:30:00Z"), "end": &recent("2026-11-20T15:00:00Z"),
                "reason": "Started early for the delivery.",
            }),
        )
        .await;
        assert_eq!(status, 201, "{corrected}");
        assert_eq!(corrected["action"], "correct");
        assert_eq!(corrected["before"]["start"], recent("2026-11-20T07:00:00Z"));
        assert_eq!(corrected["before"]["minutes"], 480);
        assert_eq!(corrected["after"]["start"], recent("2026-11-20T06:30:00Z"));
        assert_eq!(corrected["after"]["minutes"], 510);
        assert_eq!(corrected["editor_email"], "manager@cafe.test");
        assert_eq!(corrected["reason"], "Started early for the delivery.");

        let now = shifts_of(&app, &f, f.owner, &maria.id, &recent_day("2026-11-20"), &recent_day("2026-11-20")).await;
        assert_eq!(now["shifts"].as_array().unwrap().len(), 1);
        assert_eq!(now["shifts"][0]["minutes"], 510);
        assert_eq!(now["shifts"][0]["edited"], true);
        assert_ne!(now["shifts"][0]["id"], shift);
        assert_eq!(count(&app, "punches").await, 4, "the kiosk's punches stay");
        assert_eq!(count(&app, "punch_voids").await, 2);

        let (status, _) = edit(
            &app,
            &f,
            f.owner,
            &json!({
                "action": "delete", "shift_id": shift, "reason": "Again",
            }),
        )
        .await;
        assert_eq!(status, 404, "a replaced shift can't be edited again");

        let add = |start: &str, end: &str| {
            json!({"action": "add", "employee_id": maria.id, "location_id": f.locations[0],
                   "start": start, "end": end, "reason": "Tablet was down."})
        };
        let (status, body) = edit(
            &app,
            &f,
            f.owner,
            &add(&recent("2026-11-20T05:00:00Z"), &recent("2026-11-20T07:00:00Z")),
        )
        .await;
        assert_eq!(status, 409, "{body}");
        let (status, body) = edit(
            &app,
            &f,
            f.owner,
            &add(&recent("2026-11-19T05:00:00Z"), &recent("2026-11-19T18:00:00Z")),
        )
        .await;
        assert_eq!(status, 422, "longer than the cap: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("cap of 12 h"),
            "{body}"
        );
        let (status, added) = edit(
            &app,
            &f,
            f.owner,
            &add(&recent("2026-11-19T07:00:00Z"), &recent("2026-11-19T15:00:00Z")),
        )
        .await;
        assert_eq!(status, 201, "{added}");
        assert_eq!(added["before"], Value::Null);
        let thursday = shifts_of(&app, &f, f.owner, &maria.id, &recent_day("2026-11-19"), &recent_day("2026-11-19")).await;
        let added_shift = thursday["shifts"][0]["id"].clone();
        let (status, deleted) = edit(
            &app,
            &f,
            f.admin,
            &json!({
                "action": "delete", "shift_id": added_shift, "reason": "She was on holiday.",
            }),
        )
        .await;
        assert_eq!(status, 201, "{deleted}");
        assert_eq!(deleted["after"], Value::Null);
        assert_eq!(deleted["before"]["minutes"], 480);
        let thursday = shifts_of(&app, &f, f.owner, &maria.id, &recent_day("2026-11-19"), &recent_day("2026-11-19")).await;
        assert_eq!(thursday["shifts"], json!([]));

        let owner = app.client_for(f.owner).await;
        let feed = app
            .get_json(&owner, &format!("/api/v1/t/{}/shift-edits", f.slug))
            .await;
        let actions: Vec<&str> = feed
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap())
            .collect();
        assert_eq!(actions, ["delete", "add", "correct"], "newest first");
        assert_eq!(feed[0]["reason"], "She was on holiday.");
        assert_eq!(feed[0]["employee_name"], "Maria");
        assert_eq!(
            count(&app, "time_log").await,
            2 + 3 + 3 + 1,
            "each punch, each edit and each punch an edit added is logged"
        );
    })
    .await;
}

backend_test!(staff_see_their_own_records_and_request_corrections_they_cannot_make);
async fn staff_see_their_own_records_and_request_corrections_they_cannot_make(backend: Backend) {
    run_on(backend, |app| async move {
        let f = TenantFixture::create(&app.db, "cafe").await;
        let maria = hire_linked(&app, &f, "Maria", 0, Some(f.staff_membership)).await;
        let jon = hire(&app, &f, "Jon", 0).await;
        let (_, token) = paired_kiosk(&app, &f, 0).await;
        let day = punches(&app, &token, &maria.pin, &[
            ("in", &recent("2026-11-20T07:00:00Z")),
            ("out", &recent("2026-11-20T15:00:00Z")),
        ])
        .await;
        let own = shifts_of(&app, &f, f.staff, &maria.id, &recent_day("2026-11-20"), &recent_day("2026-11-20")).await;
        assert_eq!(own["shifts"].as_array().unwrap().len(), 1);
        let staff = app.client_for(f.staff).await;
        let others = staff
            .get(app.url(&format!("/api/v1/t/{}/employees/{}/shifts", f.slug, jon.id)))
            .send()
            .await
            .unwrap();
        assert_eq!(others.status(), 403);

        let request = |employee: &str, body: Value| {
            let (staff, path) = (staff.clone(), format!("/api/v1/t/{}/employees/{employee}/correction-requests", f.slug));
            let app = app.clone();
            async move {
                let response = app.post_json(&staff, &path, &body).await;
                (response.status().as_u16(), response.json::<Value>().await.unwrap())
            }
        };
        let (status, wrong_shift) = request(&maria.id, json!({"shift_id": day[0]["id"], "message": "I started at 07:30."})).await;
        assert_eq!(status, 201, "{wrong_shift}");
        assert_eq!((wrong_shift["status"].as_str(), wrong_shift["day"].as_str()), (Some("open"), Some(recent_day("2026-11-20").as_str())));
        let (status, missing) = request(&maria.id, json!({"day": recent_day("2026-11-19"), "message": "The tablet was off all day."})).await;
        assert_eq!(status, 201, "{missing}");
        assert_eq!(request(&maria.id, json!({"message": "Something"})).await.0, 422, "which day?");
        assert_eq!(request(&jon.id, json!({"day": recent_day("2026-11-19"), "message": "Not mine"})).await.0, 403);

        let manager = app.client_for(f.manager).await;
        let queue = app.get_json(&manager, &format!("/api/v1/t/{}/review?from={}&to={}", f.slug, recent_day("2026-11-19"), recent_day("2026-11-20"))).await;
        assert_eq!(queue["correction_requests"].as_array().unwrap().len(), 2);
        let mine = app.get_json(&staff, &format!("/api/v1/t/{}/correction-requests", f.slug)).await;
        assert_eq!(mine.as_array().unwrap().len(), 2, "staff see their own requests");

        let answer = json!({
            "action": "correct", "shift_id": day[0]["id"], "start": &recent("2026-11-20T06:30:00Z"),
            "end": &recent("2026-11-20T15:00:00Z"), "reason": "As Maria asked.", "correction_request_id": wrong_shift["id"],
        });
        let (status, body) = edit(&app, &f, f.manager, &answer).await;
        assert_eq!(status, 201, "{body}");
        let (status, _) = edit(&app, &f, f.manager, &json!({
            "action": "add", "employee_id": maria.id, "location_id": f.locations[0], "start": &recent("2026-11-19T07:00:00Z"),
            "end": &recent("2026-11-19T15:00:00Z"), "reason": "Twice", "correction_request_id": wrong_shift["id"],
        }))
        .await;
        assert_eq!(status, 422, "a resolved request can't be answered again");

        let dismiss = format!("/api/v1/t/{}/correction-requests/{}/dismiss", f.slug, missing["id"].as_str().unwrap());
        let refused = app.post_json(&staff, &dismiss, &json!({"note": "Mine"})).await;
        assert_eq!(refused.status(), 403);
        let dismissed = app.post_json(&manager, &dismiss, &json!({"note": "The rota says you were off."})).await;
        assert_eq!(dismissed.status(), 200);
        let dismissed: Value = dismissed.json().await.unwrap();
        assert_eq!(dismissed["status"], "dismissed");
        assert_eq!(dismissed["closing_note"], "The rota says you were off.");
        let again = app.post_json(&manager, &dismiss, &json!({"note": "Again"})).await;
        assert_eq!(again.status(), 409);

        let answered = app.get_json(&staff, &format!("/api/v1/t/{}/correction-requests", f.slug)).await;
        let statuses: Vec<&str> = answered.as_array().unwrap().iter().map(|r| r["status"].as_str().unwrap()).collect();
        assert_eq!(statuses, ["dismissed", "resolved"]);
        let open = app.get_json(&manager, &format!("/api/v1/t/{}/correction-requests?status=open", f.slug)).await;
        assert_eq!(open, json!([]));
    })
    .await;
}

backend_test!(managers_edit_shifts_only_at_their_locations);
async fn managers_edit_shifts_only_at_their_locations(backend: Backend) {
    run_on(backend, |app| async move {
        let f = TenantFixture::create(&app.db, "cafe").await;
        // The manager is granted the first location only.
        let elsewhere = hire(&app, &f, "Jon", 1).await;
        let here = hire(&app, &f, "Maria", 0).await;
        let (_, token) = paired_kiosk(&app, &f, 1).await;
        let day = punches(
            &app,
            &token,
            &elsewhere.pin,
            &[
                ("in", &recent("2026-11-20T07:00:00Z")),
                ("out", &recent("2026-11-20T15:00:00Z")),
            ],
        )
        .await;
        let correct = json!({
            "action": "correct", "shift_id": day[0]["id"], "start": &recent("2026-11-20T06:00:00Z"),
            "end": &recent("2026-11-20T15:00:00Z"), "reason": "Not mine to change.",
        });
        assert_eq!(
            edit(&app, &f, f.manager, &correct).await.0,
            404,
            "not a shift they see"
        );
        let add_elsewhere = json!({
            "action": "add", "employee_id": here.id, "location_id": f.locations[1],
            "start": &recent("2026-11-19T07:00:00Z"), "end": &recent("2026-11-19T15:00:00Z"), "reason": "Covering.",
        });
        let (status, body) = edit(&app, &f, f.manager, &add_elsewhere).await;
        assert_eq!(status, 422, "not a location they manage: {body}");
        assert_eq!(
            edit(&app, &f, f.owner, &correct).await.0,
            201,
            "the owner may"
        );
        assert_eq!(count(&app, "shift_edits").await, 1);
    })
    .await;
}

backend_test!(an_edit_made_while_impersonating_names_the_super_admin);
/// An edit made by a super-admin acting as the owner names the
/// super-admin as its editor, not the owner.
async fn an_edit_made_while_impersonating_names_the_super_admin(backend: Backend) {
    run_on(backend, |app| async move {
        let f = TenantFixture::create(&app.db, "cafe").await;
        let maria = hire(&app, &f, "Maria", 0).await;
        let (_, token) = paired_kiosk(&app, &f, 0).await;
        let day = punches(&app, &token, &maria.pin, &[
            ("in", &recent("2026-11-20T07:00:00Z")),
            ("out", &recent("2026-11-20T15:00:00Z")),
        ])
        .await;
        let (admin, csrf) = crate::admin::impersonate(&app, &f).await;
        let edited = admin
            .post(app.url(&format!("/api/v1/t/{}/shift-edits", f.slug)))
            .header(app::http::csrf::HEADER, csrf)
            .json(&json!({
                "action": "delete", "shift_id": day[0]["id"], "reason": "Asked by the owner on the phone.",
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(edited.status(), 201);
        let edit: Value = edited.json().await.unwrap();
        assert_eq!(edit["editor_email"], "ops@example.test");
    })
    .await;
}
