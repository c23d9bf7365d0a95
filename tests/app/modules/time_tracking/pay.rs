//! Holiday calendars, paid absences and pay rules, over HTTP, on both
//! backends.

use app::db::Backend;
use serde_json::{Value, json};

use super::{follow, hire, hire_linked};
use crate::fixtures::TenantFixture;
use crate::support::{TestApp, backend_test, run_on};

async fn send(
    app: &TestApp,
    client: &reqwest::Client,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = client.request(method, app.url(path));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("a response");
    let status = response.status().as_u16();
    let text = response.text().await.expect("a body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

backend_test!(a_location_loads_the_shipped_calendar_once_and_keeps_its_own_days);
async fn a_location_loads_the_shipped_calendar_once_and_keeps_its_own_days(backend: Backend) {
    run_on(backend, |app| async move {
        let f = TenantFixture::create(&app.db, "cafe").await;
        let owner = app.client_for(f.owner).await;
        let location = f.locations[0];
        let holidays = format!("/api/v1/t/{}/locations/{location}/holidays", f.slug);

        let calendars = app
            .get_json(&owner, &format!("/api/v1/t/{}/holiday-calendars", f.slug))
            .await;
        let ids: Vec<&str> = calendars
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["es", "es-ct"]);

        // The town's own day first: loading keeps it.
        let (status, own) = send(
            &app,
            &owner,
            reqwest::Method::POST,
            &holidays,
            Some(json!({"day": "2026-09-24", "name": "La Mercè"})),
        )
        .await;
        assert_eq!(status, 201, "{own}");
        let (status, again) = send(
            &app,
            &owner,
            reqwest::Method::POST,
            &holidays,
            Some(json!({"day": "2026-09-24", "name": "Twice"})),
        )
        .await;
        assert_eq!(status, 409, "{again}");

        let load = format!("{holidays}/load");
        let (status, loaded) = send(
            &app,
            &owner,
            reqwest::Method::POST,
            &load,
            Some(json!({"calendar": "es-ct"})),
        )
        .await;
        assert_eq!(status, 200, "{loaded}");
        assert_eq!(loaded["added"], 28);
        assert_eq!(loaded["holidays"].as_array().unwrap().len(), 29);
        let (_, reloaded) = send(
            &app,
            &owner,
            reqwest::Method::POST,
            &load,
            Some(json!({"calendar": "es-ct"})),
        )
        .await;
        assert_eq!(reloaded["added"], 0, "loading twice adds nothing");
        let (status, unknown) = send(
            &app,
            &owner,
            reqwest::Method::POST,
            &load,
            Some(json!({"calendar": "atlantis"})),
        )
        .await;
        assert_eq!(status, 422, "{unknown}");

        let year = app.get_json(&owner, &format!("{holidays}?year=2026")).await;
        let days: Vec<&str> = year
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["day"].as_str().unwrap())
            .collect();
        assert_eq!(days.len(), 15);
        assert!(days.contains(&"2026-09-11") && days.contains(&"2026-09-24"));
        assert!(days.windows(2).all(|w| w[0] < w[1]), "by day");
        let other = app
            .get_json(
                &owner,
                &format!("/api/v1/t/{}/locations/{}/holidays", f.slug, f.locations[1]),
            )
            .await;
        assert_eq!(other, json!([]), "each location keeps its own calendar");

        // Managers see their location's calendar but don't change it.
        let manager = app.client_for(f.manager).await;
        assert_eq!(
            app.get_json(&manager, &holidays)
                .await
                .as_array()
                .unwrap()
                .len(),
            29
        );
        let (status, refused) = send(
            &app,
            &manager,
            reqwest::Method::POST,
            &holidays,
            Some(json!({"day": "2026-02-12", "name": "Santa Eulàlia"})),
        )
        .await;
        assert_eq!(status, 403, "{refused}");
        let mercè = own["id"].as_str().unwrap();
        let remove = format!("/api/v1/t/{}/holidays/{mercè}", f.slug);
        let (status, _) = send(&app, &manager, reqwest::Method::DELETE, &remove, None).await;
        assert_eq!(status, 403);
        let (status, _) = send(&app, &owner, reqwest::Method::DELETE, &remove, None).await;
        assert_eq!(status, 204);
        let (status, _) = send(&app, &owner, reqwest::Method::DELETE, &remove, None).await;
        assert_eq!(status, 404);

        let (status, bad) = send(
            &app,
            &owner,
            reqwest::Method::POST,
            &holidays,
            Some(json!({"day": "2026-02-30", "name": "No such day"})),
        )
        .await;
        assert_eq!(status, 422, "{bad}");
    })
    .await;
}

backend_test!(managers_record_absences_of_their_employees_once_a_day);
async fn managers_record_absences_of_their_employees_once_a_day(backend: Backend) {
    run_on(backend, |app| async move {
        let f = TenantFixture::create(&app.db, "cafe").await;
        let maria = hire_linked(&app, &f, "Maria", 0, Some(f.staff_membership)).await;
        let jon = hire(&app, &f, "Jon", 0).await;
        let elsewhere = hire(&app, &f, "Ane", 1).await;
        let manager = app.client_for(f.manager).await;
        let absences = format!("/api/v1/t/{}/absences", f.slug);
        let record = |employee: &str, day: &str, minutes: i64| {
            json!({"employee_id": employee, "day": day, "kind": "vacation", "minutes": minutes})
        };

        let (status, first) = send(
            &app,
            &manager,
            reqwest::Method::POST,
            &absences,
            Some(record(&maria.id, "2026-11-16", 480)),
        )
        .await;
        assert_eq!(status, 201, "{first}");
        assert_eq!(first["employee_name"], "Maria");
        assert_eq!(first["kind"], "vacation");
        for (body, expected) in [
            (record(&maria.id, "2026-11-16", 240), 409),
            (record(&jon.id, "2026-11-16", 0), 422),
            (record(&jon.id, "2026-11-16", 1441), 422),
            (record(&jon.id, "2025-12-31", 480), 422),
            (record(&elsewhere.id, "2026-11-16", 480), 422),
            (json!({"employee_id": jon.id, "day": "2026-11-16", "kind": "party", "minutes": 60}), 422),
        ] {
            let (status, answer) =
                send(&app, &manager, reqwest::Method::POST, &absences, Some(body.clone())).await;
            assert_eq!(status, expected, "{body} → {answer}");
        }
        let (status, sick) = send(
            &app,
            &manager,
            reqwest::Method::POST,
            &absences,
            Some(json!({"employee_id": jon.id, "day": "2026-11-17", "kind": "sick", "minutes": 450, "note": "Flu"})),
        )
        .await;
        assert_eq!(status, 201, "{sick}");

        let november = format!("{absences}?from=2026-11-01&to=2026-11-30");
        let all = app.get_json(&manager, &november).await;
        assert_eq!(all.as_array().unwrap().len(), 2);
        // Staff see their own, and record none.
        let staff = app.client_for(f.staff).await;
        let own = app.get_json(&staff, &november).await;
        assert_eq!(own.as_array().unwrap().len(), 1);
        assert_eq!(own[0]["employee_id"], maria.id.as_str());
        let (status, _) = send(
            &app,
            &staff,
            reqwest::Method::POST,
            &absences,
            Some(record(&maria.id, "2026-11-18", 480)),
        )
        .await;
        assert_eq!(status, 403);
        let (status, _) = send(
            &app,
            &staff,
            reqwest::Method::GET,
            &format!("{november}&employee_id={}", jon.id),
            None,
        )
        .await;
        assert_eq!(status, 403, "another's absences");
        let remove = format!("{absences}/{}", sick["id"].as_str().unwrap());
        let (status, _) = send(&app, &staff, reqwest::Method::DELETE, &remove, None).await;
        assert_eq!(status, 403);
        let (status, _) = send(&app, &manager, reqwest::Method::DELETE, &remove, None).await;
        assert_eq!(status, 204);
        assert_eq!(app.get_json(&manager, &november).await.as_array().unwrap().len(), 1);
    })
    .await;
}

backend_test!(pay_rules_default_to_the_statutory_limits_and_a_location_may_have_its_own);
async fn pay_rules_default_to_the_statutory_limits_and_a_location_may_have_its_own(
    backend: Backend,
) {
    run_on(backend, |app| async move {
        let f = TenantFixture::create(&app.db, "cafe").await;
        let admin = app.client_for(f.admin).await;
        let path = format!("/api/v1/t/{}/pay-rules", f.slug);
        let defaults = app.get_json(&admin, &path).await;
        assert_eq!(
            defaults["tenant"],
            json!({"daily_overtime_minutes": 540, "weekly_overtime_minutes": 2400,
                   "overtime_percent": 125, "sunday_holiday_percent": 175})
        );
        assert_eq!(defaults["locations"].as_array().unwrap().len(), 2);
        assert_eq!(defaults["locations"][0]["own"], Value::Null);

        let company = json!({"daily_overtime_minutes": null, "weekly_overtime_minutes": 2250,
                             "overtime_percent": 150, "sunday_holiday_percent": 200});
        let (status, updated) =
            send(&app, &admin, reqwest::Method::PUT, &path, Some(company.clone())).await;
        assert_eq!(status, 200, "{updated}");
        assert_eq!(updated["tenant"], company);
        assert_eq!(updated["locations"][1]["effective"], company);

        let harbour = format!(
            "/api/v1/t/{}/locations/{}/pay-rules",
            f.slug, f.locations[1]
        );
        let own = json!({"daily_overtime_minutes": 480, "weekly_overtime_minutes": 2400,
                         "overtime_percent": 175, "sunday_holiday_percent": 175});
        let (status, location) =
            send(&app, &admin, reqwest::Method::PUT, &harbour, Some(own.clone())).await;
        assert_eq!(status, 200, "{location}");
        assert_eq!(location["own"], own);
        assert_eq!(location["effective"], own);
        let shown = app.get_json(&admin, &path).await;
        assert_eq!(shown["locations"][0]["effective"], company);
        assert_eq!(shown["locations"][1]["effective"], own);

        for bad in [
            json!({"daily_overtime_minutes": 0, "weekly_overtime_minutes": 2400, "overtime_percent": 150, "sunday_holiday_percent": 175}),
            json!({"daily_overtime_minutes": 480, "weekly_overtime_minutes": 2400, "overtime_percent": 99, "sunday_holiday_percent": 175}),
            json!({"daily_overtime_minutes": 480, "weekly_overtime_minutes": 20000, "overtime_percent": 150, "sunday_holiday_percent": 175}),
        ] {
            let (status, answer) =
                send(&app, &admin, reqwest::Method::PUT, &path, Some(bad.clone())).await;
            assert_eq!(status, 422, "{bad} → {answer}");
        }
        assert_eq!(app.get_json(&admin, &path).await["tenant"], company, "unchanged");

        let (status, reset) = send(&app, &admin, reqwest::Method::DELETE, &harbour, None).await;
        assert_eq!(status, 200);
        assert_eq!(reset["own"], Value::Null);
        assert_eq!(reset["effective"], company);

        let manager = app.client_for(f.manager).await;
        let (status, _) = send(&app, &manager, reqwest::Method::GET, &path, None).await;
        assert_eq!(status, 403);
        let centre = format!(
            "/api/v1/t/{}/locations/{}/pay-rules",
            f.slug, f.locations[0]
        );
        let (status, _) = send(&app, &manager, reqwest::Method::PUT, &centre, Some(own)).await;
        assert_eq!(status, 403);
    })
    .await;
}

backend_test!(the_pages_load_a_calendar_record_an_absence_and_set_pay_rules);
async fn the_pages_load_a_calendar_record_an_absence_and_set_pay_rules(backend: Backend) {
    run_on(backend, |app| async move {
        let f = TenantFixture::create(&app.db, "cafe").await;
        let slug = &f.slug;
        let owner = app.client_for(f.owner).await;
        let location = f.locations[0].to_string();
        let maria = hire(&app, &f, "Maria", 0).await;

        let (status, holidays) = app.page(&owner, &format!("/t/{slug}/time/holidays")).await;
        assert_eq!(status, 200);
        assert!(holidays.contains("Load a calendar"));
        let loaded = app
            .post_form(
                &owner,
                &format!("/t/{slug}/time/holidays/load"),
                &[("location_id", &location), ("calendar", "es-ct")],
            )
            .await;
        let shown = follow(&app, &owner, loaded).await;
        assert!(shown.contains("28 holidays added"), "{shown}");
        assert!(shown.contains("Diada Nacional de Catalunya"));

        let recorded = app
            .post_form(
                &owner,
                &format!("/t/{slug}/time/absences"),
                &[
                    ("employee_id", &maria.id),
                    ("day", "2026-11-16"),
                    ("kind", "sick"),
                    ("hours", "7:30"),
                    ("note", ""),
                ],
            )
            .await;
        let month = follow(&app, &owner, recorded).await;
        assert!(
            month.contains("Recorded sick leave for Maria on 2026-11-16."),
            "{month}"
        );
        assert!(month.contains("7 h 30 min"));
        let twice = app
            .post_form(
                &owner,
                &format!("/t/{slug}/time/absences"),
                &[
                    ("employee_id", &maria.id),
                    ("day", "2026-11-16"),
                    ("kind", "sick"),
                    ("hours", "eight"),
                ],
            )
            .await;
        let refused = follow(&app, &owner, twice).await;
        assert!(refused.contains("Give the paid hours"), "{refused}");

        let saved = app
            .post_form(
                &owner,
                &format!("/t/{slug}/time/pay-rules/{location}"),
                &[
                    ("daily_hours", "8"),
                    ("weekly_hours", ""),
                    ("overtime_percent", "150"),
                    ("sunday_holiday_percent", "175 %"),
                ],
            )
            .await;
        let rules = follow(&app, &owner, saved).await;
        assert!(rules.contains("now has its own pay rules"), "{rules}");
        assert!(
            rules.contains("Its own rules: Overtime past 8 h a day and no weekly limit"),
            "{rules}"
        );
        let api = app
            .get_json(&owner, &format!("/api/v1/t/{slug}/pay-rules"))
            .await;
        assert_eq!(api["locations"][0]["own"]["daily_overtime_minutes"], 480);
        assert_eq!(
            api["locations"][0]["own"]["weekly_overtime_minutes"],
            Value::Null
        );

        // Managers record absences but don't see pay rules or calendars.
        let manager = app.client_for(f.manager).await;
        for (path, expected) in [
            ("time/absences", 200),
            ("time/holidays", 403),
            ("time/pay-rules", 403),
        ] {
            let (status, _) = app.page(&manager, &format!("/t/{slug}/{path}")).await;
            assert_eq!(status, expected, "{path}");
        }
    })
    .await;
}
