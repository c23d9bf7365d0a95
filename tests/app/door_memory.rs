//! The door's memory (PostgreSQL): a person's next request in a tenant asks
//! only whether the session, the tenant and the membership are unchanged,
//! and any change to one of them, made by anyone, shows on that very
//! request. SQLite remembers nothing (no round trip to save), nor does
//! Citus (a row's version there is its placement's): the same requests
//! give the same answers there.

use app::db::Backend;
use serde_json::Value;

use crate::billing::free_tenant;
use crate::support::{Options, TestApp, backend_test, run_on_with};

const METRICS_TOKEN: &str = "scrape-me";

/// `/metrics` on, and one connection: a miss's failed opening must leave
/// it usable for the full door that follows.
pub fn with_metrics() -> Options {
    Options {
        vars: vec![
            ("METRICS_TOKEN", METRICS_TOKEN.to_owned()),
            ("DATABASE_POOL_SIZE", "1".to_owned()),
        ],
        ..Options::default()
    }
}

/// Whether the door remembers on this test's backend: PostgreSQL, not on
/// a Citus coordinator.
async fn remembers(backend: Backend) -> bool {
    backend == Backend::Postgres && crate::citus::cluster().await.is_none()
}

/// `door_memory_total` by outcome: (unchanged, changed).
pub async fn remembered(app: &TestApp) -> (u64, u64) {
    let text = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("text");
    let count = |outcome: &str| {
        let label = format!("door_memory_total{{outcome=\"{outcome}\"}} ");
        text.lines()
            .find_map(|line| line.strip_prefix(&label))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no {label} in {text}"))
    };
    (count("unchanged"), count("changed"))
}

async fn billing(app: &TestApp, client: &reqwest::Client) -> (u16, Value) {
    let response = client
        .get(app.url("/api/v1/t/alpha/billing"))
        .send()
        .await
        .expect("GET billing");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

backend_test!(a_remembered_door_sees_every_change_to_its_rows_on_the_next_request);
async fn a_remembered_door_sees_every_change_to_its_rows_on_the_next_request(backend: Backend) {
    run_on_with(backend, with_metrics, |app| async move {
        let remembers = remembers(backend).await;
        let alpha = free_tenant(&app).await;
        let owner = app.client_for(alpha.owner).await;
        // The request after each step is served from the memory (counted
        // "unchanged") on PostgreSQL, where the step's own request found
        // its rows changed and read them again ("changed").
        let mut expected = (0, 0);
        let mut step = |changed: bool| {
            if remembers {
                expected.1 += u64::from(changed);
                expected.0 += 1;
            }
            expected
        };

        let (status, first) = billing(&app, &owner).await;
        assert_eq!(status, 200);
        assert_eq!(first["entitlement"]["plan"], "free");
        assert_eq!(billing(&app, &owner).await.1, first, "the same, remembered");
        assert_eq!(remembered(&app).await, step(false));

        // The tenant's row: a comp given by a super-admin on any instance.
        app.execute("UPDATE tenants SET comped = true WHERE slug = 'alpha'")
            .await;
        assert_eq!(billing(&app, &owner).await.1["entitlement"]["plan"], "business");
        assert_eq!(billing(&app, &owner).await.1["entitlement"]["plan"], "business");
        assert_eq!(remembered(&app).await, step(true));

        // The membership's row: the owner is now staff, who may not see
        // billing, then owner again.
        for (role, status) in [("staff", 403), ("owner", 200)] {
            app.execute(&format!(
                "UPDATE memberships SET role = '{role}' WHERE user_id = '{}'",
                alpha.owner
            ))
            .await;
            assert_eq!(billing(&app, &owner).await.0, status, "{role}");
            assert_eq!(billing(&app, &owner).await.0, status, "{role}");
            assert_eq!(remembered(&app).await, step(true));
        }

        // The session's row: expired by its idle lifetime.
        app.execute("UPDATE sessions SET expires_at = 1").await;
        assert_eq!(billing(&app, &owner).await.0, 401);
        let (unchanged, changed) = remembered(&app).await;
        assert_eq!(unchanged, expected.0, "nothing served from memory");
        if remembers {
            assert_eq!(changed, expected.1 + 1);
        }
    })
    .await;
}

backend_test!(a_remembered_member_removed_or_signed_out_is_refused_on_the_next_request);
async fn a_remembered_member_removed_or_signed_out_is_refused_on_the_next_request(
    backend: Backend,
) {
    run_on_with(backend, with_metrics, |app| async move {
        let alpha = free_tenant(&app).await;
        let staff = app.client_for(alpha.staff).await;
        let owner = app.client_for(alpha.owner).await;
        let locations = "/api/v1/t/alpha/locations";
        for client in [&staff, &owner] {
            for _ in 0..2 {
                let response = client.get(app.url(locations)).send().await.expect("GET");
                assert_eq!(response.status(), 200);
            }
        }
        let served = remembered(&app).await;
        let expected = if remembers(backend).await { (2, 0) } else { (0, 0) };
        assert_eq!(served, expected, "each one's second request remembered, where it is");

        // Removed through the app (another instance would do the same).
        let removed = owner
            .delete(app.url(&format!(
                "/api/v1/t/alpha/members/{}",
                alpha.staff_membership
            )))
            .send()
            .await
            .expect("DELETE");
        assert_eq!(removed.status(), 200);
        let response = staff.get(app.url(locations)).send().await.expect("GET");
        assert_eq!(response.status(), 404, "no longer a member");

        // The owner's session ended (a sign-out elsewhere deletes the row).
        app.execute(&format!(
            "DELETE FROM sessions WHERE user_id = '{}'",
            alpha.owner
        ))
        .await;
        let response = owner.get(app.url(locations)).send().await.expect("GET");
        assert_eq!(response.status(), 401, "signed out");
    })
    .await;
}
