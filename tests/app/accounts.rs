//! Accounts: signup, sign-in, sign-out and CSRF, through the pages and the
//! JSON API, on both databases.

use app::db::Backend;
use std::time::{Duration, Instant};

use app::on_backend;
use serde_json::{Value, json};

use crate::fixtures::TenantFixture;
use crate::support::{TestApp, backend_test, csrf_field, new_client, run_on};

pub const PASSWORD: &str = "correct horse battery";

pub async fn count(app: &TestApp, table: &str) -> i64 {
    on_backend!(&app.db, |pool| sqlx::query_scalar(sqlx::AssertSqlSafe(
        format!("SELECT count(*) FROM {table}")
    ))
    .fetch_one(pool)
    .await
    .expect("count rows"))
}

fn session_cookie(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("session="))
        .map(|v| v.split(';').next().unwrap_or_default().to_owned())
}

/// Signs up through the page, as a browser does; returns the client.
pub async fn sign_up(app: &TestApp, email: &str, organisation: &str) -> reqwest::Client {
    let (client, token) = app.visitor().await;
    let response = app
        .post_form(
            &client,
            "/signup",
            &[
                ("csrf_token", token.as_str()),
                ("email", email),
                ("password", PASSWORD),
                ("organisation", organisation),
                ("time_zone", "Europe/Madrid"),
            ],
        )
        .await;
    assert_eq!(response.status(), 303, "signed up");
    client
}

pub async fn api_login(
    app: &TestApp,
    client: &reqwest::Client,
    email: &str,
    password: &str,
) -> reqwest::Response {
    client
        .post(app.url("/api/v1/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .expect("POST /api/v1/login")
}

backend_test!(signup_creates_the_user_tenant_owner_and_first_location_and_signs_in);
async fn signup_creates_the_user_tenant_owner_and_first_location_and_signs_in(backend: Backend) {
    run_on(backend, |app| async move {
        let (client, token) = app.visitor().await;
        let response = app
            .post_form(
                &client,
                "/signup",
                &[
                    ("csrf_token", token.as_str()),
                    ("email", "  Maria@Example.COM "),
                    ("password", PASSWORD),
                    ("organisation", "Café Olé"),
                    ("time_zone", "Europe/Madrid"),
                ],
            )
            .await;
        assert_eq!(response.status(), 303);
        assert_eq!(response.headers()["location"], "/t/caf-ol/locations");

        let (status, html) = app.page(&client, "/t/caf-ol/locations").await;
        assert_eq!(status, 200, "signed in and inside the new tenant");
        assert!(html.contains("Welcome to"), "a welcome flash");
        assert!(
            html.contains("Café Olé"),
            "the first location, named after it"
        );

        let (email, hash): (String, String) = on_backend!(&app.db, |pool| sqlx::query_as(
            "SELECT email, password_hash FROM users"
        )
        .fetch_one(pool)
        .await
        .expect("the user"));
        assert_eq!(email, "maria@example.com", "trimmed and lower-cased");
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "argon2id with OWASP's parameters: {hash}"
        );
        let role: String = on_backend!(&app.db, |pool| sqlx::query_scalar(
            "SELECT role FROM memberships"
        )
        .fetch_one(pool)
        .await
        .expect("the membership"));
        assert_eq!(role, "owner");
        assert_eq!(count(&app, "tenants").await, 1);
        assert_eq!(count(&app, "locations").await, 1);
    })
    .await;
}

backend_test!(each_bad_signup_field_is_named_and_nothing_is_created);
async fn each_bad_signup_field_is_named_and_nothing_is_created(backend: Backend) {
    run_on(backend, |app| async move {
        sign_up(&app, "taken@example.com", "First Ltd").await;
        let cases = [
            (
                "email",
                "not-an-email",
                "email address like",
                "a malformed email",
            ),
            (
                "email",
                " TAKEN@example.com",
                "already exists",
                "a taken email, in other case",
            ),
            (
                "password",
                "short",
                "at least 10 characters",
                "a short password",
            ),
            (
                "password",
                &"x".repeat(129),
                "at most 128",
                "a long password",
            ),
            ("password", "password123", "too common", "a common password"),
            ("organisation", "   ", "required", "no organisation name"),
            (
                "time_zone",
                "Mars/Olympus",
                "time zone",
                "an unknown time zone",
            ),
        ];
        for (field, value, message, why) in cases {
            let mut form = vec![
                ("email", "new@example.com".to_owned()),
                ("password", PASSWORD.to_owned()),
                ("organisation", "Second Ltd".to_owned()),
                ("time_zone", "UTC".to_owned()),
            ];
            form.retain(|(name, _)| *name != field);
            form.push((field, value.to_owned()));
            let (client, token) = app.visitor().await;
            form.push(("csrf_token", token));
            let response = client
                .post(app.url("/signup"))
                .form(&form)
                .send()
                .await
                .expect("POST");
            assert_eq!(response.status(), 422, "{why}");
            let html = response.text().await.expect("body");
            assert!(html.contains(message), "{why}: says {message:?}");
            assert!(
                html.contains(&format!(r#"id="{field}-error""#)),
                "{why}: beside the field"
            );

            let api = app
                .client
                .post(app.url("/api/v1/signup"))
                .json(
                    &form
                        .iter()
                        .cloned()
                        .collect::<std::collections::HashMap<_, _>>(),
                )
                .send()
                .await
                .expect("POST /api/v1/signup");
            assert_eq!(api.status(), 422, "API: {why}");
            let body: Value = api.json().await.expect("JSON");
            let text = body["error"]["message"].as_str().expect("a message");
            assert!(text.contains(field), "API names the field: {why}: {text}");
        }
        assert_eq!(count(&app, "users").await, 1, "no user from a bad signup");
        assert_eq!(count(&app, "tenants").await, 1, "no tenant either");
    })
    .await;
}

backend_test!(the_api_signs_up_and_signs_in_with_a_csrf_token_for_later_requests);
async fn the_api_signs_up_and_signs_in_with_a_csrf_token_for_later_requests(backend: Backend) {
    run_on(backend, |app| async move {
        let response = app
            .client
            .post(app.url("/api/v1/signup"))
            .json(&json!({
                "email": "ana@example.com",
                "password": PASSWORD,
                "organisation": "Bar Ana",
            }))
            .send()
            .await
            .expect("POST /api/v1/signup");
        assert_eq!(response.status(), 201);
        let body: Value = response.json().await.expect("JSON");
        assert_eq!(body["user"]["email"], "ana@example.com");
        assert_eq!(body["tenant"]["slug"], "bar-ana");
        assert_eq!(body["tenant"]["time_zone"], "UTC", "the default");
        let token = body["csrf_token"].as_str().expect("a token").to_owned();

        let me: Value = app
            .client
            .get(app.url("/api/v1/me"))
            .send()
            .await
            .expect("GET /api/v1/me")
            .json()
            .await
            .expect("JSON");
        assert_eq!(me["user"]["email"], "ana@example.com");
        assert_eq!(me["tenants"][0]["role"], "owner");

        let create = |token: Option<String>| {
            let mut request = app
                .client
                .post(app.url("/api/v1/t/bar-ana/locations"))
                .json(&json!({"name": "Terrace", "time_zone": "UTC"}));
            if let Some(token) = token {
                request = request.header("x-csrf-token", token);
            }
            request.send()
        };
        let refused = create(None).await.expect("POST");
        assert_eq!(refused.status(), 403, "a cookie without the token");
        let body: Value = refused.json().await.expect("JSON");
        assert_eq!(body["error"]["code"], "csrf_failed");
        assert_eq!(create(Some(token)).await.expect("POST").status(), 201);

        let logout = app
            .client
            .post(app.url("/api/v1/logout"))
            .header("x-csrf-token", me["csrf_token"].as_str().expect("token"))
            .send()
            .await
            .expect("POST /api/v1/logout");
        assert_eq!(logout.status(), 204);
        assert_eq!(app.get("/api/v1/me").await.status(), 401);

        // A client still holding a cookie of a session that is gone signs
        // in without a token: the cookie carries nothing to abuse.
        let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
        jar.add_cookie_str(
            "session=AAAAAAAAAAAAAAAAAAAAAA",
            &app.url("/").parse().expect("URL"),
        );
        let stale = crate::support::client_with(jar, Default::default());
        let relogin = api_login(&app, &stale, "ana@example.com", PASSWORD).await;
        assert_eq!(
            relogin.status(),
            200,
            "a stale cookie doesn't lock the client out"
        );

        let login = api_login(&app, &app.client, "ANA@example.com ", PASSWORD).await;
        assert_eq!(login.status(), 200);
        let body: Value = login.json().await.expect("JSON");
        assert_eq!(body["user"]["email"], "ana@example.com");
        assert!(body["csrf_token"].as_str().is_some_and(|t| t.len() >= 32));
    })
    .await;
}

backend_test!(a_wrong_password_and_an_unknown_email_get_the_same_answer_in_the_same_time);
async fn a_wrong_password_and_an_unknown_email_get_the_same_answer_in_the_same_time(
    backend: Backend,
) {
    run_on(backend, |app| async move {
        sign_up(&app, "maria@example.com", "Maria's").await;
        let wrong = api_login(&app, &new_client(), "maria@example.com", "not the password").await;
        let unknown = api_login(
            &app,
            &new_client(),
            "nobody@example.com",
            "not the password",
        )
        .await;
        assert_eq!(wrong.status(), 401);
        assert_eq!(unknown.status(), 401);
        assert_eq!(
            wrong.text().await.expect("body"),
            unknown.text().await.expect("body"),
            "the same body"
        );

        let (client, token) = app.visitor().await;
        let mut pages = Vec::new();
        for email in ["maria@example.com", "nobody@example.com"] {
            let response = app
                .post_form(
                    &client,
                    "/login",
                    &[
                        ("csrf_token", token.as_str()),
                        ("email", email),
                        ("password", "not the password"),
                    ],
                )
                .await;
            assert_eq!(response.status(), 401);
            let html = response.text().await.expect("body");
            assert!(html.contains(app::accounts::BAD_CREDENTIALS));
            pages.push(html.replace(email, "EMAIL"));
        }
        let fields = |html: &str| html.replace(&csrf_field(html), "TOKEN");
        assert_eq!(fields(&pages[0]), fields(&pages[1]), "the same page");

        // Both run one argon2 check: the medians of a few tries are close.
        // Tries alternate, so a burst of load on the machine hits both.
        let (mut known, mut unknown) = (Vec::new(), Vec::new());
        for _ in 0..7 {
            for (email, times) in [
                ("maria@example.com", &mut known),
                ("nobody@example.com", &mut unknown),
            ] {
                let started = Instant::now();
                api_login(&app, &new_client(), email, "not the password").await;
                times.push(started.elapsed());
            }
        }
        known.sort();
        unknown.sort();
        let (known, unknown) = (known[3], unknown[3]);
        let ratio = known.as_secs_f64() / unknown.as_secs_f64();
        assert!(
            (0.5..2.0).contains(&ratio) && unknown > Duration::from_millis(2),
            "known {known:?} vs unknown {unknown:?}"
        );
    })
    .await;
}

backend_test!(signing_in_rotates_the_session_id_and_returns_to_the_page_asked_for);
async fn signing_in_rotates_the_session_id_and_returns_to_the_page_asked_for(backend: Backend) {
    run_on(backend, |app| async move {
        sign_up(&app, "maria@example.com", "Marias").await;
        let (client, token) = app.visitor().await;
        let before: String = on_backend!(&app.db, |pool| sqlx::query_scalar(
            "SELECT id FROM sessions WHERE user_id IS NULL"
        )
        .fetch_one(pool)
        .await
        .expect("the visitor's session"));

        let response = app
            .post_form(
                &client,
                "/login",
                &[
                    ("csrf_token", token.as_str()),
                    ("email", "maria@example.com"),
                    ("password", PASSWORD),
                    ("next", "/t/marias/settings"),
                ],
            )
            .await;
        assert_eq!(response.status(), 303);
        assert_eq!(response.headers()["location"], "/t/marias/settings");
        let cookie = session_cookie(&response).expect("a new session cookie");
        assert!(!cookie.contains(&before), "a new id: {cookie}");
        let still_there: i64 = on_backend!(&app.db, |pool| sqlx::query_scalar(
            "SELECT count(*) FROM sessions WHERE id = $1"
        )
        .bind(&before)
        .fetch_one(pool)
        .await
        .expect("count"));
        assert_eq!(still_there, 0, "the pre-sign-in id is gone");

        let settings = client
            .get(app.url("/t/marias/settings"))
            .send()
            .await
            .expect("GET");
        assert_eq!(settings.status(), 200);
        let old_token = token;
        let refused = app
            .post_form(&client, "/logout", &[("csrf_token", old_token.as_str())])
            .await;
        assert_eq!(
            refused.status(),
            403,
            "the token from before sign-in is void"
        );

        for (next, lands) in [
            ("//evil.example/x", "/app"),
            ("https://evil.example", "/app"),
            ("/\\evil.example", "/app"),
        ] {
            let (client, token) = app.visitor().await;
            let response = app
                .post_form(
                    &client,
                    "/login",
                    &[
                        ("csrf_token", token.as_str()),
                        ("email", "maria@example.com"),
                        ("password", PASSWORD),
                        ("next", next),
                    ],
                )
                .await;
            assert_eq!(response.headers()["location"], lands, "next={next}");
        }
    })
    .await;
}

backend_test!(a_hash_made_with_old_parameters_is_upgraded_at_sign_in);
async fn a_hash_made_with_old_parameters_is_upgraded_at_sign_in(backend: Backend) {
    // argon2id with m=8192, t=1 of PASSWORD (made with argon2-cffi).
    const OLD: &str = "$argon2id$v=19$m=8192,t=1,p=1$Aew+/r6kYTBdTX8mF7k5Rg$EmA7OuFmuyBebEmGCKbaFz/Ir3ZOazJazzVtvqTKM4A";
    run_on(backend, |app| async move {
        let user = crate::fixtures::user(&app.db, "old@example.com").await;
        on_backend!(&app.db, |pool| sqlx::query(
            "UPDATE users SET password_hash = $1 WHERE id = $2"
        )
        .bind(OLD)
        .bind(user)
        .execute(pool)
        .await
        .map(drop)
        .expect("store the old hash"));
        assert_eq!(
            api_login(&app, &new_client(), "old@example.com", PASSWORD)
                .await
                .status(),
            200
        );
        let hash: String = on_backend!(&app.db, |pool| sqlx::query_scalar(
            "SELECT password_hash FROM users WHERE id = $1"
        )
        .bind(user)
        .fetch_one(pool)
        .await
        .expect("the hash"));
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert_eq!(
            api_login(&app, &new_client(), "old@example.com", PASSWORD)
                .await
                .status(),
            200,
            "the new hash works"
        );
    })
    .await;
}

backend_test!(logging_out_ends_the_session_and_everywhere_else_ends_the_others);
async fn logging_out_ends_the_session_and_everywhere_else_ends_the_others(backend: Backend) {
    run_on(backend, |app| async move {
        let laptop = sign_up(&app, "maria@example.com", "Maria's").await;
        let phone = app.client.clone();
        assert_eq!(
            api_login(&app, &app.client, "maria@example.com", PASSWORD)
                .await
                .status(),
            200
        );
        assert_eq!(app.get("/api/v1/me").await.status(), 200, "the phone is in");

        let html = app.page(&laptop, "/account").await.1;
        assert!(html.contains("signed in on 2"), "two sessions listed");
        let response = app
            .post_form(
                &laptop,
                "/logout/others",
                &[("csrf_token", &csrf_field(&html))],
            )
            .await;
        assert_eq!(response.status(), 303);
        let me = phone.get(app.url("/api/v1/me")).send().await.expect("GET");
        assert_eq!(me.status(), 401, "the phone is signed out");
        let (status, html) = app.page(&laptop, "/account").await;
        assert_eq!(status, 200, "the laptop is still in");
        assert!(html.contains("Signed out of 1 other session."));

        let response = app
            .post_form(&laptop, "/logout", &[("csrf_token", &csrf_field(&html))])
            .await;
        assert_eq!(response.status(), 303);
        assert_eq!(count(&app, "sessions").await, 0, "the row is deleted");
        let after = laptop.get(app.url("/account")).send().await.expect("GET");
        assert_eq!(after.status(), 303, "sent to sign in");
    })
    .await;
}

backend_test!(a_form_without_the_right_csrf_token_is_refused_and_changes_nothing);
async fn a_form_without_the_right_csrf_token_is_refused_and_changes_nothing(backend: Backend) {
    run_on(backend, |app| async move {
        let alpha = TenantFixture::create(&app.db, "alpha").await;
        let signed_in = app.client_for(alpha.owner).await;
        let before = crate::fixtures::snapshot(&app.db, alpha.id).await;
        // A client with the session cookie but no default token header: a
        // forged cross-site form.
        let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
        let forged = crate::support::client_with(jar.clone(), Default::default());
        let cookie = signed_in
            .get(app.url("/api/v1/me"))
            .send()
            .await
            .expect("GET");
        let token = cookie.json::<Value>().await.expect("JSON")["csrf_token"]
            .as_str()
            .expect("token")
            .to_owned();
        let session = on_backend!(&app.db, |pool| sqlx::query_scalar::<_, String>(
            "SELECT id FROM sessions"
        )
        .fetch_one(pool)
        .await
        .expect("the session"));
        jar.add_cookie_str(
            &format!("session={session}"),
            &app.url("/").parse().expect("URL"),
        );
        for (what, body) in [
            ("no token", "name=Forged&time_zone=UTC".to_owned()),
            (
                "a wrong token",
                "csrf_token=guess&name=Forged&time_zone=UTC".to_owned(),
            ),
            (
                "another session's token",
                format!(
                    "csrf_token={}&name=Forged&time_zone=UTC",
                    app.visitor().await.1
                ),
            ),
        ] {
            let response = forged
                .post(app.url("/t/alpha/locations"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await
                .expect("POST");
            assert_eq!(response.status(), 403, "{what}");
            let html = response.text().await.expect("body");
            assert!(html.contains("reload the page"), "{what}: says what to do");
        }
        assert_eq!(
            crate::fixtures::snapshot(&app.db, alpha.id).await,
            before,
            "nothing changed"
        );
        let accepted = app
            .post_form(
                &forged,
                "/t/alpha/locations",
                &[
                    ("csrf_token", token.as_str()),
                    ("name", "Real"),
                    ("time_zone", "UTC"),
                ],
            )
            .await;
        assert_eq!(accepted.status(), 303, "the right token passes");

        let anonymous = app
            .post_form(
                &app.client,
                "/login",
                &[("email", "owner@alpha.test"), ("password", PASSWORD)],
            )
            .await;
        assert_eq!(
            anonymous.status(),
            403,
            "a sign-in form needs its token too"
        );
    })
    .await;
}

#[test]
fn every_form_that_posts_carries_the_csrf_token() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
    let mut pending = vec![root];
    let mut forms = 0;
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(dir).expect("templates folder") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("template");
            for (at, _) in text.match_indices("<form") {
                let form = &text[at..text[at..]
                    .find("</form>")
                    .map_or(text.len(), |end| at + end)];
                if form.contains(r#"method="post""#) {
                    forms += 1;
                    assert!(
                        form.contains("forms::csrf(layout.csrf_token)"),
                        "{}: a form without the CSRF token",
                        path.display()
                    );
                }
            }
        }
    }
    assert!(forms >= 8, "found the forms ({forms})");
}
