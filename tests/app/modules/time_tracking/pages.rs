//! The module's pages, through real forms: hiring shows the PIN once, a
//! kiosk's pairing link, today's board, the timesheet with its edit and
//! correction forms, the review queue, the edit feed, the log check and the
//! inspection export.

use super::{follow, hire_linked, paired_kiosk, punch, send};
use crate::fixtures::TenantFixture;
use crate::support::{backend_test, run_on};
use app::db::Backend;

backend_test!(the_landing_page_pitches_time_tracking);
async fn the_landing_page_pitches_time_tracking(backend: Backend) {
    run_on(backend, |app| async move {
        let html = app.get("/").await.text().await.unwrap();
        assert!(
            html.contains("Every shift, at every location, recorded and ready for payroll."),
            "{html}"
        );
        assert!(html.contains("A kiosk that never loses a punch"), "{html}");
    })
    .await;
}

backend_test!(the_pages_take_a_manager_from_hiring_to_the_inspection_export);
async fn the_pages_take_a_manager_from_hiring_to_the_inspection_export(backend: Backend) {
    run_on(backend, |app| async move {
        let f = TenantFixture::create(&app.db, "cafe").await;
        let slug = &f.slug;
        let owner = app.client_for(f.owner).await;
        let location = f.locations[0].to_string();

        let hired = app
            .post_form(
                &owner,
                &format!("/t/{slug}/employees"),
                &[
                    ("name", "Maria"),
                    ("employee_number", "E-1"),
                    ("national_id", "12345678Z"),
                    ("hire_date", "2026-01-05"),
                    ("weekly_hours", "37.5"),
                    ("hourly_rate", "12.50"),
                    ("location_id", &location),
                ],
            )
            .await;
        assert_eq!(hired.status(), 201);
        let html = hired.text().await.unwrap();
        assert!(html.contains("Hired Maria. Their kiosk PIN is"), "{html}");
        let invalid = app
            .post_form(
                &owner,
                &format!("/t/{slug}/employees"),
                &[
                    ("name", "Jon"),
                    ("employee_number", "E-2"),
                    ("weekly_hours", "lots"),
                    ("location_id", &location),
                ],
            )
            .await;
        assert_eq!(invalid.status(), 422);
        assert!(
            invalid
                .text()
                .await
                .unwrap()
                .contains("Hours a week, such as 40 or 37.5.")
        );
        // A refusal only the database can tell is shown beside its field.
        let taken = app
            .post_form(
                &owner,
                &format!("/t/{slug}/employees"),
                &[
                    ("name", "Jon"),
                    ("employee_number", "E-1"),
                    ("location_id", &location),
                ],
            )
            .await;
        assert_eq!(taken.status(), 422);
        let html = taken.text().await.unwrap();
        assert!(
            html.contains(
                r#"<p id="employee_number-error" class="text-sm text-red-700">Another employee already has this number.</p>"#
            ),
            "{html}"
        );

        let added = app
            .post_form(
                &owner,
                &format!("/t/{slug}/kiosks"),
                &[("name", "Bar tablet"), ("location_id", &location)],
            )
            .await;
        assert_eq!(added.status(), 201);
        assert!(added.text().await.unwrap().contains("/kiosk#pair=kp_"));

        // Through the API from here: Maria (linked to the staff member)
        // clocks in at a kiosk and stays in.
        let maria = hire_linked(&app, &f, "Ana", 0, Some(f.staff_membership)).await;
        let (_, token) = paired_kiosk(&app, &f, 0).await;
        let now = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
        let at = now
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
        let (status, _) = send(&app, &token, &punch(&maria.pin, "in", &at)).await;
        assert_eq!(status, 201);
        let (status, board) = app.page(&owner, &format!("/t/{slug}/time")).await;
        assert_eq!(status, 200);
        assert!(board.contains("Ana") && board.contains("1 in"), "{board}");

        // The staff member's "Time" is their own timesheet, with the form
        // to ask for a correction and none to edit.
        let staff = app.client_for(f.staff).await;
        let time = staff
            .get(app.url(&format!("/t/{slug}/time")))
            .send()
            .await
            .unwrap();
        let own = follow(&app, &staff, time).await;
        assert!(
            own.contains("Ask for a correction") && !own.contains("Add a shift"),
            "{own}"
        );
        let asked = app
            .post_form(
                &staff,
                &format!("/t/{slug}/employees/{}/correction-requests", maria.id),
                &[
                    ("day", "2026-11-19"),
                    ("message", "The tablet was off all day."),
                ],
            )
            .await;
        assert!(
            follow(&app, &staff, asked)
                .await
                .contains("Sent: your manager will look at it.")
        );

        // The manager adds the missing shift from the timesheet, on the
        // location's clock, answering the request.
        let (_, sheet) = app.page(&owner,
            &format!("/t/{slug}/employees/{}?day=2026-11-19", maria.id),
        )
        .await;
        assert!(sheet.contains("Add a shift") && sheet.contains("The tablet was off all day."));
        let request_id = sheet
            .split("name=\"correction_request_id\"")
            .nth(1)
            .and_then(|rest| rest.split("<option value=\"").nth(2))
            .and_then(|rest| rest.split('"').next())
            .expect("the open request in the form")
            .to_owned();
        let saved = app
            .post_form(
                &owner,
                &format!("/t/{slug}/employees/{}/shifts", maria.id),
                &[
                    ("action", "add"),
                    ("date", "2026-11-19"),
                    ("start", "22:00"),
                    ("end", "06:00"),
                    ("location_id", &location),
                    ("reason", "Tablet was off."),
                    ("correction_request_id", &request_id),
                ],
            )
            .await;
        let sheet = follow(&app, &owner, saved).await;
        assert!(sheet.contains("Saved: the shift was added."), "{sheet}");
        assert!(
            sheet.contains("22:00–06:00") && sheet.contains("8 h 0 min"),
            "an overnight shift: {sheet}"
        );
        assert!(
            sheet.contains("2 h 0 min") && sheet.contains("6 h 0 min"),
            "its hours split by day"
        );

        let (_, review) = app.page(&owner, &format!("/t/{slug}/time/review")).await;
        assert!(review.contains("No open requests."), "resolved by the edit");
        let (_, feed) = app.page(&owner, &format!("/t/{slug}/time/edits")).await;
        assert!(feed.contains("Tablet was off.") && feed.contains("owner@cafe.test"));
        let (_, log) = app.page(&owner, &format!("/t/{slug}/time/log")).await;
        assert!(
            log.contains("Intact") && log.contains("4 entries checked."),
            "{log}"
        );

        let (status, print) = app.page(&owner,
            &format!("/t/{slug}/time/inspection?from=2026-11-19&to=2026-11-19"),
        )
        .await;
        assert_eq!(status, 200);
        assert!(
            print.contains("Working-time records") && print.contains("22:00"),
            "{print}"
        );
        let csv = owner
            .get(app.url(&format!(
                "/t/{slug}/time/inspection.csv?from=2026-11-19&to=2026-11-19&location_id="
            )))
            .send()
            .await
            .unwrap();
        assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
        let csv = csv.text().await.unwrap();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(
            lines[0],
            "employee_number,employee,national_id,location,date,start,end,minutes,flags,edited"
        );
        assert_eq!(lines.len(), 2, "{csv}");
        assert!(
            lines[1].contains(",2026-11-19,22:00,06:00,480,,yes"),
            "{csv}"
        );

        for path in [
            "time/review",
            "time/edits",
            "time/log",
            "time/inspection",
            "employees",
            "kiosks",
        ] {
            assert_eq!(
                app.page(&staff, &format!("/t/{slug}/{path}")).await.0,
                403,
                "{path} as staff"
            );
        }
        let manager = app.client_for(f.manager).await;
        assert_eq!(
            app.page(&manager, &format!("/t/{slug}/time/edits"))
                .await
                .0,
            403,
            "the feed is the owners'"
        );
    })
    .await;
}
