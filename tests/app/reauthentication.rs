//! Sensitive changes need a recent proof of identity: the current password
//! in the same request. A session alone (stolen, borrowed, left open) can't
//! mint an API token, delete the organisation, change the email or password
//! or turn two-factor on (tests/app/two_factor.rs) or off.

use app::db::Backend;
use serde_json::{Value, json};

use crate::accounts::PASSWORD;
use crate::fixtures::TenantFixture;
use crate::support::{TestApp, backend_test, csrf_field, run_on};
use crate::tenant_export::owned_rows;

/// What a sensitive change could have changed: the tenant's rows (its API
/// tokens included) and the owner's account.
async fn state(app: &TestApp, f: &TenantFixture) -> (Vec<(String, i64)>, Value) {
    let rows = owned_rows(&app.db, f.id).await.into_iter().collect();
    let owner: (String, Option<String>) = app::on_backend!(&app.db, |pool| sqlx::query_as(
        "SELECT email, password_hash FROM users WHERE id = $1"
    )
    .bind(f.owner)
    .fetch_one(pool)
    .await)
    .unwrap();
    (rows, json!(owner))
}

backend_test!(a_session_alone_cannot_make_a_sensitive_change);
async fn a_session_alone_cannot_make_a_sensitive_change(backend: Backend) {
    run_on(backend, |app| async move {
        let f = TenantFixture::create(&app.db, "alpha").await;
        let session = app.client_for(f.owner).await;
        app.give_password(&session).await;
        let page = session
            .get(app.url("/t/alpha/settings"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let csrf = csrf_field(&page);
        let before = state(&app, &f).await;
        // (method, path, body without the password, the password's field)
        let changes: Vec<(&str, &str, Value, &str)> = vec![
            (
                "POST",
                "/api/v1/t/alpha/api-tokens",
                json!({"name": "Exfiltrate", "role": "owner"}),
                "password",
            ),
            (
                "FORM",
                "/t/alpha/api-tokens",
                json!({"name": "Exfiltrate", "role": "owner"}),
                "password",
            ),
            (
                "DELETE",
                "/api/v1/t/alpha",
                json!({"confirm": "alpha"}),
                "password",
            ),
            (
                "FORM",
                "/t/alpha/settings/delete",
                json!({"confirm": "alpha"}),
                "password",
            ),
            (
                "POST",
                "/api/v1/account/email",
                json!({"email": "thief@example.com"}),
                "password",
            ),
            (
                "FORM",
                "/account/email",
                json!({"email": "thief@example.com"}),
                "password",
            ),
            (
                "POST",
                "/api/v1/account/password",
                json!({"new_password": "the thief's own password"}),
                "current_password",
            ),
        ];
        for (method, path, body, field) in &changes {
            // Each wrong password counts against the account's sign-in
            // limit (tests/app/rate_limits.rs): start each change afresh.
            app.execute("DELETE FROM rate_limit_counters").await;
            for password in [None, Some("a guess")] {
                let mut body = body.clone();
                if let Some(password) = password {
                    body[*field] = json!(password);
                }
                let response = if *method == "FORM" {
                    let mut form: Vec<(String, String)> = body
                        .as_object()
                        .unwrap()
                        .iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                        .collect();
                    form.push(("csrf_token".to_owned(), csrf.clone()));
                    session.post(app.url(path)).form(&form).send().await
                } else {
                    session
                        .request(method.parse().unwrap(), app.url(path))
                        .json(&body)
                        .send()
                        .await
                }
                .unwrap();
                let status = response.status().as_u16();
                let text = response.text().await.unwrap();
                assert_eq!(
                    status,
                    422,
                    "{method} {path} with {password:?}: {text} ({:?})",
                    app.backend()
                );
                assert!(
                    text.contains("password"),
                    "{method} {path}: names the password: {text}"
                );
                assert_eq!(
                    state(&app, &f).await,
                    before,
                    "{method} {path} with {password:?}: nothing changed"
                );
            }
        }
        // With the password, the owner does it.
        let created = app
            .post_json(
                &session,
                "/api/v1/t/alpha/api-tokens",
                &json!({"name": "Reports", "role": "staff", "password": PASSWORD}),
            )
            .await;
        assert_eq!(created.status(), 201);
        let deleted = session
            .delete(app.url("/api/v1/t/alpha"))
            .json(&json!({"confirm": "alpha", "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(deleted.status(), 204);
    })
    .await;
}
