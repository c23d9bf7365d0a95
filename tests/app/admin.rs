//! The super-admin panel: hidden (the 404 of an unknown route) from everyone
//! else; tenants searched and paged; comps, cancellations and
//! reinstatements (through Stripe, the mock); impersonation with a banner
//! and a way back; every look and action in the audit log. On both
//! databases.

use app::db::Backend;
use reqwest::Method;

use crate::billing::free_tenant;
use crate::fixtures::{TenantFixture, tenant, user};
use crate::stripe_billing::{
    active, billing, deliver, subscribed, subscription_event, with_status, with_stripe,
};
use crate::support::{TestApp, backend_test, csrf_field, run_on};
use crate::tenant_export::owned_rows;

/// A signed-in super-admin who passed a second factor and confirmed their
/// password for the panel.
pub async fn super_admin(app: &TestApp) -> reqwest::Client {
    let operator = user(&app.db, "ops@example.test").await;
    app.execute("UPDATE users SET is_super_admin = true WHERE email = 'ops@example.test'")
        .await;
    let client = app.client_for(operator).await;
    app.enrol_two_factor(&client).await;
    open_panel(app, &client).await;
    client
}

/// Confirms the password at the panel's door, as its first entry in the
/// session asks.
pub async fn open_panel(app: &TestApp, client: &reqwest::Client) {
    let door = app.page(client, "/admin/confirm").await.1;
    let opened = app
        .post_form(
            client,
            "/admin/confirm",
            &[
                ("csrf_token", &csrf_field(&door)),
                ("password", crate::accounts::PASSWORD),
            ],
        )
        .await;
    assert_eq!(opened.status(), 303, "the panel opens");
    assert_eq!(opened.headers()["location"], "/admin");
}

backend_test!(the_panel_asks_for_the_password_at_its_first_entry_in_each_session);
/// Holding a super-admin's session, or their password and a freshly
/// enrolled authenticator, is not enough: the panel asks for the password
/// at its first entry in each session, and every admin route stays shut
/// until then.
async fn the_panel_asks_for_the_password_at_its_first_entry_in_each_session(backend: Backend) {
    run_on(backend, |app| async move {
        let a = TenantFixture::create(&app.db, "alpha").await;
        let operator = user(&app.db, "ops@example.test").await;
        app.execute("UPDATE users SET is_super_admin = true WHERE email = 'ops@example.test'")
            .await;
        let client = app.client_for(operator).await;
        let (totp, _) = app.enrol_two_factor(&client).await;
        let shut = [
            ("GET", "/admin/tenants".to_owned()),
            ("GET", format!("/admin/tenants/{}", a.id)),
            ("POST", format!("/admin/tenants/{}/comp", a.id)),
            ("POST", format!("/admin/tenants/{}/delete", a.id)),
            ("POST", format!("/admin/tenants/{}/impersonate", a.id)),
        ];
        let before = owned_rows(&app.db, a.id).await;
        for (method, path) in &shut {
            let response = client
                .request(method.parse().unwrap(), app.url(path))
                .form(&[("reason", "support ticket 1"), ("confirm", "alpha")])
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 303, "{method} {path}");
            assert_eq!(
                response.headers()["location"],
                "/admin/confirm",
                "{method} {path}"
            );
        }
        assert_eq!(owned_rows(&app.db, a.id).await, before, "nothing was done");
        assert!(
            audit_reasons(&app).await.is_empty(),
            "nothing was looked at"
        );

        let page = client.get(app.url("/admin/confirm")).send().await.unwrap();
        assert_eq!(page.status(), 200);
        let wrong = app
            .post_form(&client, "/admin/confirm", &[("password", "a guess")])
            .await;
        assert_eq!(wrong.status(), 422);
        let still = client.get(app.url("/admin/tenants")).send().await.unwrap();
        assert_eq!(still.headers()["location"], "/admin/confirm");
        open_panel(&app, &client).await;
        let open = client.get(app.url("/admin/tenants")).send().await.unwrap();
        assert_eq!(open.status(), 200);

        // Another session of the same super-admin, signed in with the
        // password and a code, asks again.
        let other = crate::support::new_client();
        let next_code = totp.generate(totp_now() + 30).to_string();
        let signed_in = app
            .post_json(
                &other,
                "/api/v1/login",
                &serde_json::json!({"email": "ops@example.test",
                    "password": crate::accounts::PASSWORD, "code": next_code}),
            )
            .await;
        assert_eq!(signed_in.status(), 200);
        let response = other.get(app.url("/admin/tenants")).send().await.unwrap();
        assert_eq!(response.status(), 303, "a new session asks again");
        assert_eq!(response.headers()["location"], "/admin/confirm");
        // Others still get the 404 of an unknown route.
        let owner = app.client_for(a.owner).await;
        assert_eq!(
            owner
                .get(app.url("/admin/confirm"))
                .send()
                .await
                .unwrap()
                .status(),
            404
        );
    })
    .await;
}

fn totp_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

pub async fn audit_reasons(app: &TestApp) -> Vec<String> {
    app::on_backend!(&app.db, |pool| sqlx::query_scalar(
        "SELECT reason FROM super_admin_audit ORDER BY created_at, id"
    )
    .fetch_all(pool)
    .await)
    .expect("audit")
}

/// Posts an admin form (with the page's CSRF field) and returns the
/// response.
pub async fn act(
    app: &TestApp,
    client: &reqwest::Client,
    path: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let page = app.page(client, "/admin/tenants").await.1;
    let token = csrf_field(&page);
    let mut form = vec![("csrf_token", token.as_str())];
    form.extend_from_slice(fields);
    app.post_form(client, path, &form).await
}

async fn end_impersonation(
    app: &TestApp,
    client: &reqwest::Client,
    token: &str,
) -> reqwest::Response {
    client
        .post(app.url("/admin/impersonation/end"))
        .header(app::http::csrf::HEADER, token)
        .form(&[("csrf_token", token)])
        .send()
        .await
        .expect("POST")
}

backend_test!(every_admin_route_is_the_404_of_an_unknown_route_for_everyone_else);
async fn every_admin_route_is_the_404_of_an_unknown_route_for_everyone_else(backend: Backend) {
    run_on(backend, |app| async move {
        let a = TenantFixture::create(&app.db, "alpha").await;
        let owner = app.client_for(a.owner).await;
        let admin_role = app.client_for(a.admin).await;
        let visitor = crate::support::new_client();
        let registry = app::routes();
        let routes: Vec<_> = registry
            .infos()
            .iter()
            .filter(|route| route.path.starts_with("/admin"))
            .collect();
        assert!(routes.len() >= 9, "{routes:?}");
        for (who, client) in [
            ("the owner", &owner),
            ("an admin member", &admin_role),
            ("a visitor", &visitor),
        ] {
            for route in &routes {
                let path = route.path.replace("{tenant_id}", &a.id.to_string());
                for method in &route.methods {
                    let unknown = client
                        .request(method.clone(), app.url("/admin/no-such-page"))
                        .send()
                        .await
                        .expect("request");
                    let response = client
                        .request(method.clone(), app.url(&path))
                        .send()
                        .await
                        .expect("request");
                    assert_eq!(
                        response.status(),
                        unknown.status(),
                        "{who}: {method} {path}"
                    );
                    if *method == Method::GET {
                        assert_eq!(response.status(), 404, "{who}: {method} {path}");
                    }
                }
            }
        }
        let owner_posts = owner
            .post(app.url(&format!("/admin/tenants/{}/comp", a.id)))
            .form(&[("reason", "mine"), ("until", "")])
            .send()
            .await
            .expect("POST");
        assert_eq!(owner_posts.status(), 404, "with a valid CSRF token too");
        assert!(
            audit_reasons(&app).await.is_empty(),
            "nothing opened, nothing recorded"
        );
        let owner_view = billing(&app, &owner).await;
        assert_eq!(
            owner_view["entitlement"]["comped"], true,
            "the fixture's comp, untouched"
        );
    })
    .await;
}

backend_test!(tenants_are_searched_and_paged_with_plan_status_and_members);
async fn tenants_are_searched_and_paged_with_plan_status_and_members(backend: Backend) {
    run_on(backend, |app| async move {
        TenantFixture::create(&app.db, "alpha").await;
        for n in 0..27 {
            tenant(&app.db, &format!("Shop {n:02}"), &format!("shop-{n:02}")).await;
        }
        app.execute("UPDATE tenants SET comped = false WHERE slug <> 'alpha'")
            .await;
        let admin = super_admin(&app).await;
        let first = app.page(&admin, "/admin/tenants").await.1;
        assert_eq!(
            first.matches("href=\"/admin/tenants/").count(),
            25,
            "a page of 25"
        );
        assert!(first.contains("page=1"), "and a link to the next");
        let second = app.page(&admin, "/admin/tenants?page=1").await.1;
        assert_eq!(second.matches("href=\"/admin/tenants/").count(), 3);
        assert!(!second.contains("page=2"));

        let found = app.page(&admin, "/admin/tenants?q=ALPH").await.1;
        assert_eq!(found.matches("href=\"/admin/tenants/").count(), 1);
        assert!(
            found.contains("alpha Ltd") && found.contains("Business (comped)"),
            "{found}"
        );
        assert!(
            found.contains("<td class=\"px-4 py-2 text-right text-slate-600\">4</td>"),
            "members"
        );
        let wildcard = app.page(&admin, "/admin/tenants?q=%25").await.1;
        assert_eq!(
            wildcard.matches("href=\"/admin/tenants/").count(),
            0,
            "% is literal"
        );
        let free = app.page(&admin, "/admin/tenants?q=shop-07").await.1;
        assert!(free.contains("Free"), "{free}");
        assert!(
            audit_reasons(&app)
                .await
                .iter()
                .filter(|r| r.contains("tenant list"))
                .count()
                >= 5
        );
    })
    .await;
}

backend_test!(comps_are_audited_need_a_reason_and_survive_webhooks);
async fn comps_are_audited_need_a_reason_and_survive_webhooks(backend: Backend) {
    with_stripe(backend, &[], |app, stripe| async move {
        let a = free_tenant(&app).await;
        let owner = app.client_for(a.owner).await;
        let admin = super_admin(&app).await;
        let comp_path = format!("/admin/tenants/{}/comp", a.id);

        let no_reason = act(&app, &admin, &comp_path, &[("until", ""), ("reason", "  ")]).await;
        assert_eq!(no_reason.status(), 422);
        let past = act(
            &app,
            &admin,
            &comp_path,
            &[("until", "2020-01-01"), ("reason", "x")],
        )
        .await;
        assert_eq!(past.status(), 422, "a past date");
        assert_eq!(billing(&app, &owner).await["entitlement"]["plan"], "free");

        let comped = act(
            &app,
            &admin,
            &comp_path,
            &[("until", "2099-12-31"), ("reason", "design partner")],
        )
        .await;
        assert_eq!(comped.status(), 303);
        let status = billing(&app, &owner).await;
        assert_eq!(
            (
                status["entitlement"]["plan"].as_str(),
                status["entitlement"]["comped"].as_bool()
            ),
            (Some("business"), Some(true))
        );
        let detail = app.page(&admin, &format!("/admin/tenants/{}", a.id)).await.1;
        assert!(
            detail.contains("until 2100-01-01") && detail.contains("design partner"),
            "{detail}"
        );
        assert!(
            audit_reasons(&app)
                .await
                .iter()
                .any(|r| r.contains("comped onto the top plan through 2099-12-31")
                    && r.contains("design partner")),
            "{:?}",
            audit_reasons(&app).await
        );

        // A subscription that ends doesn't take the comp with it.
        let tenant_id = a.id.to_string();
        stripe.set_subscription("sub_1", with_status(active(&tenant_id), "canceled"));
        let deleted = subscription_event(
            "evt_1",
            "customer.subscription.deleted",
            "sub_1",
            "canceled",
            &tenant_id,
        );
        assert_eq!(deliver(&app, &deleted).await.status(), 200);
        let status = billing(&app, &owner).await;
        assert_eq!(status["subscription_status"], "canceled");
        assert_eq!(status["entitlement"]["plan"], "business", "still comped");

        let ended = act(
            &app,
            &admin,
            &format!("/admin/tenants/{}/end-comp", a.id),
            &[("reason", "partnership over")],
        )
        .await;
        assert_eq!(ended.status(), 303);
        assert_eq!(billing(&app, &owner).await["entitlement"]["plan"], "free");
        assert!(
            audit_reasons(&app)
                .await
                .iter()
                .any(|r| r.contains("ended the comp") && r.contains("partnership over"))
        );
    })
    .await;
}

backend_test!(cancel_and_reinstate_go_through_stripe_and_say_when_a_new_checkout_is_needed);
async fn cancel_and_reinstate_go_through_stripe_and_say_when_a_new_checkout_is_needed(
    backend: Backend,
) {
    with_stripe(backend, &[], |app, stripe| async move {
        let a = free_tenant(&app).await;
        let tenant_id = a.id.to_string();
        let owner = app.client_for(a.owner).await;
        subscribed(&app, &stripe, &tenant_id).await;
        let admin = super_admin(&app).await;
        let base = format!("/admin/tenants/{}", a.id);

        let cancel = act(
            &app,
            &admin,
            &format!("{base}/cancel"),
            &[("when", "period_end"), ("reason", "asked by email")],
        )
        .await;
        assert_eq!(cancel.status(), 303);
        let update = stripe.requests_to("POST /v1/subscriptions/sub_1");
        assert_eq!(update[0].field("cancel_at_period_end"), Some("true"));
        let flashed = app.page(&admin, &base).await.1;
        assert!(flashed.contains("subscription ends on"), "{flashed}");
        deliver(
            &app,
            &subscription_event(
                "evt_2",
                "customer.subscription.updated",
                "sub_1",
                "active",
                &tenant_id,
            ),
        )
        .await;
        let status = billing(&app, &owner).await;
        assert!(
            status["ends_at"].is_string(),
            "the webhook brought the end date: {status}"
        );
        assert_eq!(status["entitlement"]["plan"], "pro", "until then");

        let reinstate = act(
            &app,
            &admin,
            &format!("{base}/reinstate"),
            &[("reason", "changed their mind")],
        )
        .await;
        assert_eq!(reinstate.status(), 303);
        let update = stripe.requests_to("POST /v1/subscriptions/sub_1");
        assert_eq!(
            update.last().unwrap().field("cancel_at_period_end"),
            Some("false")
        );
        deliver(
            &app,
            &subscription_event(
                "evt_3",
                "customer.subscription.updated",
                "sub_1",
                "active",
                &tenant_id,
            ),
        )
        .await;
        assert!(billing(&app, &owner).await["ends_at"].is_null());

        let now = act(
            &app,
            &admin,
            &format!("{base}/cancel"),
            &[("when", "now"), ("reason", "fraud")],
        )
        .await;
        assert_eq!(now.status(), 303);
        assert_eq!(
            stripe.requests_to("DELETE /v1/subscriptions/sub_1").len(),
            1
        );
        deliver(
            &app,
            &subscription_event(
                "evt_4",
                "customer.subscription.deleted",
                "sub_1",
                "canceled",
                &tenant_id,
            ),
        )
        .await;
        assert_eq!(billing(&app, &owner).await["entitlement"]["plan"], "free");

        let too_late = act(
            &app,
            &admin,
            &format!("{base}/reinstate"),
            &[("reason", "retry")],
        )
        .await;
        assert_eq!(too_late.status(), 303);
        let page = app.page(&admin, &base).await.1;
        assert!(page.contains("needs a new checkout"), "{page}");
        let reasons = audit_reasons(&app).await;
        for action in [
            "canceled the subscription at the period's end",
            "reinstated",
            "canceled the subscription now",
        ] {
            assert!(
                reasons.iter().any(|r| r.contains(action)),
                "{action}: {reasons:?}"
            );
        }
    })
    .await;
}

backend_test!(impersonation_is_audited_shows_a_banner_and_ends_back_in_the_panel);
async fn impersonation_is_audited_shows_a_banner_and_ends_back_in_the_panel(backend: Backend) {
    run_on(backend, |app| async move {
        let a = TenantFixture::create(&app.db, "alpha").await;
        let admin = super_admin(&app).await;
        let path = format!("/admin/tenants/{}/impersonate", a.id);
        let refused = act(&app, &admin, &path, &[("reason", "")]).await;
        assert_eq!(refused.status(), 422, "a reason first");

        let started = act(
            &app,
            &admin,
            &path,
            &[("reason", "ticket 42: can't see the rota")],
        )
        .await;
        assert_eq!(started.status(), 303);
        assert_eq!(started.headers()["location"], "/t/alpha/locations");
        let page = app.page(&admin, "/t/alpha/locations").await.1;
        assert!(
            page.contains("Impersonating owner@alpha.test"),
            "the banner"
        );
        assert!(
            page.contains(r#"action="/admin/impersonation/end""#),
            "the way back"
        );
        let me = app.get_json(&admin, "/api/v1/me").await;
        assert_eq!(me["user"]["email"], "owner@alpha.test");
        let panel = admin
            .get(app.url("/admin/tenants"))
            .send()
            .await
            .expect("GET");
        assert_eq!(
            panel.status(),
            404,
            "acting as the owner, not as a super-admin"
        );
        assert!(
            audit_reasons(&app)
                .await
                .iter()
                .any(|r| r.contains("impersonated the owner") && r.contains("ticket 42"))
        );

        let token = csrf_field(&page);
        // The session (and its CSRF token) changed with the sign-in.
        let ended = end_impersonation(&app, &admin, &token).await;
        assert_eq!(ended.status(), 303);
        assert_eq!(ended.headers()["location"], "/admin/tenants");
        let (status, back) = app.page(&admin, "/admin/tenants").await;
        assert_eq!(status, 200, "back, second factor included");
        assert!(!back.contains("Impersonating"), "no banner");
        assert!(
            audit_reasons(&app)
                .await
                .iter()
                .any(|r| r.contains("ended the impersonation"))
        );

        let audit = app.page(&admin, "/admin/audit").await.1;
        assert!(
            audit.contains("ticket 42") && audit.contains("user:ops@example.test"),
            "the audit page"
        );
        let again = end_impersonation(&app, &admin, &csrf_field(&audit)).await;
        assert_eq!(again.status(), 404, "nothing to end");
    })
    .await;
}

/// A super-admin (ops@example.test) acting as `tenant`'s owner: their
/// client, and a CSRF token of the session for its requests.
pub async fn impersonate(app: &TestApp, tenant: &TenantFixture) -> (reqwest::Client, String) {
    let admin = super_admin(app).await;
    let path = format!("/admin/tenants/{}/impersonate", tenant.id);
    let started = act(app, &admin, &path, &[("reason", "ticket 43")]).await;
    assert_eq!(started.status(), 303);
    let page = app.page(&admin, &format!("/t/{}/members", tenant.slug)).await.1;
    let token = csrf_field(&page);
    (admin, token)
}

backend_test!(what_a_super_admin_changes_while_impersonating_is_recorded_as_theirs);
/// What a super-admin changes while acting as an owner is theirs: each
/// change is audited as theirs, naming the owner, before it runs, and the
/// records it leaves name them as author; reads are not audited. An
/// impersonation whose super-admin has lost the privilege ends at once.
async fn what_a_super_admin_changes_while_impersonating_is_recorded_as_theirs(backend: Backend) {
    run_on(backend, |app| async move {
        let a = TenantFixture::create(&app.db, "alpha").await;
        let (admin, token) = impersonate(&app, &a).await;
        let invite = |email: &'static str| {
            admin
                .post(app.url("/api/v1/t/alpha/invitations"))
                .header(app::http::csrf::HEADER, token.clone())
                .json(&serde_json::json!({"email": email, "role": "staff", "location_ids": [a.locations[0]]}))
                .send()
        };
        let invited = invite("new@alpha.test").await.expect("POST");
        assert_eq!(invited.status(), 201);
        let author: String = app::on_backend!(&app.db, |pool| sqlx::query_scalar(
            "SELECT u.email FROM invitations i JOIN users u ON u.id = i.invited_by \
             WHERE i.email = 'new@alpha.test'"
        )
        .fetch_one(pool)
        .await)
        .expect("the invitation");
        assert_eq!(author, "ops@example.test", "the super-admin invited, not the owner");
        let reasons = audit_reasons(&app).await;
        assert!(
            reasons.contains(&"as owner@alpha.test: POST /api/v1/t/alpha/invitations".to_owned()),
            "{reasons:?}"
        );
        app.page(&admin, "/t/alpha/members").await;
        assert_eq!(audit_reasons(&app).await.len(), reasons.len(), "a read is no change");

        let invitations = || async {
            let count: i64 = app::on_backend!(&app.db, |pool| sqlx::query_scalar(
                "SELECT count(*) FROM invitations"
            )
            .fetch_one(pool)
            .await)
            .expect("a count");
            count
        };
        let before = invitations().await;
        app.execute("UPDATE users SET is_super_admin = false WHERE email = 'ops@example.test'")
            .await;
        let refused = invite("later@alpha.test").await.expect("POST");
        assert_eq!(refused.status(), 403);
        assert_eq!(invitations().await, before, "nothing more written");
        let after = admin
            .get(app.url("/t/alpha/members"))
            .send()
            .await
            .expect("GET");
        assert_ne!(after.status(), 200, "the impersonation is over: signed out");
    })
    .await;
}

backend_test!(an_impersonation_ends_at_the_next_read_inside_the_tenant_once_its_admin_is_no_more);
/// A read inside a tenant has its session checked by the door, in the
/// scope's query, not by the audit middleware: the end of an impersonation
/// must hold there too.
async fn an_impersonation_ends_at_the_next_read_inside_the_tenant_once_its_admin_is_no_more(
    backend: Backend,
) {
    run_on(backend, |app| async move {
        let a = TenantFixture::create(&app.db, "alpha").await;
        let (admin, _) = impersonate(&app, &a).await;
        let read = || admin.get(app.url("/api/v1/t/alpha/locations")).send();
        assert_eq!(read().await.expect("GET").status(), 200);
        app.execute("UPDATE users SET is_super_admin = false WHERE email = 'ops@example.test'")
            .await;
        let refused = read().await.expect("GET");
        assert_eq!(refused.status(), 403);
        let body = refused.text().await.expect("body");
        assert!(body.contains("This impersonation has ended"), "{body}");
        assert_eq!(read().await.expect("GET").status(), 401, "signed out");
    })
    .await;
}

backend_test!(deleting_a_tenant_cancels_stripe_first_and_leaves_no_row_in_any_tenant_table);
async fn deleting_a_tenant_cancels_stripe_first_and_leaves_no_row_in_any_tenant_table(
    backend: Backend,
) {
    with_stripe(backend, &[], |app, stripe| async move {
        let a = free_tenant(&app).await;
        let kept = TenantFixture::create(&app.db, "kept").await;
        subscribed(&app, &stripe, &a.id.to_string()).await;
        let owner = app.client_for(a.owner).await;
        app.give_password(&owner).await;
        let delete = |confirm: &str| {
            owner
                .delete(app.url("/api/v1/t/alpha"))
                .json(&serde_json::json!({ "confirm": confirm, "password": crate::accounts::PASSWORD }))
                .send()
        };
        let has_rows = || async { owned_rows(&app.db, a.id).await.values().any(|n| *n > 0) };

        assert_eq!(
            delete("beta").await.unwrap().status(),
            422,
            "the slug, typed"
        );
        stripe.set_failing(true);
        let refused = delete("alpha").await.unwrap();
        assert_eq!(refused.status(), 502, "Stripe failed: nothing deleted");
        assert!(has_rows().await);
        stripe.set_failing(false);

        // The owner confirms on the settings page.
        let page = app.page(&owner, "/t/alpha/settings").await.1;
        assert!(
            page.contains("Delete the organisation") && page.contains("/api/v1/t/alpha/export")
        );
        let form = [
            ("csrf_token", csrf_field(&page)),
            ("confirm", "alpha".to_owned()),
            ("password", crate::accounts::PASSWORD.to_owned()),
        ];
        let fields: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let deleted = app
            .post_form(&owner, "/t/alpha/settings/delete", &fields)
            .await;
        assert_eq!(deleted.status(), 303);
        assert_eq!(deleted.headers()["location"], "/tenants");
        assert_eq!(
            stripe.requests_to("DELETE /v1/subscriptions/sub_1").len(),
            2,
            "canceled first (once refused, once done)"
        );
        let left = owned_rows(&app.db, a.id).await;
        assert!(left.values().all(|n| *n == 0), "rows left: {left:?}");
        assert_eq!(
            owned_rows(&app.db, kept.id).await["tenants"],
            1,
            "another tenant is untouched"
        );
        assert_eq!(
            owner
                .get(app.url("/t/alpha/locations"))
                .send()
                .await
                .unwrap()
                .status(),
            404
        );

        // A super-admin deletes another, with a reason in the audit log.
        let admin = super_admin(&app).await;
        let done = act(
            &app,
            &admin,
            &format!("/admin/tenants/{}/delete", kept.id),
            &[("reason", "closed their account by email")],
        )
        .await;
        assert_eq!(done.status(), 303);
        assert!(owned_rows(&app.db, kept.id).await.values().all(|n| *n == 0));
        assert!(
            audit_reasons(&app)
                .await
                .iter()
                .any(|r| r.contains("deleted the tenant") && r.contains("closed their account"))
        );
    })
    .await;
}

backend_test!(the_revenue_page_adds_up_what_the_webhooks_stored);
/// Eight tenants in hand-set states; the figures worked out by hand: MRR
/// per currency from active and past-due subscriptions (not trials),
/// subscriptions and tenants per plan, trials, past due, cancellations in
/// the last 30 days (not older), comps. Looking is audited.
async fn the_revenue_page_adds_up_what_the_webhooks_stored(backend: Backend) {
    run_on(backend, |app| async move {
        let day = 86_400;
        let now = crate::billing::now();
        let states = [
            ("a", "subscription_status = 'active', subscription_plan = 'pro', subscription_monthly_amount = 2100, subscription_currency = 'eur'".to_owned()),
            ("b", "subscription_status = 'active', subscription_plan = 'business', subscription_monthly_amount = 41583, subscription_currency = 'eur'".to_owned()),
            ("c", format!("subscription_status = 'past_due', past_due_since = {now}, subscription_plan = 'starter', subscription_monthly_amount = 1200, subscription_currency = 'usd'")),
            ("d", "subscription_status = 'trialing', subscription_plan = 'pro', subscription_monthly_amount = 700, subscription_currency = 'eur'".to_owned()),
            ("e", format!("subscription_status = 'canceled', subscription_plan = 'pro', subscription_ended_at = {}", now - 5 * day)),
            ("f", format!("subscription_status = 'canceled', subscription_plan = 'pro', subscription_ended_at = {}", now - 40 * day)),
            ("g", "comped = true".to_owned()),
            ("h", "comped = false".to_owned()),
        ];
        for (slug, state) in &states {
            tenant(&app.db, &format!("Shop {slug}"), slug).await;
            app.execute(&format!("UPDATE tenants SET comped = false WHERE slug = '{slug}'"))
                .await;
            app.execute(&format!("UPDATE tenants SET {state} WHERE slug = '{slug}'"))
                .await;
        }
        let admin = super_admin(&app).await;
        let figures = app.get_json(&admin, "/admin/revenue.json").await;
        assert_eq!(
            figures,
            serde_json::json!({
                "mrr": {"eur": 2100 + 41583, "usd": 1200},
                "subscriptions": {"business": 1, "pro": 2, "starter": 1},
                "tenants": {"business": 2, "free": 3, "pro": 2, "starter": 1},
                "trialing": 1,
                "past_due": 1,
                "canceled_last_30_days": 1,
                "comped": 1,
            })
        );
        let page = app.page(&admin, "/admin/revenue").await.1;
        assert!(page.contains("€436.83") && page.contains("$12"), "{page}");
        assert!(
            audit_reasons(&app)
                .await
                .iter()
                .any(|reason| reason.contains("viewed the revenue figures")),
            "audited"
        );
    })
    .await;
}
