//! Members: roles, location grants, and the owner rules.

use app::db::Backend;
use serde_json::{Value, json};

use crate::fixtures::TenantFixture;
use crate::support::{backend_test, run_on};

backend_test!(admins_manage_roles_and_locations_and_only_owners_touch_owners);
async fn admins_manage_roles_and_locations_and_only_owners_touch_owners(backend: Backend) {
    run_on(backend, |app| async move {
        let a = TenantFixture::create(&app.db, "alpha").await;
        let b = TenantFixture::create(&app.db, "bravo").await;
        let owner = app.client_for(a.owner).await;
        let admin = app.client_for(a.admin).await;

        let members: Vec<Value> = admin
            .get(app.url("/api/v1/t/alpha/members"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(members.len(), 4);
        let manager = members
            .iter()
            .find(|m| m["email"] == "manager@alpha.test")
            .unwrap();
        assert_eq!(manager["role"], "manager");
        assert_eq!(manager["location_ids"], json!([a.locations[0]]));
        let owner_id = members.iter().find(|m| m["role"] == "owner").unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();

        // Regrant the manager to the second location only.
        let url = app.url(&format!("/api/v1/t/alpha/members/{}", a.manager_membership));
        let patched = admin
            .patch(&url)
            .json(&json!({"location_ids": [a.locations[1]]}))
            .send()
            .await
            .unwrap();
        assert_eq!(patched.status(), 200);
        let manager_client = app.client_for(a.manager).await;
        let seen: Vec<Value> = manager_client
            .get(app.url("/api/v1/t/alpha/locations"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0]["id"], json!(a.locations[1]));

        // Another tenant's location, or none at all, can't be granted.
        for location in [b.locations[0].to_string(), uuid::Uuid::now_v7().to_string()] {
            let refused = admin
                .patch(&url)
                .json(&json!({"location_ids": [location]}))
                .send()
                .await
                .unwrap();
            assert_eq!(refused.status(), 422);
        }

        // Admins can't make or unmake owners.
        let promote = admin
            .patch(&url)
            .json(&json!({"role": "owner"}))
            .send()
            .await
            .unwrap();
        assert_eq!(promote.status(), 403);
        let body: Value = promote.json().await.unwrap();
        assert_eq!(
            body["error"]["message"],
            "Only owners can make, demote or remove owners."
        );
        let owner_url = app.url(&format!("/api/v1/t/alpha/members/{owner_id}"));
        assert_eq!(admin.delete(&owner_url).send().await.unwrap().status(), 403);

        // The last owner stays an owner.
        let demote_self = owner
            .patch(&owner_url)
            .json(&json!({"role": "admin"}))
            .send()
            .await
            .unwrap();
        assert_eq!(demote_self.status(), 409);
        assert_eq!(owner.delete(&owner_url).send().await.unwrap().status(), 409);
        let promoted: Value = owner
            .patch(&url)
            .json(&json!({"role": "owner"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(promoted["role"], "owner");
        let demoted = owner
            .patch(&owner_url)
            .json(&json!({"role": "admin"}))
            .send()
            .await
            .unwrap();
        assert_eq!(demoted.status(), 200);

        // Managers and staff can't see the member list.
        let refused = app
            .client_for(a.staff)
            .await
            .get(app.url("/t/alpha/members"))
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 403);
    })
    .await;
}

backend_test!(the_members_page_changes_and_removes_members);
async fn the_members_page_changes_and_removes_members(backend: Backend) {
    run_on(backend, |app| async move {
        let a = TenantFixture::create(&app.db, "alpha").await;
        let owner = app.client_for(a.owner).await;
        let (status, html) = app.page(&owner, "/t/alpha/members").await;
        assert_eq!(status, 200);
        assert!(html.contains("staff@alpha.test") && html.contains("manager@alpha.test"));

        let form = format!(
            "role=manager&location_ids={}&location_ids={}",
            a.locations[0], a.locations[1]
        );
        let saved = owner
            .post(app.url(&format!("/t/alpha/members/{}", a.staff_membership)))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .await
            .unwrap();
        assert_eq!(saved.status(), 303);
        let member: Value = owner
            .get(app.url(&format!("/api/v1/t/alpha/members/{}", a.staff_membership)))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(member["role"], "manager");
        assert_eq!(member["location_ids"].as_array().unwrap().len(), 2);

        let removed = owner
            .post(app.url(&format!("/t/alpha/members/{}/remove", a.staff_membership)))
            .send()
            .await
            .unwrap();
        assert_eq!(removed.status(), 303);
        let html = owner
            .get(app.url("/t/alpha/members"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(html.contains("Removed staff@alpha.test from alpha Ltd."));
        let gone = app
            .client_for(a.staff)
            .await
            .get(app.url("/t/alpha/locations"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            gone.status(),
            404,
            "a removed member no longer reaches the tenant"
        );
    })
    .await;
}

backend_test!(two_owners_demoting_each_other_at_once_leave_one_owner);
async fn two_owners_demoting_each_other_at_once_leave_one_owner(backend: Backend) {
    run_on(backend, |app| async move {
        let a = TenantFixture::create(&app.db, "alpha").await;
        let owner = app.client_for(a.owner).await;
        let members: Vec<Value> = owner
            .get(app.url("/api/v1/t/alpha/members"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id_of = |email: &str| {
            members.iter().find(|m| m["email"] == email).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        let (owner_id, admin_id) = (id_of("owner@alpha.test"), id_of("admin@alpha.test"));
        let promote = owner
            .patch(app.url(&format!("/api/v1/t/alpha/members/{admin_id}")))
            .json(&json!({"role": "owner"}))
            .send()
            .await
            .unwrap();
        assert_eq!(promote.status(), 200);
        let second_owner = app.client_for(a.admin).await;
        for _ in 0..5 {
            let demote = |client: reqwest::Client, target: String| {
                let url = app.url(&format!("/api/v1/t/alpha/members/{target}"));
                async move {
                    client
                        .patch(url)
                        .json(&json!({"role": "admin"}))
                        .send()
                        .await
                        .unwrap()
                        .status()
                        .as_u16()
                }
            };
            let (first, second) = tokio::join!(
                demote(owner.clone(), admin_id.clone()),
                demote(second_owner.clone(), owner_id.clone())
            );
            let mut statuses = [first, second];
            statuses.sort_unstable();
            // One wins; the other is either refused as the last owner (409)
            // or, having been demoted first, no longer allowed (403).
            assert_eq!(statuses[0], 200, "{statuses:?}");
            assert!(statuses[1] == 409 || statuses[1] == 403, "{statuses:?}");
            let owners: i64 = app::on_backend!(&app.db, |pool| sqlx::query_scalar(
                "SELECT count(*) FROM memberships WHERE tenant_id = $1 AND role = 'owner'"
            )
            .bind(a.id)
            .fetch_one(pool)
            .await)
            .unwrap();
            assert_eq!(owners, 1);
            // Make both owners again for the next round.
            // `first` was the owner demoting the admin.
            let (remaining, target) = if first == 200 {
                (&owner, &admin_id)
            } else {
                (&second_owner, &owner_id)
            };
            let restored = remaining
                .patch(app.url(&format!("/api/v1/t/alpha/members/{target}")))
                .json(&json!({"role": "owner"}))
                .send()
                .await
                .unwrap();
            assert_eq!(restored.status(), 200);
        }
    })
    .await;
}
