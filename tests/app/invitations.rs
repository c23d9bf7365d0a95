//! Invitations: inviting (owners and admins only), the emailed link for a
//! new user and for an existing one, accepting twice, the wrong account,
//! expiry, revoking, resending and the purge, on both databases.

use app::db::Backend;
use app::jobs::scheduled::enqueue_due;
use app::jobs::{self, Job};
use serde_json::{Value, json};
use time::macros::datetime;

use crate::accounts::{PASSWORD, count};
use crate::fixtures::{TenantFixture, user};
use crate::support::{TestApp, backend_test, csrf_field, new_client, run_on};

async fn invite_api(
    app: &TestApp,
    client: &reqwest::Client,
    slug: &str,
    body: Value,
) -> reqwest::Response {
    client
        .post(app.url(&format!("/api/v1/t/{slug}/invitations")))
        .json(&body)
        .send()
        .await
        .expect("POST invitations")
}

/// The role and location ids of `user`'s membership in `tenant`.
async fn membership_of(app: &TestApp, slug: &str, email: &str) -> Option<(String, usize)> {
    let owner = app.client_for(owner_of(app, slug).await).await;
    let members: Value = app
        .get_json(&owner, &format!("/api/v1/t/{slug}/members"))
        .await;
    members
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["email"] == email)
        .map(|m| {
            (
                m["role"].as_str().unwrap().to_owned(),
                m["location_ids"].as_array().unwrap().len(),
            )
        })
}

async fn owner_of(app: &TestApp, slug: &str) -> app::ids::UserId {
    app.user_id(&format!("owner@{slug}.test")).await
}

backend_test!(a_new_user_signs_up_through_the_invitation_and_joins_with_its_role_and_locations);
async fn a_new_user_signs_up_through_the_invitation_and_joins_with_its_role_and_locations(
    backend: Backend,
) {
    run_on(backend, |app| async move {
        let a = TenantFixture::create(&app.db, "alpha").await;
        let owner = app.client_for(a.owner).await;
        let (status, form) = app.page(&owner, "/t/alpha/invitations/new").await;
        assert_eq!(status, 200);
        let token = csrf_field(&form);
        let location = a.locations[1].to_string();
        let sent = app
            .post_form(
                &owner,
                "/t/alpha/invitations",
                &[
                    ("csrf_token", &token),
                    ("email", " New@Example.com "),
                    ("role", "manager"),
                    ("location_ids", &location),
                ],
            )
            .await;
        assert_eq!(sent.status(), 303);
        let members_page = owner
            .get(app.url("/t/alpha/members"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            members_page.contains("new@example.com")
                && members_page.contains("Pending invitations")
        );

        let mail = &app.emails_to("new@example.com").await[0];
        assert!(mail.subject.contains("alpha Ltd"), "{}", mail.subject);
        assert!(mail.text.contains("owner@alpha.test") && mail.text.contains("Manager"));
        let link = app.link_in_email("new@example.com", "/invitations/").await;

        let browser = new_client();
        let (status, html) = app.page(&browser, &link).await;
        assert_eq!(status, 200);
        assert!(
            html.contains("Choose a password") && html.contains("new@example.com"),
            "{html}"
        );
        let token = csrf_field(&html);
        let weak = app
            .post_form(
                &browser,
                &link,
                &[("csrf_token", &token), ("password", "short")],
            )
            .await;
        assert_eq!(weak.status(), 422);
        assert_eq!(
            count(&app, "users").await,
            4,
            "no account for a refused password"
        );

        let joined = app
            .post_form(
                &browser,
                &link,
                &[("csrf_token", &token), ("password", PASSWORD)],
            )
            .await;
        assert_eq!(joined.status(), 303);
        assert_eq!(joined.headers()["location"], "/t/alpha/locations");
        let me: Value = app.get_json(&browser, "/api/v1/me").await;
        assert_eq!(me["user"]["email"], "new@example.com");
        assert_eq!(
            me["user"]["email_verified"], true,
            "the link proved the address"
        );
        assert_eq!(me["tenants"][0]["slug"], "alpha");
        assert_eq!(
            membership_of(&app, "alpha", "new@example.com").await,
            Some(("manager".to_owned(), 1))
        );

        // Accepting again does nothing more.
        let memberships = count(&app, "memberships").await;
        let again = app
            .post_form(
                &browser,
                &link,
                &[("csrf_token", &app.csrf_token(&browser).await)],
            )
            .await;
        assert_eq!(again.status(), 303);
        let page_again = browser.get(app.url(&link)).send().await.unwrap();
        assert_eq!(
            page_again.status(),
            303,
            "the one who accepted is sent to the tenant"
        );
        assert_eq!(count(&app, "memberships").await, memberships);
        let pending: Value = app.get_json(&owner, "/api/v1/t/alpha/invitations").await;
        let emails: Vec<&str> = pending
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["email"].as_str().unwrap())
            .collect();
        assert_eq!(
            emails,
            ["invited@alpha.test"],
            "accepted: no longer pending"
        );
    })
    .await;
}

backend_test!(an_existing_user_signs_in_and_joins_an_extra_tenant_once);
async fn an_existing_user_signs_in_and_joins_an_extra_tenant_once(backend: Backend) {
    run_on(backend, |app| async move {
        let a = TenantFixture::create(&app.db, "alpha").await;
        let b = TenantFixture::create(&app.db, "bravo").await;
        let admin = app.client_for(a.admin).await;
        let response = invite_api(
            &app,
            &admin,
            "alpha",
            json!({"email": "owner@bravo.test", "role": "admin"}),
        )
        .await;
        assert_eq!(response.status(), 201);
        let invitation: Value = response.json().await.unwrap();
        assert_eq!(invitation["role"], "admin");
        assert_eq!(invitation["expired"], false);
        let link = app.link_in_email("owner@bravo.test", "/invitations/").await;

        let signed_out = new_client()
            .get(app.url(&link))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            signed_out.contains("Sign in to accept"),
            "an account exists: sign in first"
        );
        assert!(
            signed_out.contains(&format!("/login?next={}", link.replace('/', "%2F"))),
            "{signed_out}"
        );

        let bravo_owner = app.client_for(b.owner).await;
        let page = bravo_owner
            .get(app.url(&link))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(page.contains("Join alpha Ltd"), "{page}");
        let parts: Vec<&str> = link.split('/').collect();
        let accept = || {
            let (bravo_owner, app) = (bravo_owner.clone(), app.clone());
            let body = json!({"tenant_id": parts[2], "token": parts[3]});
            async move {
                let token = app.csrf_token(&bravo_owner).await;
                bravo_owner
                    .post(app.url("/api/v1/invitations/accept"))
                    .header("x-csrf-token", token)
                    .json(&body)
                    .send()
                    .await
                    .unwrap()
            }
        };
        // Holding the link isn't enough for an account whose email isn't
        // confirmed (anyone can sign up with someone else's address).
        let unverified = accept().await;
        assert_eq!(unverified.status(), 403);
        let message = unverified.text().await.unwrap();
        assert!(message.contains("Confirm your email first"), "{message}");
        app.execute(&format!(
            "UPDATE users SET email_verified_at = created_at WHERE id = '{}'",
            b.owner
        ))
        .await;
        let accepted = accept().await;
        assert_eq!(accepted.status(), 200);
        let accepted: Value = accepted.json().await.unwrap();
        assert_eq!(
            (accepted["slug"].as_str(), accepted["role"].as_str()),
            (Some("alpha"), Some("admin"))
        );
        let memberships = count(&app, "memberships").await;
        assert_eq!(accept().await.status(), 200, "accepting twice is fine…");
        assert_eq!(
            count(&app, "memberships").await,
            memberships,
            "…and does nothing more"
        );

        let me: Value = app.get_json(&bravo_owner, "/api/v1/me").await;
        let slugs: Vec<&str> = me["tenants"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["slug"].as_str().unwrap())
            .collect();
        assert_eq!(slugs, ["alpha", "bravo"]);
        assert_eq!(
            bravo_owner
                .get(app.url("/t/alpha/locations"))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    })
    .await;
}

backend_test!(only_the_invited_email_may_accept);
async fn only_the_invited_email_may_accept(backend: Backend) {
    run_on(backend, |app| async move {
        let a = TenantFixture::create(&app.db, "alpha").await;
        let stranger = user(&app.db, "stranger@example.com").await;
        let client = app.client_for(stranger).await;
        let link = format!("/invitations/{}/{}", a.id, a.invitation);
        let page = client
            .get(app.url(&link))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            page.contains("was sent to") && page.contains("invited@alpha.test"),
            "{page}"
        );
        let token = app.csrf_token(&client).await;
        let refused = app
            .post_form(&client, &link, &[("csrf_token", &token)])
            .await;
        assert_eq!(refused.status(), 403);
        assert_eq!(
            membership_of(&app, "alpha", "stranger@example.com").await,
            None
        );
        let owner = app.client_for(a.owner).await;
        let pending = app.get_json(&owner, "/api/v1/t/alpha/invitations").await;
        assert_eq!(pending.as_array().unwrap().len(), 1, "still pending");
    })
    .await;
}

backend_test!(expired_revoked_and_replaced_links_are_refused_and_resend_gives_a_new_one);
async fn expired_revoked_and_replaced_links_are_refused_and_resend_gives_a_new_one(
    backend: Backend,
) {
    run_on(backend, |app| async move {
        let a = TenantFixture::create(&app.db, "alpha").await;
        let invited = user(&app.db, "invited@alpha.test").await;
        let invitee = app.client_for(invited).await;
        let fixture_link = format!("/invitations/{}/{}", a.id, a.invitation);

        app.execute("UPDATE invitations SET expires_at = 1").await;
        assert_eq!(
            invitee
                .get(app.url(&fixture_link))
                .send()
                .await
                .unwrap()
                .status(),
            400
        );
        let owner = app.client_for(a.owner).await;
        let listed: Value = app.get_json(&owner, "/api/v1/t/alpha/invitations").await;
        assert_eq!(
            listed[0]["expired"], true,
            "an expired invitation shows as such"
        );

        // Resending gives a new link and a new expiry; the old link stays dead.
        let resent = owner
            .post(app.url(&format!(
                "/api/v1/t/alpha/invitations/{}/resend",
                a.invitation
            )))
            .send()
            .await
            .unwrap();
        assert_eq!(resent.status(), 200);
        let resent: Value = resent.json().await.unwrap();
        assert_eq!(resent["expired"], false);
        assert_eq!(
            invitee
                .get(app.url(&fixture_link))
                .send()
                .await
                .unwrap()
                .status(),
            400,
            "replaced"
        );
        let new_link = app
            .link_in_email("invited@alpha.test", "/invitations/")
            .await;
        assert_ne!(new_link, fixture_link);
        assert_eq!(
            invitee
                .get(app.url(&new_link))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );

        // Revoked: the new link is dead too.
        let revoked = owner
            .delete(app.url(&format!("/api/v1/t/alpha/invitations/{}", a.invitation)))
            .send()
            .await
            .unwrap();
        assert_eq!(revoked.status(), 204);
        let token = app.csrf_token(&invitee).await;
        let refused = app
            .post_form(&invitee, &new_link, &[("csrf_token", &token)])
            .await;
        assert_eq!(refused.status(), 400);
        let parts: Vec<&str> = new_link.split('/').collect();
        let api = invitee
            .post(app.url("/api/v1/invitations/accept"))
            .header("x-csrf-token", &token)
            .json(&json!({"tenant_id": parts[2], "token": parts[3]}))
            .send()
            .await
            .unwrap();
        assert_eq!(api.status(), 400);
        let body: Value = api.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_link");
        assert_eq!(
            membership_of(&app, "alpha", "invited@alpha.test").await,
            None
        );

        // A link naming another tenant, or no tenant, is the same dead link.
        for link in [
            format!("/invitations/{}/{}", uuid::Uuid::now_v7(), a.invitation),
            format!("/invitations/nope/{}", a.invitation),
        ] {
            assert_eq!(
                new_client()
                    .get(app.url(&link))
                    .send()
                    .await
                    .unwrap()
                    .status(),
                400,
                "{link}"
            );
        }
    })
    .await;
}

backend_test!(only_owners_and_admins_invite_and_only_owners_invite_owners);
async fn only_owners_and_admins_invite_and_only_owners_invite_owners(backend: Backend) {
    run_on(backend, |app| async move {
        let a = TenantFixture::create(&app.db, "alpha").await;
        for (who, role, expected) in [
            (a.manager, "staff", 403),
            (a.staff, "staff", 403),
            (a.admin, "owner", 403),
            (a.admin, "manager", 201),
            (a.owner, "owner", 201),
        ] {
            let client = app.client_for(who).await;
            let email = format!("{role}-{expected}-{who}@example.com");
            let response = invite_api(
                &app,
                &client,
                "alpha",
                json!({"email": email, "role": role}),
            )
            .await;
            assert_eq!(response.status(), expected, "{role} by {who}");
        }
        let manager = app.client_for(a.manager).await;
        assert_eq!(
            manager
                .get(app.url("/t/alpha/invitations/new"))
                .send()
                .await
                .unwrap()
                .status(),
            403
        );
        let resend = manager
            .post(app.url(&format!(
                "/api/v1/t/alpha/invitations/{}/resend",
                a.invitation
            )))
            .send()
            .await
            .unwrap();
        assert_eq!(resend.status(), 403);
        let owner = app.client_for(a.owner).await;
        let pending = app.get_json(&owner, "/api/v1/t/alpha/invitations").await;
        assert_eq!(
            pending.as_array().unwrap().len(),
            3,
            "the fixture's and the two allowed"
        );
    })
    .await;
}

backend_test!(inviting_a_member_someone_invited_or_a_foreign_location_is_a_field_error);
async fn inviting_a_member_someone_invited_or_a_foreign_location_is_a_field_error(
    backend: Backend,
) {
    run_on(backend, |app| async move {
        let a = TenantFixture::create(&app.db, "alpha").await;
        let b = TenantFixture::create(&app.db, "bravo").await;
        let owner = app.client_for(a.owner).await;
        for (body, field) in [
            (json!({"email": "staff@alpha.test", "role": "staff"}), "already a member"),
            (json!({"email": "INVITED@alpha.test", "role": "staff"}), "already invited"),
            (json!({"email": "not-an-email", "role": "staff"}), "email"),
            (json!({"email": "x@example.com", "role": "staff", "location_ids": [b.locations[0]]}), "not an active location"),
        ] {
            let response = invite_api(&app, &owner, "alpha", body.clone()).await;
            assert_eq!(response.status(), 422, "{body}");
            let error: Value = response.json().await.unwrap();
            assert!(error["error"]["message"].as_str().unwrap().contains(field), "{body}: {error}");
        }
        assert_eq!(count(&app, "invitations").await, 2, "only the fixtures' invitations");
        assert!(app.emails_to("x@example.com").await.is_empty());
    })
    .await;
}

backend_test!(accepting_is_rate_limited_per_link);
async fn accepting_is_rate_limited_per_link(backend: Backend) {
    run_on(backend, |app| async move {
        let a = TenantFixture::create(&app.db, "alpha").await;
        let client = app
            .client_for(user(&app.db, "guesser@example.com").await)
            .await;
        let token = app.csrf_token(&client).await;
        let body = json!({"tenant_id": a.id, "token": "not-the-token"});
        for _ in 0..10 {
            let response = client
                .post(app.url("/api/v1/invitations/accept"))
                .header("x-csrf-token", &token)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 400);
        }
        let refused = client
            .post(app.url("/api/v1/invitations/accept"))
            .header("x-csrf-token", &token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 429);
        assert!(refused.headers().contains_key("retry-after"));
    })
    .await;
}

backend_test!(each_tenant_purges_its_long_expired_invitations_once_a_day);
/// Each tenant's long-expired invitations go in its own daily run (the
/// core's scheduled job, in every app whatever its modules), enqueued once
/// per tenant and day however many instances race; the hourly purge
/// forgets the claims after 30 days.
async fn each_tenant_purges_its_long_expired_invitations_once_a_day(backend: Backend) {
    run_on(backend, |app| async move {
        TenantFixture::create(&app.db, "alpha").await;
        TenantFixture::create(&app.db, "bravo").await;
        let long_ago = time::OffsetDateTime::now_utc().unix_timestamp() - 8 * 86_400;
        app.execute(&format!(
            "UPDATE invitations SET expires_at = {long_ago} WHERE email = 'invited@alpha.test'"
        ))
        .await;
        app.execute(&format!(
            "UPDATE invitations SET expires_at = {} WHERE email = 'invited@bravo.test'",
            long_ago + 2 * 86_400
        ))
        .await;
        // Mid-month, when no monthly schedule is due.
        let morning = datetime!(2026-11-16 10:00 UTC);
        let (first, second) = tokio::join!(
            enqueue_due(&app.db, &app.jobs, morning),
            enqueue_due(&app.db, &app.jobs, morning)
        );
        assert_eq!(
            first.unwrap() + second.unwrap(),
            2,
            "one run per tenant, however many instances race"
        );
        assert_eq!(app.run_jobs().await, 2);
        let left: Vec<String> = app::on_backend!(&app.db, |pool| sqlx::query_scalar(
            "SELECT email FROM invitations"
        )
        .fetch_all(pool)
        .await
        .unwrap());
        assert_eq!(
            left,
            ["invited@bravo.test"],
            "expired a day ago: kept, so it can be resent"
        );
        let evening = datetime!(2026-11-16 21:00 UTC);
        assert_eq!(
            enqueue_due(&app.db, &app.jobs, evening).await.unwrap(),
            0,
            "done today"
        );
        // 23:30 in UTC is already the 17th in Madrid.
        let next_day = datetime!(2026-11-16 23:30 UTC);
        assert_eq!(enqueue_due(&app.db, &app.jobs, next_day).await.unwrap(), 2);

        app.execute(&format!(
            "UPDATE scheduled_runs SET claimed_at = claimed_at - {} WHERE period = '2026-11-16'",
            31 * 86_400
        ))
        .await;
        jobs::enqueue(&app.db, None, &Job::PurgeExpired)
            .await
            .expect("enqueue");
        app.run_jobs().await;
        let claims: Vec<String> = app::on_backend!(&app.db, |pool| sqlx::query_scalar(
            "SELECT period FROM scheduled_runs WHERE job = 'purge_expired_invitations'"
        )
        .fetch_all(pool)
        .await
        .unwrap());
        assert_eq!(claims, ["2026-11-17", "2026-11-17"]);
    })
    .await;
}

backend_test!(invitation_emails_are_limited_per_invitation_and_per_tenant_each_day);
/// Invitation emails are limited per invitation (five a day, the first
/// included) and per tenant (a hundred a day, new and resent), so a member
/// who may invite can't turn the app into a mail cannon; a refused resend
/// changes nothing (the last link still works).
async fn invitation_emails_are_limited_per_invitation_and_per_tenant_each_day(backend: Backend) {
    run_on(backend, |app| async move {
        let a = TenantFixture::create(&app.db, "alpha").await;
        let owner = app.client_for(a.owner).await;
        let invite = |email: String| {
            let (owner, app) = (owner.clone(), app.clone());
            async move {
                owner
                    .post(app.url("/api/v1/t/alpha/invitations"))
                    .json(&json!({"email": email, "role": "staff", "location_ids": []}))
                    .send()
                    .await
                    .unwrap()
            }
        };
        let created: Value = invite("repeat@example.com".to_owned())
            .await
            .json()
            .await
            .unwrap();
        let resend_path = format!(
            "/api/v1/t/alpha/invitations/{}/resend",
            created["id"].as_str().unwrap()
        );
        let mut statuses = Vec::new();
        for _ in 0..5 {
            statuses.push(
                owner
                    .post(app.url(&resend_path))
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16(),
            );
        }
        assert_eq!(
            statuses,
            [200, 200, 200, 200, 429],
            "five emails a day per invitation"
        );
        app.run_jobs().await;
        let link = app
            .link_in_email("repeat@example.com", "/invitations/")
            .await;
        let page = new_client().get(app.url(&link)).send().await.unwrap();
        assert_eq!(page.status(), 200, "the last link sent still works");

        // 5 emails so far (the fixture's invitation was written directly):
        // 95 more new invitations, then the tenant's day is full.
        for n in 0..95 {
            let response = invite(format!("bulk{n}@example.com")).await;
            assert_eq!(response.status(), 201, "invitation {n}");
        }
        let refused = invite("one-too-many@example.com".to_owned()).await;
        assert_eq!(refused.status(), 429, "a hundred a day per tenant");
        assert!(refused.headers().contains_key("retry-after"));
        let pending: i64 = app::on_backend!(&app.db, |pool| sqlx::query_scalar(
            "SELECT COUNT(*) FROM invitations WHERE email = 'one-too-many@example.com'"
        )
        .fetch_one(pool)
        .await)
        .unwrap();
        assert_eq!(pending, 0, "a refused invitation isn't written");
    })
    .await;
}
