//! Plans and entitlements: the Free plan's limits, enforced on the server
//! (even for requests racing for the last place), and what lifts them: an
//! active or trialing subscription, a past-due one within its grace period,
//! a comp. On both databases.

use app::db::Backend;
use serde_json::{Value, json};

use crate::fixtures::TenantFixture;
use crate::support::{TestApp, backend_test, csrf_field, run_on};

pub async fn add_location(app: &TestApp, client: &reqwest::Client, name: &str) -> reqwest::Response {
    let body = json!({"name": name, "time_zone": "UTC"});
    app.post_json(client, "/api/v1/t/alpha/locations", &body)
        .await
}

/// The fixture tenant, on the Free plan.
pub async fn free_tenant(app: &TestApp) -> TenantFixture {
    let tenant = TenantFixture::create(&app.db, "alpha").await;
    app.execute("UPDATE tenants SET comped = false").await;
    app.execute(&format!("DELETE FROM invoices WHERE tenant_id = '{}'", tenant.id))
        .await;
    tenant
}

pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// A mistake in src/plans.rs fails here, before the app refuses to start.
#[test]
fn the_plans_in_src_plans_rs_can_be_sold() {
    let plans = app::catalog().expect("src/plans.rs");
    assert!(plans.plans().len() > 1, "a free plan and something to sell");
}

backend_test!(the_free_plan_limits_locations_and_members_with_a_way_to_upgrade);
async fn the_free_plan_limits_locations_and_members_with_a_way_to_upgrade(backend: Backend) {
    run_on(backend, |app| async move {
        let a = free_tenant(&app).await;
        let owner = app.client_for(a.owner).await;
        let status = app.get_json(&owner, "/api/v1/t/alpha/billing").await;
        assert_eq!(status["entitlement"]["plan"], "free");
        let limits = &status["entitlement"]["limits"];
        assert_eq!((&limits["locations"], &limits["members"]), (&json!(2), &json!(5)));
        let usage = &status["usage"];
        assert_eq!(
            usage["locations"],
            json!({"quota": "locations", "noun": "active locations", "used": 2, "limit": 2})
        );
        assert_eq!(
            (&usage["members"]["used"], &usage["members"]["limit"]),
            (&json!(5), &json!(5)),
            "4 members and 1 invitation"
        );

        let refused = add_location(&app, &owner, "Third").await;
        assert_eq!(refused.status(), 403);
        let body: Value = refused.json().await.unwrap();
        assert_eq!(body["error"]["code"], "plan_limit");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("/t/alpha/billing"),
            "{body}"
        );
        let page = owner
            .get(app.url("/t/alpha/locations"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let token = csrf_field(&page);
        let form = app
            .post_form(
                &owner,
                "/t/alpha/locations",
                &[
                    ("csrf_token", &token),
                    ("name", "Third"),
                    ("time_zone", "UTC"),
                ],
            )
            .await;
        assert_eq!(form.status(), 403, "the page is refused the same way");
        assert!(form.text().await.unwrap().contains("Upgrade at /t/alpha/billing"));

        let invited = app
            .post_json(
                &owner,
                "/api/v1/t/alpha/invitations",
                &json!({"email": "sixth@example.com", "role": "staff"}),
            )
            .await;
        assert_eq!(
            invited.status(),
            403,
            "five members, counting the pending invitation"
        );

        // Archiving one makes room again.
        let locations = app.get_json(&owner, "/api/v1/t/alpha/locations").await;
        let first = locations[0]["id"].as_str().unwrap();
        let archived = owner
            .post(app.url(&format!("/api/v1/t/alpha/locations/{first}/archive")))
            .send()
            .await
            .unwrap();
        assert_eq!(archived.status(), 200);
        assert_eq!(add_location(&app, &owner, "Third").await.status(), 201);
    })
    .await;
}

backend_test!(two_requests_racing_for_the_last_place_get_one_of_it);
async fn two_requests_racing_for_the_last_place_get_one_of_it(backend: Backend) {
    run_on(backend, |app| async move {
        let a = free_tenant(&app).await;
        let owner = app.client_for(a.owner).await;
        app.execute("UPDATE locations SET archived_at = created_at WHERE name = 'alpha Harbour'")
            .await;
        let (a, b) = tokio::join!(
            add_location(&app, &owner, "Racer A"),
            add_location(&app, &owner, "Racer B")
        );
        let mut statuses = [a.status().as_u16(), b.status().as_u16()];
        statuses.sort_unstable();
        assert_eq!(statuses, [201, 403], "one place, one winner");
    })
    .await;
}

backend_test!(pro_lifts_the_limits_while_subscribed_in_grace_or_comped);
async fn pro_lifts_the_limits_while_subscribed_in_grace_or_comped(backend: Backend) {
    run_on(backend, |app| async move {
        let a = free_tenant(&app).await;
        let owner = app.client_for(a.owner).await;
        let plan = |app: TestApp, owner: reqwest::Client| async move {
            app.get_json(&owner, "/api/v1/t/alpha/billing").await["entitlement"].clone()
        };
        let day = 86_400;
        for (state, expected_plan, overdue) in [
            ("subscription_status = 'active', subscription_plan = 'starter'".to_owned(), "starter", false),
            ("subscription_status = 'trialing', subscription_plan = 'pro'".to_owned(), "pro", false),
            (format!("subscription_status = 'past_due', subscription_plan = 'pro', past_due_since = {}", now() - 2 * day), "pro", true),
            (format!("subscription_status = 'past_due', subscription_plan = 'pro', past_due_since = {}", now() - 8 * day), "free", false),
            ("subscription_status = 'canceled', subscription_plan = 'pro'".to_owned(), "free", false),
            // A comp grants the top plan, whatever the subscription says.
            ("subscription_status = 'canceled', comped = true".to_owned(), "business", false),
            (format!("comped = true, comped_until = {}", now() - 1), "free", false),
        ] {
            app.execute(
                "UPDATE tenants SET subscription_status = NULL, past_due_since = NULL, comped = false, comped_until = NULL WHERE slug = 'alpha'",
            )
            .await;
            app.execute(&format!("UPDATE tenants SET {state} WHERE slug = 'alpha'")).await;
            let entitlement = plan(app.clone(), owner.clone()).await;
            assert_eq!(entitlement["plan"], expected_plan, "{state}");
            assert_eq!(entitlement["payment_overdue"], overdue, "{state}");
        }
        app.execute("UPDATE tenants SET comped = true, comped_until = NULL WHERE slug = 'alpha'").await;
        assert_eq!(add_location(&app, &owner, "Third").await.status(), 201, "no limit on the top plan");
        let page = app.page(&owner, "/t/alpha/billing").await.1;
        assert!(page.contains("Business plan (complimentary)"), "{page}");
    })
    .await;
}

backend_test!(the_billing_page_is_the_owners_and_explains_how_to_configure_stripe);
async fn the_billing_page_is_the_owners_and_explains_how_to_configure_stripe(backend: Backend) {
    run_on(backend, |app| async move {
        let a = free_tenant(&app).await;
        let owner = app.client_for(a.owner).await;
        let (status, html) = app.page(&owner, "/t/alpha/billing").await;
        assert_eq!(status, 200);
        assert!(html.contains("Free plan") && html.contains("2 of 2"));
        assert!(
            html.contains("stripe listen --forward-to"),
            "how to set Stripe up"
        );
        let admin = app.client_for(a.admin).await;
        assert_eq!(
            admin
                .get(app.url("/t/alpha/billing"))
                .send()
                .await
                .unwrap()
                .status(),
            403
        );
    })
    .await;
}

backend_test!(at_the_limit_a_field_error_still_comes_first);
async fn at_the_limit_a_field_error_still_comes_first(backend: Backend) {
    run_on(backend, |app| async move {
        let a = free_tenant(&app).await;
        let owner = app.client_for(a.owner).await;
        let again = app
            .post_json(
                &owner,
                "/api/v1/t/alpha/invitations",
                &json!({"email": "invited@alpha.test", "role": "staff"}),
            )
            .await;
        assert_eq!(again.status(), 422, "already invited, whatever the plan");
    })
    .await;
}

backend_test!(a_failed_payment_shows_a_banner_on_every_tenant_page_during_the_grace_period);
async fn a_failed_payment_shows_a_banner_on_every_tenant_page_during_the_grace_period(
    backend: Backend,
) {
    run_on(backend, |app| async move {
        let a = free_tenant(&app).await;
        let since = now() - 86_400;
        app.execute(&format!(
            "UPDATE tenants SET subscription_status = 'past_due', past_due_since = {since}"
        ))
        .await;
        let owner = app.client_for(a.owner).await;
        let page = owner
            .get(app.url("/t/alpha/locations"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            page.contains("The last payment for alpha Ltd failed")
                && page.contains("Update the payment method")
        );
        let staff = app.client_for(a.staff).await;
        let page = staff
            .get(app.url("/t/alpha/locations"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            page.contains("Ask an owner"),
            "who can't pay is told who can"
        );
        app.execute("UPDATE tenants SET subscription_status = 'active', past_due_since = NULL")
            .await;
        let page = owner
            .get(app.url("/t/alpha/locations"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(!page.contains("The last payment"), "paid: no banner");
    })
    .await;
}
