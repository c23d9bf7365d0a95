//! Changing plan in the app: the owner previews what an upgrade or a
//! downgrade costs now (Stripe's prorated invoice, against the mock) and
//! confirms it; Stripe is asked for exactly the previewed change, and the
//! plan follows Stripe's webhook. A downgrade below what the tenant uses
//! keeps its data, refuses additions and says what is over.

use app::db::Backend;
use serde_json::{Value, json};

use crate::billing::{add_location, free_tenant, now};
use crate::stripe_billing::{
    active, billing, deliver, subscription_event, with_stripe_by_lookup_key,
};
use crate::stripe_mock::Subscription;
use crate::stripe_sync::stripe_sync;
use crate::support::{backend_test, csrf_field};

/// What the mock (as Stripe) charges now for moving `quantity` seats from
/// `old` (at `old_quantity`) to `new`, as of `at`, in a period ending at
/// `period_end`: the new price for the part of the period left, less the
/// unused part of the old; the whole new price when the interval changes.
fn prorated(
    (old, old_quantity): (i64, i64),
    (new, quantity): (i64, i64),
    same_interval: bool,
    period_end: i64,
    at: i64,
) -> i64 {
    let period = 30 * 86_400;
    let left = (period_end - at).clamp(0, period);
    let unused = old * old_quantity * left / period;
    if same_interval {
        new * quantity * left / period - unused
    } else {
        new * quantity - unused
    }
}

backend_test!(an_owner_previews_and_confirms_a_plan_change_and_a_downgrade_keeps_the_data);
async fn an_owner_previews_and_confirms_a_plan_change_and_a_downgrade_keeps_the_data(
    backend: Backend,
) {
    with_stripe_by_lookup_key(backend, &[], |app, stripe| async move {
                stripe.reset();
                assert!(stripe_sync(&stripe).await.0);
                let price = |key: &str| stripe.price_with_lookup_key(key).expect("synced").0;
                let a = free_tenant(&app).await;
                let tenant = a.id.to_string();
                let owner = app.client_for(a.owner).await;
                let period_end = now() + 15 * 86_400;
                let on_starter = Subscription {
                    price: price("starter_monthly"),
                    lookup_key: Some("starter_monthly".to_owned()),
                    quantity: 1,
                    period_end,
                    ..active(&tenant)
                };
                stripe.set_subscription("sub_1", on_starter);
                let created = subscription_event(
                    "evt_1",
                    "customer.subscription.created",
                    "sub_1",
                    "active",
                    &tenant,
                );
                deliver(&app, &created).await;
                assert_eq!(billing(&app, &owner).await["entitlement"]["plan"], "starter");

                // The billing page offers the change; its preview says what
                // it costs now.
                let page = app.page(&owner, "/t/alpha/billing").await.1;
                assert!(
                    page.contains("/t/alpha/billing/change?plan=pro&amp;interval=monthly"),
                    "{page}"
                );
                let preview: Value = app
                    .post_json(
                        &owner,
                        "/api/v1/t/alpha/billing/change/preview",
                        &json!({"plan": "pro", "interval": "monthly"}),
                    )
                    .await
                    .json()
                    .await
                    .expect("JSON");
                let at = unix(&preview["proration_at"]);
                let seats = preview["quantity"].as_i64().expect("seats");
                assert!((now() - at).abs() < 60, "{preview}");
                let upgrade = prorated((400, 1), (700, seats), true, period_end, at);
                assert!(upgrade > 0);
                assert_eq!(preview["amount_now"], upgrade, "{preview}");
                assert_eq!(preview["currency"], "eur");
                assert_eq!(preview["cycle_resets"], false);
                let shown = app
                    .page(&owner, "/t/alpha/billing/change?plan=pro&interval=monthly")
                    .await
                    .1;
                assert!(
                    shown.contains(&format!(
                        "Charged now: {}",
                        app::billing::catalog::money(upgrade, "eur")
                    )) && shown.contains("Confirm the change"),
                    "{shown}"
                );

                // Another interval: Stripe starts a new period now.
                let yearly: Value = app
                    .post_json(
                        &owner,
                        "/api/v1/t/alpha/billing/change/preview",
                        &json!({"plan": "pro", "interval": "yearly"}),
                    )
                    .await
                    .json()
                    .await
                    .expect("JSON");
                let yearly_at = unix(&yearly["proration_at"]);
                assert_eq!(yearly["cycle_resets"], true, "{yearly}");
                assert_eq!(
                    yearly["amount_now"],
                    prorated((400, 1), (7_000, seats), false, period_end, yearly_at)
                );
                let shown_yearly = app
                    .page(&owner, "/t/alpha/billing/change?plan=pro&interval=yearly")
                    .await
                    .1;
                assert!(shown_yearly.contains("The new billing period starts today"), "{shown_yearly}");

                // Refused before Stripe changes anything: the seats changed
                // since the preview, or someone but an owner.
                let confirm = |body: Value| {
                    let (app, owner) = (&app, &owner);
                    async move { app.post_json(owner, "/api/v1/t/alpha/billing/change", &body).await }
                };
                let body = |quantity: i64| {
                    json!({"plan": "pro", "interval": "monthly",
                           "proration_at": preview["proration_at"], "quantity": quantity})
                };
                let moved = confirm(body(seats + 1)).await;
                assert_eq!(moved.status(), 409);
                assert!(moved.text().await.expect("body").contains("seat count changed"));
                let admin = app.client_for(a.admin).await;
                let refused = app
                    .post_json(&admin, "/api/v1/t/alpha/billing/change", &body(seats))
                    .await;
                assert_eq!(refused.status(), 403, "owners only");
                assert!(stripe.requests_to("POST /v1/subscriptions/sub_1").is_empty());

                // A card that declines: the change waits for its payment, the
                // plan stays, and the owner is told where to pay.
                stripe.set_declining(true);
                let declined = confirm(body(seats)).await;
                assert_eq!(declined.status(), 409);
                let said = declined.text().await.expect("body");
                assert!(said.contains("https://invoice.stripe.test/i/in_change"), "{said}");
                assert_eq!(
                    stripe.subscription("sub_1").expect("sub_1").price,
                    price("starter_monthly"),
                    "unchanged"
                );
                stripe.set_declining(false);

                // Confirmed: Stripe is asked for the previewed change.
                let confirmed_at = between(&shown, "name=\"proration_at\" value=\"", "\"");
                let confirmed = app
                    .post_form(
                        &owner,
                        "/t/alpha/billing/change",
                        &[
                            ("csrf_token", csrf_field(&shown).as_str()),
                            ("plan", "pro"),
                            ("interval", "monthly"),
                            ("proration_at", &confirmed_at),
                            ("quantity", &seats.to_string()),
                        ],
                    )
                    .await;
                assert_eq!(confirmed.status(), 303);
                assert_eq!(confirmed.headers()["location"], "/t/alpha/billing?changed=pro");
                let asked = stripe.requests_to("POST /v1/subscriptions/sub_1");
                assert_eq!(asked.len(), 2, "the declined one, and this one");
                let asked = &asked[1..];
                let pro = price("pro_monthly");
                for (field, value) in [
                    ("items[0][id]", "si_sub_1"),
                    ("items[0][price]", pro.as_str()),
                    ("items[0][quantity]", &seats.to_string()),
                    ("proration_behavior", "always_invoice"),
                    ("payment_behavior", "pending_if_incomplete"),
                    ("proration_date", &unix(&json!(confirmed_at)).to_string()),
                ] {
                    assert_eq!(asked[0].field(field), Some(value), "{field}");
                }
                assert!(asked[0].idempotency_key.is_some());
                let page = app.page(&owner, "/t/alpha/billing?changed=pro").await.1;
                assert!(page.contains("Changing to Pro"), "{page}");
                let updated = subscription_event(
                    "evt_2",
                    "customer.subscription.updated",
                    "sub_1",
                    "active",
                    &tenant,
                );
                deliver(&app, &updated).await;
                assert_eq!(billing(&app, &owner).await["entitlement"]["plan"], "pro");

                // On Pro, the tenant grows past Starter's 5 locations; back
                // on Starter it keeps them all, adds none, and is told.
                for name in ["Third", "Fourth", "Fifth", "Sixth"] {
                    assert_eq!(add_location(&app, &owner, name).await.status(), 201);
                }
                let down: Value = app
                    .post_json(
                        &owner,
                        "/api/v1/t/alpha/billing/change/preview",
                        &json!({"plan": "starter", "interval": "monthly"}),
                    )
                    .await
                    .json()
                    .await
                    .expect("JSON");
                assert!(down["amount_now"].as_i64().expect("amount") < 0, "a credit: {down}");
                let shown = app
                    .page(&owner, "/t/alpha/billing/change?plan=starter&interval=monthly")
                    .await
                    .1;
                assert!(shown.contains("Credited: €"), "{shown}");
                let made = app
                    .post_json(
                        &owner,
                        "/api/v1/t/alpha/billing/change",
                        &json!({"plan": "starter", "interval": "monthly",
                                "proration_at": down["proration_at"], "quantity": down["quantity"]}),
                    )
                    .await;
                assert_eq!(made.status(), 202);
                deliver(
                    &app,
                    &subscription_event("evt_3", "customer.subscription.updated", "sub_1", "active", &tenant),
                )
                .await;
                let status = billing(&app, &owner).await;
                assert_eq!(status["entitlement"]["plan"], "starter");
                assert_eq!(status["usage"]["locations"]["used"], 6, "nothing is deleted");
                let refused = add_location(&app, &owner, "Seventh").await;
                assert_eq!(refused.status(), 403);
                let page = app.page(&owner, "/t/alpha/billing").await.1;
                assert!(
                    page.contains("Over the Starter plan's limit: 6 active locations, where it allows 5"),
                    "{page}"
                );

                // Refusals, each asking Stripe to change nothing.
                let changes = stripe.requests_to("POST /v1/subscriptions/sub_1").len();
                let refusals = [
                    (json!({"plan": "starter", "interval": "monthly", "proration_at": rfc3339(now() - 7200), "quantity": seats}), 422, "out of date"),
                    (json!({"plan": "starter", "interval": "monthly", "proration_at": rfc3339(now() + 600), "quantity": seats}), 422, "out of date"),
                    (json!({"plan": "enterprise", "interval": "monthly", "proration_at": rfc3339(now()), "quantity": seats}), 422, "no enterprise plan"),
                    (json!({"plan": "free", "interval": "monthly", "proration_at": rfc3339(now()), "quantity": seats}), 422, "no free plan"),
                    (json!({"plan": "starter", "interval": "monthly", "proration_at": rfc3339(now()), "quantity": seats}), 409, "already"),
                ];
                for (body, status, why) in refusals {
                    let refused = app
                        .post_json(&owner, "/api/v1/t/alpha/billing/change", &body)
                        .await;
                    assert_eq!(refused.status(), status, "{why}: {body}");
                }
                let admin = app.client_for(a.admin).await;
                let refused = app
                    .post_json(
                        &admin,
                        "/api/v1/t/alpha/billing/change/preview",
                        &json!({"plan": "pro", "interval": "monthly"}),
                    )
                    .await;
                assert_eq!(refused.status(), 403, "owners only");
                assert_eq!(
                    stripe.requests_to("POST /v1/subscriptions/sub_1").len(),
                    changes
                );

                // A tenant without a subscription has nothing to change.
                stripe.set_subscription("sub_1", Subscription { status: "canceled".to_owned(), ..active(&tenant) });
                deliver(
                    &app,
                    &subscription_event("evt_4", "customer.subscription.deleted", "sub_1", "canceled", &tenant),
                )
                .await;
                let none = app
                    .post_json(
                        &owner,
                        "/api/v1/t/alpha/billing/change/preview",
                        &json!({"plan": "pro", "interval": "monthly"}),
                    )
                    .await;
                assert_eq!(none.status(), 409);
    })
    .await;
}

/// An RFC 3339 moment as unix seconds.
fn unix(moment: &Value) -> i64 {
    let text = moment.as_str().expect("a moment");
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .expect("RFC 3339")
        .unix_timestamp()
}

fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .expect("a moment")
        .format(&time::format_description::well_known::Rfc3339)
        .expect("formats")
}

/// The text between `start` and the next `end` in `page`.
fn between(page: &str, start: &str, end: &str) -> String {
    let from = page.find(start).map(|at| at + start.len()).expect("start");
    page[from..].split(end).next().expect("end").to_owned()
}

backend_test!(a_switch_between_per_seat_and_flat_bills_the_quantity_its_pricing_calls_for);
/// Stripe keeps an item's quantity when its price changes (a switch in the
/// Customer Portal): the plan change brings it in line, one for a flat
/// plan, the seats for a per-seat one.
async fn a_switch_between_per_seat_and_flat_bills_the_quantity_its_pricing_calls_for(
    backend: Backend,
) {
    with_stripe_by_lookup_key(backend, &[], |app, stripe| async move {
        assert!(stripe_sync(&stripe).await.0);
        let price = |key: &str| stripe.price_with_lookup_key(key).expect("synced").0;
        let a = free_tenant(&app).await;
        let tenant = a.id.to_string();
        let owner = app.client_for(a.owner).await;
        let seats = || async {
            let mut scope = app::tenancy::for_tenant(&app.db, a.id, app::tenancy::Intent::Read)
                .await
                .expect("scope");
            (app.state.plans.seat().count)(&mut scope).await.expect("count")
        };
        // Two seats at least (the fixture's members are five; a module's
        // unit may start at none), so that one is not the seat count.
        while seats().await < 2 {
            crate::modules::add_seat(&app, &owner, "alpha").await;
        }
        let seats = seats().await;
        let switch = |event: &str, key: &str, quantity: i64| {
            stripe.set_subscription(
                "sub_1",
                Subscription {
                    price: price(key),
                    quantity,
                    ..active(&tenant)
                },
            );
            subscription_event(event, "customer.subscription.updated", "sub_1", "active", &tenant)
        };
        let billed = || stripe.subscription("sub_1").expect("sub_1").quantity;

        deliver(&app, &switch("evt_1", "pro_monthly", seats)).await;
        app.run_jobs().await;
        assert_eq!(billed(), seats);
        deliver(&app, &switch("evt_2", "business_monthly", seats)).await;
        app.run_jobs().await;
        assert_eq!(billed(), 1, "a flat plan bills one");
        assert_eq!(billing(&app, &owner).await["entitlement"]["plan"], "business");
        deliver(&app, &switch("evt_3", "pro_yearly", 1)).await;
        app.run_jobs().await;
        assert_eq!(billed(), seats, "back to the seats");
    })
    .await;
}
