//! This module sells by the active employee: a per-seat subscription's
//! quantity follows hires and departures, coalesced (a burst of 500 hires
//! makes one change in Stripe) and retried through a Stripe outage.
//! Against the Stripe mock, on both databases.

use app::db::Backend;
use serde_json::json;

use crate::billing::free_tenant;
use crate::jobs_and_mail::make_jobs_due;
use crate::stripe_billing::{subscribed, with_stripe};
use crate::support::{TestApp, backend_test};

/// Hires one employee in the tenant `slug`, as its owner `client`, at
/// its first location (made if it has none): one more seat.
pub fn add_seat<'a>(
    app: &'a TestApp,
    owner: &'a reqwest::Client,
    slug: &'a str,
) -> crate::modules::SeatAdded<'a> {
    Box::pin(async move {
        let listed = app
            .get_json(owner, &format!("/api/v1/t/{slug}/locations"))
            .await;
        let location = match listed[0]["id"].as_str() {
            Some(id) => id.to_owned(),
            None => {
                let made: serde_json::Value = app
                    .post_json(
                        owner,
                        &format!("/api/v1/t/{slug}/locations"),
                        &json!({"name": "Main", "time_zone": "UTC"}),
                    )
                    .await
                    .json()
                    .await
                    .expect("JSON");
                made["id"].as_str().expect("an id").to_owned()
            }
        };
        let n = &uuid::Uuid::now_v7().simple().to_string()[20..];
        let hired = app
            .post_json(
                owner,
                &format!("/api/v1/t/{slug}/employees"),
                &json!({
                    "name": "One More", "employee_number": format!("E-{n}"),
                    "hire_date": "2026-01-05", "weekly_minutes": 2400,
                    "location_ids": [location],
                }),
            )
            .await;
        let status = hired.status();
        assert_eq!(status, 201, "an employee hired: {}", hired.text().await.unwrap_or_default());
    })
}

backend_test!(a_burst_of_500_hires_changes_the_billed_quantity_once);
async fn a_burst_of_500_hires_changes_the_billed_quantity_once(backend: Backend) {
    with_stripe(backend, &[], |app, stripe| async move {
        let f = free_tenant(&app).await;
        let tenant = f.id.to_string();
        subscribed(&app, &stripe, &tenant).await;
        let owner = app.client_for(f.owner).await;
        let hire = |n: usize| {
            let (owner, url) = (owner.clone(), app.url("/api/v1/t/alpha/employees"));
            let location = f.locations[0];
            async move {
                let hired = owner
                    .post(url)
                    .json(&json!({
                        "name": format!("Staff {n}"), "employee_number": format!("E-{n}"),
                        "hire_date": "2026-01-05", "weekly_minutes": 2400,
                        "location_ids": [location],
                    }))
                    .send()
                    .await
                    .expect("POST");
                assert_eq!(hired.status(), 201);
                let body: serde_json::Value = hired.json().await.expect("JSON");
                body["employee"]["id"].as_str().expect("an id").to_owned()
            }
        };
        let mut hired = Vec::new();
        for batch in (0..500).collect::<Vec<_>>().chunks(10) {
            hired.extend(futures_util::future::join_all(batch.iter().map(|n| hire(*n))).await);
        }
        let updates = || stripe.requests_to("POST /v1/subscriptions/sub_1").len();
        let calls = || stripe.requests().len();
        let before = calls();
        app.run_jobs().await;
        assert_eq!(calls(), before, "gathered for a minute first");
        make_jobs_due(&app).await;
        app.run_jobs().await;
        assert_eq!(updates(), 1, "500 hires, one change in Stripe");
        assert_eq!(calls() - before, 2, "and one reading of it, for its item");
        let billed = stripe.subscription("sub_1").expect("sub_1");
        assert_eq!(billed.quantity, 500);
        let request = &stripe.requests_to("POST /v1/subscriptions/sub_1")[0];
        assert_eq!(request.field("items[0][id]"), Some("si_sub_1"));
        assert!(request.idempotency_key.is_some(), "{request:?}");

        // One leaves, while Stripe is down: retried until it is back.
        let left = owner
            .patch(app.url(&format!("/api/v1/t/alpha/employees/{}", hired[0])))
            .json(&json!({"active": false}))
            .send()
            .await
            .expect("PATCH");
        assert_eq!(left.status(), 200);
        stripe.set_failing(true);
        make_jobs_due(&app).await;
        app.run_jobs().await;
        assert_eq!(stripe.subscription("sub_1").expect("sub_1").quantity, 500);
        stripe.set_failing(false);
        make_jobs_due(&app).await;
        app.run_jobs().await;
        assert_eq!(stripe.subscription("sub_1").expect("sub_1").quantity, 499);
        assert_eq!(
            crate::stripe_billing::pending_jobs(&app, "billing_seats").await,
            0
        );
    })
    .await;
}
