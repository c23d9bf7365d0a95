//! Two-factor authentication: enrolment, signing in with a code (pages and
//! API), a replayed code, recovery codes, disabling, the rate limit, and
//! super-admins, on both databases.

use app::db::Backend;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use totp_rs::Totp;

use crate::accounts::{PASSWORD, sign_up};
use app::sealed_columns;
use app::crypto::sealed::rotate;
use app::crypto::{Keys, LookupKey};

use crate::support::{
    LOOKUP_KEY, Options, TestApp, backend_test, csrf_field, new_client, run_on, run_on_with,
};

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The code of the step `steps` from now (one step either way is accepted).
fn code(totp: &Totp, steps: i64) -> String {
    let time = now().saturating_add_signed(steps * 30);
    totp.generate(time).to_string()
}

/// Signs in through the pages up to the code page; returns the client.
async fn password_step(app: &TestApp, email: &str) -> reqwest::Client {
    let (client, token) = app.visitor().await;
    let response = app
        .post_form(
            &client,
            "/login",
            &[
                ("csrf_token", &token),
                ("email", email),
                ("password", PASSWORD),
                ("next", "/account"),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(
        response.headers()["location"],
        "/login/two-factor?next=%2Faccount"
    );
    client
}

pub async fn code_step(app: &TestApp, client: &reqwest::Client, code: &str) -> reqwest::Response {
    let form = client
        .get(app.url("/login/two-factor"))
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 200);
    let token = csrf_field(&form.text().await.unwrap());
    app.post_form(
        client,
        "/login/two-factor",
        &[("csrf_token", &token), ("code", code), ("next", "/account")],
    )
    .await
}

async fn api_login(app: &TestApp, email: &str, code: Option<&str>) -> reqwest::Response {
    let mut body = json!({"email": email, "password": PASSWORD});
    if let Some(code) = code {
        body["code"] = json!(code);
    }
    app.post_json(&new_client(), "/api/v1/login", &body).await
}

backend_test!(signing_in_asks_for_a_code_once_enrolled_and_a_code_works_once);
async fn signing_in_asks_for_a_code_once_enrolled_and_a_code_works_once(backend: Backend) {
    run_on(backend, |app| async move {
        let client = sign_up(&app, "totp@example.com", "Totp Ltd").await;
        let (totp, recovery) = app.enrol_two_factor(&client).await;
        assert_eq!(recovery.len(), 10, "ten recovery codes, shown once");
        let page = client
            .get(app.url("/account/two-factor"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(page.contains("10 unused recovery codes") && !page.contains(&recovery[0]));

        // The password alone signs nobody in.
        let browser = password_step(&app, "totp@example.com").await;
        assert_eq!(
            browser
                .get(app.url("/account"))
                .send()
                .await
                .unwrap()
                .status(),
            303
        );
        let wrong = code_step(&app, &browser, "000000").await;
        assert_eq!(wrong.status(), 401);
        let next = code(&totp, 1);
        let signed_in = code_step(&app, &browser, &next).await;
        assert_eq!(signed_in.status(), 303);
        assert_eq!(signed_in.headers()["location"], "/account");
        assert_eq!(
            browser
                .get(app.url("/account"))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );

        // The same code in another browser: refused, it was used.
        let other = password_step(&app, "totp@example.com").await;
        assert_eq!(
            code_step(&app, &other, &next).await.status(),
            401,
            "a used code is not replayed"
        );
        assert_eq!(
            code_step(&app, &other, &code(&totp, 0)).await.status(),
            401,
            "nor an older one"
        );
        // A recovery code works once.
        assert_eq!(
            code_step(&app, &other, &recovery[3].to_uppercase())
                .await
                .status(),
            303
        );
        let third = password_step(&app, "totp@example.com").await;
        assert_eq!(
            code_step(&app, &third, &recovery[3]).await.status(),
            401,
            "a recovery code works once"
        );
        let page = client
            .get(app.url("/account/two-factor"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(page.contains("9 unused recovery codes"));
    })
    .await;
}

backend_test!(the_api_asks_for_the_code_and_refuses_a_wrong_one);
async fn the_api_asks_for_the_code_and_refuses_a_wrong_one(backend: Backend) {
    run_on(backend, |app| async move {
        let client = sign_up(&app, "api2fa@example.com", "Api 2fa Ltd").await;
        let (totp, _) = app.enrol_two_factor(&client).await;
        let missing = api_login(&app, "api2fa@example.com", None).await;
        assert_eq!(missing.status(), 401);
        let body: Value = missing.json().await.unwrap();
        assert_eq!(body["error"]["code"], "second_factor_required");
        let wrong = api_login(&app, "api2fa@example.com", Some("123456")).await;
        let body: Value = wrong.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_second_factor");
        let right = api_login(&app, "api2fa@example.com", Some(&code(&totp, 1))).await;
        assert_eq!(right.status(), 200);
        let wrong_password = app
            .post_json(&new_client(), "/api/v1/login", &json!({"email": "api2fa@example.com", "password": "not the password", "code": code(&totp, 1)}))
            .await;
        let body: Value = wrong_password.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_credentials", "the password is checked first");
    })
    .await;
}

backend_test!(turning_two_factor_on_needs_the_current_password);
/// A stolen session alone can't put the thief's authenticator on the
/// account (which would lock the owner out for good): turning two-factor
/// on asks for the current password, on the page and through the API.
async fn turning_two_factor_on_needs_the_current_password(backend: Backend) {
    run_on(backend, |app| async move {
        let stolen = sign_up(&app, "victim@example.com", "Victim Ltd").await;
        let token = app.csrf_token(&stolen).await;
        let setup: Value = stolen
            .post(app.url("/api/v1/account/two-factor/setup"))
            .header("x-csrf-token", &token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let totp = totp_rs::Builder::new()
            .with_secret(
                totp_rs::Secret::try_from_base32(setup["secret"].as_str().unwrap()).unwrap(),
            )
            .build()
            .unwrap();
        for password in [None, Some(""), Some("a guess at the password")] {
            let mut body = json!({"code": code(&totp, 0)});
            if let Some(password) = password {
                body["password"] = json!(password);
            }
            let api = stolen
                .post(app.url("/api/v1/account/two-factor/enable"))
                .header("x-csrf-token", &token)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(api.status(), 422, "{password:?}");
            let message = api.text().await.unwrap();
            assert!(message.contains("password"), "{message}");
            let mut form = vec![("csrf_token", token.as_str())];
            let current = code(&totp, 0);
            form.push(("code", current.as_str()));
            if let Some(password) = password {
                form.push(("password", password));
            }
            let page = app
                .post_form(&stolen, "/account/two-factor/enable", &form)
                .await;
            assert_eq!(page.status(), 422, "{password:?}");
        }
        let enrolled: i64 = app::on_backend!(&app.db, |pool| sqlx::query_scalar(
            "SELECT COUNT(*) FROM users WHERE totp_secret IS NOT NULL"
        )
        .fetch_one(pool)
        .await)
        .unwrap();
        assert_eq!(enrolled, 0, "no authenticator was put on the account");
        assert_eq!(
            api_login(&app, "victim@example.com", None).await.status(),
            200,
            "the owner still signs in with their password alone"
        );
    })
    .await;
}

backend_test!(enrolling_through_the_api_and_disabling_needs_the_password_and_a_code);
async fn enrolling_through_the_api_and_disabling_needs_the_password_and_a_code(backend: Backend) {
    run_on(backend, |app| async move {
        let client = sign_up(&app, "off@example.com", "Off Ltd").await;
        let token = app.csrf_token(&client).await;
        let post = |path: &'static str, body: Value| {
            let (client, app, token) = (client.clone(), app.clone(), token.clone());
            async move {
                client
                    .post(app.url(path))
                    .header("x-csrf-token", token)
                    .json(&body)
                    .send()
                    .await
                    .unwrap()
            }
        };
        let setup: Value = post("/api/v1/account/two-factor/setup", json!({}))
            .await
            .json()
            .await
            .unwrap();
        assert!(
            setup["otpauth_url"]
                .as_str()
                .unwrap()
                .starts_with("otpauth://totp/")
        );
        let totp = totp_rs::Builder::new()
            .with_secret(
                totp_rs::Secret::try_from_base32(setup["secret"].as_str().unwrap()).unwrap(),
            )
            .build()
            .unwrap();
        assert_eq!(
            post(
                "/api/v1/account/two-factor/enable",
                json!({"password": PASSWORD, "code": "999999"})
            )
            .await
            .status(),
            422
        );
        let enabled = post(
            "/api/v1/account/two-factor/enable",
            json!({"password": PASSWORD, "code": code(&totp, 0)}),
        )
        .await;
        assert_eq!(enabled.status(), 200);
        let enabled: Value = enabled.json().await.unwrap();
        assert_eq!(enabled["recovery_codes"].as_array().unwrap().len(), 10);
        assert_eq!(
            app.get_json(&client, "/api/v1/me").await["csrf_token"],
            enabled["csrf_token"]
        );

        let disable = |password: &'static str, code: String| {
            post(
                "/api/v1/account/two-factor/disable",
                json!({"password": password, "code": code}),
            )
        };
        assert_eq!(
            disable("wrong password!", code(&totp, 1)).await.status(),
            422
        );
        assert_eq!(disable(PASSWORD, "000000".to_owned()).await.status(), 422);
        assert_eq!(disable(PASSWORD, code(&totp, 1)).await.status(), 204);
        assert_eq!(
            api_login(&app, "off@example.com", None).await.status(),
            200,
            "no code asked any more"
        );
    })
    .await;
}

backend_test!(wrong_codes_are_rate_limited);
async fn wrong_codes_are_rate_limited(backend: Backend) {
    run_on(backend, |app| async move {
        let client = sign_up(&app, "guess@example.com", "Guess Ltd").await;
        app.enrol_two_factor(&client).await;
        let browser = password_step(&app, "guess@example.com").await;
        for _ in 0..5 {
            assert_eq!(code_step(&app, &browser, "111111").await.status(), 401);
        }
        let refused = code_step(&app, &browser, "111111").await;
        assert_eq!(refused.status(), 429);
        assert!(refused.headers().contains_key("retry-after"));
        let api = api_login(&app, "guess@example.com", Some("222222")).await;
        assert_eq!(
            api.status(),
            429,
            "the account's limit holds for the API too"
        );
    })
    .await;
}

backend_test!(a_super_admin_needs_a_second_factor_for_admin_pages);
async fn a_super_admin_needs_a_second_factor_for_admin_pages(backend: Backend) {
    run_on(backend, |app| async move {
        let client = sign_up(&app, "ops@example.com", "Ops Ltd").await;
        app.execute("UPDATE users SET is_super_admin = true").await;
        let refused = client.get(app.url("/admin/tenants")).send().await.unwrap();
        assert_eq!(refused.status(), 403);
        assert!(refused.text().await.unwrap().contains("two-factor"));
        let (totp, _) = app.enrol_two_factor(&client).await;
        crate::admin::open_panel(&app, &client).await;
        assert_eq!(
            client
                .get(app.url("/admin/tenants"))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );

        // A new sign-in passes the code step before reaching the panel
        // (until then, the panel doesn't exist), then the panel's door.
        let browser = password_step(&app, "ops@example.com").await;
        assert_eq!(
            browser
                .get(app.url("/admin/tenants"))
                .send()
                .await
                .unwrap()
                .status(),
            404
        );
        assert_eq!(
            code_step(&app, &browser, &code(&totp, 1)).await.status(),
            303
        );
        crate::admin::open_panel(&app, &browser).await;
        assert_eq!(
            browser
                .get(app.url("/admin/tenants"))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    })
    .await;
}

backend_test!(a_reset_link_never_signs_a_two_factor_account_in_and_nothing_carries_over);
async fn a_reset_link_never_signs_a_two_factor_account_in_and_nothing_carries_over(
    backend: Backend,
) {
    run_on(backend, |app| async move {
        // The victim: a super-admin with two-factor.
        let victim = sign_up(&app, "root@example.com", "Root Ltd").await;
        app.execute("UPDATE users SET is_super_admin = true WHERE email = 'root@example.com'")
            .await;
        app.enrol_two_factor(&victim).await;
        // The attacker: signed in with their own second factor, in this browser.
        let attacker = sign_up(&app, "mallory@example.com", "Mallory Ltd").await;
        app.enrol_two_factor(&attacker).await;
        let (status, _) = {
            let page = attacker
                .get(app.url("/forgot-password"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            let token = csrf_field(&page);
            let response = app
                .post_form(
                    &attacker,
                    "/forgot-password",
                    &[("csrf_token", &token), ("email", "root@example.com")],
                )
                .await;
            (response.status(), ())
        };
        assert_eq!(status, 200);
        let link = app
            .link_in_email("root@example.com", "/reset-password/")
            .await;
        let form = attacker
            .get(app.url(&link))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let token = csrf_field(&form);
        let done = app
            .post_form(
                &attacker,
                &link,
                &[
                    ("csrf_token", &token),
                    ("password", "a stolen new passphrase"),
                ],
            )
            .await;
        assert_eq!(done.status(), 303);
        assert_eq!(
            done.headers()["location"],
            "/login",
            "the code is still needed"
        );
        assert_eq!(
            attacker
                .get(app.url("/account"))
                .send()
                .await
                .unwrap()
                .status(),
            303,
            "signed out, not the victim"
        );
        assert_eq!(
            attacker
                .get(app.url("/admin/tenants"))
                .send()
                .await
                .unwrap()
                .status(),
            404,
            "so no panel"
        );
        assert_eq!(
            attacker
                .get(app.url("/api/v1/me"))
                .send()
                .await
                .unwrap()
                .status(),
            401
        );
    })
    .await;
}

backend_test!(enrolling_again_cannot_replace_the_factor);
async fn enrolling_again_cannot_replace_the_factor(backend: Backend) {
    run_on(backend, |app| async move {
        let client = sign_up(&app, "twice@example.com", "Twice Ltd").await;
        let (totp, _) = app.enrol_two_factor(&client).await;
        let token = app.csrf_token(&client).await;
        let again = client
            .post(app.url("/api/v1/account/two-factor/enable"))
            .header("x-csrf-token", token)
            .json(&json!({"password": PASSWORD, "code": code(&totp, 1)}))
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 409);
        assert_eq!(
            api_login(&app, "twice@example.com", Some(&code(&totp, 1)))
                .await
                .status(),
            200,
            "the first factor still works"
        );
    })
    .await;
}

backend_test!(rotate_keys_moves_two_factor_secrets_onto_the_new_key);
async fn rotate_keys_moves_two_factor_secrets_onto_the_new_key(backend: Backend) {
    let (old, new) = ([1; 32], [2; 32]);
    run_on_with(
        backend,
        || Options::with_keys(&[old]),
        |app| async move {
            let client = sign_up(&app, "rotate@example.com", "Rotate Ltd").await;
            let (totp, _) = app.enrol_two_factor(&client).await;
            let keys = Keys::new(&[new, old]);
            let rotation = rotate(
                &app.db,
                &keys,
                &LookupKey::new(&LOOKUP_KEY),
                &sealed_columns(),
                10,
            )
            .await
            .expect("rotation");
            assert_eq!(rotation.rewritten[0], ("users.totp_secret".to_owned(), 1));
            assert_eq!(rotation.remaining, 0);

            // An instance that knows only the new key still checks the code.
            let after = app.another_instance(Options::with_keys(&[new])).await;
            let browser = password_step(&after, "rotate@example.com").await;
            let signed_in = code_step(&after, &browser, &code(&totp, 1)).await;
            assert_eq!(signed_in.status(), 303);
            after.stop().await;
        },
    )
    .await;
}

backend_test!(the_rotate_keys_command_reencrypts_in_batches_and_a_second_run_finds_nothing);
/// The same through the binary, as an operator runs it: in batches of one,
/// each column reported, every value under the newest key afterwards, and a
/// second run that finds nothing left to do.
async fn the_rotate_keys_command_reencrypts_in_batches_and_a_second_run_finds_nothing(
    backend: Backend,
) {
    let (old, new) = ([1; 32], [2; 32]);
    run_on_with(
        backend,
        || Options::with_keys(&[old]),
        |app| async move {
            for email in ["one@example.com", "two@example.com"] {
                let client = sign_up(&app, email, "Rotate Ltd").await;
                app.enrol_two_factor(&client).await;
            }
            let folder = tempfile::tempdir().expect("folder");
            let mut vars = Options::with_keys(&[new, old]).vars;
            vars.push(("DATABASE_URL", app.database_url.clone()));
            let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let run = || {
                let output = crate::startup::command(folder.path(), &vars)
                    .args(["rotate-keys", "--batch", "1"])
                    .output()
                    .expect("run rotate-keys");
                assert!(
                    output.status.success(),
                    "{}",
                    String::from_utf8_lossy(&output.stderr)
                );
                String::from_utf8_lossy(&output.stdout).into_owned()
            };
            let first = run();
            assert!(
                first.contains("users.totp_secret: 2 re-encrypted"),
                "{first}"
            );
            assert!(first.contains("older keys can be removed"), "{first}");
            let again = run();
            assert!(
                again.contains("users.totp_secret: 0 re-encrypted"),
                "{again}"
            );
            let stored: Vec<String> = app::on_backend!(&app.db, |pool| sqlx::query_scalar(
                "SELECT totp_secret FROM users WHERE totp_secret IS NOT NULL"
            )
            .fetch_all(pool)
            .await
            .unwrap());
            let newest = Keys::new(&[new]).newest_fingerprint().to_owned();
            assert_eq!(stored.len(), 2);
            assert!(
                stored
                    .iter()
                    .all(|s| s.starts_with(&format!("v1.{newest}."))),
                "{stored:?}"
            );
        },
    )
    .await;
}
