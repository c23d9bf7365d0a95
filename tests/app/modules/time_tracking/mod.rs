//! Time tracking's tests, on both backends, and the helpers they share:
//! [`punches`] (employees and PINs, kiosk pairing, punches recorded exactly
//! once), [`shifts`] (shifts, edits and correction requests), [`log`] (the
//! tamper-evident log), [`pages`] (the HTML pages), [`records`] (staff
//! download their own records) and [`roles`] (the module's role matrix over
//! HTTP).

mod demo;
mod encryption;
mod export;
mod kiosk_browser;
mod log;
mod pages;
mod pay;
mod payroll;
mod plans;
mod punches;
mod records;
mod roles;
mod scheduled;
pub mod seats;
mod shifts;

use app::ids::MembershipId;
use serde_json::{Value, json};

use crate::fixtures::TenantFixture;
use crate::support::TestApp;

/// Foreign keys of the module's PostgreSQL migrations that its SQLite
/// ones replace (see `schema_parity`), with why.
pub const POSTGRES_ONLY_FOREIGN_KEYS: &[(&str, &str, &str)] = &[
    // SQLite can't add a two-column key to an existing table: the app
    // writes only ids of edits it has just inserted (0012).
    ("punches", "tenant_id,edit_id", "shift_edits"),
    // SQLite has kept the link by trigger alone since 0011, and the app
    // checks the member it links (employees::check_references); PostgreSQL
    // has the key again since 0036, for what the app doesn't write itself
    // (an imported archive).
    ("employees", "tenant_id,membership_id", "memberships"),
];

/// A tenant's employee, with the PIN issued at hire.
pub struct Hired {
    pub id: String,
    pub pin: String,
}

pub async fn hire(app: &TestApp, f: &TenantFixture, name: &str, location: usize) -> Hired {
    hire_linked(app, f, name, location, None).await
}

/// Hires an employee linked to a member account, who then sees their own
/// records.
pub async fn hire_linked(
    app: &TestApp,
    f: &TenantFixture,
    name: &str,
    location: usize,
    membership: Option<MembershipId>,
) -> Hired {
    let client = app.client_for(f.owner).await;
    let response = client
        .post(app.url(&format!("/api/v1/t/{}/employees", f.slug)))
        .json(&json!({
            "name": name,
            "employee_number": format!("E-{name}"),
            "hire_date": "2026-01-05",
            "weekly_minutes": 2400,
            "location_ids": [f.locations[location]],
            "membership_id": membership,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    Hired {
        id: body["employee"]["id"].as_str().unwrap().to_owned(),
        pin: body["pin"].as_str().unwrap().to_owned(),
    }
}

/// A kiosk paired with one of the tenant's locations: (device id, token).
pub async fn paired_kiosk(app: &TestApp, f: &TenantFixture, location: usize) -> (String, String) {
    let client = app.client_for(f.owner).await;
    let created: Value = client
        .post(app.url(&format!("/api/v1/t/{}/kiosks", f.slug)))
        .json(&json!({"location_id": f.locations[location], "name": "Bar tablet"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let code = created["pairing_code"].as_str().unwrap();
    assert!(
        created["pairing_url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/kiosk#pair={code}"))
    );
    let paired = app
        .client
        .post(app.url("/api/v1/kiosk/pair"))
        .json(&json!({"code": code}))
        .send()
        .await
        .unwrap();
    assert_eq!(paired.status(), 201);
    let paired: Value = paired.json().await.unwrap();
    (
        created["device"]["id"].as_str().unwrap().to_owned(),
        paired["token"].as_str().unwrap().to_owned(),
    )
}

/// Ids of the module's resources in tenant `a`, with a row in every one of
/// its tables: an employee (linked to the staff member) who clocked in and
/// out at a paired kiosk, a correction of that shift, a correction
/// request, a holiday, an absence and a location's own pay rules.
pub fn resource_ids<'a>(app: &'a TestApp, a: &'a TenantFixture) -> crate::modules::Ids<'a> {
    Box::pin(all_resources(app, a))
}

async fn all_resources(app: &TestApp, a: &TenantFixture) -> Vec<(&'static str, String)> {
    let employee = hire_linked(app, a, "Maria", 0, Some(a.staff_membership)).await;
    let (device, token) = paired_kiosk(app, a, 0).await;
    let mut shift = String::new();
    for (kind, at) in [
        ("in", "2026-11-20T08:00:00Z"),
        ("out", "2026-11-20T16:00:00Z"),
    ] {
        let (status, body) = send(app, &token, &punch(&employee.pin, kind, &recent(at))).await;
        assert_eq!(status, 201, "{body}");
        if kind == "in" {
            shift = body["id"].as_str().unwrap().to_owned();
        }
    }
    let staff = app.client_for(a.staff).await;
    let request = app
        .post_json(
            &staff,
            &format!(
                "/api/v1/t/{}/employees/{}/correction-requests",
                a.slug, employee.id
            ),
            &json!({"shift_id": shift, "message": "I started at 07:30."}),
        )
        .await;
    assert_eq!(request.status(), 201);
    let request: Value = request.json().await.unwrap();
    let (status, body) = edit(
        app,
        a,
        a.owner,
        &json!({"action": "correct", "shift_id": shift, "start": recent("2026-11-20T07:30:00Z"),
                "end": recent("2026-11-20T16:00:00Z"), "reason": "Forgot to clock in on time.",
                "correction_request_id": request["id"]}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let owner = app.client_for(a.owner).await;
    let holiday = app
        .post_json(
            &owner,
            &format!("/api/v1/t/{}/locations/{}/holidays", a.slug, a.locations[0]),
            &json!({"day": "2026-12-25", "name": "Christmas"}),
        )
        .await;
    assert_eq!(holiday.status(), 201);
    let holiday: Value = holiday.json().await.unwrap();
    let absence = app
        .post_json(
            &owner,
            &format!("/api/v1/t/{}/absences", a.slug),
            &json!({"employee_id": employee.id, "day": "2026-11-23", "kind": "vacation", "minutes": 480}),
        )
        .await;
    assert_eq!(absence.status(), 201);
    let absence: Value = absence.json().await.unwrap();
    let rules = app
        .client_for(a.owner)
        .await
        .put(app.url(&format!(
            "/api/v1/t/{}/locations/{}/pay-rules",
            a.slug, a.locations[0]
        )))
        .json(
            &json!({"daily_overtime_minutes": 480, "weekly_overtime_minutes": 2400,
                      "overtime_percent": 150, "sunday_holiday_percent": 175}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(rules.status(), 200);
    vec![
        ("employee_id", employee.id),
        ("device_id", device),
        ("request_id", request["id"].as_str().unwrap().to_owned()),
        ("holiday_id", holiday["id"].as_str().unwrap().to_owned()),
        ("absence_id", absence["id"].as_str().unwrap().to_owned()),
    ]
}

/// The page a form's redirect leads to (test clients don't follow them).
pub async fn follow(
    app: &TestApp,
    client: &reqwest::Client,
    response: reqwest::Response,
) -> String {
    assert_eq!(response.status(), 303, "a redirect");
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    app.page(client, &location).await.1
}

/// Sends a shift edit as `user`.
pub async fn edit(
    app: &TestApp,
    f: &TenantFixture,
    user: app::ids::UserId,
    body: &Value,
) -> (u16, Value) {
    let client = app.client_for(user).await;
    let response = app
        .post_json(&client, &format!("/api/v1/t/{}/shift-edits", f.slug), body)
        .await;
    (response.status().as_u16(), response.json().await.unwrap())
}

/// An employee's shifts on the days `from..=to`, as `user` sees them.
pub async fn shifts_of(
    app: &TestApp,
    f: &TenantFixture,
    user: app::ids::UserId,
    employee: &str,
    from: &str,
    to: &str,
) -> Value {
    let client = app.client_for(user).await;
    app.get_json(
        &client,
        &format!(
            "/api/v1/t/{}/employees/{employee}/shifts?from={from}&to={to}",
            f.slug
        ),
    )
    .await
}

/// How many weeks after the week the tests are written in (Monday 16 to
/// Sunday 22 November 2026, in Madrid) the last complete week begins.
static WEEKS_LATER: std::sync::LazyLock<i64> = std::sync::LazyLock::new(|| {
    let today = jiff::Zoned::now().in_tz(MADRID).expect("Madrid").date();
    let this_monday = today - jiff::Span::new().days(today.weekday().to_monday_zero_offset());
    let written = jiff::civil::date(2026, 11, 16);
    i64::from((this_monday - written).get_days()) / 7 - 1
});

const MADRID: &str = "Europe/Madrid";

/// An instant the tests write in November 2026 (RFC 3339), moved by whole
/// weeks into the last complete week, on the same weekday and the same
/// wall-clock time in Madrid; as the API writes instants (UTC). Kiosks
/// can't record punches older than 14 days, and this way the local times
/// and durations the tests expect stay as written.
pub fn recent(at: &str) -> String {
    let written: jiff::Timestamp = at.parse().expect("an RFC 3339 instant");
    let moved = written
        .in_tz(MADRID)
        .expect("Madrid")
        .checked_add(jiff::Span::new().weeks(*WEEKS_LATER))
        .expect("a date");
    moved.timestamp().to_string()
}

/// A day the tests write in November 2026 (`YYYY-MM-DD`), moved as
/// [`recent`] moves instants.
pub fn recent_day(day: &str) -> String {
    let written: jiff::civil::Date = day.parse().expect("a date");
    (written + jiff::Span::new().weeks(*WEEKS_LATER)).to_string()
}

pub fn punch(pin: &str, kind: &str, at: &str) -> Value {
    json!({"client_id": uuid::Uuid::now_v7(), "pin": pin, "kind": kind, "at": at})
}

pub async fn send(app: &TestApp, token: &str, body: &Value) -> (u16, Value) {
    let response = app
        .client
        .post(app.url("/api/v1/kiosk/punches"))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}
