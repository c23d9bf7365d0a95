//! The payroll over HTTP, on both backends: a month worked out by hand,
//! read back from the workbook (calamine), the CSV and the JSON.

use app::db::Backend;
use std::io::{Cursor, Read};

use calamine::{Data, Reader, Xlsx, open_workbook_from_rs};
use serde_json::{Value, json};

use super::{edit, hire};
use crate::fixtures::TenantFixture;
use crate::support::{TestApp, backend_test, run_on};

/// Adds a shift through an edit.
async fn worked(
    app: &TestApp,
    f: &TenantFixture,
    employee: &str,
    location: usize,
    start: &str,
    end: &str,
) {
    let (status, body) = edit(
        app,
        f,
        f.owner,
        &json!({"action": "add", "employee_id": employee, "location_id": f.locations[location],
                "start": start, "end": end, "reason": "Paper timesheet."}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
}

async fn put(app: &TestApp, client: &reqwest::Client, path: &str, body: &Value) {
    let response = client.put(app.url(path)).json(body).send().await.unwrap();
    assert_eq!(response.status(), 200, "PUT {path}");
}

async fn download(
    client: &reqwest::Client,
    app: &TestApp,
    path: &str,
) -> (String, String, Vec<u8>) {
    let response = client.get(app.url(path)).send().await.unwrap();
    assert_eq!(response.status(), 200, "GET {path}");
    let header = |name: &str| response.headers()[name].to_str().unwrap().to_owned();
    let (kind, disposition) = (header("content-type"), header("content-disposition"));
    (kind, disposition, response.bytes().await.unwrap().to_vec())
}

backend_test!(the_payroll_workbook_reads_back_as_worked_out_by_hand);
/// October 2026 at two locations, by hand. Rules: 8 h a day, 40 h a
/// week, overtime at 150 %, Sundays and holidays at 175 %; the Harbour
/// has its own (9 h a day, overtime at 200 %).
/// * Maria (€12.00 an hour, Centre) works 8 h from Monday 28 September to
///   Saturday 3 October. The week is evaluated whole: Monday to Wednesday
///   are September's, Thursday and Friday are 16 h base, and Saturday
///   passes the 40 h week: 8 h overtime. Monday 12 October is a national
///   holiday: 8 h worked on it are holiday time. Tuesday 13 she is on
///   vacation (8 h).
///   Gross: (16 + 8) × 12 + 8 × 12 × 1.5 + 8 × 12 × 1.75 = €600.00.
/// * Jon (€10.00, Harbour) works 10 h on Monday 5 October: 9 h base and
///   1 h overtime at 200 %: €110.00.
async fn the_payroll_workbook_reads_back_as_worked_out_by_hand(backend: Backend) {
    run_on(backend, |app| async move {
        let f = TenantFixture::create(&app.db, "cafe").await;
        let slug = &f.slug;
        let owner = app.client_for(f.owner).await;
        let maria = hire(&app, &f, "Maria", 0).await;
        let jon = hire(&app, &f, "Jon", 1).await;
        for (employee, national_id, rate) in [(&maria, "12345678Z", 1200), (&jon, "X1234567L", 1000)] {
            let response = owner
                .patch(app.url(&format!("/api/v1/t/{slug}/employees/{}", employee.id)))
                .json(&json!({"national_id": national_id, "hourly_rate_cents": rate}))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
        }
        put(
            &app,
            &owner,
            &format!("/api/v1/t/{slug}/pay-rules"),
            &json!({"daily_overtime_minutes": 480, "weekly_overtime_minutes": 2400,
                    "overtime_percent": 150, "sunday_holiday_percent": 175}),
        )
        .await;
        put(
            &app,
            &owner,
            &format!("/api/v1/t/{slug}/locations/{}/pay-rules", f.locations[1]),
            &json!({"daily_overtime_minutes": 540, "weekly_overtime_minutes": 2400,
                    "overtime_percent": 200, "sunday_holiday_percent": 175}),
        )
        .await;
        let loaded = app
            .post_json(
                &owner,
                &format!("/api/v1/t/{slug}/locations/{}/holidays/load", f.locations[0]),
                &json!({"calendar": "es"}),
            )
            .await;
        assert_eq!(loaded.status(), 200);
        for day in ["2026-09-28", "2026-09-29", "2026-09-30", "2026-10-01", "2026-10-02", "2026-10-03", "2026-10-12"] {
            worked(&app, &f, &maria.id, 0, &format!("{day}T08:00:00Z"), &format!("{day}T16:00:00Z")).await;
        }
        worked(&app, &f, &jon.id, 1, "2026-10-05T08:00:00Z", "2026-10-05T18:00:00Z").await;
        let absence = app
            .post_json(
                &owner,
                &format!("/api/v1/t/{slug}/absences"),
                &json!({"employee_id": maria.id, "day": "2026-10-13", "kind": "vacation", "minutes": 480}),
            )
            .await;
        assert_eq!(absence.status(), 201);

        let payroll = app
            .get_json(&owner, &format!("/api/v1/t/{slug}/payroll?month=2026-10"))
            .await;
        let line = |name: &str| {
            payroll["summary"]
                .as_array()
                .unwrap()
                .iter()
                .find(|l| l["name"] == name)
                .cloned()
                .unwrap_or_else(|| panic!("{name} in {payroll}"))
        };
        let maria_line = line("Maria");
        assert_eq!(
            (
                &maria_line["base_minutes"],
                &maria_line["overtime_minutes"],
                &maria_line["holiday_minutes"],
                &maria_line["sunday_holiday_minutes"],
                &maria_line["gross_cents"]
            ),
            (&json!(960), &json!(480), &json!(480), &json!(480), &json!(60_000)),
            "{maria_line}"
        );
        assert_eq!(line("Jon")["gross_cents"], 11_000);
        assert_eq!(payroll["total"]["gross_cents"], 71_000);
        assert_eq!(payroll["currency"], "EUR");
        let september = app
            .get_json(&owner, &format!("/api/v1/t/{slug}/payroll?month=2026-09"))
            .await;
        assert_eq!(
            september["summary"][0]["base_minutes"], 1440,
            "28 to 30 September are September's"
        );

        let (kind, disposition, bytes) =
            download(&owner, &app, &format!("/api/v1/t/{slug}/payroll.xlsx?month=2026-10")).await;
        assert_eq!(kind, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet");
        assert_eq!(disposition, "attachment; filename=\"payroll-cafe-2026-10.xlsx\"");
        let mut workbook: Xlsx<_> = open_workbook_from_rs(Cursor::new(bytes.clone())).unwrap();
        assert_eq!(workbook.sheet_names(), ["Summary", "cafe Centre", "cafe Harbour"]);
        let summary = workbook.worksheet_range("Summary").unwrap();
        let text = |range: &calamine::Range<Data>, row: usize, column: usize| {
            range.get((row, column)).map(ToString::to_string).unwrap_or_default()
        };
        let header: Vec<String> = (0..7).map(|c| text(&summary, 0, c)).collect();
        assert_eq!(
            header,
            ["National ID", "Name", "Base hours", "Overtime hours", "Holiday hours", "Sunday/holiday hours", "Gross pay"]
        );
        let row = |range: &calamine::Range<Data>, row: usize| -> Vec<Data> {
            (0..7).map(|c| range.get((row, c)).cloned().unwrap_or(Data::Empty)).collect()
        };
        // By name: Jon, then Maria, then the total.
        assert_eq!(
            row(&summary, 2),
            [
                Data::String("12345678Z".into()),
                Data::String("Maria".into()),
                Data::Float(16.0),
                Data::Float(8.0),
                Data::Float(8.0),
                Data::Float(8.0),
                Data::Float(600.0),
            ]
        );
        assert_eq!(text(&summary, 1, 0), "X1234567L");
        assert_eq!(row(&summary, 1)[2..], [Data::Float(9.0), Data::Float(1.0), Data::Float(0.0), Data::Float(0.0), Data::Float(110.0)]);
        assert_eq!(text(&summary, 3, 1), "Total");
        assert_eq!(row(&summary, 3)[6], Data::Float(710.0));
        let centre = workbook.worksheet_range("cafe Centre").unwrap();
        assert_eq!(text(&centre, 1, 1), "Maria");
        assert_eq!(text(&centre, 2, 1), "Total");
        assert_eq!(row(&centre, 2)[6], Data::Float(600.0));
        let harbour = workbook.worksheet_range("cafe Harbour").unwrap();
        assert_eq!(text(&harbour, 1, 1), "Jon");

        // The header is bold and frozen, the columns formatted.
        let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
        let mut part = |name: &str| {
            let mut xml = String::new();
            archive.by_name(name).unwrap().read_to_string(&mut xml).unwrap();
            xml
        };
        let sheet = part("xl/worksheets/sheet1.xml");
        assert!(sheet.contains("ySplit=\"1\"") && sheet.contains("state=\"frozen\""), "{sheet}");
        assert!(sheet.contains("<col "), "column widths");
        let styles = part("xl/styles.xml");
        assert!(styles.contains("<b/>"), "a bold font");
        assert!(styles.contains("formatCode=\"0.00\""));
        assert!(styles.contains("#,##0.00 &quot;EUR&quot;"), "{styles}");

        let (kind, disposition, csv) =
            download(&owner, &app, &format!("/api/v1/t/{slug}/payroll.csv?month=2026-10")).await;
        assert_eq!(kind, "text/csv; charset=utf-8");
        assert!(disposition.ends_with("payroll-cafe-2026-10.csv\""));
        let csv = String::from_utf8(csv).unwrap();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(
            lines,
            [
                "Location,National ID,Name,Base hours,Overtime hours,Holiday hours,Sunday/holiday hours,Gross pay (EUR)",
                "cafe Centre,12345678Z,Maria,16.00,8.00,8.00,8.00,600.00",
                "cafe Harbour,X1234567L,Jon,9.00,1.00,0.00,0.00,110.00",
            ]
        );

        let (status, html) = app.page(&owner, &format!("/t/{slug}/time/payroll?month=2026-10")).await;
        assert_eq!(status, 200);
        assert!(html.contains("600.00 EUR") && html.contains("710.00 EUR"), "{html}");
        assert!(html.contains("/api/v1/t/cafe/payroll.xlsx?month=2026-10"));

        let (status, bad) = app.page(&owner, &format!("/api/v1/t/{slug}/payroll?month=December")).await;
        assert_eq!(status, 422, "{bad}");
        let manager = app.client_for(f.manager).await;
        let (status, _) = app.page(&manager, &format!("/api/v1/t/{slug}/payroll.xlsx?month=2026-10")).await;
        assert_eq!(status, 403);
    })
    .await;
}

backend_test!(the_forecast_counts_working_days_by_each_locations_calendar);
/// December 2026 has 23 weekdays; the Centre's national holidays take
/// Tuesday 8 and Friday 25 (Sunday 6 was no working day anyway). Maria
/// (40 h a week at €12.00, Centre): 8 h × 21 days × 12 = €2,016.00. Jon
/// (40 h at €10.00, Harbour, no holidays loaded): 8 h × 23 × 10 =
/// €1,840.00.
async fn the_forecast_counts_working_days_by_each_locations_calendar(backend: Backend) {
    run_on(backend, |app| async move {
        let f = TenantFixture::create(&app.db, "cafe").await;
        let slug = &f.slug;
        let owner = app.client_for(f.owner).await;
        for (name, location, rate) in [("Maria", 0, 1200), ("Jon", 1, 1000)] {
            let hired = hire(&app, &f, name, location).await;
            let response = owner
                .patch(app.url(&format!("/api/v1/t/{slug}/employees/{}", hired.id)))
                .json(&json!({"hourly_rate_cents": rate}))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
        }
        let loaded = app
            .post_json(
                &owner,
                &format!(
                    "/api/v1/t/{slug}/locations/{}/holidays/load",
                    f.locations[0]
                ),
                &json!({"calendar": "es"}),
            )
            .await;
        assert_eq!(loaded.status(), 200);
        let forecast = app
            .get_json(&owner, &format!("/api/v1/t/{slug}/forecast?month=2026-12"))
            .await;
        let locations: Vec<(&str, u64, i64)> = forecast["locations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                (
                    l["location_name"].as_str().unwrap(),
                    l["working_days"].as_u64().unwrap(),
                    l["expected_cost_cents"].as_i64().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            locations,
            [("cafe Centre", 21, 201_600), ("cafe Harbour", 23, 184_000)]
        );
        assert_eq!(forecast["total_cents"], 385_600);

        let (_, board) = app.page(&owner, &format!("/t/{slug}/time")).await;
        assert!(board.contains("Forecast ·"), "{board}");
        assert!(board.contains("working days, expected labour cost"));
        let manager = app.client_for(f.manager).await;
        let (_, board) = app.page(&manager, &format!("/t/{slug}/time")).await;
        assert!(
            !board.contains("Forecast ·"),
            "payroll is for owners and admins"
        );
        let (status, _) = app.page(&manager, &format!("/api/v1/t/{slug}/forecast")).await;
        assert_eq!(status, 403);
    })
    .await;
}
