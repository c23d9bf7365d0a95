//! Staff self-service: an employee with an account downloads their own
//! records (JSON: personal data, shifts, absences, correction requests;
//! CSV: their days), and no one else's; owners, admins and the managers
//! who see an employee download theirs.

use app::db::{Backend, Db};
use serde_json::{Value, json};

use super::{hire, hire_linked, paired_kiosk, punch, recent, recent_day, send};
use crate::fixtures::TenantFixture;
use crate::row_level_security::{database_owned_by, drop_database, ensure_role};
use crate::support::{Options, TestApp, backend_test, run_on};

/// GETs `path` as `user`: status, headers and body.
async fn download(
    app: &TestApp,
    user: app::ids::UserId,
    path: &str,
) -> (u16, reqwest::header::HeaderMap, String) {
    let response = app
        .client_for(user)
        .await
        .get(app.url(path))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.text().await.unwrap())
}

backend_test!(an_employee_downloads_their_own_records_and_no_one_elses);
async fn an_employee_downloads_their_own_records_and_no_one_elses(backend: Backend) {
    run_on(backend, |app| async move {
        let f = TenantFixture::create(&app.db, "cafe").await;
        let slug = &f.slug;
        let maria = hire_linked(&app, &f, "Maria", 0, Some(f.staff_membership)).await;
        let jon = hire(&app, &f, "Jon", 1).await;
        let owner = app.client_for(f.owner).await;
        let patched = owner
            .patch(app.url(&format!("/api/v1/t/{slug}/employees/{}", maria.id)))
            .json(&json!({"national_id": "12345678Z"}))
            .send()
            .await
            .unwrap();
        assert_eq!(patched.status(), 200);

        // A day shift, and a night shift that ends the next morning (the
        // kiosk sends UTC; Madrid is an hour ahead in November).
        let (_, token) = paired_kiosk(&app, &f, 0).await;
        for (kind, at) in [
            ("in", &recent("2026-11-19T08:00:00Z")),
            ("out", &recent("2026-11-19T16:30:00Z")),
            ("in", &recent("2026-11-20T22:00:00Z")),
            ("out", &recent("2026-11-21T06:00:00Z")),
        ] {
            let (status, body) = send(&app, &token, &punch(&maria.pin, kind, at)).await;
            assert_eq!(status, 201, "{body}");
        }
        let absence = app
            .post_json(
                &owner,
                &format!("/api/v1/t/{slug}/absences"),
                &json!({"employee_id": maria.id, "day": recent_day("2026-11-18"), "kind": "vacation",
                        "minutes": 480, "note": "Family trip"}),
            )
            .await;
        assert_eq!(absence.status(), 201);
        let staff = app.client_for(f.staff).await;
        let asked = app
            .post_json(
                &staff,
                &format!(
                    "/api/v1/t/{slug}/employees/{}/correction-requests",
                    maria.id
                ),
                &json!({"day": recent_day("2026-11-19"), "message": "I left at 17:45."}),
            )
            .await;
        assert_eq!(asked.status(), 201);

        // Everything, as JSON, for the week.
        let records = format!("/api/v1/t/{slug}/employees/{}/records", maria.id);
        let (monday, sunday) = (recent_day("2026-11-16"), recent_day("2026-11-22"));
        let (status, headers, body) = download(
            &app,
            f.staff,
            &format!("{records}?from={monday}&to={sunday}"),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            headers["content-disposition"],
            format!("attachment; filename=\"records-E-Maria-{monday}-{sunday}.json\"")
        );
        let json: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json["employer"], "cafe Ltd");
        assert_eq!(json["employee"]["name"], "Maria");
        assert_eq!(json["employee"]["national_id"], "12345678Z");
        assert_eq!(json["employee"]["hire_date"], "2026-01-05");
        assert_eq!(json["locations"], json!(["cafe Centre"]));
        let shifts: Vec<(&str, &str, &str, i64)> = json["shifts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["day"].as_str().unwrap(),
                    s["local_start"].as_str().unwrap(),
                    s["local_end"].as_str().unwrap(),
                    s["minutes"].as_i64().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            shifts,
            [
                (recent_day("2026-11-19").as_str(), "09:00", "17:30", 510),
                (recent_day("2026-11-20").as_str(), "23:00", "07:00", 480)
            ]
        );
        assert_eq!(json["shifts"][0]["start"], recent("2026-11-19T08:00:00Z"));
        assert_eq!(json["worked_minutes"], 990);
        assert_eq!(json["absences"][0]["kind"], "vacation");
        assert_eq!(json["absences"][0]["note"], "Family trip");
        assert_eq!(json["absence_minutes"], 480);
        assert_eq!(
            json["correction_requests"][0]["message"],
            "I left at 17:45."
        );

        // Their days, as CSV.
        let (status, headers, csv) = download(
            &app,
            f.staff,
            &format!("{records}.csv?from={monday}&to={sunday}"),
        )
        .await;
        assert_eq!(status, 200, "{csv}");
        assert_eq!(headers["content-type"], "text/csv; charset=utf-8");
        assert_eq!(
            csv,
            format!(
                "date,record,location,start,end,minutes,flags,edited,note\n\
                 {},vacation,,,,480,,,Family trip\n\
                 {},shift,cafe Centre,09:00,17:30,510,,no,\n\
                 {},shift,cafe Centre,23:00,07:00,480,,no,\n",
                recent_day("2026-11-18"),
                recent_day("2026-11-19"),
                recent_day("2026-11-20")
            )
        );

        // By default, everything since the hire date; a period that starts
        // after the night shift began leaves it out.
        let (status, _, body) = download(&app, f.staff, &records).await;
        assert_eq!(status, 200);
        let all: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(all["from"], "2026-01-05");
        assert_eq!(all["shifts"].as_array().unwrap().len(), 2);
        let (_, _, body) = download(&app, f.staff, &format!("{records}?from={}", recent_day("2026-11-21"))).await;
        let later: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(later["shifts"], json!([]));
        assert_eq!(later["absences"], json!([]));
        assert_eq!(later["correction_requests"], json!([]));

        // Someone else's: refused to staff, unseen by a manager of another
        // location, readable by the owner and by Maria's manager.
        let jons = format!("/api/v1/t/{slug}/employees/{}/records", jon.id);
        for path in [jons.clone(), format!("{jons}.csv")] {
            let (status, _, body) = download(&app, f.staff, &path).await;
            assert_eq!(status, 403, "{path}");
            assert!(body.contains("You can see your own time records only."));
            assert_eq!(download(&app, f.manager, &path).await.0, 404, "{path}");
            assert_eq!(download(&app, f.owner, &path).await.0, 200, "{path}");
        }
        assert_eq!(download(&app, f.manager, &records).await.0, 200);

        // The timesheet links to the downloads and shows the absence.
        let (status, sheet) = app.page(&staff,
            &format!(
                "/t/{slug}/employees/{}?period=week&day={}",
                maria.id,
                recent_day("2026-11-18")
            ),
        )
        .await;
        assert_eq!(status, 200);
        assert!(sheet.contains("Download my records"), "{sheet}");
        assert!(sheet.contains(&format!(
            "href=\"{records}.csv?from={monday}&amp;to={sunday}\""
        )));
        assert!(sheet.contains("Vacation · 8 h 0 min"), "{sheet}");
    })
    .await;
}

backend_test!(a_bad_period_is_refused_with_a_message);
async fn a_bad_period_is_refused_with_a_message(backend: Backend) {
    run_on(backend, |app| async move {
        let f = TenantFixture::create(&app.db, "cafe").await;
        let maria = hire_linked(&app, &f, "Maria", 0, Some(f.staff_membership)).await;
        let records = format!("/api/v1/t/{}/employees/{}/records", f.slug, maria.id);
        let (status, _, body) = download(
            &app,
            f.staff,
            &format!("{records}?from=2026-11-30&to=2026-11-01"),
        )
        .await;
        assert_eq!(status, 422);
        assert!(body.contains("`from` can't be after `to`."), "{body}");
        // Dates outside 1900–2999 are not dates here (the last day of year
        // 9999 has no next day to reach into), on every route that reads
        // them.
        for path in [
            format!("{records}.csv?from=soon"),
            format!("{records}?to=9999-12-31"),
            format!(
                "/api/v1/t/{}/employees/{}/shifts?from=9999-12-30&to=9999-12-31",
                f.slug, maria.id
            ),
        ] {
            let (status, _, body) = download(&app, f.staff, &path).await;
            assert_eq!(status, 400, "{path}: {body}");
            assert!(body.contains("is not a date (YYYY-MM-DD)"), "{body}");
        }
    })
    .await;
}

backend_test!(a_member_who_goes_leaves_their_employee_record_unlinked);
async fn a_member_who_goes_leaves_their_employee_record_unlinked(backend: Backend) {
    run_on(backend, |app| async move {
        let f = TenantFixture::create(&app.db, "cafe").await;
        let slug = &f.slug;
        let maria = hire_linked(&app, &f, "Maria", 0, Some(f.staff_membership)).await;
        let jon = hire_linked(&app, &f, "Jon", 1, Some(f.manager_membership)).await;
        let owner = app.client_for(f.owner).await;
        let linked_to = |employee: String| {
            let owner = owner.clone();
            let url = app.url(&format!("/api/v1/t/{slug}/employees/{employee}"));
            async move {
                let response = owner.get(url).send().await.unwrap();
                assert_eq!(response.status(), 200, "the employee is kept");
                let body: Value = response.json().await.unwrap();
                body["membership_id"].clone()
            }
        };
        assert_eq!(linked_to(maria.id.clone()).await, json!(f.staff_membership));

        let removed = owner
            .delete(app.url(&format!("/api/v1/t/{slug}/members/{}", f.staff_membership)))
            .send()
            .await
            .unwrap();
        assert_eq!(removed.status(), 200);
        assert_eq!(linked_to(maria.id.clone()).await, Value::Null);

        // A deleted account's memberships go by cascade: its employee too
        // is unlinked, and the other link is untouched until then.
        assert_eq!(linked_to(jon.id.clone()).await, json!(f.manager_membership));
        app::accounts::global::delete_user(&app.db, f.manager)
            .await
            .unwrap();
        assert_eq!(linked_to(jon.id).await, Value::Null);
    })
    .await;
}

/// The unlink reaches the employee even outside any scope: an account
/// deleted by an app connected as an ordinary owner, whom the policies bind
/// (a superuser's app, above, passes over them), on the one connection that
/// just removed another member inside a scope, as the same role.
#[tokio::test]
async fn an_ordinary_owners_deleted_account_leaves_its_employee_record_unlinked() {
    if !crate::support::postgres_available().await {
        return;
    }
    let role = "app_owner_unlink";
    ensure_role(role, "NOSUPERUSER NOCREATEROLE NOBYPASSRLS").await;
    let (name, url) = database_owned_by(role).await;
    let one_connection = Options {
        vars: vec![("DATABASE_POOL_SIZE", "1".to_owned())],
        ..Options::default()
    };
    let app = TestApp::spawn_on(&url, one_connection).await;
    // Fixtures and the check as the superuser, whom the policies don't bind.
    let observer = Db::connect(&crate::support::database_url(&name).parse().unwrap(), 2)
        .await
        .unwrap();
    let f = TenantFixture::create(&observer, "cafe").await;
    let maria = hire_linked(&app, &f, "Maria", 0, Some(f.staff_membership)).await;
    let jon = hire_linked(&app, &f, "Jon", 0, Some(f.manager_membership)).await;
    let linked = |employee: String| {
        let observer = observer.clone();
        async move {
            let Db::Postgres(postgres) = &observer else {
                unreachable!()
            };
            sqlx::query_scalar::<_, Option<uuid::Uuid>>(
                "SELECT membership_id FROM employees WHERE id = $1::uuid",
            )
            .bind(employee)
            .fetch_one(&postgres.pool)
            .await
            .unwrap()
        }
    };
    assert_eq!(
        linked(jon.id.clone()).await,
        Some(f.manager_membership.as_uuid())
    );

    let owner = app.client_for(f.owner).await;
    let removed = owner
        .delete(app.url(&format!("/api/v1/t/cafe/members/{}", f.staff_membership)))
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), 200);
    assert_eq!(linked(maria.id).await, None, "unlinked inside the scope");

    app::accounts::global::delete_user(&app.db, f.manager)
        .await
        .expect("the account goes, its member's link with it");
    assert_eq!(linked(jon.id).await, None, "the link to the member gone is cleared");

    observer.close().await;
    app.stop().await;
    drop_database(&name).await;
}
