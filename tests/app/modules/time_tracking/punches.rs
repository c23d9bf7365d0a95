//! Employees and PINs, kiosk pairing, and punches recorded exactly once.

use std::collections::HashSet;

use serde_json::{Value, json};

use super::{hire, paired_kiosk, punch, send};
use crate::accounts::count;
use crate::fixtures::TenantFixture;
use crate::support::{TestApp, each_backend};

#[tokio::test]
async fn one_client_id_sent_ten_times_in_a_row_and_ten_at_once_is_one_punch() {
    each_backend(|app| async move {
        let f = TenantFixture::create(&app.db, "cafe").await;
        let maria = hire(&app, &f, "Maria", 0).await;
        let (_, token) = paired_kiosk(&app, &f, 0).await;
        let body = punch(&maria.pin, "in", "2026-11-20T08:02:00+01:00");
        let first = send(&app, &token, &body).await;
        assert_eq!(first.0, 201, "{first:?}");
        assert_eq!(
            first.1["message"], "Clocked in 08:02 — Maria",
            "on the location's clock (Madrid)"
        );
        for _ in 0..9 {
            assert_eq!(send(&app, &token, &body).await, first);
        }
        let concurrent = punch(&maria.pin, "out", "2026-11-20T16:00:00Z");
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

#[tokio::test]
async fn refusals_are_stored_answers_and_a_batch_is_never_refused_whole() {
    each_backend(|app| async move {
        let f = TenantFixture::create(&app.db, "cafe").await;
        let maria = hire(&app, &f, "Maria", 0).await;
        let (_, token) = paired_kiosk(&app, &f, 0).await;
        let wrong = if maria.pin == "0000" { "0001" } else { "0000" };
        let unknown = punch(wrong, "in", "2026-11-20T08:00:00Z");
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

        let good = punch(&maria.pin, "in", "2026-11-20T08:01:00Z");
        let batch = json!({"punches": [
            good,
            {"client_id": uuid::Uuid::now_v7(), "pin": maria.pin, "kind": "sideways", "at": "2026-11-20T08:02:00Z"},
            punch(wrong, "out", "2026-11-20T08:03:00Z"),
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

#[tokio::test]
async fn wrong_pins_on_the_single_endpoint_are_limited_per_device() {
    each_backend(|app| async move {
        let f = TenantFixture::create(&app.db, "cafe").await;
        let maria = hire(&app, &f, "Maria", 0).await;
        let (_, token) = paired_kiosk(&app, &f, 0).await;
        let (_, other_token) = paired_kiosk(&app, &f, 0).await;
        let wrong = if maria.pin == "0000" { "0001" } else { "0000" };
        let mut statuses = HashSet::new();
        for _ in 0..12 {
            statuses.insert(
                send(&app, &token, &punch(wrong, "in", "2026-11-20T08:00:00Z"))
                    .await
                    .0,
            );
        }
        assert_eq!(statuses, HashSet::from([422, 429]));
        let limited = send(
            &app,
            &token,
            &punch(&maria.pin, "in", "2026-11-20T08:00:00Z"),
        )
        .await;
        assert_eq!(
            limited.0, 429,
            "even a right PIN waits: guessing must not pay"
        );
        let other = send(
            &app,
            &other_token,
            &punch(&maria.pin, "in", "2026-11-20T08:00:00Z"),
        )
        .await;
        assert_eq!(other.0, 201, "another device is not limited");
    })
    .await;
}

/// The batch endpoint counts and refuses wrong PINs exactly as the single
/// one does: a batch of guesses gets ten checked, and the punches past the
/// limit (a right PIN's too) are refused with 429, not recorded, for the
/// kiosk to send again; before, a batch of 500 walked through 500 PINs.
#[tokio::test]
async fn wrong_pins_in_a_batch_are_limited_as_on_the_single_endpoint() {
    each_backend(|app| async move {
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
            .map(|pin| punch(pin, "in", "2026-11-20T08:00:00Z"))
            .collect();
        let right = punch(&maria.pin, "in", "2026-11-20T08:05:00Z");
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

/// Guessing pairing codes from one address: a burst, then 429.
#[tokio::test]
async fn guessing_pairing_codes_is_limited_per_address() {
    each_backend(|app| async move {
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

#[tokio::test]
async fn a_device_punches_only_for_its_own_location_and_tenant() {
    each_backend(|app| async move {
        let a = TenantFixture::create(&app.db, "alpha").await;
        let b = TenantFixture::create(&app.db, "bravo").await;
        let at_first = hire(&app, &a, "Maria", 0).await;
        let at_second = hire(&app, &a, "Jon", 1).await;
        let in_b = hire(&app, &b, "Ana", 0).await;
        let (device, token) = paired_kiosk(&app, &a, 0).await;
        let at = "2026-11-20T08:00:00Z";
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

#[tokio::test]
async fn pins_are_four_digits_unique_at_a_location_and_reissued_on_request() {
    each_backend(|app| async move {
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
                &punch(&maria.pin, "in", "2026-11-20T08:00:00Z"),
            )
            .await;
            assert_eq!(old.0, 422, "the old PIN stopped working");
        }
        assert_eq!(
            send(&app, &token, &punch(new_pin, "in", "2026-11-20T08:00:00Z"))
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
