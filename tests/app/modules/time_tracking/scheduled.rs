//! The module's scheduled jobs on the core's scheduler: once per tenant and
//! period on the tenant's clock, with two instances racing; a crashed run
//! retried after its lease; an email that may have gone never sent twice.

use app::db::Backend;
use std::io::Cursor;

use app::jobs::scheduled::enqueue_due;
use calamine::{Reader, Xlsx, open_workbook_from_rs};
use serde_json::json;
use time::macros::datetime;

use super::{edit, hire};
use crate::fixtures::TenantFixture;
use crate::support::{Options, TestApp, backend_test, run_on};

const ACCOUNTANT: &str = "books@gestoria.test";

/// A tenant whose accountant gets the payroll, with one shift in November.
async fn tenant_with_payroll(app: &TestApp, slug: &str) -> TenantFixture {
    let f = TenantFixture::create(&app.db, slug).await;
    let owner = app.client_for(f.owner).await;
    let set = owner
        .put(app.url(&format!("/api/v1/t/{slug}/payroll/email")))
        .json(&json!({"accountant_email": ACCOUNTANT}))
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), 200);
    let maria = hire(app, &f, "Maria", 0).await;
    let (status, body) = edit(
        app,
        &f,
        f.owner,
        &json!({"action": "add", "employee_id": maria.id, "location_id": f.locations[0],
                "start": "2026-11-16T08:00:00Z", "end": "2026-11-16T16:00:00Z",
                "reason": "Paper timesheet."}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    f
}

/// Every email the instances delivered to `to`.
fn delivered(instances: &[&TestApp], to: &str) -> Vec<app::mail::transport::Outgoing> {
    instances
        .iter()
        .flat_map(|app| {
            app.state
                .mailer
                .dev_mailbox
                .as_ref()
                .expect("a development mailbox")
                .emails()
        })
        .map(|kept| kept.email)
        .filter(|email| email.to == to)
        .collect()
}

backend_test!(monthly_emails_go_once_per_tenant_and_month_with_two_instances_racing);
async fn monthly_emails_go_once_per_tenant_and_month_with_two_instances_racing(backend: Backend) {
    run_on(backend, |app| async move {
        let cafe = tenant_with_payroll(&app, "cafe").await;
        let deli = TenantFixture::create(&app.db, "deli").await;
        app.execute(&format!(
            "UPDATE tenants SET time_zone = 'America/New_York' WHERE slug = '{}'",
            deli.slug
        ))
        .await;
        let other = app.another_instance(Options::default()).await;

        // 04:00 on 1 December in Madrid, still 30 November in New York.
        // Each tenant's daily purge of invitations (a core schedule) is
        // due every day besides.
        let early = datetime!(2026-12-01 03:00 UTC);
        let (a, b) = tokio::join!(
            enqueue_due(&app.db, &app.jobs, early),
            enqueue_due(&other.db, &other.jobs, early)
        );
        assert_eq!(
            a.unwrap() + b.unwrap(),
            2 + 2,
            "the cafe's payroll and forecast runs, once, and both daily purges"
        );
        let later = datetime!(2026-12-01 15:00 UTC);
        let (a, b) = tokio::join!(
            enqueue_due(&app.db, &app.jobs, later),
            enqueue_due(&other.db, &other.jobs, later)
        );
        assert_eq!(
            a.unwrap() + b.unwrap(),
            2 + 1,
            "now the deli's too, and its purge of 1 December"
        );
        let (a, b) = tokio::join!(
            enqueue_due(&app.db, &app.jobs, later),
            enqueue_due(&other.db, &other.jobs, later)
        );
        assert_eq!(a.unwrap() + b.unwrap(), 0, "nothing twice");

        let (a, b) = tokio::join!(
            app::jobs::run_due(&app.state, &app.jobs),
            app::jobs::run_due(&other.state, &other.jobs)
        );
        assert_eq!(a.unwrap() + b.unwrap(), 7, "each run ran on one instance");
        let payroll = delivered(&[&app, &other], ACCOUNTANT);
        assert_eq!(payroll.len(), 1, "one payroll email");
        assert_eq!(payroll[0].subject, "Payroll November 2026 — cafe Ltd");
        let attachment = &payroll[0].attachments[0];
        assert_eq!(attachment.filename, "payroll-2026-11.xlsx");
        let mut workbook: Xlsx<_> =
            open_workbook_from_rs(Cursor::new(attachment.content.clone())).unwrap();
        let summary = workbook.worksheet_range("Summary").unwrap();
        assert_eq!(
            summary.get((1, 1)).map(ToString::to_string).as_deref(),
            Some("Maria")
        );
        for owner in [&cafe, &deli] {
            let to = format!("owner@{}.test", owner.slug);
            let forecast = delivered(&[&app, &other], &to);
            assert_eq!(forecast.len(), 1, "one forecast to {to}");
            assert!(
                forecast[0]
                    .subject
                    .ends_with("labour forecast for December 2026")
            );
            assert!(
                forecast[0]
                    .text
                    .contains("working days, expected labour cost")
            );
        }

        // Later in the catch-up window, and on another instance: only the
        // day's purges.
        let third = datetime!(2026-12-03 12:00 UTC);
        assert_eq!(enqueue_due(&other.db, &other.jobs, third).await.unwrap(), 2);
        assert_eq!(app.run_jobs().await, 2);
        assert_eq!(delivered(&[&app, &other], ACCOUNTANT).len(), 1);
        other.stop().await;
    })
    .await;
}

backend_test!(a_crashed_run_is_retried_after_its_lease_and_never_repeats_an_email);
async fn a_crashed_run_is_retried_after_its_lease_and_never_repeats_an_email(backend: Backend) {
    run_on(backend, |app| async move {
        let cafe = tenant_with_payroll(&app, "cafe").await;
        let first = datetime!(2026-12-01 08:00 UTC);
        assert_eq!(
            enqueue_due(&app.db, &app.jobs, first).await.unwrap(),
            3,
            "the payroll, the forecast, and the daily purge of invitations"
        );
        let now = time::OffsetDateTime::now_utc().unix_timestamp();

        // A worker claimed the runs and died: their leases still run.
        app.execute(&format!(
            "UPDATE jobs SET attempts = 1, locked_until = {} WHERE kind = 'scheduled'",
            now + 300
        ))
        .await;
        // It had handed the payroll email to SMTP before dying: recorded.
        app.execute(&format!(
            "INSERT INTO scheduled_effects (job, tenant, period, effect, recorded_at) \
             VALUES ('payroll_email', '{}', '2026-11', 'email', {now})",
            cafe.id
        ))
        .await;
        assert_eq!(app.run_jobs().await, 0, "leased to the dead worker");

        app.execute(&format!(
            "UPDATE jobs SET locked_until = {} WHERE kind = 'scheduled'",
            now - 1
        ))
        .await;
        assert_eq!(
            app.run_jobs().await,
            3,
            "taken again once the lease ran out"
        );
        assert_eq!(
            delivered(&[&app], ACCOUNTANT).len(),
            0,
            "the payroll email may have gone: not sent again"
        );
        assert_eq!(
            delivered(&[&app], "owner@cafe.test").len(),
            1,
            "the forecast hadn't gone: sent on the retry"
        );
        assert_eq!(enqueue_due(&app.db, &app.jobs, first).await.unwrap(), 0);
        assert_eq!(app.run_jobs().await, 0, "every run completed");
    })
    .await;
}

backend_test!(the_monthly_payroll_workbook_goes_only_on_a_plan_that_includes_it);
/// The workbook is a plan's feature (Pro and up): on Free the accountant
/// gets no monthly email; the owners' forecast still goes.
async fn the_monthly_payroll_workbook_goes_only_on_a_plan_that_includes_it(backend: Backend) {
    run_on(backend, |app| async move {
        let cafe = tenant_with_payroll(&app, "cafe").await;
        app.execute("UPDATE tenants SET comped = false").await;
        enqueue_due(&app.db, &app.jobs, datetime!(2026-12-01 08:00 UTC))
            .await
            .unwrap();
        app.run_jobs().await;
        assert!(delivered(&[&app], ACCOUNTANT).is_empty(), "not on Free");
        let to = format!("owner@{}.test", cafe.slug);
        assert_eq!(delivered(&[&app], &to).len(), 1, "the forecast goes");
    })
    .await;
}
