//! `seed-demo`, as a founder runs it on first start: a full product to look
//! around in, and a clear refusal the second time.

use app::db::Backend;
use serde_json::Value;

use crate::accounts::count;
use crate::startup::command;
use crate::support::{Options, TestApp, backend_test, run_on_with};

/// The keys the command and the app under test share: the command runs in a
/// folder of its own, where development would generate others.
const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

fn with_keys() -> Options {
    Options {
        vars: vec![
            ("ENCRYPTION_KEYS", KEY.to_owned()),
            ("LOOKUP_KEY", KEY.to_owned()),
        ],
        ..Options::default()
    }
}

fn seed_demo(app: &TestApp, folder: &std::path::Path) -> (bool, String, String) {
    let output = command(
        folder,
        &[
            ("DATABASE_URL", &app.database_url),
            ("ENCRYPTION_KEYS", KEY),
            ("LOOKUP_KEY", KEY),
        ],
    )
    .args([
        "seed-demo",
        "--email",
        "Owner@Demo.test",
        "--password",
        "a long demo password",
    ])
    .output()
    .expect("run seed-demo");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

backend_test!(seed_demo_builds_a_cafe_group_with_two_months_of_shifts_once);
async fn seed_demo_builds_a_cafe_group_with_two_months_of_shifts_once(backend: Backend) {
    run_on_with(backend, with_keys, |app| async move {
        let folder = tempfile::tempdir().expect("folder");
        let (succeeded, out, err) = seed_demo(&app, folder.path());
        assert!(succeeded, "{out}\n{err}");
        assert!(out.contains("email:    owner@demo.test"), "{out}");
        assert!(out.contains("password: a long demo password"), "{out}");
        assert!(out.contains("5 locations, 50 employees"), "{out}");

        assert_eq!(count(&app, "locations").await, 5);
        assert_eq!(count(&app, "employees").await, 50);
        assert_eq!(count(&app, "kiosk_devices").await, 5);
        assert!(count(&app, "punches").await > 3000);
        assert_eq!(count(&app, "shift_edits").await, 5);
        let comped: bool = app::on_backend!(&app.db, |pool| sqlx::query_scalar(
            "SELECT comped FROM tenants WHERE slug = 'aurora-coffee-group'"
        )
        .fetch_one(pool)
        .await
        .unwrap());
        assert!(comped, "on Pro, beyond the Free plan's limits");

        // The demo owner signs in and sees anomalies waiting for review,
        // overnight shifts, and an intact log.
        let owner: app::ids::UserId = app::on_backend!(&app.db, |pool| sqlx::query_scalar(
            "SELECT id FROM users WHERE email = 'owner@demo.test'"
        )
        .fetch_one(pool)
        .await
        .unwrap());
        let client = app.client_for(owner).await;
        let slug = "aurora-coffee-group";
        let today = time::OffsetDateTime::now_utc().date();
        let from = today - time::Duration::days(70);
        let review = app
            .get_json(
                &client,
                &format!("/api/v1/t/{slug}/review?from={from}&to={today}"),
            )
            .await;
        let mut flags: Vec<String> = review["shifts"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| {
                s["flags"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|f| f.as_str().unwrap().to_owned())
            })
            .collect();
        flags.sort();
        flags.dedup();
        assert_eq!(
            flags,
            [
                "double_in",
                "late_arrival",
                "missing_clock_in",
                "missing_clock_out"
            ]
        );
        let csv = app
            .page(
                &client,
                &format!("/t/{slug}/time/inspection.csv?from={from}&to={today}&location_id="),
            )
            .await
            .1;
        let overnight = csv.lines().skip(1).any(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            fields.len() == 10
                && !fields[5].is_empty()
                && !fields[6].is_empty()
                && fields[6] < fields[5]
        });
        assert!(overnight, "some shifts end after midnight");
        let verification: Value = app
            .get_json(&client, &format!("/api/v1/t/{slug}/time-log/verification"))
            .await;
        assert_eq!(verification["first_broken"], Value::Null, "{verification}");

        let (again, out, err) = seed_demo(&app, folder.path());
        assert!(!again, "a second run is refused: {out}");
        assert!(err.contains("the demo is already seeded"), "{err}");
        assert_eq!(count(&app, "employees").await, 50, "nothing was added");
    })
    .await;
}
