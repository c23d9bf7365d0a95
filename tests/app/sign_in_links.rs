//! Sign-in links ("email me a sign-in link"), through the pages, on both
//! databases: once, for 15 minutes, in the browser that asked, answering
//! the same whether or not the email has an account.

use app::db::Backend;

use crate::accounts::sign_up;
use crate::support::{Options, TestApp, backend_test, csrf_field, new_client, run_on, run_on_with};

/// Asks for a link from `client` (a browser on the sign-in page); returns
/// the status and the page.
pub async fn ask(app: &TestApp, client: &reqwest::Client, email: &str) -> (u16, String) {
    let (status, form) = app.page(client, "/login?next=/account").await;
    assert_eq!(status, 200);
    assert!(form.contains("Email me a sign-in link"), "the sign-in page offers it");
    let response = app
        .post_form(
            client,
            "/login/link",
            &[
                ("csrf_token", &csrf_field(&form)),
                ("email", email),
                ("next", "/account"),
            ],
        )
        .await;
    (response.status().as_u16(), response.text().await.unwrap())
}

/// Presses the button on the link's page as `client`.
pub async fn press(app: &TestApp, client: &reqwest::Client, link: &str) -> reqwest::Response {
    let (_, page) = app.page(client, "/login").await;
    app.post_form(client, link, &[("csrf_token", &csrf_field(&page))])
        .await
}

pub async fn signed_in_as(app: &TestApp, client: &reqwest::Client) -> Option<serde_json::Value> {
    let response = client.get(app.url("/api/v1/me")).send().await.unwrap();
    (response.status() == 200).then_some(response.json().await.unwrap())
}

backend_test!(a_link_signs_in_the_browser_that_asked_once);
async fn a_link_signs_in_the_browser_that_asked_once(backend: Backend) {
    run_on(backend, |app| async move {
        sign_up(&app, "linked@example.com", "Linked Ltd").await;
        let browser = new_client();
        let (status, page) = ask(&app, &browser, "linked@example.com").await;
        assert_eq!(status, 200);
        assert!(page.contains("we sent it a sign-in link"), "{page}");
        let link = app.link_in_email("linked@example.com", "/login/link/").await;
        let mail = &app.emails_to("linked@example.com").await[0];
        assert!(mail.subject.contains("sign-in link"), "{}", mail.subject);

        // Opened elsewhere (a mail scanner, a forwarded email), it says
        // where it works and offers no button; opened here, it does. Opening
        // uses nothing up.
        let scanner = new_client();
        let (status, page) = app.page(&scanner, &link).await;
        assert_eq!(status, 400);
        assert!(page.contains("works only in the browser that asked for it"));
        assert!(!page.contains(&format!(r#"action="{link}""#)), "{page}");
        let (status, page) = app.page(&browser, &link).await;
        assert_eq!(status, 200);
        assert!(page.contains(&format!(r#"action="{link}""#)), "{page}");

        // Another browser can't use it, and leaves it live.
        let elsewhere = press(&app, &scanner, &link).await;
        assert_eq!(elsewhere.status(), 400);
        assert!(
            elsewhere
                .text()
                .await
                .unwrap()
                .contains("works only in the browser that asked for it")
        );
        assert!(signed_in_as(&app, &scanner).await.is_none());

        let used = press(&app, &browser, &link).await;
        assert_eq!(used.status(), 303);
        assert_eq!(used.headers()["location"], "/account", "where it was going");
        let me = signed_in_as(&app, &browser).await.expect("signed in");
        assert_eq!(me["user"]["email"], "linked@example.com");
        assert_eq!(me["user"]["email_verified"], true, "the link proved the mailbox");

        // Once.
        let again = press(&app, &new_client(), &link).await;
        assert_eq!(again.status(), 400);
        assert!(again.text().await.unwrap().contains("expired or was already used"));
        let (status, _) = app.page(&browser, &link).await;
        assert_eq!(status, 400);
    })
    .await;
}

backend_test!(asking_answers_the_same_whether_or_not_the_account_exists);
async fn asking_answers_the_same_whether_or_not_the_account_exists(backend: Backend) {
    run_on(backend, |app| async move {
        sign_up(&app, "known@example.com", "Known Ltd").await;
        app.run_jobs().await;
        let before = app.emails_to("known@example.com").await.len();
        let known = ask(&app, &new_client(), "Known@Example.com").await;
        let unknown = ask(&app, &new_client(), "nobody@example.com").await;
        assert_eq!(known.0, 200);
        assert_eq!(known.1, unknown.1, "the same page");
        assert_eq!(app.emails_to("known@example.com").await.len(), before + 1);
        assert!(app.emails_to("nobody@example.com").await.is_empty());

        let (status, page) = ask(&app, &new_client(), "not an email").await;
        assert_eq!(status, 422);
        assert!(page.contains("not an email"), "the sign-in page again, with what was typed");
    })
    .await;
}

backend_test!(an_expired_link_or_one_mailed_before_an_email_change_signs_no_one_in);
async fn an_expired_link_or_one_mailed_before_an_email_change_signs_no_one_in(backend: Backend) {
    run_on(backend, |app| async move {
        sign_up(&app, "late@example.com", "Late Ltd").await;
        let browser = new_client();
        ask(&app, &browser, "late@example.com").await;
        let link = app.link_in_email("late@example.com", "/login/link/").await;
        let past = time::OffsetDateTime::now_utc().unix_timestamp() - 1;
        app.execute(&format!(
            "UPDATE account_tokens SET expires_at = {past} WHERE purpose = 'sign_in'"
        ))
        .await;
        assert_eq!(press(&app, &browser, &link).await.status(), 400);
        assert!(signed_in_as(&app, &browser).await.is_none());

        ask(&app, &browser, "late@example.com").await;
        let link = app.link_in_email("late@example.com", "/login/link/").await;
        app.execute("UPDATE users SET email = 'moved@example.com' WHERE email = 'late@example.com'")
            .await;
        assert_eq!(press(&app, &browser, &link).await.status(), 400);
        assert!(signed_in_as(&app, &browser).await.is_none());
    })
    .await;
}

backend_test!(an_account_with_two_factor_still_gives_its_code);
async fn an_account_with_two_factor_still_gives_its_code(backend: Backend) {
    run_on(backend, |app| async move {
        let owner = sign_up(&app, "careful@example.com", "Careful Ltd").await;
        app.enrol_two_factor(&owner).await;
        let browser = new_client();
        ask(&app, &browser, "careful@example.com").await;
        let link = app.link_in_email("careful@example.com", "/login/link/").await;
        let used = press(&app, &browser, &link).await;
        assert_eq!(used.status(), 303);
        let location = used.headers()["location"].to_str().unwrap().to_owned();
        assert!(location.starts_with("/login/two-factor"), "{location}");
        assert!(signed_in_as(&app, &browser).await.is_none(), "not before the code");
    })
    .await;
}

backend_test!(asking_is_rate_limited_per_email);
async fn asking_is_rate_limited_per_email(backend: Backend) {
    run_on(backend, |app| async move {
        let mut statuses = Vec::new();
        for _ in 0..6 {
            statuses.push(ask(&app, &new_client(), "target@example.com").await.0);
        }
        assert_eq!(statuses, [200, 200, 200, 200, 200, 429], "five an hour per email");
        // Another email from the same place still may.
        assert_eq!(ask(&app, &new_client(), "other@example.com").await.0, 200);
    })
    .await;
}

backend_test!(turned_off_the_sign_in_page_offers_no_link_and_the_routes_are_gone);
async fn turned_off_the_sign_in_page_offers_no_link_and_the_routes_are_gone(backend: Backend) {
    let off = || Options {
        vars: vec![("SIGN_IN_LINKS", "false".to_owned())],
        ..Options::default()
    };
    run_on_with(backend, off, |app| async move {
        let client = new_client();
        let (status, page) = app.page(&client, "/login").await;
        assert_eq!(status, 200);
        assert!(!page.contains("sign-in link"), "{page}");
        let response = app
            .post_form(
                &client,
                "/login/link",
                &[("csrf_token", &csrf_field(&page)), ("email", "a@example.com")],
            )
            .await;
        assert_eq!(response.status(), 404);
        assert_eq!(app.page(&client, "/login/link/anything").await.0, 404);
    })
    .await;
}

backend_test!(a_new_password_voids_the_links_asked_for_before_it);
async fn a_new_password_voids_the_links_asked_for_before_it(backend: Backend) {
    run_on(backend, |app| async move {
        sign_up(&app, "locked@example.com", "Locked Ltd").await;
        // Someone else holding the mailbox asks for a link…
        let intruder = new_client();
        ask(&app, &intruder, "locked@example.com").await;
        let link = app.link_in_email("locked@example.com", "/login/link/").await;
        // …and the owner resets the password to lock them out.
        let owner = new_client();
        let (_, form) = app.page(&owner, "/forgot-password").await;
        app.post_form(
            &owner,
            "/forgot-password",
            &[("csrf_token", &csrf_field(&form)), ("email", "locked@example.com")],
        )
        .await;
        let reset = app.link_in_email("locked@example.com", "/reset-password/").await;
        let (_, form) = app.page(&owner, &reset).await;
        let done = app
            .post_form(
                &owner,
                &reset,
                &[("csrf_token", &csrf_field(&form)), ("password", "a brand new passphrase")],
            )
            .await;
        assert_eq!(done.status(), 303, "the new password is set");

        let pressed = press(&app, &intruder, &link).await;
        assert_eq!(pressed.status(), 400);
        assert!(signed_in_as(&app, &intruder).await.is_none(), "the link died with the old password");
    })
    .await;
}
