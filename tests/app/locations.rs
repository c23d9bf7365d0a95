//! Locations through the pages: what each role may see and do.

use crate::fixtures::{Attempt, TenantFixture, assert_role_matrix};
use crate::support::{backend_test, run_on};
use app::db::Backend;
use app::locations::LocationAction;
use reqwest::Method;
use serde_json::{Value, json};

backend_test!(an_owner_adds_edits_and_archives_locations);
async fn an_owner_adds_edits_and_archives_locations(backend: Backend) {
    run_on(backend, |app| async move {
        let a = TenantFixture::create(&app.db, "alpha").await;
        let owner = app.client_for(a.owner).await;
        let (status, html) = app.page(&owner, "/t/alpha/locations").await;
        assert_eq!(status, 200);
        assert!(html.contains("alpha Centre") && html.contains("alpha Harbour"));

        let created = app
            .post_form(
                &owner,
                "/t/alpha/locations",
                &[
                    ("name", "  Airport  "),
                    ("address", "Terminal 1"),
                    ("time_zone", "Europe/Madrid"),
                ],
            )
            .await;
        assert_eq!(created.status(), 303);
        assert_eq!(created.headers()["location"], "/t/alpha/locations");
        let html = owner
            .get(app.url("/t/alpha/locations"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(html.contains("Added Airport."), "flash shown");
        assert!(html.contains(">Airport</a>"), "trimmed name listed");

        let duplicate = app
            .post_form(
                &owner,
                "/t/alpha/locations",
                &[("name", "airport"), ("time_zone", "Europe/Madrid")],
            )
            .await;
        assert_eq!(duplicate.status(), 422);
        let html = duplicate.text().await.unwrap();
        assert!(html.contains("Another active location already has this name."));
        assert!(
            html.contains("value=\"airport\""),
            "the form keeps the input"
        );

        let invalid = app
            .post_form(
                &owner,
                "/t/alpha/locations",
                &[("name", ""), ("time_zone", "Mars/Olympus")],
            )
            .await;
        assert_eq!(invalid.status(), 422);
        let html = invalid.text().await.unwrap();
        assert!(html.contains("This field is required."));
        assert!(html.contains("Pick a time zone from the list"));

        let id = a.locations[1];
        let edited = app
            .post_form(
                &owner,
                &format!("/t/alpha/locations/{id}"),
                &[
                    ("name", "Harbour Front"),
                    ("address", "Pier 2"),
                    ("time_zone", "Atlantic/Canary"),
                ],
            )
            .await;
        assert_eq!(edited.status(), 303);
        let html = app.page(&owner, &format!("/t/alpha/locations/{id}")).await.1;
        assert!(html.contains("Harbour Front") && html.contains("Pier 2"));

        let archived = owner
            .post(app.url(&format!("/t/alpha/locations/{id}/archive")))
            .send()
            .await
            .unwrap();
        assert_eq!(archived.status(), 303);
        let html = owner
            .get(app.url("/t/alpha/locations"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(html.contains("Archived"));
        // An archived name is free again.
        let reused = app
            .post_form(
                &owner,
                "/t/alpha/locations",
                &[("name", "Harbour Front"), ("time_zone", "UTC")],
            )
            .await;
        assert_eq!(reused.status(), 303);
    })
    .await;
}

backend_test!(roles_below_admin_get_403_with_a_message_for_what_they_see_but_may_not_do);
async fn roles_below_admin_get_403_with_a_message_for_what_they_see_but_may_not_do(
    backend: Backend,
) {
    run_on(backend, |app| async move {
        let a = TenantFixture::create(&app.db, "alpha").await;
        let granted = a.locations[0];
        let manager = app.client_for(a.manager).await;
        let staff = app.client_for(a.staff).await;

        let html = manager
            .get(app.url("/t/alpha/locations"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(html.contains("alpha Centre") && !html.contains("alpha Harbour"));

        let create = app
            .post_form(
                &manager,
                "/t/alpha/locations",
                &[("name", "New"), ("time_zone", "UTC")],
            )
            .await;
        assert_eq!(create.status(), 403);
        assert!(
            create
                .text()
                .await
                .unwrap()
                .contains("Only owners and admins can add locations.")
        );

        let edit = app
            .post_form(
                &manager,
                &format!("/t/alpha/locations/{granted}"),
                &[("name", "Centre North"), ("time_zone", "UTC")],
            )
            .await;
        assert_eq!(edit.status(), 303, "a manager edits a granted location");

        let archive = manager
            .post(app.url(&format!("/t/alpha/locations/{granted}/archive")))
            .send()
            .await
            .unwrap();
        assert_eq!(archive.status(), 403);

        let staff_edit = app
            .post_form(
                &staff,
                &format!("/t/alpha/locations/{granted}"),
                &[("name", "Mine now"), ("time_zone", "UTC")],
            )
            .await;
        assert_eq!(staff_edit.status(), 403);
        assert!(
            staff_edit
                .text()
                .await
                .unwrap()
                .contains("Your role does not allow changing locations.")
        );
        let html = staff
            .get(app.url(&format!("/t/alpha/locations/{granted}")))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(html.contains("Centre North"), "staff see their location");
    })
    .await;
}

backend_test!(signed_out_visitors_and_strangers_get_no_tenant_page);
async fn signed_out_visitors_and_strangers_get_no_tenant_page(backend: Backend) {
    run_on(backend, |app| async move {
        TenantFixture::create(&app.db, "alpha").await;
        let signed_out = app.get("/t/alpha/locations").await;
        assert_eq!(signed_out.status(), 303, "sent to sign in");
        assert_eq!(
            signed_out.headers()["location"],
            "/login?next=%2Ft%2Falpha%2Flocations",
            "and back here after"
        );
        let stranger = crate::fixtures::user(&app.db, "stranger@example.test").await;
        let client = app.client_for(stranger).await;
        let response = client
            .get(app.url("/t/alpha/locations"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404);
        let missing = client
            .get(app.url("/t/no-such-tenant/locations"))
            .send()
            .await
            .unwrap();
        assert_eq!(missing.status(), 404);
    })
    .await;
}

backend_test!(every_role_can_do_exactly_what_the_locations_matrix_allows);
async fn every_role_can_do_exactly_what_the_locations_matrix_allows(backend: Backend) {
    run_on(backend, |app| async move {
        assert_role_matrix(&app, &LocationAction::ALL, async |action, f| {
            let slug = &f.slug;
            // The first location is granted to the manager and the staff
            // member, so a refusal is the role's, not visibility's.
            let location = f.locations[0];
            match action {
                LocationAction::Create => Attempt(
                    Method::POST,
                    format!("/api/v1/t/{slug}/locations"),
                    json!({"name": "Airport", "time_zone": "UTC"}),
                ),
                LocationAction::Edit => Attempt(
                    Method::PATCH,
                    format!("/api/v1/t/{slug}/locations/{location}"),
                    json!({"address": "1 Main Street"}),
                ),
                LocationAction::Archive => Attempt(
                    Method::POST,
                    format!("/api/v1/t/{slug}/locations/{location}/archive"),
                    Value::Null,
                ),
            }
        })
        .await;
    })
    .await;
}
