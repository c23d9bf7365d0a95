//! The account page and its API: changing the email and the password,
//! listing and revoking sessions, the API tokens one created, leaving a
//! tenant, and deleting the account, on both databases.

use app::accounts::password::{Password, hash};
use app::db::Backend;
use app::ids::UserId;
use serde_json::{Value, json};

use crate::accounts::{PASSWORD, api_login, count, sign_up};
use crate::fixtures::TenantFixture;
use crate::support::{TestApp, backend_test, csrf_field, new_client, run_on};

/// Gives a fixture user (made without one) the test password.
async fn set_password(app: &TestApp, user: UserId) {
    let hashed = hash(Password::parse(PASSWORD).unwrap()).await.unwrap();
    app.execute(&format!(
        "UPDATE users SET password_hash = '{hashed}' WHERE id = '{user}'"
    ))
    .await;
}

/// POSTs a form of the account page from `client` (which has the page's
/// CSRF token).
async fn account_form(
    app: &TestApp,
    client: &reqwest::Client,
    path: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let page = client
        .get(app.url("/account"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let token = csrf_field(&page);
    let mut fields = fields.to_vec();
    fields.push(("csrf_token", &token));
    app.post_form(client, path, &fields).await
}

backend_test!(changing_the_email_needs_the_password_and_a_new_confirmation);
async fn changing_the_email_needs_the_password_and_a_new_confirmation(backend: Backend) {
    run_on(backend, |app| async move {
        let client = sign_up(&app, "old@example.com", "Email Ltd").await;
        sign_up(&app, "taken@example.com", "Taken Ltd").await;
        let verified_before =
            app.get_json(&client, "/api/v1/me").await["user"]["email_verified"].clone();
        let wrong = account_form(
            &app,
            &client,
            "/account/email",
            &[
                ("email", "new@example.com"),
                ("password", "not my password"),
            ],
        )
        .await;
        assert_eq!(wrong.status(), 422);
        assert!(
            wrong
                .text()
                .await
                .unwrap()
                .contains("That password is not right.")
        );
        let taken = account_form(
            &app,
            &client,
            "/account/email",
            &[("email", "Taken@example.com"), ("password", PASSWORD)],
        )
        .await;
        assert_eq!(taken.status(), 422);
        assert!(
            taken
                .text()
                .await
                .unwrap()
                .contains("Another account has this email.")
        );

        let changed = account_form(
            &app,
            &client,
            "/account/email",
            &[("email", "New@Example.com"), ("password", PASSWORD)],
        )
        .await;
        assert_eq!(changed.status(), 303);
        // Nothing changes before the new address proves it is theirs: a
        // session and a password alone can't take the account's email.
        let me = app.get_json(&client, "/api/v1/me").await;
        assert_eq!(
            (
                me["user"]["email"].as_str(),
                me["user"]["email_verified"].as_bool()
            ),
            (Some("old@example.com"), verified_before.as_bool())
        );
        assert_eq!(
            api_login(&app, &new_client(), "old@example.com", PASSWORD)
                .await
                .status(),
            200,
            "the old address still signs in"
        );
        assert_eq!(
            api_login(&app, &new_client(), "new@example.com", PASSWORD)
                .await
                .status(),
            401,
            "the new one doesn't yet"
        );
        let notice = &app.emails_to("old@example.com").await[0];
        assert!(
            notice.subject.contains("change") && notice.text.contains("new@example.com"),
            "{notice:?}"
        );
        let link = app.link_in_email("new@example.com", "/verify-email/").await;
        assert_eq!(
            new_client()
                .get(app.url(&link))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
        let me = app.get_json(&client, "/api/v1/me").await;
        assert_eq!(
            (
                me["user"]["email"].as_str(),
                me["user"]["email_verified"].as_bool()
            ),
            (Some("new@example.com"), Some(true)),
            "the link made it theirs, verified"
        );
        assert_eq!(
            new_client()
                .get(app.url(&link))
                .send()
                .await
                .unwrap()
                .status(),
            400,
            "once"
        );
        assert_eq!(
            api_login(&app, &new_client(), "new@example.com", PASSWORD)
                .await
                .status(),
            200
        );
        assert_eq!(
            api_login(&app, &new_client(), "old@example.com", PASSWORD)
                .await
                .status(),
            401
        );
    })
    .await;
}

backend_test!(changing_the_password_needs_the_current_one_and_signs_out_other_sessions);
async fn changing_the_password_needs_the_current_one_and_signs_out_other_sessions(
    backend: Backend,
) {
    run_on(backend, |app| async move {
        let client = sign_up(&app, "pw@example.com", "Pw Ltd").await;
        let elsewhere = new_client();
        assert_eq!(
            api_login(&app, &elsewhere, "pw@example.com", PASSWORD)
                .await
                .status(),
            200
        );
        let new = "an even better passphrase";
        let token = app.csrf_token(&client).await;
        let change = |current: &'static str, new: &'static str| {
            let (client, app, token) = (client.clone(), app.clone(), token.clone());
            async move {
                client
                    .post(app.url("/api/v1/account/password"))
                    .header("x-csrf-token", token)
                    .json(&json!({"current_password": current, "new_password": new}))
                    .send()
                    .await
                    .unwrap()
            }
        };
        assert_eq!(change("wrong password", new).await.status(), 422);
        assert_eq!(change(PASSWORD, "short").await.status(), 422);
        let changed = change(PASSWORD, new).await;
        assert_eq!(changed.status(), 200);
        let changed: Value = changed.json().await.unwrap();
        assert_eq!(changed["ended_sessions"], 1);
        assert_eq!(
            elsewhere
                .get(app.url("/api/v1/me"))
                .send()
                .await
                .unwrap()
                .status(),
            401,
            "signed out elsewhere"
        );
        assert_eq!(
            client
                .get(app.url("/api/v1/me"))
                .send()
                .await
                .unwrap()
                .status(),
            200,
            "still signed in here"
        );
        assert_eq!(
            api_login(&app, &new_client(), "pw@example.com", PASSWORD)
                .await
                .status(),
            401
        );
        assert_eq!(
            api_login(&app, &new_client(), "pw@example.com", new)
                .await
                .status(),
            200
        );
    })
    .await;
}

backend_test!(sessions_are_listed_and_each_can_be_signed_out);
async fn sessions_are_listed_and_each_can_be_signed_out(backend: Backend) {
    run_on(backend, |app| async move {
        let client = sign_up(&app, "sessions@example.com", "Sessions Ltd").await;
        let phone = new_client();
        assert_eq!(
            api_login(&app, &phone, "sessions@example.com", PASSWORD)
                .await
                .status(),
            200
        );
        let listed = app.get_json(&client, "/api/v1/account/sessions").await;
        let listed = listed.as_array().unwrap();
        assert_eq!(listed.len(), 2);
        assert_eq!(listed.iter().filter(|s| s["current"] == true).count(), 1);
        let other = listed.iter().find(|s| s["current"] == false).unwrap()["handle"]
            .as_str()
            .unwrap()
            .to_owned();
        let page = client
            .get(app.url("/account"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(page.contains(&format!("/account/sessions/{other}/revoke")));
        let revoked = account_form(
            &app,
            &client,
            &format!("/account/sessions/{other}/revoke"),
            &[],
        )
        .await;
        assert_eq!(revoked.status(), 303);
        assert_eq!(
            phone
                .get(app.url("/api/v1/me"))
                .send()
                .await
                .unwrap()
                .status(),
            401
        );
        let token = app.csrf_token(&client).await;
        let again = client
            .delete(app.url(&format!("/api/v1/account/sessions/{other}")))
            .header("x-csrf-token", token)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 404);
    })
    .await;
}

backend_test!(members_leave_a_tenant_but_its_last_owner_cannot);
async fn members_leave_a_tenant_but_its_last_owner_cannot(backend: Backend) {
    run_on(backend, |app| async move {
        let a = TenantFixture::create(&app.db, "alpha").await;
        let staff = app.client_for(a.staff).await;
        let left = staff
            .post(app.url("/api/v1/t/alpha/leave"))
            .send()
            .await
            .unwrap();
        assert_eq!(left.status(), 204);
        assert_eq!(
            staff
                .get(app.url("/t/alpha/locations"))
                .send()
                .await
                .unwrap()
                .status(),
            404
        );

        let owner = app.client_for(a.owner).await;
        let refused = owner
            .post(app.url("/api/v1/t/alpha/leave"))
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 409);
        let body: Value = refused.json().await.unwrap();
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("last owner")
        );
        let admin = app.client_for(a.admin).await;
        let page_left = account_form(&app, &admin, "/t/alpha/leave", &[]).await;
        assert_eq!(page_left.status(), 303);
        assert_eq!(
            count(&app, "memberships").await,
            2,
            "the owner and the manager stay"
        );
    })
    .await;
}

backend_test!(the_account_page_lists_and_revokes_ones_own_api_tokens);
async fn the_account_page_lists_and_revokes_ones_own_api_tokens(backend: Backend) {
    run_on(backend, |app| async move {
        let a = TenantFixture::create(&app.db, "alpha").await;
        let admin = app.client_for(a.admin).await;
        let own = app.get_json(&admin, "/api/v1/account/api-tokens").await;
        assert_eq!(own.as_array().unwrap().len(), 1);
        assert_eq!(own[0]["slug"], "alpha");
        let id = own[0]["token"]["id"].as_str().unwrap().to_owned();
        let revoked = account_form(
            &app,
            &admin,
            &format!("/t/alpha/api-tokens/{id}/revoke"),
            &[("return_to", "/account")],
        )
        .await;
        assert_eq!(revoked.status(), 303);
        assert_eq!(revoked.headers()["location"], "/account");
        let refused = crate::support::bearer(&a.api_token_secret)
            .get(app.url("/api/v1/t/alpha/locations"))
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 401);
    })
    .await;
}

backend_test!(deleting_the_account_needs_the_password_and_is_refused_for_a_last_owner);
async fn deleting_the_account_needs_the_password_and_is_refused_for_a_last_owner(backend: Backend) {
    run_on(backend, |app| async move {
        let a = TenantFixture::create(&app.db, "alpha").await;
        set_password(&app, a.owner).await;
        set_password(&app, a.staff).await;
        let owner = app.client_for(a.owner).await;
        let refused = account_form(
            &app,
            &owner,
            "/account/delete",
            &[("delete_password", PASSWORD)],
        )
        .await;
        assert_eq!(refused.status(), 409);
        assert!(
            refused
                .text()
                .await
                .unwrap()
                .contains("You are the last owner of alpha Ltd")
        );

        let staff = app.client_for(a.staff).await;
        let wrong = account_form(
            &app,
            &staff,
            "/account/delete",
            &[("delete_password", "not my password")],
        )
        .await;
        assert_eq!(wrong.status(), 422);
        let users = count(&app, "users").await;
        let deleted = account_form(
            &app,
            &staff,
            "/account/delete",
            &[("delete_password", PASSWORD)],
        )
        .await;
        assert_eq!(deleted.status(), 303);
        assert_eq!(count(&app, "users").await, users - 1);
        assert_eq!(
            count(&app, "memberships").await,
            3,
            "the staff member's membership went with the account"
        );
        assert_eq!(
            staff
                .get(app.url("/api/v1/me"))
                .send()
                .await
                .unwrap()
                .status(),
            401,
            "signed out"
        );
        assert_eq!(
            api_login(&app, &new_client(), "staff@alpha.test", PASSWORD)
                .await
                .status(),
            401
        );
    })
    .await;
}
