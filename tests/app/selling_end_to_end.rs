//! The walk a founder's first customer takes, end to end against the
//! Stripe mock, with nothing copied from Stripe's dashboard: `stripe-sync`
//! makes the prices, then the pricing page → signup → Checkout (the plan's
//! trial, the seat count, promotion codes) → webhooks → a new seat changes
//! the billed quantity → the paid invoice is listed → a failed payment
//! emails the owner → the Customer Portal, configured by `stripe-sync`.
//! Per seat on what the app is sold by: members in the app generated
//! without a module, a module's unit otherwise.

use app::db::Backend;
use serde_json::json;

use crate::accounts::PASSWORD;
use crate::billing::now;
use crate::jobs_and_mail::make_jobs_due;
use crate::modules::add_seat;
use crate::stripe_billing::{billing, deliver, subscription_event, with_stripe_by_lookup_key};
use crate::stripe_mock::{self, Invoice, Subscription};
use crate::stripe_sync::stripe_sync;
use crate::support::{backend_test, csrf_field, new_client};

backend_test!(a_customer_finds_a_per_seat_plan_subscribes_grows_pays_and_manages_billing);
async fn a_customer_finds_a_per_seat_plan_subscribes_grows_pays_and_manages_billing(
    backend: Backend,
) {
    let vars = [("STRIPE_PROMOTION_CODES", "true")];
    with_stripe_by_lookup_key(backend, &vars, |app, stripe| async move {
        let (synced, printed) = stripe_sync(&stripe).await;
        assert!(synced, "{printed}");
        let (starter, _) = stripe.price_with_lookup_key("starter_monthly").expect("synced");

        // The pricing page, from the landing page, to the signup.
        let visitor = new_client();
        assert!(app.page(&visitor, "/").await.1.contains(r#"href="/pricing""#));
        let pricing = app.page(&visitor, "/pricing").await.1;
        for shown in ["Starter", "€4", "14-day free trial", r#"href="/signup?plan=starter&#38;interval=monthly""#] {
            assert!(pricing.contains(shown), "{shown}: {pricing}");
        }
        let form = app.page(&visitor, "/signup?plan=starter&interval=monthly").await.1;
        let signed_up = app
            .post_form(
                &visitor,
                "/signup",
                &[
                    ("csrf_token", csrf_field(&form).as_str()),
                    ("email", "founder-customer@example.com"),
                    ("password", PASSWORD),
                    ("organisation", "Alpha"),
                    ("time_zone", "UTC"),
                    ("plan", "starter"),
                    ("interval", "monthly"),
                ],
            )
            .await;
        assert_eq!(signed_up.status(), 303);
        let next = signed_up.headers()["location"].to_str().expect("a path").to_owned();
        let tenant = app::tenancy::global::tenant_id_by_slug(&app.db, "alpha")
            .await
            .expect("read")
            .expect("the new tenant")
            .to_string();

        // Checkout: the synced price, the trial, the seats, promotion codes.
        let page = app.page(&visitor, &next).await.1;
        assert!(page.contains("Continue to checkout: Starter, monthly"), "{page}");
        let owner = app.client_for(app.user_id("founder-customer@example.com").await).await;
        add_seat(&app, &owner, "alpha").await;
        let seats = app::catalog().expect("plans").seat().key;
        let checkout = app
            .post_form(
                &visitor,
                "/t/alpha/billing/checkout",
                &[("csrf_token", csrf_field(&page).as_str()), ("plan", "starter"), ("interval", "monthly")],
            )
            .await;
        assert_eq!(checkout.status(), 303);
        let session = &stripe.requests_to("POST /v1/checkout/sessions")[0];
        let quantity: i64 = session.field("line_items[0][quantity]").and_then(|q| q.parse().ok()).expect("a quantity");
        for (field, value) in [
            ("line_items[0][price]", starter.as_str()),
            ("subscription_data[trial_period_days]", "14"),
            ("allow_promotion_codes", "true"),
            ("client_reference_id", tenant.as_str()),
        ] {
            assert_eq!(session.field(field), Some(value), "{field}");
        }
        assert!(quantity >= 1, "the {seats} counted: {quantity}");

        // Paid (with a code, on Stripe's page): the webhooks make it Starter.
        stripe.complete_checkout("cs_test_1", "cus_walk", "sub_walk");
        let subscription = |status: &str, quantity: i64| Subscription {
            customer: "cus_walk".to_owned(),
            status: status.to_owned(),
            tenant: tenant.clone(),
            price: starter.clone(),
            period_end: now() + 14 * 86_400,
            cancel_at_period_end: false,
            created: now(),
            lookup_key: Some("starter_monthly".to_owned()),
            quantity,
        };
        stripe.set_subscription("sub_walk", subscription("trialing", quantity));
        let completed = stripe_mock::event(
            "evt_walk_checkout",
            "checkout.session.completed",
            json!({"id": "cs_test_1", "object": "checkout.session", "client_reference_id": tenant,
                   "customer": "cus_walk", "subscription": "sub_walk", "metadata": {}}),
        );
        assert_eq!(deliver(&app, &completed).await.status(), 200);
        let status = billing(&app, &visitor).await;
        assert_eq!(status["entitlement"]["plan"], "starter", "{status}");
        assert_eq!(status["subscription_status"], "trialing");

        // One more seat: the billed quantity follows, a minute later.
        add_seat(&app, &owner, "alpha").await;
        make_jobs_due(&app).await;
        app.run_jobs().await;
        assert_eq!(
            stripe.subscription("sub_walk").expect("sub_walk").quantity,
            quantity + 1,
            "one more {seats}"
        );

        // The trial ends and the first invoice is paid: listed.
        stripe.set_subscription("sub_walk", subscription("active", quantity + 1));
        let invoice = |status: &str, number: &str| Invoice {
            customer: "cus_walk".to_owned(),
            subscription: Some("sub_walk".to_owned()),
            tenant: tenant.clone(),
            status: status.to_owned(),
            number: Some(number.to_owned()),
            total: 400 * (quantity + 1),
            amount_due: if status == "paid" { 0 } else { 400 * (quantity + 1) },
            created: now(),
        };
        stripe.set_invoice("in_walk_1", invoice("paid", "WALK-0001"));
        let invoice_event = |id: &str, kind: &str, invoice: &str| {
            stripe_mock::event(
                id,
                kind,
                json!({"id": invoice, "object": "invoice", "customer": "cus_walk", "metadata": {},
                       "parent": {"type": "subscription_details", "subscription_details":
                           {"subscription": "sub_walk", "metadata": {"tenant_id": tenant}}}}),
            )
        };
        deliver(&app, &subscription_event("evt_walk_active", "customer.subscription.updated", "sub_walk", "active", &tenant)).await;
        deliver(&app, &invoice_event("evt_walk_paid", "invoice.paid", "in_walk_1")).await;
        let page = app.page(&visitor, "/t/alpha/billing").await.1;
        assert!(page.contains("WALK-0001") && page.contains("https://invoice.stripe.test/i/in_walk_1"), "{page}");

        // A month later the card fails: the owner is told, once.
        stripe.set_subscription("sub_walk", subscription("past_due", quantity + 1));
        stripe.set_invoice("in_walk_2", invoice("open", "WALK-0002"));
        let failed = invoice_event("evt_walk_failed", "invoice.payment_failed", "in_walk_2");
        deliver(&app, &failed).await;
        deliver(&app, &failed).await;
        let emails = app.emails_to("founder-customer@example.com").await;
        let failures: Vec<_> = emails.iter().filter(|e| e.subject.contains("a payment failed")).collect();
        assert_eq!(failures.len(), 1, "{emails:?}");
        assert!(failures[0].text.contains("/t/alpha/billing"), "{}", failures[0].text);
        let status = billing(&app, &visitor).await;
        assert_eq!(status["entitlement"]["payment_overdue"], true, "{status}");
        assert_eq!(status["invoices"][0]["status"], "open");

        // The Portal, as stripe-sync configured it, to fix the card.
        let page = app.page(&visitor, "/t/alpha/billing").await.1;
        let portal = app
            .post_form(&visitor, "/t/alpha/billing/portal", &[("csrf_token", csrf_field(&page).as_str())])
            .await;
        assert_eq!(portal.status(), 303);
        assert_eq!(portal.headers()["location"], "https://billing.stripe.test/p/session/cus_walk");
        let opened = &stripe.requests_to("POST /v1/billing_portal/sessions")[0];
        let configuration = stripe.portal_configurations().into_keys().next().expect("synced");
        assert_eq!(opened.field("configuration"), Some(configuration.as_str()));
        assert_eq!(opened.field("customer"), Some("cus_walk"));
    })
    .await;
}
