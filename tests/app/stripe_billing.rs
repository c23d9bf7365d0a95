//! Subscribing through Stripe, against the mock server: Checkout, the
//! Customer Portal, and webhooks (signed with Stripe's algorithm) as the only
//! source of the subscription's state: redelivered, out of order,
//! concurrent, failing. On both databases.

use app::db::Backend;
use std::sync::Arc;

use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use crate::accounts::{PASSWORD, count};
use crate::billing::{free_tenant, now};
use crate::fixtures::TenantFixture;
use crate::stripe_mock::{self, MockStripe, PRICE_MONTHLY, Subscription, WEBHOOK_SECRET};
use crate::support::{
    Options, TestApp, backend_test, client_with, csrf_field, new_client, run_on_with,
};

/// Runs `body` on `backend` with the app pointed at a fresh mock (plus
/// `vars`), selling the mock's prices by `STRIPE_PRICES`.
pub async fn with_stripe<F, Fut>(backend: Backend, vars: &[(&'static str, &str)], body: F)
where
    F: FnOnce(TestApp, MockStripe) -> Fut,
    Fut: Future<Output = ()>,
{
    run_with_mock(backend, vars, true, body).await;
}

/// As [`with_stripe`], without `STRIPE_PRICES`: the app finds each price
/// by its lookup key (once `stripe-sync` made them), as a founder's does.
pub async fn with_stripe_by_lookup_key<F, Fut>(
    backend: Backend,
    vars: &[(&'static str, &str)],
    body: F,
)
where
    F: FnOnce(TestApp, MockStripe) -> Fut,
    Fut: Future<Output = ()>,
{
    run_with_mock(backend, vars, false, body).await;
}

async fn run_with_mock<F, Fut>(
    backend: Backend,
    vars: &[(&'static str, &str)],
    overrides: bool,
    body: F,
) where
    F: FnOnce(TestApp, MockStripe) -> Fut,
    Fut: Future<Output = ()>,
{
    let stripe = MockStripe::start().await;
    let extra: Vec<(&'static str, String)> =
        vars.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
    run_on_with(
        backend,
        || {
            let mut all = stripe.vars();
            all.retain(|(name, _)| overrides || *name != "STRIPE_PRICES");
            all.extend(extra.iter().cloned());
            Options {
                vars: all,
                ..Options::default()
            }
        },
        |app| {
            stripe.reset();
            body(app, stripe.clone())
        },
    )
    .await;
}

/// Delivers `payload` to the webhook as Stripe does, signed now, and runs
/// the jobs it queued, as the app's workers would: what the event changes
/// is in place when this returns.
pub async fn deliver(app: &TestApp, payload: &str) -> reqwest::Response {
    let response = post_event(app, payload).await;
    app.run_jobs().await;
    response
}

/// Posts `payload` to the webhook as Stripe does, signed now; runs nothing.
pub async fn post_event(app: &TestApp, payload: &str) -> reqwest::Response {
    deliver_signed(
        app,
        payload,
        &stripe_mock::sign(payload, WEBHOOK_SECRET, now()),
    )
    .await
}

pub async fn deliver_signed(app: &TestApp, payload: &str, signature: &str) -> reqwest::Response {
    new_client()
        .post(app.url("/webhooks/stripe"))
        .header("stripe-signature", signature)
        .header("content-type", "application/json")
        .body(payload.to_owned())
        .send()
        .await
        .expect("POST /webhooks/stripe")
}

pub fn subscription_event(
    id: &str,
    kind: &str,
    subscription: &str,
    status: &str,
    tenant: &str,
) -> String {
    stripe_mock::event(
        id,
        kind,
        json!({"id": subscription, "object": "subscription", "status": status,
               "customer": "cus_test_1", "metadata": {"tenant_id": tenant}}),
    )
}

/// `tenant` subscribes: Stripe has `sub_1` active, and its `created`
/// event arrives.
pub async fn subscribed(app: &TestApp, stripe: &MockStripe, tenant: &str) {
    stripe.set_subscription("sub_1", active(tenant));
    let created = subscription_event(
        "evt_subscribed",
        "customer.subscription.created",
        "sub_1",
        "active",
        tenant,
    );
    assert_eq!(deliver(app, &created).await.status(), 200);
}

pub fn active(tenant: &str) -> Subscription {
    Subscription {
        customer: "cus_test_1".to_owned(),
        status: "active".to_owned(),
        tenant: tenant.to_owned(),
        price: PRICE_MONTHLY.to_owned(),
        period_end: now() + 30 * 86_400,
        cancel_at_period_end: false,
        created: now(),
        lookup_key: None,
        quantity: 1,
    }
}

pub fn with_status(subscription: Subscription, status: &str) -> Subscription {
    Subscription {
        status: status.to_owned(),
        ..subscription
    }
}

pub async fn billing(app: &TestApp, client: &reqwest::Client) -> Value {
    app.get_json(client, "/api/v1/t/alpha/billing").await
}

backend_test!(signup_checkout_webhooks_make_the_tenant_pro_and_open_the_portal);
async fn signup_checkout_webhooks_make_the_tenant_pro_and_open_the_portal(backend: Backend) {
    with_stripe(backend, &[], |app, stripe| async move {
        let jar = Arc::new(reqwest::cookie::Jar::default());
        let signup: Value = client_with(jar.clone(), HeaderMap::new())
            .post(app.url("/api/v1/signup"))
            .json(
                &json!({"email": "ana@example.com", "password": PASSWORD, "organisation": "Alpha"}),
            )
            .send()
            .await
            .expect("signup")
            .json()
            .await
            .expect("JSON");
        let tenant = signup["tenant"]["id"]
            .as_str()
            .expect("a tenant id")
            .to_owned();
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-csrf-token",
            signup["csrf_token"]
                .as_str()
                .expect("a token")
                .parse()
                .expect("a header"),
        );
        let owner = client_with(jar, headers);
        assert_eq!(billing(&app, &owner).await["entitlement"]["plan"], "free");

        let response = app
            .post_json(
                &owner,
                "/api/v1/t/alpha/billing/checkout",
                &json!({"plan": "pro", "interval": "monthly"}),
            )
            .await;
        assert_eq!(response.status(), 201);
        let session: Value = response.json().await.expect("JSON");
        assert_eq!(
            session["url"],
            "https://checkout.stripe.test/c/pay/cs_test_1"
        );
        let created = stripe.requests_to("POST /v1/checkout/sessions");
        let [request] = created.as_slice() else {
            panic!("one Checkout Session: {created:?}")
        };
        assert_eq!(request.field("client_reference_id"), Some(tenant.as_str()));
        assert_eq!(
            request.field("subscription_data[metadata][tenant_id]"),
            Some(tenant.as_str())
        );
        assert_eq!(request.field("mode"), Some("subscription"));
        assert_eq!(request.field("line_items[0][price]"), Some(PRICE_MONTHLY));
        assert_eq!(
            request.field("line_items[0][quantity]"),
            Some("1"),
            "Pro is sold by the seat: one, at signup"
        );
        assert_eq!(request.field("customer_email"), Some("ana@example.com"));
        assert_eq!(request.field("allow_promotion_codes"), None, "off unless set");
        assert!(
            request
                .field("success_url")
                .is_some_and(|url| url.ends_with("/t/alpha/billing/success")),
            "{request:?}"
        );
        assert!(request.field("cancel_url").is_some(), "{request:?}");
        assert!(
            request
                .idempotency_key
                .as_deref()
                .is_some_and(|key| key.contains(&tenant)),
            "an idempotency key: {request:?}"
        );

        let waiting = owner
            .get(app.url("/t/alpha/billing/success"))
            .send()
            .await
            .expect("GET")
            .text()
            .await
            .expect("body");
        assert!(
            waiting.contains("Activating"),
            "the redirect grants nothing"
        );
        assert!(waiting.contains(r#"http-equiv="refresh""#), "and waits");
        assert_eq!(billing(&app, &owner).await["entitlement"]["plan"], "free");

        stripe.complete_checkout("cs_test_1", "cus_test_1", "sub_test_1");
        stripe.set_subscription("sub_test_1", active(&tenant));
        let completed = stripe_mock::event(
            "evt_checkout",
            "checkout.session.completed",
            json!({"id": "cs_test_1", "object": "checkout.session", "client_reference_id": tenant,
                   "customer": "cus_test_1", "subscription": "sub_test_1", "metadata": {}}),
        );
        assert_eq!(deliver(&app, &completed).await.status(), 200);
        let created = subscription_event(
            "evt_created",
            "customer.subscription.created",
            "sub_test_1",
            "active",
            &tenant,
        );
        assert_eq!(deliver(&app, &created).await.status(), 200);

        let status = billing(&app, &owner).await;
        assert_eq!(status["entitlement"]["plan"], "pro", "{status}");
        assert_eq!(status["subscription_status"], "active");
        assert!(status["current_period_end"].is_string(), "{status}");
        let done = owner
            .get(app.url("/t/alpha/billing/success"))
            .send()
            .await
            .expect("GET")
            .text()
            .await
            .expect("body");
        assert!(done.contains("You are on Pro"), "{done}");
        let page = owner
            .get(app.url("/t/alpha/billing"))
            .send()
            .await
            .expect("GET")
            .text()
            .await
            .expect("body");
        assert!(
            page.contains("Manage billing") && page.contains("Renews on"),
            "{page}"
        );

        let portal = app
            .post_json(&owner, "/api/v1/t/alpha/billing/portal", &json!({}))
            .await;
        assert_eq!(portal.status(), 201);
        let portal: Value = portal.json().await.expect("JSON");
        assert_eq!(
            portal["url"],
            "https://billing.stripe.test/p/session/cus_test_1"
        );
        let opened = stripe.requests_to("POST /v1/billing_portal/sessions");
        assert_eq!(opened[0].field("customer"), Some("cus_test_1"));
        assert!(
            opened[0]
                .field("return_url")
                .is_some_and(|url| url.ends_with("/t/alpha/billing")),
            "{opened:?}"
        );
        let again = app
            .post_json(&owner, "/api/v1/t/alpha/billing/checkout", &json!({}))
            .await;
        assert_eq!(
            again.status(),
            409,
            "subscribed: the portal, not a second checkout"
        );
    })
    .await;
}

backend_test!(the_checkout_and_portal_buttons_redirect_to_stripe_for_owners_only);
async fn the_checkout_and_portal_buttons_redirect_to_stripe_for_owners_only(backend: Backend) {
    with_stripe(
        backend,
        &[
            ("STRIPE_AUTOMATIC_TAX", "true"),
            ("STRIPE_PROMOTION_CODES", "true"),
        ],
        |app, stripe| async move {
            let a = free_tenant(&app).await;
            let owner = app.client_for(a.owner).await;
            let page = owner
                .get(app.url("/t/alpha/billing"))
                .send()
                .await
                .expect("GET")
                .text()
                .await
                .expect("body");
            assert!(
                page.contains("Upgrade to Pro, monthly") && page.contains("Upgrade to Pro, yearly"),
                "{page}"
            );
            assert!(
                page.contains("Upgrade to Starter, yearly")
                    && page.contains("Upgrade to Business, monthly"),
                "every priced plan: {page}"
            );
            let token = csrf_field(&page);
            let redirect = app
                .post_form(
                    &owner,
                    "/t/alpha/billing/checkout",
                    &[("csrf_token", &token), ("plan", "pro"), ("interval", "yearly")],
                )
                .await;
            assert_eq!(redirect.status(), 303);
            assert_eq!(
                redirect.headers()["location"],
                "https://checkout.stripe.test/c/pay/cs_test_1"
            );
            let request = &stripe.requests_to("POST /v1/checkout/sessions")[0];
            assert_eq!(
                request.field("line_items[0][price]"),
                Some(stripe_mock::PRICE_YEARLY)
            );
            assert_eq!(
                request.field("automatic_tax[enabled]"),
                Some("true"),
                "Stripe Tax on"
            );
            assert_eq!(
                request.field("billing_address_collection"),
                Some("required")
            );
            assert_eq!(
                request.field("subscription_data[trial_period_days]"),
                Some("14"),
                "the plan's trial"
            );
            assert_eq!(request.field("allow_promotion_codes"), Some("true"));

            let no_customer = app
                .post_json(&owner, "/api/v1/t/alpha/billing/portal", &json!({}))
                .await;
            assert_eq!(
                no_customer.status(),
                409,
                "nothing to manage before a checkout"
            );

            for user in [a.admin, a.manager, a.staff] {
                let member = app.client_for(user).await;
                let refused = app
                    .post_json(&member, "/api/v1/t/alpha/billing/checkout", &json!({}))
                    .await;
                assert_eq!(refused.status(), 403);
                let refused = app
                    .post_json(&member, "/api/v1/t/alpha/billing/portal", &json!({}))
                    .await;
                assert_eq!(refused.status(), 403);
            }
            assert_eq!(stripe.requests_to("POST /v1/checkout/sessions").len(), 1);

            let bad = app
                .post_json(
                    &owner,
                    "/api/v1/t/alpha/billing/checkout",
                    &json!({"interval": "weekly"}),
                )
                .await;
            assert_eq!(
                bad.status(),
                422,
                "an unknown interval is refused, not a 500"
            );

            stripe.set_failing(true);
            let failed = app
                .post_json(&owner, "/api/v1/t/alpha/billing/checkout", &json!({}))
                .await;
            assert_eq!(failed.status(), 502, "Stripe's failure is named");
            let body: Value = failed.json().await.expect("JSON");
            assert_eq!(body["error"]["code"], "payment_provider");
        },
    )
    .await;
}

backend_test!(one_event_delivered_ten_times_and_twice_at_once_applies_once);
async fn one_event_delivered_ten_times_and_twice_at_once_applies_once(backend: Backend) {
    with_stripe(backend, &[], |app, stripe| async move {
        let a = free_tenant(&app).await;
        let tenant = a.id.to_string();
        stripe.set_subscription("sub_1", active(&tenant));
        let event = subscription_event(
            "evt_once",
            "customer.subscription.created",
            "sub_1",
            "active",
            &tenant,
        );
        let (first, second) = tokio::join!(deliver(&app, &event), deliver(&app, &event));
        assert_eq!(
            (first.status(), second.status()),
            (reqwest::StatusCode::OK, reqwest::StatusCode::OK)
        );
        // Stripe changes; a redelivery of the old event must not look again.
        stripe.set_subscription("sub_1", with_status(active(&tenant), "past_due"));
        for _ in 0..10 {
            assert_eq!(deliver(&app, &event).await.status(), 200);
        }
        assert_eq!(
            stripe.requests_to("GET /v1/subscriptions/sub_1").len(),
            1,
            "applied once"
        );
        assert_eq!(count(&app, "stripe_events").await, 1);
        let owner = app.client_for(a.owner).await;
        assert_eq!(billing(&app, &owner).await["subscription_status"], "active");
    })
    .await;
}

backend_test!(events_out_of_order_or_racing_end_in_stripes_current_state);
async fn events_out_of_order_or_racing_end_in_stripes_current_state(backend: Backend) {
    with_stripe(backend, &[], |app, stripe| async move {
        let a = free_tenant(&app).await;
        let tenant = a.id.to_string();
        let owner = app.client_for(a.owner).await;
        stripe.set_subscription("sub_1", active(&tenant));
        let updated = subscription_event(
            "evt_updated",
            "customer.subscription.updated",
            "sub_1",
            "active",
            &tenant,
        );
        let created = subscription_event(
            "evt_created",
            "customer.subscription.created",
            "sub_1",
            "incomplete",
            &tenant,
        );
        assert_eq!(deliver(&app, &updated).await.status(), 200);
        assert_eq!(
            deliver(&app, &created).await.status(),
            200,
            "the older event, late"
        );
        assert_eq!(billing(&app, &owner).await["subscription_status"], "active");

        // The same pair at once, on a second subscription's tenant.
        let b = TenantFixture::create(&app.db, "beta").await;
        app.execute("UPDATE tenants SET comped = false").await;
        let b_tenant = b.id.to_string();
        stripe.set_subscription(
            "sub_2",
            Subscription {
                customer: "cus_test_2".to_owned(),
                ..active(&b_tenant)
            },
        );
        let created = subscription_event(
            "evt_created_2",
            "customer.subscription.created",
            "sub_2",
            "incomplete",
            &b_tenant,
        );
        let updated = subscription_event(
            "evt_updated_2",
            "customer.subscription.updated",
            "sub_2",
            "active",
            &b_tenant,
        );
        let (one, two) = tokio::join!(deliver(&app, &created), deliver(&app, &updated));
        assert_eq!(
            (one.status(), two.status()),
            (reqwest::StatusCode::OK, reqwest::StatusCode::OK)
        );
        let b_owner = app.client_for(b.owner).await;
        let status = app.get_json(&b_owner, "/api/v1/t/beta/billing").await;
        assert_eq!(
            status["subscription_status"], "active",
            "an incomplete never overwrites active"
        );
        assert_eq!(status["entitlement"]["plan"], "pro");
        assert_eq!(
            billing(&app, &owner).await["subscription_status"],
            "active",
            "alpha untouched"
        );
    })
    .await;
}

backend_test!(a_failed_payment_shows_the_banner_until_an_invoice_is_paid);
async fn a_failed_payment_shows_the_banner_until_an_invoice_is_paid(backend: Backend) {
    with_stripe(backend, &[], |app, stripe| async move {
        let a = free_tenant(&app).await;
        let tenant = a.id.to_string();
        let owner = app.client_for(a.owner).await;
        subscribed(&app, &stripe, &tenant).await;

        stripe.set_subscription("sub_1", with_status(active(&tenant), "past_due"));
        // An invoice in a current API version names its subscription under
        // parent; the tenant is found through the customer.
        let failed = stripe_mock::event(
            "evt_2",
            "invoice.payment_failed",
            json!({"id": "in_1", "object": "invoice", "customer": "cus_test_1",
                   "parent": {"type": "subscription_details", "subscription_details": {"subscription": "sub_1", "metadata": {}}}}),
        );
        assert_eq!(deliver(&app, &failed).await.status(), 200);
        let status = billing(&app, &owner).await;
        assert_eq!(status["subscription_status"], "past_due");
        assert_eq!(status["entitlement"]["plan"], "pro", "in the grace period");
        assert_eq!(status["entitlement"]["payment_overdue"], true);
        let page = app.page(&owner, "/t/alpha/locations").await.1;
        assert!(page.contains("The last payment for"), "the banner");
        assert!(page.contains(r#"action="/t/alpha/billing/portal""#), "with the way to the portal");

        stripe.set_subscription("sub_1", active(&tenant));
        // An invoice in an older API version names it directly.
        let paid = stripe_mock::event(
            "evt_3",
            "invoice.paid",
            json!({"id": "in_2", "object": "invoice", "customer": "cus_test_1", "subscription": "sub_1"}),
        );
        assert_eq!(deliver(&app, &paid).await.status(), 200);
        let status = billing(&app, &owner).await;
        assert_eq!(status["subscription_status"], "active");
        assert_eq!(status["entitlement"]["payment_overdue"], false);
        let page = app.page(&owner, "/t/alpha/locations").await.1;
        assert!(!page.contains("The last payment for"), "no banner");
    })
    .await;
}

backend_test!(a_deleted_subscription_returns_to_free_keeping_the_data_but_not_a_comp);
async fn a_deleted_subscription_returns_to_free_keeping_the_data_but_not_a_comp(backend: Backend) {
    with_stripe(backend, &[], |app, stripe| async move {
        let a = free_tenant(&app).await;
        let tenant = a.id.to_string();
        let owner = app.client_for(a.owner).await;
        subscribed(&app, &stripe, &tenant).await;
        for name in ["Third", "Fourth"] {
            let added = app
                .post_json(
                    &owner,
                    "/api/v1/t/alpha/locations",
                    &json!({"name": name, "time_zone": "UTC"}),
                )
                .await;
            assert_eq!(added.status(), 201, "Pro has room");
        }

        stripe.set_subscription("sub_1", with_status(active(&tenant), "canceled"));
        let deleted = subscription_event(
            "evt_2",
            "customer.subscription.deleted",
            "sub_1",
            "canceled",
            &tenant,
        );
        assert_eq!(deliver(&app, &deleted).await.status(), 200);
        let status = billing(&app, &owner).await;
        assert_eq!(status["entitlement"]["plan"], "free");
        assert_eq!(status["usage"]["locations"]["used"], 4, "nothing is deleted");
        let refused = app
            .post_json(
                &owner,
                "/api/v1/t/alpha/locations",
                &json!({"name": "Fifth", "time_zone": "UTC"}),
            )
            .await;
        assert_eq!(refused.status(), 403, "but Free's limit is back");
        let page = app.page(&owner, "/t/alpha/billing").await.1;
        assert!(
            page.contains("Over the Free plan's limit: 4 active locations, where it allows 2"),
            "a banner says what is over: {page}"
        );

        // A comp is the operator's: a later deletion leaves it.
        app.execute("UPDATE tenants SET comped = true, comp_reason = 'partner'")
            .await;
        let again = subscription_event(
            "evt_3",
            "customer.subscription.deleted",
            "sub_1",
            "canceled",
            &tenant,
        );
        assert_eq!(deliver(&app, &again).await.status(), 200);
        let status = billing(&app, &owner).await;
        assert_eq!(status["entitlement"]["plan"], "business", "a comp's");
        assert_eq!(status["entitlement"]["comped"], true);
    })
    .await;
}

backend_test!(bad_signatures_stale_timestamps_and_malformed_bodies_are_400_and_write_nothing);
async fn bad_signatures_stale_timestamps_and_malformed_bodies_are_400_and_write_nothing(
    backend: Backend,
) {
    with_stripe(backend, &[], |app, stripe| async move {
        let a = free_tenant(&app).await;
        let tenant = a.id.to_string();
        stripe.set_subscription("sub_1", active(&tenant));
        let event = subscription_event(
            "evt_1",
            "customer.subscription.created",
            "sub_1",
            "active",
            &tenant,
        );
        let cases = [
            (
                "a wrong secret",
                event.clone(),
                stripe_mock::sign(&event, "whsec_other", now()),
            ),
            (
                "a stale timestamp",
                event.clone(),
                stripe_mock::sign(&event, WEBHOOK_SECRET, now() - 310),
            ),
            (
                "a future timestamp",
                event.clone(),
                stripe_mock::sign(&event, WEBHOOK_SECRET, now() + 310),
            ),
            (
                "a timestamp as far off as a signed header can say",
                event.clone(),
                stripe_mock::sign(&event, WEBHOOK_SECRET, i64::MAX),
            ),
            ("no signature", event.clone(), String::new()),
            ("a garbled header", event.clone(), "v1=zz,t=soon".to_owned()),
            (
                "a body changed after signing",
                event.replace("active", "paused"),
                stripe_mock::sign(&event, WEBHOOK_SECRET, now()),
            ),
            (
                "a malformed body",
                "{not json".to_owned(),
                stripe_mock::sign("{not json", WEBHOOK_SECRET, now()),
            ),
            (
                "a body that isn't an event",
                r#"{"hello": "world"}"#.to_owned(),
                stripe_mock::sign(r#"{"hello": "world"}"#, WEBHOOK_SECRET, now()),
            ),
        ];
        for (case, payload, signature) in cases {
            let response = deliver_signed(&app, &payload, &signature).await;
            assert_eq!(response.status(), 400, "{case}");
        }
        assert_eq!(count(&app, "stripe_events").await, 0);
        assert!(stripe.requests().is_empty(), "Stripe was never asked");
        let owner = app.client_for(a.owner).await;
        assert_eq!(billing(&app, &owner).await["entitlement"]["plan"], "free");

        let ignored = stripe_mock::event(
            "evt_x",
            "customer.created",
            json!({"id": "cus_9", "object": "customer"}),
        );
        assert_eq!(
            deliver(&app, &ignored).await.status(),
            200,
            "an event type it doesn't handle"
        );
        assert_eq!(count(&app, "stripe_events").await, 0);
    })
    .await;
}

backend_test!(an_event_stripe_fails_to_answer_for_is_kept_and_retried_until_it_applies);
async fn an_event_stripe_fails_to_answer_for_is_kept_and_retried_until_it_applies(
    backend: Backend,
) {
    with_stripe(backend, &[], |app, stripe| async move {
        let a = free_tenant(&app).await;
        let tenant = a.id.to_string();
        stripe.set_subscription("sub_1", active(&tenant));
        let event = subscription_event(
            "evt_1",
            "customer.subscription.created",
            "sub_1",
            "active",
            &tenant,
        );
        stripe.set_failing(true);
        assert_eq!(
            deliver(&app, &event).await.status(),
            200,
            "received: the inbox doesn't wait for Stripe"
        );
        assert_eq!(
            pending_jobs(&app, "stripe_event").await,
            1,
            "its job failed and waits to retry"
        );
        let owner = app.client_for(a.owner).await;
        assert_eq!(billing(&app, &owner).await["entitlement"]["plan"], "free");

        // Stripe's redelivery runs the waiting job at once.
        stripe.set_failing(false);
        let again = deliver(&app, &event).await;
        assert_eq!(again.status(), 200);
        assert_eq!(again.text().await.expect("body"), "already received");
        assert_eq!(billing(&app, &owner).await["entitlement"]["plan"], "pro");
        assert_eq!(pending_jobs(&app, "stripe_event").await, 0);
        assert_eq!(count(&app, "stripe_events").await, 1);
    })
    .await;
}

/// The jobs of `kind` still in the queue (waiting, running or failed; not
/// dead).
pub async fn pending_jobs(app: &TestApp, kind: &str) -> usize {
    let jobs = crate::jobs_and_mail::job_state(app, kind).await;
    jobs.iter().filter(|(.., dead)| !dead).count()
}

backend_test!(without_stripe_keys_the_app_runs_and_says_what_to_configure);
async fn without_stripe_keys_the_app_runs_and_says_what_to_configure(backend: Backend) {
    crate::support::run_on(backend, |app| async move {
        let a = free_tenant(&app).await;
        let owner = app.client_for(a.owner).await;
        let refused = app
            .post_json(&owner, "/api/v1/t/alpha/billing/checkout", &json!({}))
            .await;
        assert_eq!(refused.status(), 503);
        let body: Value = refused.json().await.expect("JSON");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("STRIPE_SECRET_KEY"),
            "{body}"
        );
        let webhook = deliver(&app, "{}").await;
        assert_eq!(webhook.status(), 503, "nothing to verify with");
    })
    .await;
}

backend_test!(a_subscriptions_plan_is_the_one_its_price_is_of);
/// The plan follows the subscription's price: an override in
/// STRIPE_PRICES, else its lookup key (`<plan>_<interval>`); a price of no
/// plan keeps the paying tenant on the top plan.
async fn a_subscriptions_plan_is_the_one_its_price_is_of(backend: Backend) {
    with_stripe(backend, &[], |app, stripe| async move {
        let a = free_tenant(&app).await;
        let tenant = a.id.to_string();
        let owner = app.client_for(a.owner).await;
        let mut n = 0;
        let mut on = |price: &str, lookup_key: Option<&str>| {
            n += 1;
            stripe.set_subscription(
                "sub_1",
                Subscription {
                    price: price.to_owned(),
                    lookup_key: lookup_key.map(str::to_owned),
                    ..active(&tenant)
                },
            );
            subscription_event(
                &format!("evt_{n}"),
                "customer.subscription.updated",
                "sub_1",
                "active",
                &tenant,
            )
        };
        deliver(&app, &on(stripe_mock::PRICE_STARTER_MONTHLY, None)).await;
        let earns: (Option<i64>, Option<String>) = app::on_backend!(&app.db, |pool| {
            sqlx::query_as(
                "SELECT subscription_monthly_amount, subscription_currency FROM tenants \
                 WHERE slug = 'alpha'",
            )
            .fetch_one(pool)
            .await
            .expect("read")
        });
        assert_eq!(earns, (Some(2900), Some("eur".to_owned())), "its price a month");
        let status = billing(&app, &owner).await;
        assert_eq!(status["entitlement"]["plan"], "starter", "{status}");
        assert_eq!(status["entitlement"]["limits"]["locations"], 5);
        assert!(status["entitlement"]["limits"]["members"].is_null(), "no limit");

        deliver(&app, &on("price_made_by_stripe_sync", Some("pro_yearly"))).await;
        assert_eq!(billing(&app, &owner).await["entitlement"]["plan"], "pro");

        deliver(&app, &on("price_made_by_hand", None)).await;
        assert_eq!(
            billing(&app, &owner).await["entitlement"]["plan"],
            "business",
            "a paying customer is never cut off"
        );
    })
    .await;
}

backend_test!(the_pricing_page_leads_through_signup_to_the_chosen_plans_checkout);
/// `/pricing` shows the plans of src/plans.rs, monthly or yearly; a paid
/// plan's button opens the signup form with the plan, which the signup
/// carries to the billing page's checkout.
async fn the_pricing_page_leads_through_signup_to_the_chosen_plans_checkout(backend: Backend) {
    with_stripe(backend, &[], |app, stripe| async move {
        let visitor = new_client();
        let landing = app.page(&visitor, "/").await.1;
        assert!(landing.contains(r#"href="/pricing""#), "the landing page links it");
        let (status, monthly) = app.page(&visitor, "/pricing").await;
        assert_eq!(status, 200);
        for shown in [
            "Free", "Starter", "Pro", "Business", "€7", "€499", "Up to 2 active locations",
            "Unlimited active locations", "14-day free trial",
            r#"href="/signup?plan=pro&#38;interval=monthly""#,
        ] {
            assert!(monthly.contains(shown), "{shown}: {monthly}");
        }
        let yearly = app.page(&visitor, "/pricing?interval=yearly").await.1;
        assert!(yearly.contains("€70") && yearly.contains("a year"), "{yearly}");
        assert!(yearly.contains(r#"href="/signup?plan=pro&#38;interval=yearly""#));
        let bad = app.page(&visitor, "/pricing?interval=weekly").await.0;
        assert!((400..500).contains(&bad), "a bad interval is the visitor's: {bad}");

        let form = visitor
            .get(app.url("/signup?plan=pro&interval=monthly"))
            .send()
            .await
            .expect("GET")
            .text()
            .await
            .expect("body");
        assert!(form.contains("You chose Pro, billed monthly"), "{form}");
        let token = csrf_field(&form);
        let signed_up = app
            .post_form(
                &visitor,
                "/signup",
                &[
                    ("csrf_token", token.as_str()),
                    ("email", "ana@example.com"),
                    ("password", PASSWORD),
                    ("organisation", "Alpha"),
                    ("time_zone", "UTC"),
                    ("plan", "pro"),
                    ("interval", "monthly"),
                ],
            )
            .await;
        assert_eq!(signed_up.status(), 303);
        let next = signed_up.headers()["location"].to_str().expect("a path").to_owned();
        assert_eq!(next, "/t/alpha/billing?plan=pro&interval=monthly");
        let billing_page = app.page(&visitor, &next).await.1;
        assert!(
            billing_page.contains("Continue to checkout: Pro, monthly"),
            "{billing_page}"
        );
        let redirect = app
            .post_form(
                &visitor,
                "/t/alpha/billing/checkout",
                &[
                    ("csrf_token", &csrf_field(&billing_page)),
                    ("plan", "pro"),
                    ("interval", "monthly"),
                ],
            )
            .await;
        assert_eq!(redirect.status(), 303);
        let request = &stripe.requests_to("POST /v1/checkout/sessions")[0];
        assert_eq!(request.field("line_items[0][price]"), Some(PRICE_MONTHLY));

        // A plan not on sale (free, or no such plan) is not carried: the
        // signup goes on as usual.
        let other = new_client();
        for chosen in ["plan=free&interval=monthly", "plan=enterprise"] {
            let form = app.page(&other, &format!("/signup?{chosen}")).await.1;
            assert!(!form.contains("You chose"), "{chosen}: {form}");
        }
    })
    .await;
}

backend_test!(a_per_seat_quantity_follows_the_members_when_they_are_the_seat);
/// Members are the seat unless a module sells by something else (the app
/// generated without the product module): invitations and departures
/// change the billed quantity, a minute later, in one change. With a
/// module's seat, they change nothing in Stripe.
async fn a_per_seat_quantity_follows_the_members_when_they_are_the_seat(backend: Backend) {
    with_stripe(backend, &[], |app, stripe| async move {
        let a = free_tenant(&app).await;
        let tenant = a.id.to_string();
        subscribed(&app, &stripe, &tenant).await;
        let owner = app.client_for(a.owner).await;
        for email in ["one@example.com", "two@example.com"] {
            let invited = app
                .post_json(
                    &owner,
                    "/api/v1/t/alpha/invitations",
                    &json!({"email": email, "role": "admin"}),
                )
                .await;
            assert_eq!(invited.status(), 201);
        }
        let removed = owner
            .delete(app.url(&format!(
                "/api/v1/t/alpha/members/{}",
                a.staff_membership
            )))
            .send()
            .await
            .expect("DELETE");
        assert_eq!(removed.status(), 200);
        crate::jobs_and_mail::make_jobs_due(&app).await;
        app.run_jobs().await;
        let updates = stripe.requests_to("POST /v1/subscriptions/sub_1");
        let billed = stripe.subscription("sub_1").expect("sub_1").quantity;
        if app::catalog().expect("plans").seat().key == "members" {
            assert_eq!(billed, 6, "4 members and 1 invitation, 2 invited, 1 gone");
            assert_eq!(updates.len(), 1, "one change for the three");
        } else {
            assert!(updates.is_empty(), "a module's seat: {updates:?}");
        }
    })
    .await;
}
