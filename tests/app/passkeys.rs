//! Passkeys: added on the account page and used to sign in without an
//! email, in real headless Chromium with WebDriver's virtual authenticator
//! (a platform authenticator that keeps discoverable credentials and
//! verifies its user); naming, renaming and removing, and every refusal,
//! over HTTP. On both databases.

use app::db::Backend;
use fantoccini::Locator;
use fantoccini::wd::WebDriverCompatibleCommand;
use serde_json::{Value, json};

use crate::accounts::{PASSWORD, count, sign_up};
use crate::browser::Browser;
use crate::sign_in_links::signed_in_as;
use crate::support::{Options, TestApp, backend_test, csrf_field, new_client, run_on, run_on_with};
use app::on_backend;

/// A WebDriver WebAuthn extension command (`/session/{id}/webauthn/…`),
/// which fantoccini has no type for.
#[derive(Debug)]
struct WebAuthn {
    method: http::Method,
    path: String,
    body: Option<Value>,
}

impl WebDriverCompatibleCommand for WebAuthn {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        let session = session.expect("a WebDriver session");
        base.join(&format!("session/{session}/webauthn/{}", self.path))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (self.method.clone(), self.body.as_ref().map(Value::to_string))
    }
}

/// Gives the browser a platform authenticator that keeps discoverable
/// credentials and verifies its user; returns its id.
async fn add_authenticator(browser: &Browser) -> String {
    let id = browser
        .client
        .issue_cmd(WebAuthn {
            method: http::Method::POST,
            path: "authenticator".to_owned(),
            body: Some(json!({
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": true,
                "hasUserVerification": true,
                "isUserVerified": true,
                "automaticPresenceSimulation": true,
            })),
        })
        .await
        .expect("add a virtual authenticator");
    id.as_str().expect("its id").to_owned()
}

async fn credentials(browser: &Browser, authenticator: &str) -> Vec<Value> {
    let listed = browser
        .client
        .issue_cmd(WebAuthn {
            method: http::Method::GET,
            path: format!("authenticator/{authenticator}/credentials"),
            body: None,
        })
        .await
        .expect("list the credentials");
    listed.as_array().expect("a list").clone()
}

/// The app's address as `localhost` (a passkey's site must be a domain
/// name: `127.0.0.1` can't have one).
fn on_localhost(app: &TestApp, path: &str) -> String {
    app.url(path).replace("127.0.0.1", "localhost")
}

async fn signed_in_email(browser: &Browser) -> Option<String> {
    let me = browser
        .run("const r = await fetch('/api/v1/me'); return r.ok ? (await r.json()).user.email : null;")
        .await;
    me.as_str().map(str::to_owned)
}

backend_test!(a_passkey_added_on_the_account_page_signs_in_without_an_email_or_a_code);
async fn a_passkey_added_on_the_account_page_signs_in_without_an_email_or_a_code(
    backend: Backend,
) {
    run_on(backend, |app| async move {
        let Some(browser) = Browser::launch().await else {
            return;
        };
        let client = sign_up(&app, "pia@example.com", "Pia's").await;
        // Two-factor on: a passkey sign-in must not ask for the code.
        let (_, recovery) = app.enrol_two_factor(&client).await;
        let authenticator = add_authenticator(&browser).await;

        // Signed in, in the browser (the tests' route: the password and the
        // code are another test's business).
        browser.client.goto(&on_localhost(&app, "/login")).await.unwrap();
        let user = app.user_id("pia@example.com").await;
        let signed = browser
            .run(&format!(
                "const token = document.querySelector('input[name=csrf_token]').value; \
                 const r = await fetch('/test/sign-in', {{method: 'POST', \
                   headers: {{'Content-Type': 'application/json', 'X-CSRF-Token': token}}, \
                   body: JSON.stringify('{user}')}}); return r.status;"
            ))
            .await;
        assert_eq!(signed, json!(200));
        assert_eq!(signed_in_email(&browser).await.as_deref(), Some("pia@example.com"));

        // The account page: name it, give the password, add it.
        browser.client.goto(&on_localhost(&app, "/account")).await.unwrap();
        let add = browser.client.form(Locator::Css("form#passkey-add")).await.unwrap();
        add.set_by_name("passkey_new_name", "Work laptop").await.unwrap();
        add.set_by_name("passkey_password", PASSWORD).await.unwrap();
        // Two-factor is on: adding a way in that skips the code takes one.
        add.set_by_name("passkey_code", &recovery[0]).await.unwrap();
        browser.click("form#passkey-add button[type='submit']").await;
        browser
            .wait_until("document.body.innerText.includes('Passkey \u{201c}Work laptop\u{201d} added')")
            .await;
        let held = credentials(&browser, &authenticator).await;
        assert_eq!(held.len(), 1, "{held:?}");
        assert_eq!(held[0]["isResidentCredential"], true, "discoverable: {held:?}");
        assert_eq!(count(&app, "passkeys").await, 1);
        let mailed = app.emails_to("pia@example.com").await;
        assert!(
            mailed
                .iter()
                .any(|email| email.subject.starts_with("Added to your")
                    && email.subject.ends_with(": The passkey \u{201c}Work laptop\u{201d}")),
            "the account is told"
        );

        // Adding a second on the same device is refused by the device.
        let add = browser.client.form(Locator::Css("form#passkey-add")).await.unwrap();
        add.set_by_name("passkey_new_name", "Again").await.unwrap();
        add.set_by_name("passkey_password", PASSWORD).await.unwrap();
        add.set_by_name("passkey_code", &recovery[1]).await.unwrap();
        browser.click("form#passkey-add button[type='submit']").await;
        browser
            .wait_until("document.getElementById('passkey-add-status').innerText.includes('has a passkey for your account already')")
            .await;
        assert_eq!(count(&app, "passkeys").await, 1);

        // Signed out, the sign-in page's button signs in: no email, no code.
        let record = || async {
            on_backend!(&app.db, |pool| sqlx::query_scalar::<_, String>("SELECT passkey FROM passkeys")
                .fetch_one(pool)
                .await)
            .unwrap()
        };
        for round in 0..2 {
            let before = record().await;
            browser.client.delete_all_cookies().await.unwrap();
            browser
                .client
                .goto(&on_localhost(&app, "/login?next=/account"))
                .await
                .unwrap();
            assert_eq!(signed_in_email(&browser).await, None);
            browser.wait_until("!document.getElementById('passkey-sign-in').hidden").await;
            browser.click("#passkey-sign-in").await;
            browser.wait_until("location.pathname === '/account'").await;
            assert_eq!(
                signed_in_email(&browser).await.as_deref(),
                Some("pia@example.com"),
                "round {round}"
            );
            assert_ne!(record().await, before, "round {round}: the signature counter is kept");
        }
        let (_, page) = app.page(&client, "/account").await;
        assert!(page.contains("Work laptop") && page.contains("last used"), "{page}");

        // Where the organisation requires its single sign-on for the
        // passkey's address, the passkey signs no one in, and says why.
        app.execute_all(&[
            "UPDATE tenants SET comped = true",
            &format!(
                "INSERT INTO sso_connections (tenant_id, id, issuer, client_id, client_secret, \
                 default_role, required, worked_at, created_at, updated_at) \
                 SELECT id, '{}', 'https://sso.example.test', 'client', 'secret', 'staff', true, \
                 '2026-12-01T00:00:00Z', '2026-12-01T00:00:00Z', '2026-12-01T00:00:00Z' FROM tenants",
                app::ids::RowId::new()
            ),
            "INSERT INTO sso_domains (tenant, domain, verified_at, verified_by, created_at) \
             SELECT id, 'example.com', '2026-12-01T00:00:00Z', 'test', '2026-12-01T00:00:00Z' FROM tenants",
        ])
        .await;
        browser.client.delete_all_cookies().await.unwrap();
        browser.client.goto(&on_localhost(&app, "/login")).await.unwrap();
        browser.wait_until("!document.getElementById('passkey-sign-in').hidden").await;
        browser.click("#passkey-sign-in").await;
        browser
            .wait_until("document.getElementById('passkey-sign-in-status').innerText.includes('single sign-on')")
            .await;
        assert_eq!(signed_in_email(&browser).await, None);
        app.execute("DELETE FROM sso_domains").await;

        // The passkey, said to be someone else's now, signs in neither.
        sign_up(&app, "quin@example.com", "Quin's").await;
        let quin = app.user_id("quin@example.com").await;
        app.execute(&format!("UPDATE passkeys SET user_id = '{quin}'")).await;
        browser.client.delete_all_cookies().await.unwrap();
        browser.client.goto(&on_localhost(&app, "/login")).await.unwrap();
        browser.wait_until("!document.getElementById('passkey-sign-in').hidden").await;
        browser.click("#passkey-sign-in").await;
        browser
            .wait_until("document.getElementById('passkey-sign-in-status').innerText.includes('not registered here')")
            .await;
        assert_eq!(signed_in_email(&browser).await, None);
        let pia = app.user_id("pia@example.com").await;
        app.execute(&format!("UPDATE passkeys SET user_id = '{pia}'")).await;

        // A device that can't verify its user signs no one in.
        browser
            .client
            .issue_cmd(WebAuthn {
                method: http::Method::POST,
                path: format!("authenticator/{authenticator}/uv"),
                body: Some(json!({ "isUserVerified": false })),
            })
            .await
            .expect("turn user verification off");
        browser.client.delete_all_cookies().await.unwrap();
        browser.client.goto(&on_localhost(&app, "/login")).await.unwrap();
        browser.wait_until("!document.getElementById('passkey-sign-in').hidden").await;
        browser.click("#passkey-sign-in").await;
        browser
            .wait_until("!document.getElementById('passkey-sign-in-status').hidden")
            .await;
        assert_eq!(signed_in_email(&browser).await, None);
        browser.close().await;
    })
    .await;
}

/// A stored passkey for `user`, as a registration would leave it (its
/// record isn't a real credential: these tests don't sign in with it).
async fn stored_passkey(app: &TestApp, email: &str, name: &str) -> String {
    let user = app.user_id(email).await;
    let id = app::ids::PasskeyId::new();
    app.execute(&format!(
        "INSERT INTO passkeys (id, user_id, name, credential_id, passkey, created_at) \
         VALUES ('{id}', '{user}', '{name}', 'cred-{id}', '{{}}', '2026-12-01T00:00:00Z')"
    ))
    .await;
    id.to_string()
}

async fn post_on_account(app: &TestApp, client: &reqwest::Client, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    let (_, page) = app.page(client, "/account").await;
    let token = csrf_field(&page);
    let mut form = vec![("csrf_token", token.as_str())];
    form.extend_from_slice(fields);
    app.post_form(client, path, &form).await
}

backend_test!(passkeys_are_renamed_and_removed_but_never_the_last_way_in);
async fn passkeys_are_renamed_and_removed_but_never_the_last_way_in(backend: Backend) {
    run_on(backend, |app| async move {
        let owner = sign_up(&app, "ria@example.com", "Ria's").await;
        let phone = stored_passkey(&app, "ria@example.com", "Phone").await;
        let (_, page) = app.page(&owner, "/account").await;
        assert!(page.contains("Remove Phone"), "{page}");

        let renamed = post_on_account(&app, &owner, &format!("/account/passkeys/{phone}/rename"), &[("name", "  Old phone ")]).await;
        assert_eq!(renamed.status(), 303);
        let (_, page) = app.page(&owner, "/account").await;
        assert!(page.contains("Remove Old phone"), "trimmed: {page}");
        let refused = post_on_account(&app, &owner, &format!("/account/passkeys/{phone}/rename"), &[("name", " ")]).await;
        assert_eq!(refused.status(), 422);
        assert!(refused.text().await.unwrap().contains("Name the passkey"));

        // Someone else's passkey is not theirs to touch: 404, nothing changes.
        let other = sign_up(&app, "sol@example.com", "Sol's").await;
        let theirs = post_on_account(&app, &other, &format!("/account/passkeys/{phone}/rename"), &[("name", "Mine")]).await;
        assert_eq!(theirs.status(), 404);
        let theirs = post_on_account(&app, &other, &format!("/account/passkeys/{phone}/delete"), &[]).await;
        assert_eq!(theirs.status(), 404);
        let malformed = post_on_account(&app, &other, "/account/passkeys/not-an-id/delete", &[]).await;
        assert!(malformed.status().is_client_error(), "{}", malformed.status());
        assert_eq!(count(&app, "passkeys").await, 1);

        // With a password it can go.
        let removed = post_on_account(&app, &owner, &format!("/account/passkeys/{phone}/delete"), &[]).await;
        assert_eq!(removed.status(), 303);
        assert_eq!(count(&app, "passkeys").await, 0);

        // Without a password, the last passkey stays; with a second, one goes.
        app.execute("UPDATE users SET password_hash = NULL WHERE email = 'ria@example.com'").await;
        let (_, page) = app.page(&owner, "/account").await;
        assert!(page.contains("To add a passkey, set a password first"), "{page}");
        assert!(!page.contains("id=\"passkey-add\""), "no form to add one: {page}");
        let only = stored_passkey(&app, "ria@example.com", "Only").await;
        let kept = post_on_account(&app, &owner, &format!("/account/passkeys/{only}/delete"), &[]).await;
        assert_eq!(kept.status(), 303);
        let (_, page) = app.page(&owner, "/account").await;
        assert!(page.contains("your only way to sign in"), "{page}");
        assert_eq!(count(&app, "passkeys").await, 1);
        stored_passkey(&app, "ria@example.com", "Spare").await;
        let removed = post_on_account(&app, &owner, &format!("/account/passkeys/{only}/delete"), &[]).await;
        assert_eq!(removed.status(), 303);
        assert_eq!(count(&app, "passkeys").await, 1);
    })
    .await;
}

/// POSTs `body` as JSON with the page's CSRF token, as static/passkeys.js
/// does.
async fn script_post(
    app: &TestApp,
    client: &reqwest::Client,
    token: &str,
    path: &str,
    body: Value,
) -> reqwest::Response {
    client
        .post(app.url(path))
        .header("x-csrf-token", token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

backend_test!(a_passkey_ceremony_refuses_bad_input_with_a_clear_answer);
async fn a_passkey_ceremony_refuses_bad_input_with_a_clear_answer(backend: Backend) {
    run_on(backend, |app| async move {
        let owner = sign_up(&app, "uli@example.com", "Uli's").await;
        let (_, page) = app.page(&owner, "/account").await;
        let token = csrf_field(&page);
        let post = |path: &'static str, body: Value| script_post(&app, &owner, &token, path, body);
        for (body, says) in [
            (json!({"name": "Laptop", "password": "wrong password"}), "That password is not right"),
            (json!({"name": "", "password": PASSWORD}), "Name the passkey"),
            (json!({"name": "x".repeat(61), "password": PASSWORD}), "at most 60"),
        ] {
            let answer = post("/account/passkeys/start", body).await;
            assert_eq!(answer.status(), 422);
            let answer: Value = answer.json().await.unwrap();
            assert!(answer["error"]["message"].as_str().unwrap().contains(says), "{answer}");
        }
        let started = post("/account/passkeys/start", json!({"name": "Laptop", "password": PASSWORD})).await;
        assert_eq!(started.status(), 200);
        let options: Value = started.json().await.unwrap();
        let selection = &options["publicKey"]["authenticatorSelection"];
        assert_eq!(selection["residentKey"], "required", "{options}");
        assert_eq!(selection["userVerification"], "required", "{options}");

        // With two-factor on, the code too.
        let (_, recovery) = app.enrol_two_factor(&owner).await;
        let (_, page) = app.page(&owner, "/account").await;
        let token = csrf_field(&page);
        let post = |path: &'static str, body: Value| script_post(&app, &owner, &token, path, body);
        let without = post("/account/passkeys/start", json!({"name": "Laptop", "password": PASSWORD})).await;
        assert_eq!(without.status(), 422);
        let answer: Value = without.json().await.unwrap();
        assert!(answer["error"]["message"].as_str().unwrap().contains("authenticator app"), "{answer}");
        let with = post(
            "/account/passkeys/start",
            json!({"name": "Laptop", "password": PASSWORD, "code": recovery[0]}),
        )
        .await;
        assert_eq!(with.status(), 200);

        // A finish that doesn't parse, then one with nothing under way.
        let garbage = post("/account/passkeys/finish", json!({"id": 1})).await;
        assert!(garbage.status().is_client_error(), "{}", garbage.status());
        let _ = post("/account/passkeys/start", json!({"name": "Laptop", "password": PASSWORD})).await;
        let credential = json!({
            "id": "AAAA", "rawId": "AAAA", "type": "public-key",
            "response": {"attestationObject": "AAAA", "clientDataJSON": "AAAA"},
            "extensions": {}
        });
        let refused = post("/account/passkeys/finish", credential.clone()).await;
        assert_eq!(refused.status(), 400, "a forged credential");
        let again = post("/account/passkeys/finish", credential).await;
        assert_eq!(again.status(), 400);
        let answer: Value = again.json().await.unwrap();
        assert!(answer["error"]["message"].as_str().unwrap().contains("start again"), "{answer}");
        assert_eq!(count(&app, "passkeys").await, 0);

        // Signing in, from the sign-in page: nothing under way, then a
        // forged answer.
        let visitor = new_client();
        let (_, login) = app.page(&visitor, "/login").await;
        assert!(login.contains("Sign in with a passkey"), "{login}");
        let token = csrf_field(&login);
        let sign_in = |path: &'static str, body: Value| script_post(&app, &visitor, &token, path, body);
        let assertion = json!({
            "id": "AAAA", "rawId": "AAAA", "type": "public-key",
            "response": {"authenticatorData": "AAAA", "clientDataJSON": "AAAA", "signature": "AAAA", "userHandle": "AAAA"},
            "extensions": {}
        });
        let refused = sign_in("/login/passkey/finish", assertion.clone()).await;
        assert_eq!(refused.status(), 401);
        let started = sign_in("/login/passkey/start", json!({})).await;
        assert_eq!(started.status(), 200);
        let options: Value = started.json().await.unwrap();
        assert_eq!(options["publicKey"]["userVerification"], "required", "{options}");
        let refused = sign_in("/login/passkey/finish", assertion).await;
        assert_eq!(refused.status(), 401);
        let answer: Value = refused.json().await.unwrap();
        assert!(answer["error"]["message"].is_string(), "{answer}");
        assert!(signed_in_as(&app, &visitor).await.is_none());
    })
    .await;
}

backend_test!(a_site_at_an_ip_address_offers_no_passkeys_and_says_why);
async fn a_site_at_an_ip_address_offers_no_passkeys_and_says_why(backend: Backend) {
    let at_an_ip = || Options {
        vars: vec![("BASE_URL", "http://127.0.0.1:3000".to_owned())],
        ..Options::default()
    };
    run_on_with(backend, at_an_ip, |app| async move {
        let visitor = new_client();
        let (_, login) = app.page(&visitor, "/login").await;
        assert!(!login.contains("passkey-sign-in"), "{login}");
        let token = csrf_field(&login);
        let refused = script_post(&app, &visitor, &token, "/login/passkey/start", json!({})).await;
        assert_eq!(refused.status(), 404);
        let answer: Value = refused.json().await.unwrap();
        assert!(answer["error"]["message"].as_str().unwrap().contains("domain name"), "{answer}");
        let owner = sign_up(&app, "ivy@example.com", "Ivy's").await;
        let (_, page) = app.page(&owner, "/account").await;
        assert!(page.contains("Passkeys need this site to have a domain name"), "{page}");
    })
    .await;
}
