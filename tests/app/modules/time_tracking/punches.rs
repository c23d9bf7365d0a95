//! Employees and PINs, kiosk pairing, and punches recorded exactly once.

use app::db::Backend;
use std::collections::HashSet;

use serde_json::{Value, json};

use super::{hire, paired_kiosk, punch, recent, send};
use crate::accounts::count;
use crate::fixtures::TenantFixture;
use crate::support::{TestApp, backend_test, run_on};

backend_test!(one_client_id_sent_ten_times_in_a_row_and_ten_at_once_is_one_punch);
async fn one_client_id_sent_ten_times_in_a_row_and_ten_at_once_is_one_punch(backend: Backend) {
    run_on(backend, |app| async move {
        let f = TenantFixture::create(&app.db, "cafe").await;
        let maria = hire(&app, &f, "Maria", 0).await;
        let (_, token) = paired_kiosk(&app, &f, 0).await;
        let body = punch(&maria.pin, "in", &recent("2026-11-20T08:02:00+01:00"));
        let first = send(&app, &token, &body).await;
        assert_eq!(first.0, 201, "{first:?}");
        assert_eq!(
            first.1["message"], "Clocked in 08:02 — Maria",
            "on the location's clock (Madrid)"
        );
        for _ in 0..9 {
            assert_eq!(send(&app, &token, &body).await, first);
        }
        let concurrent = punch(&maria.pin, "out", &recent("2026-11-20T16:00:00Z"));
        let answers = send_concurrently(&app, &token, &concurrent, 10).await;
        assert!(answers.iter().all(|a| *a == answers[0]), "{answers:?}");
        assert_eq!(answers[0].0, 201);
        assert_eq!(count(&app, "punches").await, 2);
        assert_eq!(
            count(&app, "time_log").await,
            2,
            "one log entry per recorded punch"
        );
    })
    .await;
}

async fn send_concurrently(
    app: &TestApp,
    token: &str,
    body: &Value,
    n: usize,
) -> Vec<(u16, Value)> {
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..n {
        let (app, token, body) = (app.clone(), token.to_owned(), body.clone());
        tasks.spawn(async move { send(&app, &token, &body).await });
    }
    let mut answers = Vec::new();
    while let Some(answer) = tasks.join_next().await {
        answers.push(answer.unwrap());
    }
    answers
}

backend_test!(refusals_are_stored_answers_and_a_batch_is_never_refused_whole);
async fn refusals_are_stored_answers_and_a_batch_is_never_refused_whole(backend: Backend) {
    run_on(backend, |app| async move {
        let f = TenantFixture::create(&app.db, "cafe").await;
        let maria = hire(&app, &f, "Maria", 0).await;
        let (_, token) = paired_kiosk(&app, &f, 0).await;
        let wrong = if maria.pin == "0000" { "0001" } else { "0000" };
        let unknown = punch(wrong, "in", &recent("2026-11-20T08:00:00Z"));
        let answer = send(&app, &token, &unknown).await;
        assert_eq!(answer.0, 422);
        assert_eq!(answer.1["error"]["code"], "unknown_pin");
        assert_eq!(send(&app, &token, &unknown).await, answer, "a replay answers the same");

        let ahead = (time::OffsetDateTime::now_utc() + time::Duration::hours(1))
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
        let future = send(&app, &token, &punch(&maria.pin, "in", &ahead)).await;
        assert_eq!(future.0, 422);
        assert_eq!(future.1["error"]["code"], "clock_ahead");

        let good = punch(&maria.pin, "in", &recent("2026-11-20T08:01:00Z"));
        let batch = json!({"punches": [
            good,
            {"client_id": uuid::Uuid::now_v7(), "pin": maria.pin, "kind": "sideways", "at": &recent("2026-11-20T08:02:00Z")},
            punch(wrong, "out", &recent("2026-11-20T08:03:00Z")),
            unknown,
        ]});
        let response = app
            .client
            .post(app.url("/api/v1/kiosk/punches/batch"))
            .bearer_auth(&token)
            .json(&batch)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let results: Value = response.json().await.unwrap();
        let statuses: Vec<u64> = results["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["status"].as_u64().unwrap())
            .collect();
        assert_eq!(statuses, [201, 422, 422, 422]);
        assert_eq!(results["results"][0]["punch"]["client_id"], good["client_id"]);
        assert_eq!(results["results"][1]["error"]["code"], "invalid");
        assert_eq!(results["results"][3]["error"]["code"], "unknown_pin");
        assert_eq!(count(&app, "time_log").await, 1, "only recorded punches are logged");
    })
    .await;
}

backend_test!(a_punch_older_than_fourteen_days_is_refused_and_kept_for_review);
/// A kiosk can't record a punch far in the past: past the offline queue's
/// 14 days it is refused (`too_old`), on both endpoints and on every
/// replay, and kept with its employee for a manager on Review.
async fn a_punch_older_than_fourteen_days_is_refused_and_kept_for_review(backend: Backend) {
    run_on(backend, |app| async move {
        let f = TenantFixture::create(&app.db, "cafe").await;
        let maria = hire(&app, &f, "Maria", 0).await;
        let (_, token) = paired_kiosk(&app, &f, 0).await;
        let days_ago = |days: i64| {
            (time::OffsetDateTime::now_utc() - time::Duration::days(days))
                .replace_nanosecond(0)
                .unwrap()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap()
        };
        let old = punch(&maria.pin, "in", &days_ago(15));
        let refused = send(&app, &token, &old).await;
        assert_eq!(refused.0, 422, "{refused:?}");
        assert_eq!(refused.1["error"]["code"], "too_old");
        let message = refused.1["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("Maria") && message.contains("more than 14 days old"),
            "{message}"
        );
        assert_eq!(
            send(&app, &token, &old).await,
            refused,
            "a replay answers the same"
        );
        let wrong = if maria.pin == "0000" { "0001" } else { "0000" };
        let guess = send(&app, &token, &punch(wrong, "in", &days_ago(15))).await;
        assert_eq!(
            guess.1["error"]["code"], "unknown_pin",
            "no employee, nothing to keep"
        );

        let inside = send(&app, &token, &punch(&maria.pin, "out", &days_ago(13))).await;
        assert_eq!(inside.0, 201, "13 days old is recorded: {inside:?}");
        let queued = json!({"punches": [
            punch(&maria.pin, "out", &days_ago(40)),
            punch(&maria.pin, "in", &days_ago(1)),
        ]});
        let response = app
            .client
            .post(app.url("/api/v1/kiosk/punches/batch"))
            .bearer_auth(&token)
            .json(&queued)
            .send()
            .await
            .unwrap();
        let results: Value = response.json().await.unwrap();
        let answers: Vec<(u64, &str)> = results["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["status"].as_u64().unwrap(),
                    r["error"]["code"].as_str().unwrap_or(""),
                )
            })
            .collect();
        assert_eq!(answers, [(422, "too_old"), (201, "")]);
        assert_eq!(
            count(&app, "time_log").await,
            2,
            "only the recorded punches"
        );

        // Kept for the manager: in the review queue of the day they
        // arrived, with the employee and the punch's own time.
        let manager = app.client_for(f.manager).await;
        let review = app
            .get_json(&manager, &format!("/api/v1/t/{}/review", f.slug))
            .await;
        let kept = review["too_old_punches"].as_array().unwrap();
        let kept: Vec<(&str, &str)> = kept
            .iter()
            .map(|p| {
                assert_eq!(p["employee_id"], maria.id);
                (p["kind"].as_str().unwrap(), p["at"].as_str().unwrap())
            })
            .collect();
        assert_eq!(
            kept,
            [
                ("in", old["at"].as_str().unwrap()),
                ("out", queued["punches"][0]["at"].as_str().unwrap())
            ]
        );
        let (_, review) = app.page(&manager, &format!("/t/{}/time/review", f.slug)).await;
        let section = review
            .split("Punches too old to record")
            .nth(1)
            .expect("the section");
        assert!(
            section.contains("Maria") && section.contains("Clock-out"),
            "{section}"
        );
    })
    .await;
}

backend_test!(wrong_pins_on_the_single_endpoint_are_limited_per_device);
async fn wrong_pins_on_the_single_endpoint_are_limited_per_device(backend: Backend) {
    run_on(backend, |app| async move {
        let f = TenantFixture::create(&app.db, "cafe").await;
        let maria = hire(&app, &f, "Maria", 0).await;
        let (_, token) = paired_kiosk(&app, &f, 0).await;
        let (_, other_token) = paired_kiosk(&app, &f, 0).await;
        let wrong = if maria.pin == "0000" { "0001" } else { "0000" };
        let mut statuses = HashSet::new();
        for _ in 0..12 {
            statuses.insert(
                send(
                    &app,
                    &token,
                    &punch(wrong, "in", &recent("2026-11-20T08:00:00Z")),
                )
                .await
                .0,
            );
        }
        assert_eq!(statuses, HashSet::from([422, 429]));
        let limited = send(
            &app,
            &token,
            &punch(&maria.pin, "in", &recent("2026-11-20T08:00:00Z")),
        )
        .await;
        assert_eq!(
            limited.0, 429,
            "even a right PIN waits: guessing must not pay"
        );
        let other = send(
            &app,
            &other_token,
            &punch(&maria.pin, "in", &recent("2026-11-20T08:00:00Z")),
        )
        .await;
        assert_eq!(other.0, 201, "another device is not limited");
    })
    .await;
}

backend_test!(wrong_pins_in_a_batch_are_limited_as_on_the_single_endpoint);
/// The batch endpoint counts and refuses wrong PINs exactly as the single
/// one does: a batch of guesses gets ten checked, and the punches past the
/// limit (a right PIN's too) are refused with 429, not recorded, for the
/// kiosk to send again; before, a batch of 500 walked through 500 PINs.
async fn wrong_pins_in_a_batch_are_limited_as_on_the_single_endpoint(backend: Backend) {
    run_on(backend, |app| async move {
        let f = TenantFixture::create(&app.db, "cafe").await;
        let maria = hire(&app, &f, "Maria", 0).await;
        let (_, token) = paired_kiosk(&app, &f, 0).await;
        let guesses: Vec<String> = (0..10_000)
            .map(|n| format!("{n:04}"))
            .filter(|pin| *pin != maria.pin)
            .take(30)
            .collect();
        let mut punches: Vec<Value> = guesses
            .iter()
            .map(|pin| punch(pin, "in", &recent("2026-11-20T08:00:00Z")))
            .collect();
        let right = punch(&maria.pin, "in", &recent("2026-11-20T08:05:00Z"));
        punches.push(right.clone());
        let response = app
            .client
            .post(app.url("/api/v1/kiosk/punches/batch"))
            .bearer_auth(&token)
            .json(&json!({ "punches": punches }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "never refused whole");
        let results: Value = response.json().await.unwrap();
        let statuses: Vec<u64> = results["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["status"].as_u64().unwrap())
            .collect();
        assert_eq!(&statuses[..10], &[422; 10], "ten wrong PINs are checked");
        assert!(
            statuses[10..].iter().all(|status| *status == 429),
            "the rest wait, the right PIN's too: {statuses:?}"
        );
        assert_eq!(results["results"][30]["error"]["code"], "rate_limited");
        assert_eq!(
            count(&app, "time_log").await,
            0,
            "nothing past the limit was recorded"
        );
        // The single endpoint sees the same count.
        assert_eq!(send(&app, &token, &right).await.0, 429);
    })
    .await;
}

backend_test!(guessing_pairing_codes_is_limited_per_address);
/// Guessing pairing codes from one address: a burst, then 429.
async fn guessing_pairing_codes_is_limited_per_address(backend: Backend) {
    run_on(backend, |app| async move {
        let mut statuses = Vec::new();
        for n in 0..25 {
            let response = app
                .client
                .post(app.url("/api/v1/kiosk/pair"))
                .json(&json!({ "code": format!("guess-{n}") }))
                .send()
                .await
                .unwrap();
            statuses.push(response.status().as_u16());
        }
        assert_eq!(&statuses[..20], &[400; 20], "{statuses:?}");
        assert!(statuses[20..].contains(&429), "then 429: {statuses:?}");
    })
    .await;
}

backend_test!(a_device_punches_only_for_its_own_location_and_tenant);
async fn a_device_punches_only_for_its_own_location_and_tenant(backend: Backend) {
    run_on(backend, |app| async move {
        let a = TenantFixture::create(&app.db, "alpha").await;
        let b = TenantFixture::create(&app.db, "bravo").await;
        let at_first = hire(&app, &a, "Maria", 0).await;
        let at_second = hire(&app, &a, "Jon", 1).await;
        let in_b = hire(&app, &b, "Ana", 0).await;
        let (device, token) = paired_kiosk(&app, &a, 0).await;
        let at = &recent("2026-11-20T08:00:00Z");
        assert_eq!(
            send(&app, &token, &punch(&at_first.pin, "in", at)).await.0,
            201
        );
        for pin in [&at_second.pin, &in_b.pin] {
            if *pin == at_first.pin {
                continue;
            }
            let (status, body) = send(&app, &token, &punch(pin, "in", at)).await;
            assert_eq!(
                (status, body["error"]["code"].clone()),
                (422, json!("unknown_pin"))
            );
        }
        assert_eq!(count(&app, "time_log").await, 1);

        let owner = app.client_for(a.owner).await;
        let revoked = owner
            .post(app.url(&format!("/api/v1/t/{}/kiosks/{device}/revoke", a.slug)))
            .send()
            .await
            .unwrap();
        assert_eq!(revoked.status(), 200);
        let after = send(&app, &token, &punch(&at_first.pin, "out", at)).await;
        assert_eq!(
            (after.0, after.1["error"]["code"].clone()),
            (401, json!("invalid_device_token"))
        );
        let forged = token.replace(
            &a.id.as_uuid().simple().to_string(),
            &b.id.as_uuid().simple().to_string(),
        );
        assert_eq!(
            send(&app, &forged, &punch(&in_b.pin, "in", at)).await.0,
            401
        );
    })
    .await;
}

backend_test!(pins_are_four_digits_unique_at_a_location_and_reissued_on_request);
async fn pins_are_four_digits_unique_at_a_location_and_reissued_on_request(backend: Backend) {
    run_on(backend, |app| async move {
        let f = TenantFixture::create(&app.db, "cafe").await;
        let mut pins = HashSet::new();
        for n in 0..12 {
            let hired = hire(&app, &f, &format!("P{n}"), 0).await;
            assert!(hired.pin.len() == 4 && hired.pin.bytes().all(|b| b.is_ascii_digit()));
            assert!(
                pins.insert(hired.pin),
                "unique among the location's employees"
            );
        }
        let maria = hire(&app, &f, "Maria", 0).await;
        let owner = app.client_for(f.owner).await;
        let reissued: Value = owner
            .post(app.url(&format!("/api/v1/t/{}/employees/{}/pin", f.slug, maria.id)))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let new_pin = reissued["pin"].as_str().unwrap();
        let (_, token) = paired_kiosk(&app, &f, 0).await;
        if new_pin != maria.pin {
            let old = send(
                &app,
                &token,
                &punch(&maria.pin, "in", &recent("2026-11-20T08:00:00Z")),
            )
            .await;
            assert_eq!(old.0, 422, "the old PIN stopped working");
        }
        assert_eq!(
            send(
                &app,
                &token,
                &punch(new_pin, "in", &recent("2026-11-20T08:00:00Z"))
            )
            .await
            .0,
            201
        );
        let stored: Vec<String> = app::on_backend!(&app.db, |pool| sqlx::query_scalar(
            "SELECT pin_digest FROM employee_locations WHERE pin_digest IS NOT NULL"
        )
        .fetch_all(pool)
        .await
        .unwrap());
        assert!(
            stored.iter().all(|d| d.len() == 64 && !pins.contains(d)),
            "only keyed hashes are stored"
        );

        let staff = app.client_for(f.staff).await;
        let refused = staff
            .get(app.url(&format!("/api/v1/t/{}/employees", f.slug)))
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 403);
    })
    .await;
}
