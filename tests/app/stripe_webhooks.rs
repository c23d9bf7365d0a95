//! Stripe's webhooks as an inbox: the endpoint records and answers at once,
//! a job reads Stripe outside any transaction under the tenant's lease, and
//! "the tenant's subscription" is defined when there are several. Each case
//! here once left a tenant wrong or the database held; on both databases.

use std::time::Duration;

use app::db::Backend;
use serde_json::json;

use crate::accounts::{count, sign_up};
use crate::billing::{free_tenant, now};
use crate::fixtures::TenantFixture;
use crate::stripe_billing::{
    active, billing, deliver, pending_jobs, post_event, subscription_event, with_status,
    with_stripe,
};
use crate::stripe_mock::{self, Subscription};
use crate::support::{TestApp, backend_test, new_client};

/// The outcome the inbox kept for `event`, once processed.
async fn outcome(app: &TestApp, event: &str) -> Option<String> {
    app::on_backend!(&app.db, |pool| sqlx::query_scalar(
        "SELECT outcome FROM stripe_events WHERE id = $1"
    )
    .bind(event)
    .fetch_one(pool)
    .await
    .expect("the event is in the inbox"))
}

/// The invoices in a billing status: (id, status), in its order.
fn listed_invoices(status: &serde_json::Value) -> Vec<(String, String)> {
    status["invoices"]
        .as_array()
        .expect("invoices")
        .iter()
        .map(|i| (i["id"].as_str().unwrap_or("").to_owned(), i["status"].as_str().unwrap_or("").to_owned()))
        .collect()
}

/// An `invoice.*` event about `invoice`, of `sub_1`, naming `tenant` as
/// Stripe does: in its subscription's details, its own metadata empty.
fn invoice_event(id: &str, kind: &str, invoice: &str, tenant: &str) -> String {
    stripe_mock::event(
        id,
        kind,
        json!({"id": invoice, "object": "invoice", "customer": "cus_test_1",
               "metadata": {}, "parent": {"type": "subscription_details",
               "subscription_details": {"subscription": "sub_1", "metadata": {"tenant_id": tenant}}}}),
    )
}

backend_test!(a_paid_replacement_of_a_checkout_left_incomplete_is_the_tenants_in_any_order);
/// A first checkout's payment failed (its subscription stays `incomplete`);
/// the owner checks out again and pays. The paid one is the tenant's,
/// whichever subscription's events come first.
async fn a_paid_replacement_of_a_checkout_left_incomplete_is_the_tenants_in_any_order(
    backend: Backend,
) {
    with_stripe(backend, &[], |app, stripe| async move {
        let a = free_tenant(&app).await;
        let tenant = a.id.to_string();
        let owner = app.client_for(a.owner).await;
        let first = Subscription {
            created: now() - 120,
            ..with_status(active(&tenant), "incomplete")
        };
        stripe.set_subscription("sub_first", first.clone());
        let created = |event: &str, id: &str, status: &str| {
            subscription_event(event, "customer.subscription.created", id, status, &tenant)
        };
        deliver(&app, &created("evt_1", "sub_first", "incomplete")).await;
        assert_eq!(billing(&app, &owner).await["subscription_status"], "incomplete");
        let retry = app
            .post_json(&owner, "/api/v1/t/alpha/billing/checkout", &json!({}))
            .await;
        assert_eq!(retry.status(), 201, "an incomplete one offers a new checkout");

        stripe.set_subscription("sub_paid", active(&tenant));
        deliver(&app, &created("evt_2", "sub_paid", "active")).await;
        let status = billing(&app, &owner).await;
        assert_eq!(status["subscription_status"], "active", "{status}");
        assert_eq!(status["entitlement"]["plan"], "pro");

        // The first one expires a day later; its late events change nothing.
        stripe.set_subscription("sub_first", with_status(first, "incomplete_expired"));
        let expired = subscription_event(
            "evt_3",
            "customer.subscription.updated",
            "sub_first",
            "incomplete_expired",
            &tenant,
        );
        deliver(&app, &expired).await;
        deliver(&app, &created("evt_4", "sub_first", "incomplete")).await;
        assert_eq!(billing(&app, &owner).await["entitlement"]["plan"], "pro");

        // The other order, on a second tenant: the paid one's events first.
        let b = TenantFixture::create(&app.db, "beta").await;
        app.execute("UPDATE tenants SET comped = false").await;
        let b_tenant = b.id.to_string();
        let customer = |s: Subscription| Subscription {
            customer: "cus_beta".to_owned(),
            ..s
        };
        stripe.set_subscription(
            "sub_b_first",
            customer(Subscription {
                created: now() - 120,
                ..with_status(active(&b_tenant), "incomplete_expired")
            }),
        );
        stripe.set_subscription("sub_b_paid", customer(active(&b_tenant)));
        for (event, id, status) in [
            ("evt_b1", "sub_b_paid", "active"),
            ("evt_b2", "sub_b_first", "incomplete"),
            ("evt_b3", "sub_b_first", "incomplete_expired"),
        ] {
            let event = subscription_event(
                event,
                "customer.subscription.updated",
                id,
                status,
                &b_tenant,
            );
            deliver(&app, &event).await;
        }
        let b_owner = app.client_for(b.owner).await;
        let status = app.get_json(&b_owner, "/api/v1/t/beta/billing").await;
        assert_eq!(status["entitlement"]["plan"], "pro", "{status}");
    })
    .await;
}

backend_test!(a_subscription_made_outside_checkout_while_the_old_ones_end_is_retried_wins);
/// The old subscription ended in Stripe, but its deletion event failed to
/// arrive and is being retried; meanwhile the founder made a new one in
/// Stripe's dashboard (no tenant in its metadata: found by the customer).
async fn a_subscription_made_outside_checkout_while_the_old_ones_end_is_retried_wins(
    backend: Backend,
) {
    with_stripe(backend, &[], |app, stripe| async move {
        let a = free_tenant(&app).await;
        let tenant = a.id.to_string();
        let owner = app.client_for(a.owner).await;
        stripe.set_subscription(
            "sub_old",
            Subscription {
                created: now() - 86_400,
                ..active(&tenant)
            },
        );
        let created = subscription_event(
            "evt_1",
            "customer.subscription.created",
            "sub_old",
            "active",
            &tenant,
        );
        deliver(&app, &created).await;
        stripe.set_subscription(
            "sub_old",
            Subscription {
                created: now() - 86_400,
                ..with_status(active(&tenant), "canceled")
            },
        );
        stripe.set_subscription(
            "sub_dashboard",
            Subscription {
                tenant: String::new(),
                ..active(&tenant)
            },
        );
        let made = stripe_mock::event(
            "evt_2",
            "customer.subscription.created",
            json!({"id": "sub_dashboard", "object": "subscription", "status": "active",
                   "customer": "cus_test_1", "metadata": {}}),
        );
        deliver(&app, &made).await;
        let deleted = subscription_event(
            "evt_3",
            "customer.subscription.deleted",
            "sub_old",
            "canceled",
            &tenant,
        );
        deliver(&app, &deleted).await;
        let status = billing(&app, &owner).await;
        assert_eq!(status["subscription_status"], "active", "{status}");
        assert_eq!(status["entitlement"]["plan"], "pro");
    })
    .await;
}

backend_test!(an_invoice_paid_before_the_checkouts_events_finds_its_tenant_through_the_subscription);
/// Stripe sends invoices with an empty `metadata` of their own; the tenant
/// is in the subscription's, under `parent.subscription_details` (or only
/// on the subscription itself, in older API versions).
async fn an_invoice_paid_before_the_checkouts_events_finds_its_tenant_through_the_subscription(
    backend: Backend,
) {
    with_stripe(backend, &[], |app, stripe| async move {
        let a = free_tenant(&app).await;
        let tenant = a.id.to_string();
        stripe.set_subscription("sub_1", active(&tenant));
        let paid = invoice_event("evt_paid", "invoice.paid", "in_1", &tenant);
        deliver(&app, &paid).await;
        let owner = app.client_for(a.owner).await;
        assert_eq!(billing(&app, &owner).await["entitlement"]["plan"], "pro");
        assert_eq!(outcome(&app, "evt_paid").await.as_deref(), Some("applied"));
        assert_eq!(
            stripe.requests_to("GET /v1/subscriptions/sub_1").len(),
            1,
            "routed by the details' metadata, without asking Stripe first"
        );

        let b = TenantFixture::create(&app.db, "beta").await;
        app.execute("UPDATE tenants SET comped = false").await;
        stripe.set_subscription(
            "sub_2",
            Subscription {
                customer: "cus_beta".to_owned(),
                ..active(&b.id.to_string())
            },
        );
        let paid = stripe_mock::event(
            "evt_paid_2",
            "invoice.paid",
            json!({"id": "in_2", "object": "invoice", "customer": "cus_beta", "metadata": {},
                   "subscription": "sub_2"}),
        );
        deliver(&app, &paid).await;
        let b_owner = app.client_for(b.owner).await;
        let status = app.get_json(&b_owner, "/api/v1/t/beta/billing").await;
        assert_eq!(status["entitlement"]["plan"], "pro", "{status}");
    })
    .await;
}

backend_test!(a_hanging_stripe_holds_no_lock_and_no_connection);
/// While Stripe answers nothing, a dozen deliveries for one tenant are
/// answered at once, workers wait on Stripe holding nothing of the
/// database, and sign-ups, other tenants' writes and the health check go
/// on. When Stripe answers, the events apply.
async fn a_hanging_stripe_holds_no_lock_and_no_connection(backend: Backend) {
    with_stripe(backend, &[], |app, stripe| async move {
        let a = free_tenant(&app).await;
        let tenant = a.id.to_string();
        stripe.set_subscription("sub_1", active(&tenant));
        let owner = app.client_for(a.owner).await;
        let b = TenantFixture::create(&app.db, "beta").await;
        let b_admin = app.client_for(b.admin).await;
        stripe.set_hanging(true);

        let within = |what: &'static str| {
            move |answer: Result<reqwest::Response, tokio::time::error::Elapsed>| {
                answer.unwrap_or_else(|_| panic!("{what}: no answer in 10 s"))
            }
        };
        let mut deliveries = tokio::task::JoinSet::new();
        for n in 0..12 {
            let event = subscription_event(
                &format!("evt_{n}"),
                "customer.subscription.updated",
                "sub_1",
                "active",
                &tenant,
            );
            let signature = stripe_mock::sign(&event, stripe_mock::WEBHOOK_SECRET, now());
            let request = new_client()
                .post(app.url("/webhooks/stripe"))
                .header("stripe-signature", signature)
                .body(event);
            deliveries.spawn(async move { request.send().await.expect("POST").status() });
        }
        let answers = tokio::time::timeout(Duration::from_secs(10), deliveries.join_all())
            .await
            .expect("twelve deliveries answered in 10 s");
        assert!(answers.iter().all(|status| *status == 200), "all received: {answers:?}");

        // Four workers and an owner's checkout, all waiting on Stripe.
        let workers: Vec<_> = (0..4)
            .map(|_| {
                let state = app.state.clone();
                let jobs = app.jobs.clone();
                tokio::spawn(async move { app::jobs::run_due(&state, &jobs).await })
            })
            .collect();
        let checkout = {
            let (owner, url) = (owner.clone(), app.url("/api/v1/t/alpha/billing/checkout"));
            tokio::spawn(async move { owner.post(url).json(&json!({})).send().await })
        };
        tokio::time::sleep(Duration::from_millis(500)).await;

        let limit = Duration::from_secs(10);
        let health = tokio::time::timeout(limit, reqwest::get(app.url("/healthz"))).await;
        assert_eq!(within("/healthz")(health.map(|r| r.expect("GET"))).status(), 200);
        tokio::time::timeout(limit, sign_up(&app, "newcomer@example.com", "Gamma"))
            .await
            .expect("a sign-up in 10 s");
        let added = tokio::time::timeout(
            limit,
            app.post_json(
                &b_admin,
                "/api/v1/t/beta/locations",
                &json!({"name": "Annex", "time_zone": "UTC"}),
            ),
        )
        .await;
        assert_eq!(within("beta's write")(added).status(), 201);
        assert_eq!(billing(&app, &owner).await["entitlement"]["plan"], "free");

        stripe.set_hanging(false);
        for worker in workers {
            worker.await.expect("a worker").expect("the queue");
        }
        let checkout = checkout.await.expect("the checkout").expect("an answer");
        assert_eq!(checkout.status(), 201);
        // Jobs that found the tenant's lease held, or Stripe timing out,
        // wait to retry: as if their backoff had passed.
        for _ in 0..5 {
            crate::jobs_and_mail::make_jobs_due(&app).await;
            app.run_jobs().await;
        }
        assert_eq!(billing(&app, &owner).await["entitlement"]["plan"], "pro");
        assert_eq!(pending_jobs(&app, "stripe_event").await, 0, "all processed");
        assert_eq!(count(&app, "stripe_events").await, 12);
    })
    .await;
}

backend_test!(a_checkout_retried_after_the_customer_was_linked_is_a_new_request_to_stripe);
/// Stripe refuses an idempotency key reused with other parameters: a
/// double click opens one session, but a retry after the first checkout
/// linked the customer (its payment failed) is another request.
async fn a_checkout_retried_after_the_customer_was_linked_is_a_new_request_to_stripe(
    backend: Backend,
) {
    with_stripe(backend, &[], |app, stripe| async move {
        let a = free_tenant(&app).await;
        let tenant = a.id.to_string();
        let owner = app.client_for(a.owner).await;
        let body = json!({});
        let checkout = || app.post_json(&owner, "/api/v1/t/alpha/billing/checkout", &body);
        let (one, two) = tokio::join!(checkout(), checkout());
        assert_eq!((one.status(), two.status()), (reqwest::StatusCode::CREATED, reqwest::StatusCode::CREATED));
        let (one, two): (serde_json::Value, serde_json::Value) =
            (one.json().await.expect("JSON"), two.json().await.expect("JSON"));
        assert_eq!(one["url"], two["url"], "a double click: one session");

        stripe.set_subscription("sub_1", with_status(active(&tenant), "incomplete"));
        let created = subscription_event(
            "evt_1",
            "customer.subscription.created",
            "sub_1",
            "incomplete",
            &tenant,
        );
        deliver(&app, &created).await;
        let retry = checkout().await;
        assert_eq!(retry.status(), 201, "not Stripe's idempotency_error");
        let requests = stripe.requests_to("POST /v1/checkout/sessions");
        let last = requests.last().expect("the retry");
        assert_eq!(last.field("customer"), Some("cus_test_1"));
        assert_ne!(last.idempotency_key, requests[0].idempotency_key);
    })
    .await;
}

backend_test!(events_that_lead_nowhere_are_finished_with_a_reason_not_retried_forever);
/// A subscription Stripe no longer has, a tenant that isn't this app's, an
/// invoice of no subscription: each is answered 200, processed once, and
/// kept with why it changed nothing.
async fn events_that_lead_nowhere_are_finished_with_a_reason_not_retried_forever(
    backend: Backend,
) {
    with_stripe(backend, &[], |app, stripe| async move {
        let a = free_tenant(&app).await;
        let tenant = a.id.to_string();
        let gone = subscription_event(
            "evt_gone",
            "customer.subscription.updated",
            "sub_deleted_in_test_mode",
            "active",
            &tenant,
        );
        assert_eq!(deliver(&app, &gone).await.status(), 200);
        assert_eq!(
            outcome(&app, "evt_gone").await.as_deref(),
            Some("ignored: Stripe no longer has it")
        );
        stripe.set_subscription(
            "sub_elsewhere",
            Subscription {
                customer: "cus_elsewhere".to_owned(),
                ..active("0b7e2a4e-0000-4000-8000-000000000000")
            },
        );
        let elsewhere = stripe_mock::event(
            "evt_elsewhere",
            "customer.subscription.created",
            json!({"id": "sub_elsewhere", "object": "subscription", "customer": "cus_elsewhere",
                   "metadata": {"tenant_id": "0b7e2a4e-0000-4000-8000-000000000000"}}),
        );
        assert_eq!(deliver(&app, &elsewhere).await.status(), 200);
        assert_eq!(
            outcome(&app, "evt_elsewhere").await.as_deref(),
            Some("ignored: no tenant of this app")
        );
        let one_off = stripe_mock::event(
            "evt_one_off",
            "invoice.paid",
            json!({"id": "in_9", "object": "invoice", "customer": "cus_unknown", "metadata": {}}),
        );
        assert_eq!(deliver(&app, &one_off).await.status(), 200);
        assert_eq!(
            outcome(&app, "evt_one_off").await.as_deref(),
            Some("ignored: no tenant of this app")
        );
        assert_eq!(pending_jobs(&app, "stripe_event").await, 0, "none left to retry");
        let owner = app.client_for(a.owner).await;
        assert_eq!(billing(&app, &owner).await["entitlement"]["plan"], "free");
    })
    .await;
}

backend_test!(an_event_whose_job_was_lost_is_queued_again_by_stripes_redelivery);
/// The event is recorded first and its job queued second: a crash between
/// the two leaves an event without a job, which Stripe's retry (it got no
/// answer) queues again.
async fn an_event_whose_job_was_lost_is_queued_again_by_stripes_redelivery(backend: Backend) {
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
        assert_eq!(post_event(&app, &event).await.status(), 200);
        app.execute("DELETE FROM jobs").await;
        app.run_jobs().await;
        let owner = app.client_for(a.owner).await;
        assert_eq!(billing(&app, &owner).await["entitlement"]["plan"], "free");

        deliver(&app, &event).await;
        assert_eq!(billing(&app, &owner).await["entitlement"]["plan"], "pro");
        assert_eq!(outcome(&app, "evt_1").await.as_deref(), Some("applied"));
    })
    .await;
}

backend_test!(a_subscription_that_ends_hands_over_to_another_still_running);
/// Two subscriptions run (a dashboard one beside the checkout's); the newer,
/// on file, ends. The older still paying is the tenant's, though no event
/// of its own comes.
async fn a_subscription_that_ends_hands_over_to_another_still_running(backend: Backend) {
    with_stripe(backend, &[], |app, stripe| async move {
        let a = free_tenant(&app).await;
        let tenant = a.id.to_string();
        let owner = app.client_for(a.owner).await;
        let older = Subscription {
            created: now() - 86_400,
            ..active(&tenant)
        };
        stripe.set_subscription("sub_older", older.clone());
        stripe.set_subscription("sub_newer", active(&tenant));
        let updated = |event: &str, id: &str, status: &str| {
            subscription_event(event, "customer.subscription.updated", id, status, &tenant)
        };
        deliver(&app, &updated("evt_1", "sub_newer", "active")).await;
        stripe.set_subscription("sub_newer", with_status(active(&tenant), "canceled"));
        deliver(&app, &updated("evt_2", "sub_newer", "canceled")).await;
        let status = billing(&app, &owner).await;
        assert_eq!(status["subscription_status"], "active", "{status}");
        assert_eq!(status["entitlement"]["plan"], "pro");
    })
    .await;
}

backend_test!(two_readings_of_a_subscription_are_never_applied_out_of_order);
/// A worker's reading of Stripe reaches it late. While it holds the
/// tenant's lease, another worker with a newer event waits, and applies
/// its newer reading after. If the lease ran out under the slow worker (a
/// stalled machine) and the other applied first, the slow one's stale
/// reading is refused and its job retried.
async fn two_readings_of_a_subscription_are_never_applied_out_of_order(backend: Backend) {
    with_stripe(backend, &[], |app, stripe| async move {
        let a = free_tenant(&app).await;
        let tenant = a.id.to_string();
        let owner = app.client_for(a.owner).await;
        let updated = |event: &str, status: &str| {
            subscription_event(event, "customer.subscription.updated", "sub_1", status, &tenant)
        };
        let worker = || {
            let (state, jobs) = (app.state.clone(), app.jobs.clone());
            tokio::spawn(async move { app::jobs::run_due(&state, &jobs).await })
        };
        let pause = || tokio::time::sleep(Duration::from_millis(500));

        // The lease: the second waits for the first.
        stripe.set_subscription("sub_1", active(&tenant));
        let release = stripe.hold_next_answer("GET /v1/subscriptions");
        post_event(&app, &updated("evt_1", "active")).await;
        let slow = worker();
        pause().await;
        stripe.set_subscription("sub_1", with_status(active(&tenant), "canceled"));
        post_event(&app, &updated("evt_2", "canceled")).await;
        let next = worker();
        pause().await;
        drop(release);
        slow.await.expect("a worker").expect("the queue");
        next.await.expect("a worker").expect("the queue");
        assert_eq!(billing(&app, &owner).await["subscription_status"], "canceled");
        assert_eq!(outcome(&app, "evt_1").await.as_deref(), Some("applied"));
        assert_eq!(outcome(&app, "evt_2").await.as_deref(), Some("applied"));
        assert_eq!(pending_jobs(&app, "stripe_event").await, 0, "none failed");

        // The lease runs out under the slow worker.
        stripe.set_subscription("sub_1", active(&tenant));
        let release = stripe.hold_next_answer("GET /v1/subscriptions");
        post_event(&app, &updated("evt_3", "active")).await;
        let slow = worker();
        pause().await;
        stripe.set_subscription("sub_1", with_status(active(&tenant), "past_due"));
        app.execute("UPDATE tenant_leases SET expires_at = 0").await;
        deliver(&app, &updated("evt_4", "past_due")).await;
        assert_eq!(billing(&app, &owner).await["subscription_status"], "past_due");
        drop(release);
        slow.await.expect("a worker").expect("the queue");
        assert_eq!(
            billing(&app, &owner).await["subscription_status"],
            "past_due",
            "the stale reading is refused"
        );
        assert_eq!(pending_jobs(&app, "stripe_event").await, 1, "and retried");
        crate::jobs_and_mail::make_jobs_due(&app).await;
        app.run_jobs().await;
        assert_eq!(billing(&app, &owner).await["subscription_status"], "past_due");
        assert_eq!(pending_jobs(&app, "stripe_event").await, 0);
    })
    .await;
}

backend_test!(a_resent_event_that_changed_nothing_is_looked_at_anew);
/// An event that led nowhere (the subscription wasn't at Stripe yet: a
/// test-mode key mix-up, since fixed) is processed again when resent from
/// Stripe's dashboard; an applied one's resend changes nothing.
async fn a_resent_event_that_changed_nothing_is_looked_at_anew(backend: Backend) {
    with_stripe(backend, &[], |app, stripe| async move {
        let a = free_tenant(&app).await;
        let tenant = a.id.to_string();
        let event = subscription_event(
            "evt_1",
            "customer.subscription.created",
            "sub_1",
            "active",
            &tenant,
        );
        deliver(&app, &event).await;
        assert_eq!(
            outcome(&app, "evt_1").await.as_deref(),
            Some("ignored: Stripe no longer has it")
        );
        stripe.set_subscription("sub_1", active(&tenant));
        assert_eq!(deliver(&app, &event).await.text().await.expect("body"), "already received");
        assert_eq!(outcome(&app, "evt_1").await.as_deref(), Some("applied"));
        let owner = app.client_for(a.owner).await;
        assert_eq!(billing(&app, &owner).await["entitlement"]["plan"], "pro");
        let reads = stripe.requests_to("GET /v1/subscriptions/sub_1").len();
        deliver(&app, &event).await;
        assert_eq!(
            stripe.requests_to("GET /v1/subscriptions/sub_1").len(),
            reads,
            "applied: a resend reads nothing"
        );
    })
    .await;
}

backend_test!(owners_get_each_lifecycle_email_once_per_event);
/// A failed payment, a trial about to end and a cancellation each email the
/// tenant's owners (no one else) once, however often the event comes or its
/// job runs; an old subscription ending beside a running one emails no
/// one; receipts only when asked for.
async fn owners_get_each_lifecycle_email_once_per_event(backend: Backend) {
    with_stripe(backend, &[], |app, stripe| async move {
        let a = free_tenant(&app).await;
        let tenant = a.id.to_string();
        let subscription = |status: &str| with_status(active(&tenant), status);
        let event = |id: &str, kind: &str, status: &str| {
            subscription_event(id, kind, "sub_1", status, &tenant)
        };
        let subjects = |emails: Vec<app::mail::transport::Outgoing>| {
            emails.into_iter().map(|email| email.subject).collect::<Vec<_>>()
        };

        stripe.set_subscription("sub_1", subscription("past_due"));
        let failed = invoice_event("evt_failed", "invoice.payment_failed", "in_1", &tenant);
        let (one, two) = tokio::join!(deliver(&app, &failed), deliver(&app, &failed));
        assert_eq!((one.status().as_u16(), two.status().as_u16()), (200, 200));
        deliver(&app, &failed).await;
        // Its job run again from the start (as after a failure further on).
        app.execute("UPDATE stripe_events SET processed_at = NULL, outcome = NULL")
            .await;
        deliver(&app, &failed).await;
        let owner = app.emails_to("owner@alpha.test").await;
        assert_eq!(
            subjects(owner.clone()),
            [format!("{}: a payment failed for alpha Ltd", app::brand::APP_NAME)],
            "once"
        );
        assert!(
            owner[0].text.contains("/t/alpha/billing") && owner[0].html.contains("Update the payment method"),
            "{}",
            owner[0].text
        );
        assert!(app.emails_to("admin@alpha.test").await.is_empty(), "owners only");

        stripe.set_subscription("sub_1", subscription("trialing"));
        deliver(&app, &event("evt_trial", "customer.subscription.trial_will_end", "trialing")).await;
        deliver(&app, &event("evt_trial", "customer.subscription.trial_will_end", "trialing")).await;
        let owner = app.emails_to("owner@alpha.test").await;
        assert_eq!(subjects(owner.clone())[0], format!("{}: the trial ends in 3 days for alpha Ltd", app::brand::APP_NAME));
        assert_eq!(owner.len(), 2);
        let period_end = crate::billing::now() + 30 * 86_400;
        assert!(owner[0].text.contains(&app::billing::day(period_end)), "the date: {}", owner[0].text);

        // Paid: no receipt unless asked for.
        stripe.set_subscription("sub_1", subscription("active"));
        let paid = stripe_mock::event(
            "evt_paid",
            "invoice.paid",
            json!({"id": "in_2", "object": "invoice", "customer": "cus_test_1", "subscription": "sub_1"}),
        );
        deliver(&app, &paid).await;
        assert_eq!(app.emails_to("owner@alpha.test").await.len(), 2, "no receipt");

        // An old subscription ending beside the running one: no email.
        stripe.set_subscription(
            "sub_old",
            Subscription {
                created: crate::billing::now() - 86_400,
                ..subscription("canceled")
            },
        );
        let old_ended = subscription_event(
            "evt_old",
            "customer.subscription.deleted",
            "sub_old",
            "canceled",
            &tenant,
        );
        deliver(&app, &old_ended).await;
        assert_eq!(app.emails_to("owner@alpha.test").await.len(), 2, "not the tenant's");

        stripe.set_subscription("sub_1", subscription("canceled"));
        deliver(&app, &event("evt_deleted", "customer.subscription.deleted", "canceled")).await;
        let owner = app.emails_to("owner@alpha.test").await;
        assert_eq!(owner.len(), 3);
        assert_eq!(owner[0].subject, format!("{}: the subscription was canceled for alpha Ltd", app::brand::APP_NAME));
    })
    .await;
}

backend_test!(receipts_go_to_owners_when_asked_for);
async fn receipts_go_to_owners_when_asked_for(backend: Backend) {
    with_stripe(backend, &[("STRIPE_RECEIPT_EMAILS", "true")], |app, stripe| async move {
        let a = free_tenant(&app).await;
        let tenant = a.id.to_string();
        stripe.set_subscription("sub_1", active(&tenant));
        let paid = stripe_mock::event(
            "evt_paid",
            "invoice.paid",
            json!({"id": "in_2", "object": "invoice", "customer": "cus_test_1", "subscription": "sub_1",
                   "metadata": {}, "parent": {"type": "subscription_details", "subscription_details":
                       {"subscription": "sub_1", "metadata": {"tenant_id": tenant}}}}),
        );
        deliver(&app, &paid).await;
        deliver(&app, &paid).await;
        let owner = app.emails_to("owner@alpha.test").await;
        assert_eq!(owner.len(), 1, "once");
        assert_eq!(owner[0].subject, format!("{}: payment received for alpha Ltd", app::brand::APP_NAME));
    })
    .await;
}

backend_test!(every_event_type_shuffled_duplicated_and_concurrent_ends_in_stripes_state_with_one_email);
/// Every type the app handles, each twice, in a scrambled order, all at
/// once: the tenant ends on Stripe's state, and the owners get the emails
/// the events call for in that state (the failed payment, the paid
/// invoice's receipt; no trial email, the subscription isn't trialing),
/// each once.
async fn every_event_type_shuffled_duplicated_and_concurrent_ends_in_stripes_state_with_one_email(
    backend: Backend,
) {
    with_stripe(backend, &[("STRIPE_RECEIPT_EMAILS", "true")], |app, stripe| async move {
        let a = free_tenant(&app).await;
        let tenant = a.id.to_string();
        stripe.set_subscription("sub_1", with_status(active(&tenant), "past_due"));
        // Stripe's invoices now: one paid, one whose payment failed, one
        // voided, one uncollectible, and a draft (not listed).
        for (id, status, due, created) in [
            ("in_1", "paid", 0, now() - 400),
            ("in_2", "open", 700, now() - 300),
            ("in_3", "void", 0, now() - 200),
            ("in_4", "uncollectible", 700, now() - 100),
            ("in_5", "draft", 700, now()),
        ] {
            stripe.set_invoice(
                id,
                stripe_mock::Invoice {
                    customer: "cus_test_1".to_owned(),
                    subscription: Some("sub_1".to_owned()),
                    tenant: tenant.clone(),
                    status: status.to_owned(),
                    number: (status != "draft").then(|| format!("A-{id}")),
                    total: 700,
                    amount_due: due,
                    created,
                },
            );
        }
        let invoice = |id: &str, kind: &str, invoice: &str| invoice_event(id, kind, invoice, &tenant);
        let mut events = vec![
            subscription_event("evt_a", "customer.subscription.created", "sub_1", "incomplete", &tenant),
            subscription_event("evt_b", "customer.subscription.updated", "sub_1", "active", &tenant),
            subscription_event("evt_c", "customer.subscription.trial_will_end", "sub_1", "trialing", &tenant),
            invoice("evt_d", "invoice.paid", "in_1"),
            invoice("evt_e", "invoice.payment_failed", "in_2"),
            subscription_event("evt_f", "customer.subscription.updated", "sub_1", "past_due", &tenant),
            invoice("evt_g", "invoice.finalized", "in_2"),
            invoice("evt_h", "invoice.voided", "in_3"),
            invoice("evt_i", "invoice.marked_uncollectible", "in_4"),
            invoice("evt_j", "invoice.updated", "in_5"),
            invoice("evt_k", "invoice.finalized", "in_1"),
        ];
        let kinds = events.len();
        events.extend(events.clone());
        // A fixed scramble: reversed halves, interleaved.
        let (first, second) = events.split_at(kinds);
        let scrambled: Vec<String> = second
            .iter()
            .rev()
            .zip(first.iter())
            .flat_map(|(x, y)| [x.clone(), y.clone()])
            .collect();
        let mut deliveries = tokio::task::JoinSet::new();
        for event in scrambled {
            let request = new_client()
                .post(app.url("/webhooks/stripe"))
                .header(
                    "stripe-signature",
                    stripe_mock::sign(&event, stripe_mock::WEBHOOK_SECRET, now()),
                )
                .body(event);
            deliveries.spawn(async move { request.send().await.expect("POST").status() });
        }
        let statuses = deliveries.join_all().await;
        assert!(statuses.iter().all(|status| *status == 200), "{statuses:?}");
        let workers: Vec<_> = (0..3)
            .map(|_| {
                let (state, jobs) = (app.state.clone(), app.jobs.clone());
                tokio::spawn(async move { app::jobs::run_due(&state, &jobs).await })
            })
            .collect();
        for worker in workers {
            worker.await.expect("a worker").expect("the queue");
        }
        for _ in 0..3 {
            crate::jobs_and_mail::make_jobs_due(&app).await;
            app.run_jobs().await;
        }
        assert_eq!(pending_jobs(&app, "stripe_event").await, 0, "all processed");
        assert_eq!(count(&app, "stripe_events").await, kinds as i64, "each once");
        let owner = app.client_for(a.owner).await;
        let status = billing(&app, &owner).await;
        assert_eq!(status["subscription_status"], "past_due", "{status}");
        let listed = listed_invoices(&status);
        assert_eq!(
            listed,
            [("in_4", "uncollectible"), ("in_3", "void"), ("in_2", "open"), ("in_1", "paid")]
                .map(|(id, status)| (id.to_owned(), status.to_owned())),
            "each as Stripe has it, newest first, no draft: {status}"
        );
        let emails = app.emails_to("owner@alpha.test").await;
        let mut subjects: Vec<String> = emails.into_iter().map(|email| email.subject).collect();
        subjects.sort();
        assert_eq!(
            subjects,
            [
                format!("{}: a payment failed for alpha Ltd", app::brand::APP_NAME),
                format!("{}: payment received for alpha Ltd", app::brand::APP_NAME),
            ],
            "what the events call for in Stripe's state (past due: no trial email), each once"
        );
    })
    .await;
}

backend_test!(the_billing_page_lists_the_tenants_invoices_as_stripe_has_them_without_asking_stripe);
/// Invoices come from their events, re-read from Stripe: listed with their
/// number, date, amount, status and links; updated by later events; only
/// the tenant's (an invoice Stripe says is another's is not stored, a
/// one-off invoice is the tenant's by its customer); and a page view asks
/// Stripe nothing.
async fn the_billing_page_lists_the_tenants_invoices_as_stripe_has_them_without_asking_stripe(
    backend: Backend,
) {
    with_stripe(backend, &[], |app, stripe| async move {
        let a = free_tenant(&app).await;
        let b = TenantFixture::create(&app.db, "beta").await;
        let tenant = a.id.to_string();
        crate::stripe_billing::subscribed(&app, &stripe, &tenant).await;
        let invoice = |status: &str, tenant: &str, subscription: Option<&str>| stripe_mock::Invoice {
            customer: "cus_test_1".to_owned(),
            subscription: subscription.map(str::to_owned),
            tenant: tenant.to_owned(),
            status: status.to_owned(),
            number: Some("ALPHA-0001".to_owned()),
            total: 1_450,
            amount_due: if status == "paid" { 0 } else { 1_450 },
            created: now() - 60,
        };
        let event = |id: &str, kind: &str, invoice: &str| invoice_event(id, kind, invoice, &tenant);
        stripe.set_invoice("in_a", invoice("open", &tenant, Some("sub_1")));
        deliver(&app, &event("evt_1", "invoice.payment_failed", "in_a")).await;
        let owner = app.client_for(a.owner).await;
        let listed = billing(&app, &owner).await["invoices"].clone();
        assert_eq!(listed[0]["status"], "open", "{listed}");
        assert_eq!(listed[0]["amount_due"], 1_450);

        stripe.set_invoice("in_a", invoice("paid", &tenant, Some("sub_1")));
        deliver(&app, &event("evt_2", "invoice.paid", "in_a")).await;
        // A reading from before it was paid, reaching a stalled worker late,
        // doesn't undo a final state.
        stripe.set_invoice("in_a", invoice("open", &tenant, Some("sub_1")));
        deliver(&app, &event("evt_2_late", "invoice.updated", "in_a")).await;
        stripe.set_invoice("in_a", invoice("paid", &tenant, Some("sub_1")));
        // Stripe says this one is beta's: not stored, whatever the event
        // said.
        stripe.set_invoice("in_b", invoice("paid", &b.id.to_string(), Some("sub_1")));
        deliver(&app, &event("evt_3", "invoice.paid", "in_b")).await;
        assert_eq!(
            outcome(&app, "evt_3").await.as_deref(),
            Some("ignored: it is another tenant's")
        );
        // A one-off invoice of the tenant's customer.
        stripe.set_invoice(
            "in_c",
            stripe_mock::Invoice {
                number: Some("ALPHA-0002".to_owned()),
                created: now(),
                ..invoice("paid", "", None)
            },
        );
        let one_off = stripe_mock::event(
            "evt_4",
            "invoice.paid",
            json!({"id": "in_c", "object": "invoice", "customer": "cus_test_1", "metadata": {}}),
        );
        deliver(&app, &one_off).await;

        let asked = stripe.requests().len();
        let status = billing(&app, &owner).await;
        let page = app.page(&owner, "/t/alpha/billing").await.1;
        assert_eq!(stripe.requests().len(), asked, "a page view asks Stripe nothing");
        let listed = listed_invoices(&status);
        assert_eq!(
            listed,
            [("in_c", "paid"), ("in_a", "paid")].map(|(id, status)| (id.to_owned(), status.to_owned())),
            "{status}"
        );
        for shown in [
            "ALPHA-0001",
            "ALPHA-0002",
            "€14.50",
            &app::billing::day(now() - 60),
            "https://invoice.stripe.test/i/in_a",
            "https://pay.stripe.test/invoice/in_a/pdf",
        ] {
            assert!(page.contains(shown), "{shown}: {page}");
        }

        let b_owner = app.client_for(b.owner).await;
        let theirs = app.get_json(&b_owner, "/api/v1/t/beta/billing").await;
        let ids: Vec<&str> = theirs["invoices"]
            .as_array()
            .expect("invoices")
            .iter()
            .filter_map(|i| i["id"].as_str())
            .collect();
        assert_eq!(ids, [format!("in_fixture_{}", b.id)], "none of alpha's");
    })
    .await;
}
