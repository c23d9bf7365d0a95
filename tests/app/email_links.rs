//! Emailed links: email verification after signup, and password reset,
//! through the pages and the JSON API, on both databases.

use app::db::Backend;
use serde_json::{Value, json};

use crate::accounts::{PASSWORD, api_login, count, sign_up};
use crate::support::{TestApp, backend_test, csrf_field, new_client, run_on};

const NEW_PASSWORD: &str = "a brand new passphrase";

async fn expire_tokens(app: &TestApp) {
    let past = time::OffsetDateTime::now_utc().unix_timestamp() - 1;
    app.execute(&format!("UPDATE account_tokens SET expires_at = {past}"))
        .await;
}

async fn me(app: &TestApp, client: &reqwest::Client) -> Value {
    let response = client.get(app.url("/api/v1/me")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

fn has_banner(html: &str) -> bool {
    html.contains("Please confirm your email address")
}

backend_test!(signup_mails_a_link_that_verifies_the_email_once_and_ends_the_banner);
async fn signup_mails_a_link_that_verifies_the_email_once_and_ends_the_banner(backend: Backend) {
    run_on(backend, |app| async move {
        let client = sign_up(&app, "verify@example.com", "Verify Ltd").await;
        let account = client
            .get(app.url("/account"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(has_banner(&account), "an unverified user sees the banner");
        assert_eq!(me(&app, &client).await["user"]["email_verified"], false);

        let emails = app.emails_to("verify@example.com").await;
        assert_eq!(emails.len(), 1, "one verification email");
        assert!(
            emails[0].subject.contains("Confirm your email"),
            "{}",
            emails[0].subject
        );
        let link = app
            .link_in_email("verify@example.com", "/verify-email/")
            .await;

        // The link works without signing in (another device).
        let (status, page) = app.page(&new_client(), &link).await;
        assert_eq!(status, 200);
        assert!(page.contains("Email confirmed"));

        assert_eq!(me(&app, &client).await["user"]["email_verified"], true);
        let account = client
            .get(app.url("/account"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(!has_banner(&account), "the banner is gone");

        let again = new_client().get(app.url(&link)).send().await.unwrap();
        assert_eq!(again.status(), 400, "a used link does nothing more");
        let tampered = new_client()
            .get(app.url(&format!("{link}x")))
            .send()
            .await
            .unwrap();
        assert_eq!(tampered.status(), 400);
    })
    .await;
}

backend_test!(an_expired_verification_link_verifies_nothing);
async fn an_expired_verification_link_verifies_nothing(backend: Backend) {
    run_on(backend, |app| async move {
        let client = sign_up(&app, "late@example.com", "Late Ltd").await;
        let link = app
            .link_in_email("late@example.com", "/verify-email/")
            .await;
        expire_tokens(&app).await;
        let response = new_client().get(app.url(&link)).send().await.unwrap();
        assert_eq!(response.status(), 400);
        assert!(
            response
                .text()
                .await
                .unwrap()
                .contains("expired or was already used")
        );
        assert_eq!(me(&app, &client).await["user"]["email_verified"], false);

        let token = link.rsplit('/').next().unwrap();
        let api = client
            .post(app.url("/api/v1/verify-email"))
            .header(
                "x-csrf-token",
                me(&app, &client).await["csrf_token"].as_str().unwrap(),
            )
            .json(&json!({"token": token}))
            .send()
            .await
            .unwrap();
        assert_eq!(api.status(), 400);
        let body: Value = api.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_link");
    })
    .await;
}

backend_test!(resending_the_verification_link_is_rate_limited_and_stops_once_verified);
async fn resending_the_verification_link_is_rate_limited_and_stops_once_verified(backend: Backend) {
    run_on(backend, |app| async move {
        let client = sign_up(&app, "resend@example.com", "Resend Ltd").await;
        let token = me(&app, &client).await["csrf_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let resend = || {
            client
                .post(app.url("/api/v1/verify-email/resend"))
                .header("x-csrf-token", &token)
                .send()
        };
        for _ in 0..3 {
            let response = resend().await.unwrap();
            assert_eq!(response.status(), 202);
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["result"], "sent");
        }
        let refused = resend().await.unwrap();
        assert_eq!(refused.status(), 429, "three resends an hour");
        assert!(refused.headers().contains_key("retry-after"));
        assert_eq!(
            app.emails_to("resend@example.com").await.len(),
            4,
            "signup's and three more"
        );

        // The page's button: a flash and back to the account page.
        let page = app
            .post_form(&client, "/verify-email/resend", &[("csrf_token", &token)])
            .await;
        assert_eq!(page.status(), 429);

        // Any of the links works; then resending sends nothing.
        let link = app
            .link_in_email("resend@example.com", "/verify-email/")
            .await;
        let api = app
            .post_json(
                &new_client(),
                "/api/v1/verify-email",
                &json!({"token": link.rsplit('/').next().unwrap()}),
            )
            .await;
        assert_eq!(api.status(), 204);
        app.execute("DELETE FROM rate_limit_counters").await;
        let body: Value = resend().await.unwrap().json().await.unwrap();
        assert_eq!(body["result"], "already_verified");
        assert_eq!(
            app.emails_to("resend@example.com").await.len(),
            4,
            "no more email"
        );
    })
    .await;
}

/// Asks for a reset link through the page; returns the status and page.
async fn request_reset(app: &TestApp, email: &str) -> (u16, String) {
    let client = new_client();
    let form = client
        .get(app.url("/forgot-password"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let token = csrf_field(&form);
    let response = app
        .post_form(
            &client,
            "/forgot-password",
            &[("csrf_token", &token), ("email", email)],
        )
        .await;
    (response.status().as_u16(), response.text().await.unwrap())
}

backend_test!(a_reset_request_answers_the_same_whether_or_not_the_account_exists);
async fn a_reset_request_answers_the_same_whether_or_not_the_account_exists(backend: Backend) {
    run_on(backend, |app| async move {
        sign_up(&app, "known@example.com", "Known Ltd").await;
        app.run_jobs().await;
        let known = request_reset(&app, "Known@Example.com").await;
        let unknown = request_reset(&app, "nobody@example.com").await;
        assert_eq!(known.0, 200);
        assert_eq!(known.1, unknown.1, "the same page");

        let api = |email: &'static str| {
            new_client()
                .post(app.url("/api/v1/password-reset"))
                .json(&json!({"email": email}))
                .send()
        };
        let (known_api, unknown_api) = (
            api("known@example.com").await.unwrap(),
            api("nobody@example.com").await.unwrap(),
        );
        assert_eq!(
            (known_api.status(), unknown_api.status()),
            (202.try_into().unwrap(), 202.try_into().unwrap())
        );
        assert_eq!(
            known_api.text().await.unwrap(),
            unknown_api.text().await.unwrap()
        );

        let mails = app.emails_to("known@example.com").await;
        assert_eq!(
            mails.iter().filter(|m| m.subject.contains("Reset")).count(),
            2,
            "the account got its links"
        );
        assert!(
            app.emails_to("nobody@example.com").await.is_empty(),
            "no email for no account"
        );

        let bad = request_reset(&app, "not an email").await;
        assert_eq!(bad.0, 422);
    })
    .await;
}

backend_test!(a_reset_link_sets_the_password_once_and_signs_out_every_other_session);
async fn a_reset_link_sets_the_password_once_and_signs_out_every_other_session(backend: Backend) {
    run_on(backend, |app| async move {
        let elsewhere = sign_up(&app, "reset@example.com", "Reset Ltd").await;
        assert_eq!(request_reset(&app, "reset@example.com").await.0, 200);
        let link = app
            .link_in_email("reset@example.com", "/reset-password/")
            .await;

        let browser = new_client();
        let (status, form) = app.page(&browser, &link).await;
        assert_eq!(status, 200);
        let token = csrf_field(&form);

        let weak = app
            .post_form(
                &browser,
                &link,
                &[("csrf_token", &token), ("password", "short")],
            )
            .await;
        assert_eq!(weak.status(), 422, "the password rules apply");
        assert!(
            weak.text()
                .await
                .unwrap()
                .contains("at least 10 characters")
        );

        let done = app
            .post_form(
                &browser,
                &link,
                &[("csrf_token", &token), ("password", NEW_PASSWORD)],
            )
            .await;
        assert_eq!(done.status(), 303);
        assert_eq!(done.headers()["location"], "/app");
        let account = browser.get(app.url("/account")).send().await.unwrap();
        assert_eq!(account.status(), 200, "signed in on this browser");

        let other = elsewhere.get(app.url("/account")).send().await.unwrap();
        assert_eq!(other.status(), 303, "the other session ended");

        assert_eq!(
            api_login(&app, &new_client(), "reset@example.com", PASSWORD)
                .await
                .status(),
            401
        );
        assert_eq!(
            api_login(&app, &new_client(), "reset@example.com", NEW_PASSWORD)
                .await
                .status(),
            200
        );
        assert_eq!(
            me(&app, &browser).await["user"]["email_verified"],
            true,
            "reading the email proved it"
        );

        let again = browser.get(app.url(&link)).send().await.unwrap();
        assert_eq!(again.status(), 400, "used once");
        assert_eq!(
            count(&app, "account_tokens").await,
            1,
            "only the unused verification token is left"
        );
    })
    .await;
}

/// Asks for a reset link through the API; returns the emailed link's path.
async fn api_reset_link(app: &TestApp, email: &str) -> String {
    let body = json!({"email": email});
    let requested = app
        .post_json(&new_client(), "/api/v1/password-reset", &body)
        .await;
    assert_eq!(requested.status(), 202);
    app.link_in_email(email, "/reset-password/").await
}

backend_test!(an_expired_reset_link_and_the_api_flow);
async fn an_expired_reset_link_and_the_api_flow(backend: Backend) {
    run_on(backend, |app| async move {
        sign_up(&app, "apireset@example.com", "Api Reset Ltd").await;
        let link = api_reset_link(&app, "apireset@example.com").await;
        let token = link.rsplit('/').next().unwrap().to_owned();
        let confirm = |password: &'static str| {
            new_client()
                .post(app.url("/api/v1/password-reset/confirm"))
                .json(&json!({"token": token, "password": password}))
                .send()
        };
        assert_eq!(confirm("password").await.unwrap().status(), 422);
        assert_eq!(confirm(NEW_PASSWORD).await.unwrap().status(), 204);
        let reused = confirm(NEW_PASSWORD).await.unwrap();
        assert_eq!(reused.status(), 400);
        let body: Value = reused.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_link");

        let link = api_reset_link(&app, "apireset@example.com").await;
        expire_tokens(&app).await;
        assert_eq!(
            new_client()
                .get(app.url(&link))
                .send()
                .await
                .unwrap()
                .status(),
            400
        );
        assert_eq!(
            api_login(&app, &new_client(), "apireset@example.com", NEW_PASSWORD)
                .await
                .status(),
            200
        );
    })
    .await;
}

backend_test!(reset_requests_are_rate_limited_per_account);
async fn reset_requests_are_rate_limited_per_account(backend: Backend) {
    run_on(backend, |app| async move {
        let ask = || {
            new_client()
                .post(app.url("/api/v1/password-reset"))
                .json(&json!({"email": "limited@example.com"}))
                .send()
        };
        for _ in 0..5 {
            assert_eq!(ask().await.unwrap().status(), 202);
        }
        let refused = ask().await.unwrap();
        assert_eq!(refused.status(), 429, "five an hour per email");
        assert!(refused.headers().contains_key("retry-after"));
    })
    .await;
}

backend_test!(changing_the_email_voids_the_links_sent_to_the_old_one);
async fn changing_the_email_voids_the_links_sent_to_the_old_one(backend: Backend) {
    run_on(backend, |app| async move {
        let client = sign_up(&app, "moving@example.com", "Moving Ltd").await;
        let link = api_reset_link(&app, "moving@example.com").await;
        let token = app.csrf_token(&client).await;
        let changed = client
            .post(app.url("/api/v1/account/email"))
            .header("x-csrf-token", token)
            .json(&json!({"email": "moved@example.com", "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(changed.status(), 204);
        // The change takes effect when the new address confirms it.
        let confirm = app
            .link_in_email("moved@example.com", "/verify-email/")
            .await;
        assert_eq!(
            new_client()
                .get(app.url(&confirm))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
        let reset = app
            .post_json(
                &new_client(),
                "/api/v1/password-reset/confirm",
                &json!({"token": link.rsplit('/').next().unwrap(), "password": NEW_PASSWORD}),
            )
            .await;
        assert_eq!(
            reset.status(),
            400,
            "the old mailbox can't reset the account any more"
        );
        assert_eq!(
            api_login(&app, &new_client(), "moved@example.com", PASSWORD)
                .await
                .status(),
            200
        );
    })
    .await;
}

backend_test!(a_reset_checks_the_link_first_and_is_limited_per_address_and_per_link);
/// Using a reset link checks the cheap things first (a dead token is
/// answered before the new password is even read, let alone hashed with
/// argon2) and is limited per address and per link.
async fn a_reset_checks_the_link_first_and_is_limited_per_address_and_per_link(backend: Backend) {
    run_on(backend, |app| async move {
        let confirm = |token: &str, password: &str| {
            let body = json!({"token": token, "password": password});
            let app = app.clone();
            async move {
                app.post_json(&new_client(), "/api/v1/password-reset/confirm", &body)
                    .await
                    .status()
                    .as_u16()
            }
        };
        assert_eq!(
            confirm("no-such-token", "short").await,
            400,
            "the link is checked before the password"
        );

        sign_up(&app, "target@example.com", "Target Ltd").await;
        let link = api_reset_link(&app, "target@example.com").await;
        let token = link.rsplit('/').next().unwrap().to_owned();
        let mut statuses = Vec::new();
        for _ in 0..11 {
            statuses.push(confirm(&token, "short").await);
        }
        assert_eq!(&statuses[..10], &[422; 10], "{statuses:?}");
        assert_eq!(statuses[10], 429, "ten tries per link: {statuses:?}");

        // Guessing links from one address: a burst, then 429.
        let mut limited = false;
        for n in 0..30 {
            if confirm(&format!("guess-{n}"), NEW_PASSWORD).await == 429 {
                limited = true;
                break;
            }
        }
        assert!(limited, "an address guessing links is stopped");
    })
    .await;
}

backend_test!(guessing_verification_links_is_limited_per_address);
/// Guessing email-verification links from one address: a burst, then 429.
async fn guessing_verification_links_is_limited_per_address(backend: Backend) {
    run_on(backend, |app| async move {
        let mut statuses = Vec::new();
        for n in 0..25 {
            let status = app
                .post_json(
                    &new_client(),
                    "/api/v1/verify-email",
                    &json!({"token": format!("guess-{n}")}),
                )
                .await
                .status()
                .as_u16();
            statuses.push(status);
        }
        assert_eq!(&statuses[..20], &[400; 20], "{statuses:?}");
        assert!(statuses[20..].contains(&429), "then 429: {statuses:?}");
        let page = app.get("/verify-email/guess-page").await;
        assert_eq!(page.status(), 429, "the page shares the limit");
    })
    .await;
}
