//! API tokens: created by owners and admins with a role no higher than
//! their own, shown once, used as `Authorization: Bearer`, revoked; on both
//! databases.

use app::db::Backend;
use serde_json::{Value, json};

use crate::accounts::PASSWORD;
use crate::fixtures::TenantFixture;
use crate::support::{TestApp, backend_test, bearer, csrf_field, new_client, run_on};

async fn create_token(app: &TestApp, client: &reqwest::Client, role: &str) -> reqwest::Response {
    app.give_password(client).await;
    app.post_json(
        client,
        "/api/v1/t/alpha/api-tokens",
        &json!({"name": "Nightly export", "role": role, "password": PASSWORD}),
    )
    .await
}

async fn last_used(app: &TestApp, owner: &reqwest::Client, name: &str) -> Value {
    let tokens = app.get_json(owner, "/api/v1/t/alpha/api-tokens").await;
    tokens
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .expect("the token")["last_used_at"]
        .clone()
}

backend_test!(a_token_is_shown_once_used_as_bearer_and_revoked);
async fn a_token_is_shown_once_used_as_bearer_and_revoked(backend: Backend) {
    run_on(backend, |app| async move {
        let a = TenantFixture::create(&app.db, "alpha").await;
        let owner = app.client_for(a.owner).await;
        let created = create_token(&app, &owner, "admin").await;
        assert_eq!(created.status(), 201);
        let created: Value = created.json().await.unwrap();
        let secret = created["secret"].as_str().unwrap().to_owned();
        assert!(secret.starts_with("api_"), "{secret}");
        assert_eq!(created["token"]["role"], "admin");
        assert_eq!(created["token"]["created_by"], "owner@alpha.test");
        let listed = app.get_json(&owner, "/api/v1/t/alpha/api-tokens").await;
        assert!(
            !listed.to_string().contains(&secret),
            "the secret is never listed"
        );
        assert_eq!(last_used(&app, &owner, "Nightly export").await, Value::Null);

        let program = bearer(&secret);
        let locations = app.get_json(&program, "/api/v1/t/alpha/locations").await;
        assert_eq!(locations.as_array().unwrap().len(), 2);
        // No session and no CSRF token: the bearer token is the credential.
        let made = app
            .post_json(
                &program,
                "/api/v1/t/alpha/locations",
                &json!({"name": "Airport", "time_zone": "UTC"}),
            )
            .await;
        assert_eq!(made.status(), 201);

        // The use is recorded (in the background).
        let mut recorded = Value::Null;
        for _ in 0..50 {
            recorded = last_used(&app, &owner, "Nightly export").await;
            if !recorded.is_null() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert!(recorded.is_string(), "last_used_at is set: {recorded}");

        let id = created["token"]["id"].as_str().unwrap();
        let revoked = owner
            .delete(app.url(&format!("/api/v1/t/alpha/api-tokens/{id}")))
            .send()
            .await
            .unwrap();
        assert_eq!(revoked.status(), 200);
        let refused = program
            .get(app.url("/api/v1/t/alpha/locations"))
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 401);
        let body: Value = refused.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_token");
        let again = owner
            .delete(app.url(&format!("/api/v1/t/alpha/api-tokens/{id}")))
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 404, "revoked already");
    })
    .await;
}

backend_test!(unknown_malformed_and_foreign_tokens_are_refused);
async fn unknown_malformed_and_foreign_tokens_are_refused(backend: Backend) {
    run_on(backend, |app| async move {
        let a = TenantFixture::create(&app.db, "alpha").await;
        let b = TenantFixture::create(&app.db, "bravo").await;
        let unknown = format!("api_{}_guess", a.id.as_uuid().simple());
        for secret in [unknown.as_str(), "not-a-token", "api_zz_x"] {
            let response = bearer(secret)
                .get(app.url("/api/v1/t/alpha/locations"))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 401, "{secret}");
        }
        // B's token on A's URL: A's data doesn't exist for it.
        let response = bearer(&b.api_token_secret)
            .get(app.url("/api/v1/t/alpha/locations"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404);
        let nowhere = bearer(&b.api_token_secret)
            .get(app.url("/api/v1/t/nowhere/locations"))
            .send()
            .await
            .unwrap();
        assert_eq!(nowhere.status(), 404);
        // A's own token works on A's URL.
        assert_eq!(
            app.get_json(&bearer(&a.api_token_secret), "/api/v1/t/alpha/members")
                .await
                .as_array()
                .unwrap()
                .len(),
            4
        );
    })
    .await;
}

backend_test!(a_bad_token_answers_alike_for_an_existing_and_a_missing_tenant);
/// No oracle on which organisations exist: the token names its tenant and
/// is checked first, so whatever a bad bearer is (forged with a real tenant's
/// id, malformed, one letter), an existing slug and a missing one answer
/// alike, on reads and on writes.
async fn a_bad_token_answers_alike_for_an_existing_and_a_missing_tenant(backend: Backend) {
    run_on(backend, |app| async move {
        let a = TenantFixture::create(&app.db, "alpha").await;
        let forged = format!("api_{}_guess", a.id.as_uuid().simple());
        for secret in [forged.as_str(), "not-a-token", "api_zz_x", "x"] {
            for (method, suffix) in [
                (reqwest::Method::GET, "/locations"),
                (reqwest::Method::POST, "/locations"),
                (reqwest::Method::DELETE, ""),
            ] {
                let mut answers = Vec::new();
                for slug in ["alpha", "no-such-tenant"] {
                    let path = format!("/api/v1/t/{slug}{suffix}");
                    let response = bearer(secret)
                        .request(method.clone(), app.url(&path))
                        .json(&serde_json::json!({"name": "Probe"}))
                        .send()
                        .await
                        .unwrap();
                    answers.push((response.status(), response.text().await.unwrap()));
                }
                assert_eq!(answers[0].0, 401, "{method} {suffix} with {secret:?}");
                assert_eq!(
                    answers[0], answers[1],
                    "{method} {suffix} with {secret:?}: an existing slug answers like a missing one"
                );
            }
        }
    })
    .await;
}

backend_test!(a_token_never_acts_above_its_creator);
async fn a_token_never_acts_above_its_creator(backend: Backend) {
    run_on(backend, |app| async move {
        let a = TenantFixture::create(&app.db, "alpha").await;
        let admin = app.client_for(a.admin).await;
        assert_eq!(
            create_token(&app, &admin, "owner").await.status(),
            403,
            "above the admin's own role"
        );
        let manager = app.client_for(a.manager).await;
        assert_eq!(
            create_token(&app, &manager, "staff").await.status(),
            403,
            "managers don't manage tokens"
        );
        let staff_token: Value = create_token(&app, &admin, "staff")
            .await
            .json()
            .await
            .unwrap();
        let staff = bearer(staff_token["secret"].as_str().unwrap());
        let refused = app
            .post_json(
                &staff,
                "/api/v1/t/alpha/locations",
                &json!({"name": "Nope", "time_zone": "UTC"}),
            )
            .await;
        assert_eq!(refused.status(), 403, "a staff token reads only");

        // The fixture's admin token follows its creator's demotion…
        let fixture = bearer(&a.api_token_secret);
        assert_eq!(
            app.get_json(&fixture, "/api/v1/t/alpha/members")
                .await
                .as_array()
                .unwrap()
                .len(),
            4
        );
        let owner = app.client_for(a.owner).await;
        let members = app.get_json(&owner, "/api/v1/t/alpha/members").await;
        let admin_membership = members
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["role"] == "admin")
            .unwrap()["id"]
            .clone();
        let demoted = owner
            .patch(app.url(&format!(
                "/api/v1/t/alpha/members/{}",
                admin_membership.as_str().unwrap()
            )))
            .json(&json!({"role": "staff"}))
            .send()
            .await
            .unwrap();
        assert_eq!(demoted.status(), 200);
        let now_staff = fixture
            .get(app.url("/api/v1/t/alpha/members"))
            .send()
            .await
            .unwrap();
        assert_eq!(now_staff.status(), 403, "acts as staff now");
        // …and dies with its creator's membership.
        let removed = owner
            .delete(app.url(&format!(
                "/api/v1/t/alpha/members/{}",
                admin_membership.as_str().unwrap()
            )))
            .send()
            .await
            .unwrap();
        assert_eq!(removed.status(), 200);
        assert_eq!(
            fixture
                .get(app.url("/api/v1/t/alpha/locations"))
                .send()
                .await
                .unwrap()
                .status(),
            401
        );
        let empty_name = app
            .post_json(
                &owner,
                "/api/v1/t/alpha/api-tokens",
                &json!({"name": "  ", "role": "staff", "password": PASSWORD}),
            )
            .await;
        assert_eq!(empty_name.status(), 422);
    })
    .await;
}

backend_test!(the_page_shows_a_new_token_once_and_revokes_it);
async fn the_page_shows_a_new_token_once_and_revokes_it(backend: Backend) {
    run_on(backend, |app| async move {
        let a = TenantFixture::create(&app.db, "alpha").await;
        let admin = app.client_for(a.admin).await;
        app.give_password(&admin).await;
        let (status, html) = app.page(&admin, "/t/alpha/api-tokens").await;
        assert_eq!(status, 200);
        assert!(
            !html.contains(r#"<option value="owner""#),
            "an admin can't pick owner"
        );
        let token = csrf_field(&html);
        let created = app
            .post_form(
                &admin,
                "/t/alpha/api-tokens",
                &[
                    ("csrf_token", &token),
                    ("name", "Exporter"),
                    ("role", "manager"),
                    ("password", PASSWORD),
                ],
            )
            .await;
        assert_eq!(created.status(), 200);
        let html = created.text().await.unwrap();
        let start = html.find("value=\"api_").expect("the secret is shown") + "value=\"".len();
        let secret = &html[start..start + html[start..].find('"').unwrap()];
        assert_eq!(
            bearer(secret)
                .get(app.url("/api/v1/t/alpha/locations"))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
        let later = admin
            .get(app.url("/t/alpha/api-tokens"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(!later.contains(secret), "shown once");

        let tokens = app.get_json(&admin, "/api/v1/t/alpha/api-tokens").await;
        let id = tokens
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == "Exporter")
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let revoked = app
            .post_form(
                &admin,
                &format!("/t/alpha/api-tokens/{id}/revoke"),
                &[("csrf_token", &token)],
            )
            .await;
        assert_eq!(revoked.status(), 303);
        assert_eq!(
            bearer(secret)
                .get(app.url("/api/v1/t/alpha/locations"))
                .send()
                .await
                .unwrap()
                .status(),
            401
        );
        let staff = app.client_for(a.staff).await;
        assert_eq!(
            staff
                .get(app.url("/t/alpha/api-tokens"))
                .send()
                .await
                .unwrap()
                .status(),
            403
        );
        assert_eq!(
            new_client()
                .get(app.url("/t/alpha/api-tokens"))
                .send()
                .await
                .unwrap()
                .status(),
            303
        );
    })
    .await;
}

backend_test!(a_token_can_neither_make_tokens_nor_leave_for_its_creator);
async fn a_token_can_neither_make_tokens_nor_leave_for_its_creator(backend: Backend) {
    run_on(backend, |app| async move {
        let a = TenantFixture::create(&app.db, "alpha").await;
        let program = bearer(&a.api_token_secret);
        let made = create_token(&app, &program, "staff").await;
        assert_eq!(made.status(), 403, "tokens don't breed");
        let left = program
            .post(app.url("/api/v1/t/alpha/leave"))
            .send()
            .await
            .unwrap();
        assert_eq!(left.status(), 403);
        assert_eq!(
            app.get_json(&program, "/api/v1/t/alpha/members")
                .await
                .as_array()
                .unwrap()
                .len(),
            4,
            "the admin is still a member"
        );
    })
    .await;
}
