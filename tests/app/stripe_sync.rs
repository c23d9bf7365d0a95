//! `app stripe-sync`, the real binary against the Stripe mock: it makes
//! the plans' products, prices (by lookup key) and the Customer Portal
//! configuration, replaces a price that no longer matches (moving its
//! lookup key, archiving the old one), and a second run changes nothing.
//! Then the app sells what it made with no price id in its environment.

use app::billing::catalog::Pricing;
use app::billing::stripe::Interval;
use app::db::Backend;
use serde_json::{Value, json};

use crate::billing::free_tenant;
use crate::startup::command;
use crate::stripe_billing::{subscribed, with_stripe_by_lookup_key};
use crate::stripe_mock::{MockStripe, Price};
use crate::support::backend_test;

/// Runs `app stripe-sync` against `stripe`: whether it succeeded, and what
/// it printed (stdout, then stderr).
pub async fn stripe_sync(stripe: &MockStripe) -> (bool, String) {
    let url = stripe.url.clone();
    tokio::task::spawn_blocking(move || {
        let folder = tempfile::tempdir().expect("folder");
        let output = command(
            folder.path(),
            &[
                ("STRIPE_SECRET_KEY", "sk_test_mock"),
                ("STRIPE_API_BASE", &url),
                ("BASE_URL", "https://app.example.com"),
            ],
        )
        .arg("stripe-sync")
        .output()
        .expect("run app stripe-sync");
        (
            output.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ),
        )
    })
    .await
    .expect("the command's thread")
}

/// The requests that changed something in Stripe.
fn writes(stripe: &MockStripe) -> usize {
    stripe
        .requests()
        .iter()
        .filter(|request| request.method != "GET")
        .count()
}

/// Stripe holds, under each priced plan's lookup keys, an active price of
/// its product billing what the plan says.
fn assert_sells_the_plans(stripe: &MockStripe) {
    let plans = app::catalog().expect("the plans");
    for plan in plans.plans().iter().filter(|plan| !plan.is_free()) {
        let product = format!("plan_{}", plan.key);
        let made = &stripe.products()[&product];
        assert_eq!(made.name, plan.name);
        assert_eq!(made.description.as_deref(), Some(plan.description));
        for price in plan.prices {
            let key = plan.lookup_key(price.interval);
            let (_, held) = stripe
                .price_with_lookup_key(&key)
                .unwrap_or_else(|| panic!("a price holds {key}"));
            let interval = match price.interval {
                Interval::Monthly => "month",
                Interval::Yearly => "year",
            };
            let (unit_amount, tiers) = match plan.pricing {
                Pricing::PerSeat { included } if included > 0 => (
                    None,
                    vec![(Some(included), 0), (None, price.amount)],
                ),
                _ => (Some(price.amount), Vec::new()),
            };
            assert_eq!(
                held,
                Price {
                    product: product.clone(),
                    lookup_key: Some(key),
                    active: true,
                    currency: price.currency.to_owned(),
                    interval: interval.to_owned(),
                    unit_amount,
                    tiers,
                }
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn stripe_sync_makes_the_plans_products_prices_and_portal_and_a_second_run_changes_nothing()
{
    let stripe = MockStripe::start().await;
    let (succeeded, printed) = stripe_sync(&stripe).await;
    assert!(succeeded, "{printed}");
    assert!(
        printed.contains("created product plan_pro (Pro)")
            && printed.contains("created price pro_monthly (€7 per seat, monthly)")
            && printed.contains("created price business_yearly (€4990, yearly)")
            && printed.contains("created Customer Portal configuration"),
        "{printed}"
    );
    assert_sells_the_plans(&stripe);

    // The Portal switches between every plan's prices, takes payment
    // methods, shows invoices and cancels at the period's end.
    let configurations = stripe.portal_configurations();
    assert_eq!(configurations.len(), 1, "{configurations:?}");
    let portal = configurations.values().next().expect("one");
    let plans = app::catalog().expect("the plans");
    let priced: Vec<_> = plans.plans().iter().filter(|p| !p.is_free()).collect();
    for (i, plan) in priced.iter().enumerate() {
        let field = |rest: &str| format!("features[subscription_update][products][{i}]{rest}");
        assert_eq!(
            portal.field(&field("[product]")),
            Some(format!("plan_{}", plan.key).as_str())
        );
        for (j, price) in plan.prices.iter().enumerate() {
            let (id, _) = stripe
                .price_with_lookup_key(&plan.lookup_key(price.interval))
                .expect("made");
            assert_eq!(
                portal.field(&field(&format!("[prices][{j}]"))),
                Some(id.as_str())
            );
        }
    }
    for (field, value) in [
        ("features[subscription_update][enabled]", "true"),
        ("features[subscription_update][default_allowed_updates][0]", "price"),
        ("features[payment_method_update][enabled]", "true"),
        ("features[invoice_history][enabled]", "true"),
        ("features[subscription_cancel][enabled]", "true"),
        ("features[subscription_cancel][mode]", "at_period_end"),
        ("default_return_url", "https://app.example.com/"),
    ] {
        assert_eq!(portal.field(field), Some(value), "{field}");
    }

    let before = writes(&stripe);
    let (succeeded, printed) = stripe_sync(&stripe).await;
    assert!(succeeded, "{printed}");
    assert!(printed.contains("nothing changed"), "{printed}");
    assert_eq!(writes(&stripe), before, "a second run writes nothing");
    assert_eq!(stripe.portal_configurations().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_price_that_no_longer_matches_is_replaced_and_archived_never_deleted() {
    let stripe = MockStripe::start().await;
    assert!(stripe_sync(&stripe).await.0);
    let (old, mut changed) = stripe.price_with_lookup_key("pro_monthly").expect("made");
    // As if src/plans.rs said €5 at the last run, and €7 now; and a price
    // someone added by hand in the dashboard.
    changed.unit_amount = Some(500);
    stripe.set_price(&old, changed.clone());
    stripe.set_price(
        "price_by_hand",
        Price {
            lookup_key: None,
            ..changed.clone()
        },
    );
    let old_portal = stripe
        .portal_configurations()
        .into_keys()
        .next()
        .expect("made");

    let (succeeded, printed) = stripe_sync(&stripe).await;
    assert!(succeeded, "{printed}");
    let (new, _) = stripe.price_with_lookup_key("pro_monthly").expect("moved");
    assert_ne!(new, old, "a new price holds the lookup key");
    assert!(
        printed.contains(&format!(
            "created price pro_monthly (€7 per seat, monthly): {new}, in place of {old}"
        )) && printed.contains(&format!("archived price {old}"))
            && printed.contains("archived price price_by_hand"),
        "{printed}"
    );
    assert_sells_the_plans(&stripe);
    let prices = stripe.prices();
    for archived in [&old, &"price_by_hand".to_owned()] {
        let price = prices.get(archived).expect("archived, not deleted");
        assert!(!price.active && price.lookup_key.is_none(), "{price:?}");
    }

    // The Portal offers the new price, in a new configuration.
    let configurations = stripe.portal_configurations();
    assert!(!configurations[&old_portal].active, "the old one is deactivated");
    let current: Vec<_> = configurations.values().filter(|c| c.active).cloned().collect();
    assert_eq!(current.len(), 1);
    let offered: Vec<&str> = current[0]
        .form
        .iter()
        .filter(|(key, _)| key.contains("[prices]"))
        .map(|(_, id)| id.as_str())
        .collect();
    assert!(offered.contains(&new.as_str()) && !offered.contains(&old.as_str()));

    let (succeeded, printed) = stripe_sync(&stripe).await;
    assert!(succeeded && printed.contains("nothing changed"), "{printed}");

    // A run that stopped between making a configuration and deactivating
    // the old one: the next deactivates it.
    let current = current[0].clone();
    stripe.set_portal_configuration(
        "bpc_left_active",
        crate::stripe_mock::PortalConfiguration {
            metadata: [("stripe_sync".to_owned(), "an older version".to_owned())].into(),
            ..current
        },
    );
    let (succeeded, printed) = stripe_sync(&stripe).await;
    assert!(succeeded, "{printed}");
    assert_eq!(
        printed.trim(),
        "deactivated Customer Portal configuration bpc_left_active"
    );
    assert!(!stripe.portal_configurations()["bpc_left_active"].active);
}

#[tokio::test(flavor = "multi_thread")]
async fn stripe_sync_says_what_it_needs_and_what_stopped_it() {
    let folder = tempfile::tempdir().expect("folder");
    let output = tokio::task::spawn_blocking(move || {
        command(folder.path(), &[])
            .arg("stripe-sync")
            .output()
            .expect("run")
    })
    .await
    .expect("thread");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("set STRIPE_SECRET_KEY"), "{stderr}");

    let stripe = MockStripe::start().await;
    stripe.set_failing(true);
    let (succeeded, printed) = stripe_sync(&stripe).await;
    assert!(!succeeded);
    assert!(
        printed.contains("stripe-sync stopped") && !printed.contains("panicked"),
        "{printed}"
    );
}

backend_test!(the_app_sells_what_stripe_sync_made_with_no_price_id_in_its_environment);
async fn the_app_sells_what_stripe_sync_made_with_no_price_id_in_its_environment(
    backend: Backend,
) {
    with_stripe_by_lookup_key(backend, &[], |app, stripe| async move {
            stripe.reset();
            let a = free_tenant(&app).await;
            let owner = app.client_for(a.owner).await;
            let checkout = |interval: &'static str| {
                let (app, owner) = (&app, &owner);
                async move {
                    app.post_json(
                        owner,
                        "/api/v1/t/alpha/billing/checkout",
                        &json!({"plan": "pro", "interval": interval}),
                    )
                    .await
                }
            };
            let unsynced = checkout("monthly").await;
            assert_eq!(unsynced.status(), 503);
            let body: Value = unsynced.json().await.expect("JSON");
            assert!(
                body["error"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("app stripe-sync")),
                "{body}"
            );

            assert!(stripe_sync(&stripe).await.0);
            let made = checkout("yearly").await;
            assert_eq!(made.status(), 201);
            let (price, _) = stripe.price_with_lookup_key("pro_yearly").expect("synced");
            let sessions = stripe.requests_to("POST /v1/checkout/sessions");
            assert_eq!(sessions.len(), 1);
            assert_eq!(sessions[0].field("line_items[0][price]"), Some(price.as_str()));

            // The Portal opens with the configuration stripe-sync made.
            subscribed(&app, &stripe, &a.id.to_string()).await;
            let portal = app
                .post_json(&owner, "/api/v1/t/alpha/billing/portal", &json!({}))
                .await;
            assert_eq!(portal.status(), 201);
            let configuration = stripe
                .portal_configurations()
                .into_keys()
                .next()
                .expect("made");
            let opened = stripe.requests_to("POST /v1/billing_portal/sessions");
            assert_eq!(opened[0].field("configuration"), Some(configuration.as_str()));
            // If it can't be read, the Portal opens with Stripe's default.
            stripe.fail_route("GET /v1/billing_portal/configurations");
            let portal = app
                .post_json(&owner, "/api/v1/t/alpha/billing/portal", &json!({}))
                .await;
            assert_eq!(portal.status(), 201);
            let opened = stripe.requests_to("POST /v1/billing_portal/sessions");
            assert_eq!(opened[1].field("configuration"), None);
    })
    .await;
}

/// A per-seat plan with seats included: a graduated price, the included
/// seats at 0. And a product renamed in the dashboard is named back.
#[tokio::test]
async fn included_seats_are_a_graduated_price_and_a_renamed_product_is_named_back() {
    use app::billing::catalog::{Catalog, Plan, Price as PlanPrice};
    static PLANS: &[Plan] = &[
        Plan {
            key: "free",
            name: "Free",
            description: "Try it.",
            limits: &[],
            features: &[],
            prices: &[],
            trial_days: 0,
            pricing: Pricing::Flat,
        },
        Plan {
            key: "team",
            name: "Team",
            description: "Five seats included.",
            limits: &[],
            features: &[],
            prices: &[PlanPrice {
                interval: Interval::Monthly,
                amount: 900,
                currency: "usd",
            }],
            trial_days: 0,
            pricing: Pricing::PerSeat { included: 5 },
        },
    ];
    let stripe = MockStripe::start().await;
    let config = app::config::Config::from_lookup(|name| match name {
        "STRIPE_SECRET_KEY" => Some("sk_test_mock".to_owned()),
        "STRIPE_API_BASE" => Some(stripe.url.clone()),
        _ => None,
    })
    .expect("configuration");
    let client = app::billing::stripe::Stripe::from_config(&config.stripe)
        .expect("client")
        .expect("configured");
    let plans = Catalog::new(PLANS, &app::members::MEMBERS).expect("valid plans");
    let sync = || async {
        let mut changes = Vec::new();
        app::billing::stripe_sync::sync(&client, plans, "http://localhost/", &mut |change| {
            changes.push(change)
        })
        .await
        .expect("synced");
        changes
    };

    let changes = sync().await;
    assert!(
        changes.contains(&format!(
            "created price team_monthly ($9 per seat, monthly, 5 seats included): {}",
            stripe.price_with_lookup_key("team_monthly").expect("made").0
        )),
        "{changes:?}"
    );
    let (_, price) = stripe.price_with_lookup_key("team_monthly").expect("made");
    assert_eq!(price.unit_amount, None);
    assert_eq!(price.tiers, vec![(Some(5), 0), (None, 900)]);
    assert_eq!(sync().await, Vec::<String>::new(), "the second run");

    let made = stripe.products()["plan_team"].clone();
    stripe.set_product(
        "plan_team",
        crate::stripe_mock::Product {
            name: "Renamed by hand".to_owned(),
            ..made.clone()
        },
    );
    assert_eq!(sync().await, vec!["updated product plan_team (Team)".to_owned()]);
    assert_eq!(stripe.products()["plan_team"], made);
}

backend_test!(subscribers_of_a_replaced_price_keep_their_plan);
/// A price replaced by `stripe-sync` loses its lookup key; the
/// subscriptions still on it keep their plan (its product names it), not
/// the top plan of a price the app can't place.
async fn subscribers_of_a_replaced_price_keep_their_plan(backend: Backend) {
    with_stripe_by_lookup_key(backend, &[], |app, stripe| async move {
        assert!(stripe_sync(&stripe).await.0);
        let a = free_tenant(&app).await;
        let tenant = a.id.to_string();
        let (old, mut synced) = stripe.price_with_lookup_key("starter_monthly").expect("made");
        stripe.set_subscription(
            "sub_1",
            crate::stripe_mock::Subscription {
                price: old.clone(),
                ..crate::stripe_billing::active(&tenant)
            },
        );
        let event = |id: &str| {
            crate::stripe_billing::subscription_event(
                id,
                "customer.subscription.updated",
                "sub_1",
                "active",
                &tenant,
            )
        };
        crate::stripe_billing::deliver(&app, &event("evt_1")).await;
        let owner = app.client_for(a.owner).await;
        let plan = || async { crate::stripe_billing::billing(&app, &owner).await["entitlement"]["plan"].clone() };
        assert_eq!(plan().await, "starter");

        synced.unit_amount = Some(300);
        stripe.set_price(&old, synced);
        assert!(stripe_sync(&stripe).await.0);
        assert!(stripe.prices()[&old].lookup_key.is_none(), "replaced");
        crate::stripe_billing::deliver(&app, &event("evt_2")).await;
        assert_eq!(plan().await, "starter", "still Starter, on the old price");
    })
    .await;
}
