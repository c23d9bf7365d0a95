//! Per-tenant single sign-on against the local mock provider
//! (`oidc_mock`) over real HTTP, on both databases: an owner connects the
//! tenant's provider and proves a domain by the mailed link; people at the
//! domain sign in through it (joining just in time); requiring it refuses
//! every other way; and each refusal changes nothing.

use app::db::Backend;
use serde_json::Value;

use crate::accounts::{PASSWORD, count};
use crate::fixtures::TenantFixture;
use crate::oidc_mock::{CLIENT_ID, CLIENT_SECRET, Lie, MockProvider, Person};
use crate::provider_sign_in::{at_provider, location};
use crate::sign_in_links::signed_in_as;
use crate::support::{TestApp, backend_test, csrf_field, new_client, run_on};

/// Saves `issuer` as the provider of `slug` (whose owner is `owner`).
async fn connect(
    app: &TestApp,
    owner: &reqwest::Client,
    slug: &str,
    issuer: &str,
    password: &str,
) -> reqwest::Response {
    app.post_form(
        owner,
        &format!("/t/{slug}/sso"),
        &[
            ("issuer", issuer),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("default_role", "staff"),
            ("password", password),
        ],
    )
    .await
}

async fn claim(
    app: &TestApp,
    owner: &reqwest::Client,
    slug: &str,
    domain: &str,
    mailbox: &str,
) -> reqwest::Response {
    app.post_form(
        owner,
        &format!("/t/{slug}/sso/domains"),
        &[("domain", domain), ("mailbox", mailbox)],
    )
    .await
}

/// Follows the newest proof link mailed to `admin@{domain}` and presses
/// its button: the page's answer.
async fn follow_proof(app: &TestApp, domain: &str) -> (u16, String) {
    let link = app
        .link_in_email(&format!("admin@{domain}"), "/sso/domains/")
        .await;
    let browser = new_client();
    let (status, page) = app.page(&browser, &link).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("asks to use its identity provider"), "{page}");
    let answer = app
        .post_form(&browser, &link, &[("csrf_token", &csrf_field(&page))])
        .await;
    let status = answer.status().as_u16();
    (status, answer.text().await.unwrap())
}

/// alpha's owner (given the tests' password) connects `provider` and
/// proves alpha.test; returns the fixture and the owner's browser.
async fn set_up(app: &TestApp, provider: &MockProvider) -> (TenantFixture, reqwest::Client) {
    let f = TenantFixture::create(&app.db, "alpha").await;
    let owner = app.client_for(f.owner).await;
    app.give_password(&owner).await;
    let saved = connect(app, &owner, "alpha", &provider.url, PASSWORD).await;
    assert_eq!(saved.status(), 303, "{}", saved.text().await.unwrap());
    assert_eq!(claim(app, &owner, "alpha", "alpha.test", "admin").await.status(), 303);
    let (status, page) = follow_proof(app, "alpha.test").await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("alpha.test is verified"), "{page}");
    (f, owner)
}

/// Presses "Sign in with single sign-on" with `email` as `browser`, signs
/// in at the provider as whoever it has, and comes back: the app's answer.
async fn through_sso(
    app: &TestApp,
    provider: &MockProvider,
    browser: &reqwest::Client,
    email: &str,
) -> reqwest::Response {
    let (_, page) = app.page(browser, "/login").await;
    let start = app
        .post_form(
            browser,
            "/login/sso",
            &[("csrf_token", &csrf_field(&page)), ("email", email)],
        )
        .await;
    let callback = at_provider(provider, start).await;
    assert!(callback.starts_with("/login/sso/callback?"), "{callback}");
    browser.get(app.url(&callback)).send().await.unwrap()
}

/// The role of the member with `email` in alpha, as its owner's API lists.
async fn role_in_alpha(app: &TestApp, owner: &reqwest::Client, email: &str) -> Option<String> {
    let members = app.get_json(owner, "/api/v1/t/alpha/members").await;
    members
        .as_array()
        .expect("a list")
        .iter()
        .find(|member| member["email"] == email)
        .map(|member| member["role"].as_str().expect("a role").to_owned())
}

async fn email_of(app: &TestApp, browser: &reqwest::Client) -> Option<String> {
    signed_in_as(app, browser)
        .await
        .map(|me| me["user"]["email"].as_str().expect("an email").to_owned())
}

backend_test!(people_at_a_proven_domain_sign_in_through_their_organisations_provider);
async fn people_at_a_proven_domain_sign_in_through_their_organisations_provider(backend: Backend) {
    let provider = MockProvider::start().await;
    run_on(backend, |app| async move {
        let f = TenantFixture::create(&app.db, "alpha").await;
        let owner = app.client_for(f.owner).await;
        app.give_password(&owner).await;
        let (status, page) = app.page(&owner, "/t/alpha/sso").await;
        assert_eq!(status, 200);
        let redirect_uri = format!("{}/login/sso/callback", app.state.config.base_url);
        assert!(page.contains(&redirect_uri), "the redirect URI to register: {page}");

        // Saving asks for the password; the secret is sealed.
        let refused = connect(&app, &owner, "alpha", &provider.url, "not the password").await;
        assert_eq!(refused.status(), 422);
        let issuer = |app: &TestApp| {
            let db = app.db.clone();
            async move {
                app::on_backend!(&db, |pool| sqlx::query_scalar::<_, String>(
                    "SELECT issuer FROM sso_connections WHERE issuer <> 'https://sso.fixture.test'"
                )
                .fetch_optional(pool)
                .await
                .unwrap())
            }
        };
        assert_eq!(issuer(&app).await, None, "nothing saved");
        assert_eq!(connect(&app, &owner, "alpha", &provider.url, PASSWORD).await.status(), 303);
        assert_eq!(issuer(&app).await.as_deref(), Some(provider.url.as_str()));
        let stored: String = app::on_backend!(&app.db, |pool| sqlx::query_scalar(
            "SELECT client_secret FROM sso_connections WHERE client_id <> 'fixture'"
        )
        .fetch_one(pool)
        .await
        .unwrap());
        assert!(!stored.contains(CLIENT_SECRET), "sealed: {stored}");

        // Before the domain is proven, its addresses have no single sign-on.
        let visitor = new_client();
        let (_, login) = app.page(&visitor, "/login").await;
        assert!(!login.contains("Sign in with single sign-on"), "no domain yet");
        let early = app
            .post_form(
                &visitor,
                "/login/sso",
                &[("csrf_token", &csrf_field(&login)), ("email", "new@alpha.test")],
            )
            .await;
        assert_eq!(early.status(), 422);
        assert!(early.text().await.unwrap().contains("Single sign-on is not set up"));

        assert_eq!(claim(&app, &owner, "alpha", "alpha.test", "admin").await.status(), 303);
        let (_, page) = app.page(&owner, "/t/alpha/sso").await;
        assert!(page.contains("link sent to admin@alpha.test"), "{page}");
        let (status, page) = follow_proof(&app, "alpha.test").await;
        assert_eq!(status, 200, "{page}");
        assert!(page.contains("alpha.test is verified"), "{page}");
        let (_, login) = app.page(&visitor, "/login").await;
        assert!(login.contains("Sign in with single sign-on"), "{login}");

        // Someone new at the domain joins alpha just in time, as staff,
        // signed in, with a verified address and no password.
        provider.sign_in_as(Person::new("okta-new", "New.Person@Alpha.test"));
        let browser = new_client();
        let back = through_sso(&app, &provider, &browser, "new.person@alpha.test").await;
        assert_eq!(back.status(), 303);
        assert_eq!(email_of(&app, &browser).await.as_deref(), Some("new.person@alpha.test"));
        assert_eq!(role_in_alpha(&app, &owner, "new.person@alpha.test").await.as_deref(), Some("staff"));
        let (verified, password): (bool, Option<String>) = app::on_backend!(&app.db, |pool| {
            sqlx::query_as(
                "SELECT email_verified_at IS NOT NULL, password_hash FROM users \
                 WHERE email = 'new.person@alpha.test'",
            )
            .fetch_one(pool)
            .await
            .unwrap()
        });
        assert!(verified && password.is_none());

        // A member signs in as themselves, keeping their role; typing only
        // the address on the sign-in page goes to the provider too.
        provider.sign_in_as(Person::new("okta-manager", "manager@alpha.test"));
        let manager = new_client();
        let (_, login) = app.page(&manager, "/login").await;
        let start = app
            .post_form(
                &manager,
                "/login",
                &[
                    ("csrf_token", &csrf_field(&login)),
                    ("email", "manager@alpha.test"),
                    ("password", ""),
                ],
            )
            .await;
        assert_eq!(start.status(), 303);
        let to_sso = location(&start);
        assert!(to_sso.starts_with("/login/sso?email=manager%40alpha.test"), "{to_sso}");
        let start = manager.get(app.url(&to_sso)).send().await.unwrap();
        let callback = at_provider(&provider, start).await;
        let back = manager.get(app.url(&callback)).send().await.unwrap();
        assert_eq!(back.status(), 303);
        assert_eq!(email_of(&app, &manager).await.as_deref(), Some("manager@alpha.test"));
        assert_eq!(role_in_alpha(&app, &owner, "manager@alpha.test").await.as_deref(), Some("manager"));

        // The provider vouches only for alpha's own domain: an address
        // elsewhere (an existing account's) signs no one in, makes nothing.
        let users = count(&app, "users").await;
        crate::fixtures::user(&app.db, "victim@elsewhere.test").await;
        provider.sign_in_as(Person::new("okta-liar", "victim@elsewhere.test"));
        let stranger = new_client();
        let back = through_sso(&app, &provider, &stranger, "someone@alpha.test").await;
        assert_eq!(back.status(), 403);
        assert!(back.text().await.unwrap().contains("not with an address at a domain"));
        assert_eq!(email_of(&app, &stranger).await, None);
        assert_eq!(count(&app, "users").await, users + 1, "only the fixture's");
        assert_eq!(role_in_alpha(&app, &owner, "victim@elsewhere.test").await, None);

        // A token that fails a check signs no one in either.
        provider.sign_in_as(Person::new("okta-late", "late@alpha.test"));
        provider.lie(Some(Lie::WrongAudience));
        let back = through_sso(&app, &provider, &stranger, "late@alpha.test").await;
        assert_eq!(back.status(), 400);
        provider.lie(None);
        assert_eq!(email_of(&app, &stranger).await, None);
        assert_eq!(count(&app, "users").await, users + 1);

        // The round trip works once, in the browser that began it.
        provider.sign_in_as(Person::new("okta-twice", "twice@alpha.test"));
        let (_, page) = app.page(&stranger, "/login").await;
        let start = app
            .post_form(
                &stranger,
                "/login/sso",
                &[("csrf_token", &csrf_field(&page)), ("email", "twice@alpha.test")],
            )
            .await;
        let callback = at_provider(&provider, start).await;
        let elsewhere = new_client().get(app.url(&callback)).send().await.unwrap();
        assert_eq!(elsewhere.status(), 400, "another browser");
        assert_eq!(stranger.get(app.url(&callback)).send().await.unwrap().status(), 303);
        assert_eq!(stranger.get(app.url(&callback)).send().await.unwrap().status(), 400, "once");

        // A provider that is down when the browser comes back: a clear
        // page, nothing made.
        provider.sign_in_as(Person::new("okta-down", "down@alpha.test"));
        let (_, page) = app.page(&visitor, "/login").await;
        let start = app
            .post_form(
                &visitor,
                "/login/sso",
                &[("csrf_token", &csrf_field(&page)), ("email", "down@alpha.test")],
            )
            .await;
        let callback = at_provider(&provider, start).await;
        provider.set_down(true);
        let down = visitor.get(app.url(&callback)).send().await.unwrap();
        provider.set_down(false);
        assert_eq!(down.status(), 502);
        assert!(down.text().await.unwrap().contains("be reached right now"));
        assert_eq!(count(&app, "users").await, users + 2, "and twice@");
    })
    .await;
}

backend_test!(requiring_single_sign_on_refuses_every_other_way_in);
async fn requiring_single_sign_on_refuses_every_other_way_in(backend: Backend) {
    let provider = MockProvider::start().await;
    run_on(backend, |app| async move {
        let (f, owner) = set_up(&app, &provider).await;
        let required = || async {
            let answer = app.get_json(&owner, "/api/v1/t/alpha/sso").await;
            answer["provider"]["required"].as_bool().expect("a provider")
        };
        let require = |password: &'static str| async {
            let fields = [("required", "on"), ("require_password", password)];
            app.post_form(&owner, "/t/alpha/sso/require", &fields).await
        };

        // Not before a sign-in through it has worked.
        let early = require(PASSWORD).await;
        assert_eq!(early.status(), 409);
        assert!(!required().await);
        provider.sign_in_as(Person::new("okta-owner", "owner@alpha.test"));
        let (_, page) = app.page(&owner, "/t/alpha/sso").await;
        let test = app
            .post_form(&owner, "/t/alpha/sso/test", &[("csrf_token", &csrf_field(&page))])
            .await;
        let callback = at_provider(&provider, test).await;
        let back = owner.get(app.url(&callback)).send().await.unwrap();
        assert_eq!(location(&back), "/t/alpha/sso");
        let (_, page) = app.page(&owner, "/t/alpha/sso").await;
        assert!(page.contains("Single sign-on works"), "{page}");
        assert_eq!(email_of(&app, &owner).await.as_deref(), Some("owner@alpha.test"), "still the owner");

        // Asks for the password.
        assert_eq!(require("not the password").await.status(), 303);
        assert!(!required().await);
        assert_eq!(require(PASSWORD).await.status(), 303);
        assert!(required().await);

        // Every other way in is refused for alpha.test, saying where to go.
        let staff = app.client_for(f.staff).await;
        app.give_password(&staff).await;
        let says = "signs in with the single sign-on of alpha Ltd";
        let visitor = new_client();
        let (_, login) = app.page(&visitor, "/login").await;
        let password = app
            .post_form(
                &visitor,
                "/login",
                &[
                    ("csrf_token", &csrf_field(&login)),
                    ("email", "staff@alpha.test"),
                    ("password", PASSWORD),
                ],
            )
            .await;
        assert_eq!(password.status(), 403);
        assert!(password.text().await.unwrap().contains(says));
        assert_eq!(email_of(&app, &visitor).await, None);
        let program = new_client();
        let api = program
            .post(app.url("/api/v1/login"))
            .json(&serde_json::json!({"email": "staff@alpha.test", "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(api.status(), 403);
        let api: Value = api.json().await.unwrap();
        assert!(api["error"]["message"].as_str().unwrap().contains(says), "{api}");
        let signup = program
            .post(app.url("/api/v1/signup"))
            .json(&serde_json::json!({
                "email": "newcomer@alpha.test", "password": PASSWORD,
                "organisation": "Side Project", "time_zone": "UTC"
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(signup.status(), 403);
        assert_eq!(count(&app, "tenants").await, 1, "no side tenant");

        // Through the provider still works.
        provider.sign_in_as(Person::new("okta-staff", "staff@alpha.test"));
        let browser = new_client();
        assert_eq!(through_sso(&app, &provider, &browser, "staff@alpha.test").await.status(), 303);
        assert_eq!(email_of(&app, &browser).await.as_deref(), Some("staff@alpha.test"));

        // Another domain's people are not concerned.
        let beta = TenantFixture::create(&app.db, "beta").await;
        let beta_owner = app.client_for(beta.owner).await;
        app.give_password(&beta_owner).await;
        let other = new_client();
        let (_, login) = app.page(&other, "/login").await;
        let fine = app
            .post_form(
                &other,
                "/login",
                &[
                    ("csrf_token", &csrf_field(&login)),
                    ("email", "owner@beta.test"),
                    ("password", PASSWORD),
                ],
            )
            .await;
        assert_eq!(fine.status(), 303);

        // Stopping lets the password in again.
        let stop = app
            .post_form(
                &owner,
                "/t/alpha/sso/require",
                &[("required", "off"), ("require_password", PASSWORD)],
            )
            .await;
        assert_eq!(stop.status(), 303);
        let (_, login) = app.page(&visitor, "/login").await;
        let password = app
            .post_form(
                &visitor,
                "/login",
                &[
                    ("csrf_token", &csrf_field(&login)),
                    ("email", "staff@alpha.test"),
                    ("password", PASSWORD),
                ],
            )
            .await;
        assert_eq!(password.status(), 303);
    })
    .await;
}

backend_test!(a_domain_is_proven_by_its_administrators_and_held_by_one_organisation);
async fn a_domain_is_proven_by_its_administrators_and_held_by_one_organisation(backend: Backend) {
    let provider = MockProvider::start().await;
    run_on(backend, |app| async move {
        let (_, alpha_owner) = set_up(&app, &provider).await;
        let beta = TenantFixture::create(&app.db, "beta").await;
        let beta_owner = app.client_for(beta.owner).await;

        // Bad input: named, nothing claimed, nothing mailed.
        for (domain, mailbox, says) in [
            ("gmail.com", "admin", "public mail service"),
            ("not a domain", "admin", "Enter a domain name"),
            ("beta.test", "ceo", "which of the domain"),
            ("alpha.test", "admin", "Another organisation has verified"),
        ] {
            let refused = claim(&app, &beta_owner, "beta", domain, mailbox).await;
            assert_eq!(refused.status(), 422, "{domain} {mailbox}");
            assert!(refused.text().await.unwrap().contains(says), "{domain}: {says}");
        }
        assert!(app.emails_to("admin@gmail.com").await.is_empty());
        assert!(app.emails_to("ceo@beta.test").await.is_empty());

        // Both claim gamma.test; the first to follow its link holds it.
        assert_eq!(claim(&app, &alpha_owner, "alpha", "gamma.test", "webmaster").await.status(), 303);
        let alpha_link = app.link_in_email("webmaster@gamma.test", "/sso/domains/").await;
        assert_eq!(claim(&app, &beta_owner, "beta", "gamma.test", "admin").await.status(), 303);
        let (status, _) = follow_proof(&app, "gamma.test").await;
        assert_eq!(status, 200, "beta proved it");
        let browser = new_client();
        let (_, page) = app.page(&browser, &alpha_link).await;
        let late = app
            .post_form(&browser, &alpha_link, &[("csrf_token", &csrf_field(&page))])
            .await;
        assert_eq!(late.status(), 409);
        let domains = app.get_json(&alpha_owner, "/api/v1/t/alpha/sso").await["domains"].clone();
        assert!(
            domains.as_array().unwrap().iter().any(|d| d["domain"] == "gamma.test" && d["verified"] == false),
            "{domains}"
        );

        // A link is used once and expires.
        assert_eq!(claim(&app, &alpha_owner, "alpha", "delta.test", "admin").await.status(), 303);
        app.execute("UPDATE sso_domains SET expires_at = 0 WHERE domain = 'delta.test'").await;
        let link = app.link_in_email("admin@delta.test", "/sso/domains/").await;
        assert_eq!(app.page(&new_client(), &link).await.0, 400, "expired");

        // A plan without single sign-on can't set it up.
        app.execute(&format!("UPDATE tenants SET comped = false WHERE id = '{}'", beta.id)).await;
        app.give_password(&beta_owner).await;
        let refused = connect(&app, &beta_owner, "beta", &provider.url, PASSWORD).await;
        assert_eq!(refused.status(), 403);
        assert!(refused.text().await.unwrap().contains("not part of the Free plan"));
        let (_, page) = app.page(&beta_owner, "/t/beta/sso").await;
        assert!(page.contains("Upgrade"), "{page}");
    })
    .await;
}
