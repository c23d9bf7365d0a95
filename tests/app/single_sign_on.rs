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
use crate::provider_sign_in::{at_provider, continue_with, location, with};
use crate::sign_in_links::{ask, press, signed_in_as};
use crate::support::{TestApp, backend_test, csrf_field, new_client, run_on, run_on_with};

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

/// Marks the fixture's addresses at `domain` confirmed (a fixture's
/// users are made unconfirmed).
async fn confirm_addresses(app: &TestApp, domain: &str) {
    app.execute(&format!(
        "UPDATE users SET email_verified_at = created_at WHERE email LIKE '%@{domain}'"
    ))
    .await;
}

/// alpha's owner (given the tests' password) connects `provider` and
/// proves alpha.test; returns the fixture and the owner's browser.
async fn set_up(app: &TestApp, provider: &MockProvider) -> (TenantFixture, reqwest::Client) {
    let f = TenantFixture::create(&app.db, "alpha").await;
    confirm_addresses(app, "alpha.test").await;
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

/// Signs in on the sign-in page with a password, as `browser`: the answer.
async fn with_password(
    app: &TestApp,
    browser: &reqwest::Client,
    email: &str,
    password: &str,
) -> reqwest::Response {
    let (_, login) = app.page(browser, "/login").await;
    let token = csrf_field(&login);
    let fields = [
        ("csrf_token", token.as_str()),
        ("email", email),
        ("password", password),
    ];
    app.post_form(browser, "/login", &fields).await
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
        // Its first provider (the fixture gives each tenant one).
        app.execute(&format!("DELETE FROM sso_connections WHERE tenant_id = '{}'", f.id)).await;
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
        let link = app.link_in_email("admin@alpha.test", "/sso/domains/").await;
        let (status, page) = follow_proof(&app, "alpha.test").await;
        assert_eq!(status, 200, "{page}");
        assert!(page.contains("alpha.test is verified"), "{page}");
        assert_eq!(app.page(&new_client(), &link).await.0, 400, "a proof link works once");
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

        // Removed in the app, the member loses the organisation at once.
        let (status, _) = app.page(&browser, "/t/alpha/locations").await;
        assert_eq!(status, 200);
        let members = app.get_json(&owner, "/api/v1/t/alpha/members").await;
        let membership = members
            .as_array()
            .unwrap()
            .iter()
            .find(|member| member["email"] == "new.person@alpha.test")
            .expect("the new member")["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let removed = owner
            .delete(app.url(&format!("/api/v1/t/alpha/members/{membership}")))
            .send()
            .await
            .unwrap();
        assert!(removed.status().is_success(), "{}", removed.status());
        let (status, _) = app.page(&browser, "/t/alpha/locations").await;
        assert_ne!(status, 200, "no longer a member");

        // An account whose address was never confirmed is not the
        // provider's to sign in (someone may have made it before its owner).
        provider.sign_in_as(Person::new("okta-manager", "manager@alpha.test"));
        let manager = new_client();
        let unconfirmed = through_sso(&app, &provider, &manager, "manager@alpha.test").await;
        assert_eq!(unconfirmed.status(), 409);
        assert!(unconfirmed.text().await.unwrap().contains("never confirmed"));
        assert_eq!(email_of(&app, &manager).await, None);

        // Its owner confirms it with "Forgot your password?": the ways in
        // its maker may have added (a passkey, a provider account) go with
        // that.
        let manager_id = app.user_id("manager@alpha.test").await;
        app.execute_all(&[
            &format!(
                "INSERT INTO passkeys (id, user_id, name, credential_id, passkey, created_at) \
                 VALUES ('{}', '{manager_id}', 'Planted', 'cred-planted', '{{}}', '2026-12-01T00:00:00Z')",
                app::ids::PasskeyId::new()
            ),
            &format!(
                "INSERT INTO user_identities (provider, issuer, subject, user_id, email, created_at) \
                 VALUES ('github', 'https://github.com', '42', '{manager_id}', 'x@y.test', '2026-12-01T00:00:00Z')"
            ),
        ])
        .await;
        let (_, page) = app.page(&manager, "/forgot-password").await;
        let fields = [("csrf_token", csrf_field(&page)), ("email", "manager@alpha.test".to_owned())];
        assert_eq!(app.post_form(&manager, "/forgot-password", &[(fields[0].0, &fields[0].1), (fields[1].0, &fields[1].1)]).await.status(), 200);
        let reset = app.link_in_email("manager@alpha.test", "/reset-password/").await;
        let (_, page) = app.page(&manager, &reset).await;
        let fields = [("csrf_token", csrf_field(&page)), ("password", "a brand new passphrase".to_owned())];
        let done = app.post_form(&manager, &reset, &[(fields[0].0, &fields[0].1), (fields[1].0, &fields[1].1)]).await;
        assert_eq!(done.status(), 303);
        let planted: i64 = app::on_backend!(&app.db, |pool| sqlx::query_scalar(
            "SELECT (SELECT count(*) FROM passkeys) + (SELECT count(*) FROM user_identities)"
        )
        .fetch_one(pool)
        .await
        .unwrap());
        assert_eq!(planted, 0, "the maker's ways in are gone");
        let manager = new_client();

        // Confirmed, a member signs in as themselves, keeping their role;
        // typing only the address on the sign-in page goes on to the
        // provider too (the same POST, with its CSRF token).
        confirm_addresses(&app, "alpha.test").await;
        let (_, login) = app.page(&manager, "/login").await;
        let form = [
            ("csrf_token", csrf_field(&login)),
            ("email", "manager@alpha.test".to_owned()),
            ("password", String::new()),
        ];
        let start = manager.post(app.url("/login")).form(&form).send().await.unwrap();
        assert_eq!(start.status(), 307);
        assert_eq!(location(&start), "/login/sso");
        assert_eq!(
            new_client().get(app.url("/login/sso")).send().await.unwrap().status(),
            405,
            "no link starts one"
        );
        let start = manager.post(app.url("/login/sso")).form(&form).send().await.unwrap();
        let callback = at_provider(&provider, start).await;
        let back = manager.get(app.url(&callback)).send().await.unwrap();
        assert_eq!(back.status(), 303);
        assert_eq!(email_of(&app, &manager).await.as_deref(), Some("manager@alpha.test"));
        assert_eq!(role_in_alpha(&app, &owner, "manager@alpha.test").await.as_deref(), Some("manager"));

        // The provider vouches only for alpha's own domains: an address at
        // a domain another organisation verified (an existing account's)
        // signs no one in and makes nothing; nor does one it calls
        // unconfirmed, or a super-admin's.
        let beta = TenantFixture::create(&app.db, "beta").await;
        confirm_addresses(&app, "beta.test").await;
        let beta_owner = app.client_for(beta.owner).await;
        assert_eq!(claim(&app, &beta_owner, "beta", "beta.test", "admin").await.status(), 303);
        assert_eq!(follow_proof(&app, "beta.test").await.0, 200);
        let users = count(&app, "users").await;
        let stranger = new_client();
        for (person, says) in [
            (Person::new("okta-liar", "staff@beta.test"), "not with a confirmed address"),
            (
                Person { email_verified: false, ..Person::new("okta-unconfirmed", "unconfirmed@alpha.test") },
                "not with a confirmed address",
            ),
        ] {
            provider.sign_in_as(person);
            let back = through_sso(&app, &provider, &stranger, "someone@alpha.test").await;
            assert_eq!(back.status(), 403);
            assert!(back.text().await.unwrap().contains(says));
        }
        crate::fixtures::user(&app.db, "ops@alpha.test").await;
        app.execute("UPDATE users SET is_super_admin = true, email_verified_at = created_at WHERE email = 'ops@alpha.test'").await;
        provider.sign_in_as(Person::new("okta-ops", "ops@alpha.test"));
        let back = through_sso(&app, &provider, &stranger, "ops@alpha.test").await;
        assert_eq!(back.status(), 409);
        assert!(back.text().await.unwrap().contains("A super-admin signs in with a password"));
        assert_eq!(email_of(&app, &stranger).await, None);
        assert_eq!(count(&app, "users").await, users + 1, "only ops@");
        assert_eq!(role_in_alpha(&app, &owner, "staff@beta.test").await, None);
        assert_eq!(role_in_alpha(&app, &owner, "ops@alpha.test").await, None);

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

        // Settings changed while someone is at the provider: their way
        // back finishes nothing.
        provider.sign_in_as(Person::new("okta-midway", "midway@alpha.test"));
        let midway_browser = new_client();
        let (_, page) = app.page(&midway_browser, "/login").await;
        let start = app
            .post_form(
                &midway_browser,
                "/login/sso",
                &[("csrf_token", &csrf_field(&page)), ("email", "midway@alpha.test")],
            )
            .await;
        let callback = at_provider(&provider, start).await;
        let elsewhere = format!("{}/", provider.url);
        assert_eq!(connect(&app, &owner, "alpha", &elsewhere, PASSWORD).await.status(), 303);
        let changed = midway_browser.get(app.url(&callback)).send().await.unwrap();
        assert_eq!(changed.status(), 409);
        assert_eq!(email_of(&app, &midway_browser).await, None);
        assert_eq!(connect(&app, &owner, "alpha", &provider.url, PASSWORD).await.status(), 303);

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
        assert_eq!(count(&app, "users").await, users + 2, "ops@ and twice@");
    })
    .await;
}

backend_test!(requiring_single_sign_on_refuses_every_other_way_in);
async fn requiring_single_sign_on_refuses_every_other_way_in(backend: Backend) {
    let provider = MockProvider::start().await;
    // The app-wide "Continue with Acme ID", at a provider of its own.
    let app_wide = MockProvider::start().await;
    let options = with(&app_wide, &["oidc"]);
    run_on_with(backend, || options, |app| async move {
        let (f, owner) = set_up(&app, &provider).await;
        // Before it is required: a sign-in link asked for, and a provider
        // account linked to a member.
        let asked = new_client();
        assert_eq!(ask(&app, &asked, "staff@alpha.test").await.0, 200);
        let link = app.link_in_email("staff@alpha.test", "/login/link/").await;
        app.execute(&format!(
            "INSERT INTO user_identities (provider, issuer, subject, user_id, email, created_at) \
             VALUES ('oidc', '{}', 'acme-staff', '{}', 'staff@alpha.test', '2026-01-01T00:00:00Z')",
            app_wide.url, f.staff
        ))
        .await;
        let required = || async {
            let answer = app.get_json(&owner, "/api/v1/t/alpha/sso").await;
            answer["provider"]["required"].as_bool().expect("a provider")
        };
        let require = |password: &'static str| async {
            let fields = [("required", "on"), ("require_password", password)];
            app.post_form(&owner, "/t/alpha/sso/require", &fields).await
        };

        // A sign-in waiting for its second factor when the requirement
        // comes is refused at the code.
        let manager = app.client_for(f.manager).await;
        let (totp, _) = app.enrol_two_factor(&manager).await;
        let waiting = new_client();
        let first = with_password(&app, &waiting, "manager@alpha.test", PASSWORD).await;
        assert!(location(&first).starts_with("/login/two-factor"), "{}", location(&first));

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

        // Asks for the password. Once required, sessions at the domain
        // opened another way end; the owner's own stays, and so do other
        // domains'.
        let signed_in_before = app.client_for(f.admin).await;
        let beta_before = {
            let beta = TenantFixture::create(&app.db, "gamma").await;
            app.client_for(beta.owner).await
        };
        assert_eq!(require("not the password").await.status(), 303);
        assert!(!required().await);
        assert_eq!(require(PASSWORD).await.status(), 303);
        assert!(required().await);
        let (_, page) = app.page(&owner, "/t/alpha/sso").await;
        assert!(
            page.contains("(2 other sessions signed out)"),
            "the admin's and the manager's, not the owner's: {page}"
        );
        assert_eq!(email_of(&app, &signed_in_before).await, None, "signed out");
        assert_eq!(email_of(&app, &owner).await.as_deref(), Some("owner@alpha.test"));
        assert_eq!(email_of(&app, &beta_before).await.as_deref(), Some("owner@gamma.test"));

        let code = totp.generate_current().to_string();
        let late = crate::two_factor::code_step(&app, &waiting, &code).await;
        assert_eq!(late.status(), 403, "the code after the requirement");
        assert_eq!(email_of(&app, &waiting).await, None);

        // A member can't move their address off the domain to slip out
        // (signed in again: requiring it ended their session).
        let manager = app.client_for(f.manager).await;
        let (_, page) = app.page(&manager, "/account").await;
        let moved = app
            .post_form(
                &manager,
                "/account/email",
                &[
                    ("csrf_token", &csrf_field(&page)),
                    ("email", "manager@elsewhere.test"),
                    ("password", PASSWORD),
                ],
            )
            .await;
        assert_eq!(moved.status(), 422);
        assert!(moved.text().await.unwrap().contains("Your address is managed by the single sign-on"));

        // A super-admin at the domain isn't bound by it: their password
        // (and second factor) still open the panel, their way out of a
        // lock-out; a wrong password gets the same refusal as anyone's.
        let ops = crate::fixtures::user(&app.db, "ops@alpha.test").await;
        app.execute("UPDATE users SET is_super_admin = true WHERE email = 'ops@alpha.test'").await;
        app.give_password(&app.client_for(ops).await).await;
        for (password, status) in [("not the password", 403), (PASSWORD, 303)] {
            let browser = new_client();
            let answer = with_password(&app, &browser, "ops@alpha.test", password).await;
            assert_eq!(answer.status(), status, "{password}");
        }

        // Every other way in is refused for alpha.test, saying where to go.
        let staff = app.client_for(f.staff).await;
        app.give_password(&staff).await;
        let users_before = count(&app, "users").await;
        let says = "signs in with the single sign-on of alpha Ltd";
        let visitor = new_client();
        let password = with_password(&app, &visitor, "staff@alpha.test", PASSWORD).await;
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
        assert_eq!(count(&app, "tenants").await, 2, "alpha and gamma: no side tenant");
        let (status, page) = ask(&app, &visitor, "staff@alpha.test").await;
        assert_eq!(status, 403);
        assert!(page.contains(says), "{page}");
        // An invitation's new account (the fixture invited invited@alpha.test).
        let invitation = format!("/invitations/{}/{}", f.id, f.invitation);
        let (_, page) = app.page(&visitor, &invitation).await;
        let joined = app
            .post_form(
                &visitor,
                &invitation,
                &[("csrf_token", &csrf_field(&page)), ("password", PASSWORD)],
            )
            .await;
        assert_eq!(joined.status(), 403);
        assert!(joined.text().await.unwrap().contains(says));
        assert_eq!(count(&app, "users").await, users_before, "no account made");
        let used = press(&app, &asked, &link).await;
        assert_eq!(used.status(), 403, "a link asked for before");
        assert_eq!(email_of(&app, &asked).await, None);
        app_wide.sign_in_as(Person::new("acme-staff", "staff@alpha.test"));
        let linked = continue_with(&app, &app_wide, &visitor, "oidc").await;
        assert_eq!(linked.status(), 403, "a linked provider account");
        assert_eq!(email_of(&app, &visitor).await, None);
        app_wide.sign_in_as(Person::new("acme-new", "newcomer@alpha.test"));
        let new = continue_with(&app, &app_wide, &visitor, "oidc").await;
        assert_eq!(new.status(), 403, "a signup through a provider");
        assert!(new.text().await.unwrap().contains(says));
        let (_, form) = app.page(&visitor, "/signup").await;
        let page_signup = app
            .post_form(
                &visitor,
                "/signup",
                &[
                    ("csrf_token", &csrf_field(&form)),
                    ("email", "newcomer@alpha.test"),
                    ("password", PASSWORD),
                    ("organisation", "Side Project"),
                    ("time_zone", "UTC"),
                ],
            )
            .await;
        assert_eq!(page_signup.status(), 403);
        assert_eq!(count(&app, "tenants").await, 2, "alpha and gamma: no side tenant");

        // A password reset sets the password (it confirms changes) but
        // signs no one in.
        let (_, page) = app.page(&visitor, "/forgot-password").await;
        let asked_reset = app
            .post_form(
                &visitor,
                "/forgot-password",
                &[("csrf_token", &csrf_field(&page)), ("email", "staff@alpha.test")],
            )
            .await;
        assert_eq!(asked_reset.status(), 200);
        let reset = app.link_in_email("staff@alpha.test", "/reset-password/").await;
        let (_, page) = app.page(&visitor, &reset).await;
        let done = app
            .post_form(
                &visitor,
                &reset,
                &[("csrf_token", &csrf_field(&page)), ("password", "a brand new passphrase")],
            )
            .await;
        assert_eq!(location(&done), "/login");
        assert_eq!(email_of(&app, &visitor).await, None);
        let (_, login) = app.page(&visitor, "/login").await;
        assert!(login.contains("Your new password is set"), "{login}");
        // Through the provider still works.
        provider.sign_in_as(Person::new("okta-staff", "staff@alpha.test"));
        let browser = new_client();
        assert_eq!(through_sso(&app, &provider, &browser, "staff@alpha.test").await.status(), 303);
        assert_eq!(email_of(&app, &browser).await.as_deref(), Some("staff@alpha.test"));

        // One with a second factor passes it after the provider.
        provider.sign_in_as(Person::new("okta-manager", "manager@alpha.test"));
        let browser = new_client();
        let back = through_sso(&app, &provider, &browser, "manager@alpha.test").await;
        assert!(location(&back).starts_with("/login/two-factor"), "{}", location(&back));
        // The next step's code: the current one went into enrolling.
        let next_step = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 30;
        let code = totp.generate(next_step).to_string();
        let done = crate::two_factor::code_step(&app, &browser, &code).await;
        assert_eq!(done.status(), 303);
        assert_eq!(email_of(&app, &browser).await.as_deref(), Some("manager@alpha.test"));

        // Removed at the provider, they are out at their next sign-in.
        provider.sign_out();
        let removed = new_client();
        let refused = through_sso(&app, &provider, &removed, "staff@alpha.test").await;
        assert_eq!(refused.status(), 400);
        assert_eq!(email_of(&app, &removed).await, None);

        // Another domain's people are not concerned.
        let beta = TenantFixture::create(&app.db, "beta").await;
        let beta_owner = app.client_for(beta.owner).await;
        app.give_password(&beta_owner).await;
        let other = new_client();
        let fine = with_password(&app, &other, "owner@beta.test", PASSWORD).await;
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
        let password = with_password(&app, &visitor, "staff@alpha.test", "a brand new passphrase").await;
        assert_eq!(password.status(), 303);

        // Removing the provider asks for the password too.
        for (password, kept) in [("not the password", true), (PASSWORD, false)] {
            let fields = [("remove_password", password)];
            let removed = app.post_form(&owner, "/t/alpha/sso/remove", &fields).await;
            assert_eq!(removed.status(), 303);
            let answer = app.get_json(&owner, "/api/v1/t/alpha/sso").await;
            assert_eq!(answer["provider"].is_object(), kept, "{password}: {answer}");
        }
    })
    .await;
}

backend_test!(a_domain_is_proven_by_its_administrators_and_held_by_one_organisation);
async fn a_domain_is_proven_by_its_administrators_and_held_by_one_organisation(backend: Backend) {
    let provider = MockProvider::start().await;
    run_on(backend, |app| async move {
        let (alpha, alpha_owner) = set_up(&app, &provider).await;

        // The tenant's export carries its provider, never the secret.
        let archive = crate::tenant_export::export_archive(&app, alpha.id).await;
        let files = crate::tenant_export::contents(&archive);
        let exported = &files["tables/sso_connections.jsonl"][0];
        assert_eq!(exported["issuer"], provider.url.as_str());
        assert!(exported["client_secret"].is_null(), "{exported}");
        let everything: String = crate::tenant_export::entries(&archive)
            .into_iter()
            .map(|(_, text)| text)
            .collect();
        assert!(!everything.contains(CLIENT_SECRET));

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

        // Letting a domain go asks for the password.
        app.give_password(&alpha_owner).await;
        let let_go = |password: &'static str| async {
            let fields = [("domain", "alpha.test"), ("password", password)];
            app.post_form(&alpha_owner, "/t/alpha/sso/domains/remove", &fields).await
        };
        assert_eq!(let_go("not the password").await.status(), 303);
        let verified = || async {
            let answer = app.get_json(&alpha_owner, "/api/v1/t/alpha/sso").await;
            answer["domains"].as_array().unwrap().iter().any(|d| d["domain"] == "alpha.test")
        };
        assert!(verified().await, "still held");
        assert_eq!(let_go(PASSWORD).await.status(), 303);
        assert!(!verified().await, "let go");

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

backend_test!(a_super_admin_verifies_and_releases_domains_and_stops_a_requirement);
async fn a_super_admin_verifies_and_releases_domains_and_stops_a_requirement(backend: Backend) {
    let provider = MockProvider::start().await;
    run_on(backend, |app| async move {
        let (f, owner) = set_up(&app, &provider).await;
        let operator = crate::admin::super_admin(&app).await;
        let path = |action: &str| format!("/admin/tenants/{}/{action}", f.id);

        // Verified on the operator's word, with a reason for the audit log.
        let verified = crate::admin::act(
            &app,
            &operator,
            &path("sso-domains"),
            &[("sso-domain", "Corp.Alpha.test"), ("reason", "DNS TXT record checked")],
        )
        .await;
        assert_eq!(verified.status(), 303);
        let domains = app.get_json(&owner, "/api/v1/t/alpha/sso").await["domains"].clone();
        assert!(
            domains.as_array().unwrap().iter().any(|d| d["domain"] == "corp.alpha.test" && d["verified"] == true),
            "{domains}"
        );
        let reasons = crate::admin::audit_reasons(&app).await;
        assert!(
            reasons.iter().any(|r| r.contains("corp.alpha.test") && r.contains("DNS TXT record checked")),
            "{reasons:?}"
        );
        let public = crate::admin::act(
            &app,
            &operator,
            &path("sso-domains"),
            &[("sso-domain", "gmail.com"), ("reason", "asked")],
        )
        .await;
        assert_eq!(public.status(), 422, "a public mail domain, even so");

        // A requirement that locks everyone out is stopped from the panel.
        provider.sign_in_as(Person::new("okta-owner", "owner@alpha.test"));
        let (_, page) = app.page(&owner, "/t/alpha/sso").await;
        let test = app
            .post_form(&owner, "/t/alpha/sso/test", &[("csrf_token", &csrf_field(&page))])
            .await;
        let callback = at_provider(&provider, test).await;
        owner.get(app.url(&callback)).send().await.unwrap();
        app.give_password(&owner).await;
        let fields = [("required", "on"), ("require_password", PASSWORD)];
        app.post_form(&owner, "/t/alpha/sso/require", &fields).await;
        let required = || async {
            app.get_json(&owner, "/api/v1/t/alpha/sso").await["provider"]["required"] == true
        };
        assert!(required().await);
        let stopped = crate::admin::act(
            &app,
            &operator,
            &path("sso/stop-requiring"),
            &[("reason", "their provider is down")],
        )
        .await;
        assert_eq!(stopped.status(), 303);
        assert!(!required().await);

        // A domain held by the wrong organisation is released.
        let released = crate::admin::act(
            &app,
            &operator,
            &path("sso-domains/release"),
            &[("sso-release-domain", "alpha.test"), ("reason", "disputed")],
        )
        .await;
        assert_eq!(released.status(), 303);
        let visitor = new_client();
        let (_, login) = app.page(&visitor, "/login").await;
        let none = app
            .post_form(
                &visitor,
                "/login/sso",
                &[("csrf_token", &csrf_field(&login)), ("email", "staff@alpha.test")],
            )
            .await;
        assert_eq!(none.status(), 422, "no single sign-on for alpha.test any more");
    })
    .await;
}

backend_test!(single_sign_on_is_rate_limited_per_address);
async fn single_sign_on_is_rate_limited_per_address(backend: Backend) {
    let provider = MockProvider::start().await;
    run_on(backend, |app| async move {
        set_up(&app, &provider).await;
        let browser = new_client();
        let (_, page) = app.page(&browser, "/login").await;
        let token = csrf_field(&page);
        let mut statuses = Vec::new();
        for _ in 0..31 {
            let fields = [("csrf_token", token.as_str()), ("email", "staff@alpha.test")];
            statuses.push(app.post_form(&browser, "/login/sso", &fields).await.status().as_u16());
        }
        assert!(statuses[..30].iter().all(|status| *status == 303), "{statuses:?}");
        assert_eq!(statuses[30], 429);
        let callback = new_client()
            .get(app.url("/login/sso/callback?code=x&state=y"))
            .send()
            .await
            .unwrap();
        assert_eq!(callback.status(), 429, "the way back counts too");
        let mut statuses = Vec::new();
        for _ in 0..21 {
            statuses.push(app.page(&new_client(), "/sso/domains/guessed-token").await.0);
        }
        // (Setting up followed one link already: its two requests count.)
        let limited = statuses.iter().position(|status| *status == 429);
        assert!(limited.is_some(), "guessing proof links: {statuses:?}");
        assert!(statuses[..limited.unwrap()].iter().all(|status| *status == 400), "{statuses:?}");
    })
    .await;
}
