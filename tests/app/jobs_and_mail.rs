//! The durable job queue and the email outbox, on both databases: retries
//! with backoff through an SMTP outage, dead jobs, two instances sharing one
//! queue, periodic jobs, the purge, and the development mailbox.

use app::db::Backend;
use app::ids::TenantId;
use app::jobs::{self, Job};
use app::on_backend;
use app::tenancy::{Intent, for_tenant};

use crate::accounts::{count, sign_up};
use crate::support::{FakeSmtp, Options, TestApp, backend_test, new_client, run_on, run_on_with};

/// A job's (attempts, run_at, last_error, dead) by kind.
pub async fn job_state(app: &TestApp, kind: &str) -> Vec<(i64, i64, Option<String>, bool)> {
    on_backend!(&app.db, |pool| sqlx::query_as(
        "SELECT attempts, run_at, last_error, dead_at IS NOT NULL FROM jobs WHERE kind = $1"
    )
    .bind(kind)
    .fetch_all(pool)
    .await
    .expect("read jobs"))
}

/// Makes every waiting job due now, as if its backoff had passed.
pub async fn make_jobs_due(app: &TestApp) {
    app.execute("UPDATE jobs SET run_at = 0").await;
}

/// A rendered email to `to`.
fn email(to: &str, subject: &str) -> Job {
    Job::SendEmail(app::mail::transport::Outgoing {
        to: to.to_owned(),
        subject: subject.to_owned(),
        text: "Hello".to_owned(),
        html: "<p>Hello</p>".to_owned(),
        attachments: Vec::new(),
    })
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

backend_test!(an_smtp_outage_delays_mail_with_backoff_and_loses_none);
async fn an_smtp_outage_delays_mail_with_backoff_and_loses_none(backend: Backend) {
    let smtp = FakeSmtp::start().await;
    let url = smtp.url.clone();
    run_on_with(
        backend,
        || Options {
            vars: vec![("SMTP_URL", url.clone())],
            ..Options::default()
        },
        |app| {
            let smtp = smtp.clone();
            async move {
                smtp.received.lock().unwrap().clear();
                smtp.set_up(false);
                sign_up(&app, "outage@example.com", "Outage Ltd").await;
                assert_eq!(app.run_jobs().await, 1, "the verification email was tried");

                let jobs = job_state(&app, "send_email").await;
                assert_eq!(jobs.len(), 1, "the email is still queued: {jobs:?}");
                let (attempts, run_at, error, dead) = jobs[0].clone();
                assert_eq!(attempts, 1);
                assert!(!dead);
                assert!(
                    run_at >= now() + 9,
                    "retried after a backoff, not at once: run_at {run_at}"
                );
                assert!(error.is_some_and(|e| !e.is_empty()), "the error is kept");
                assert_eq!(app.run_jobs().await, 0, "not due again before its backoff");

                // A second failure waits longer.
                make_jobs_due(&app).await;
                app.run_jobs().await;
                let (attempts, second_run_at, _, _) =
                    job_state(&app, "send_email").await[0].clone();
                assert_eq!(attempts, 2);
                assert!(
                    second_run_at >= now() + 19,
                    "the backoff grows: {second_run_at}"
                );

                smtp.set_up(true);
                make_jobs_due(&app).await;
                assert_eq!(app.run_jobs().await, 1);
                assert!(
                    job_state(&app, "send_email").await.is_empty(),
                    "delivered jobs leave the queue"
                );
                let received = smtp.received();
                assert_eq!(received.len(), 1, "delivered once");
                let message = &received[0];
                assert!(message.contains("To: outage@example.com"), "{message}");
                assert!(
                    message.contains("multipart/alternative"),
                    "text and HTML bodies: {message}"
                );
                assert!(
                    message.contains("text/plain") && message.contains("text/html"),
                    "{message}"
                );
                assert!(
                    message.contains("/verify-email/"),
                    "the link is in the message"
                );
            }
        },
    )
    .await;
}

backend_test!(a_job_that_keeps_failing_is_kept_as_dead_and_not_run_again);
async fn a_job_that_keeps_failing_is_kept_as_dead_and_not_run_again(backend: Backend) {
    let smtp = FakeSmtp::start().await;
    smtp.set_up(false);
    let url = smtp.url.clone();
    run_on_with(
        backend,
        || Options {
            vars: vec![("SMTP_URL", url.clone())],
            ..Options::default()
        },
        |app| async move {
            sign_up(&app, "doomed@example.com", "Doomed Ltd").await;
            app.execute("UPDATE jobs SET attempts = max_attempts - 1")
                .await;
            assert_eq!(app.run_jobs().await, 1);
            let jobs = job_state(&app, "send_email").await;
            assert_eq!(jobs.len(), 1, "kept for inspection");
            assert!(jobs[0].3, "marked dead");
            assert!(jobs[0].2.is_some(), "with its last error");
            let payload: String = app::on_backend!(&app.db, |pool| sqlx::query_scalar(
                "SELECT payload FROM jobs WHERE kind = 'send_email'"
            )
            .fetch_one(pool)
            .await)
            .unwrap();
            assert!(
                payload.contains("doomed@example.com") && !payload.contains("/verify-email/"),
                "a dead email keeps its recipient, not its link: {payload}"
            );
            make_jobs_due(&app).await;
            assert_eq!(app.run_jobs().await, 0, "a dead job is not claimed again");
        },
    )
    .await;
}

backend_test!(two_instances_share_one_queue_and_run_each_job_once);
async fn two_instances_share_one_queue_and_run_each_job_once(backend: Backend) {
    run_on(backend, |app| async move {
        let other = app.another_instance(Options::default()).await;
        for n in 0..20 {
            let job = email(&format!("user{n}@example.com"), &format!("Message {n}"));
            jobs::enqueue(&app.db, None, &job).await.expect("enqueue");
        }
        let (here, there) = tokio::join!(app.run_jobs(), other.run_jobs());
        assert_eq!(here + there, 20, "every job ran once: {here} + {there}");
        let mut subjects: Vec<String> = [&app, &other]
            .iter()
            .flat_map(|instance| instance.state.mailer.dev_mailbox.as_ref().unwrap().emails())
            .map(|kept| kept.email.subject)
            .collect();
        subjects.sort();
        subjects.dedup();
        assert_eq!(subjects.len(), 20, "no email delivered twice");
        other.stop().await;
    })
    .await;
}

backend_test!(a_periodic_job_is_enqueued_once_per_period_however_many_instances_ask);
async fn a_periodic_job_is_enqueued_once_per_period_however_many_instances_ask(backend: Backend) {
    run_on(backend, |app| async move {
        let other = app.another_instance(Options::default()).await;
        let (a, b) = tokio::join!(
            jobs::schedule_periodic(&app.db),
            jobs::schedule_periodic(&other.db)
        );
        a.expect("schedule");
        b.expect("schedule");
        jobs::schedule_periodic(&app.db)
            .await
            .expect("schedule again");
        assert_eq!(
            job_state(&app, "purge_expired").await.len(),
            1,
            "one run this hour"
        );
        assert_eq!(count(&app, "periodic_runs").await, 1);
        other.stop().await;
    })
    .await;
}

backend_test!(the_purge_deletes_expired_sessions_tokens_counters_and_old_stripe_events_only);
async fn the_purge_deletes_expired_sessions_tokens_counters_and_old_stripe_events_only(
    backend: Backend,
) {
    run_on(backend, |app| async move {
        let user = crate::fixtures::user(&app.db, "purge@example.com").await;
        let (past, future) = (now() - 10, now() + 3600);
        on_backend!(&app.db, |pool| {
            for (id, expires_at) in [("expired-session", past), ("live-session", future)] {
                sqlx::query("INSERT INTO sessions (id, user_id, data, created_at, expires_at) VALUES ($1, NULL, '{}', $2, $3)")
                    .bind(id)
                    .bind(now())
                    .bind(expires_at)
                    .execute(pool)
                    .await
                    .expect("insert a session");
            }
            for (digest, expires_at) in [("expired-token", past), ("live-token", future)] {
                sqlx::query("INSERT INTO account_tokens (digest, purpose, user_id, email, expires_at, created_at) VALUES ($1, 'reset_password', $2, 'purge@example.com', $3, $4)")
                    .bind(digest)
                    .bind(user)
                    .bind(expires_at)
                    .bind(now())
                    .execute(pool)
                    .await
                    .expect("insert a token");
            }
            for (subject, started) in [("old", now() - 86_400), ("current", now())] {
                sqlx::query("INSERT INTO rate_limit_counters (bucket, subject, window_started_at, hits) VALUES ('login', $1, $2, 1)")
                    .bind(subject)
                    .bind(started)
                    .execute(pool)
                    .await
                    .expect("insert a counter");
            }
            for (id, processed) in [("evt_old", now() - 31 * 86_400), ("evt_recent", now() - 86_400)] {
                sqlx::query("INSERT INTO stripe_events (id, type, received_at) VALUES ($1, 'invoice.paid', $2)")
                    .bind(id)
                    .bind(processed)
                    .execute(pool)
                    .await
                    .expect("insert an event id");
            }
        });
        jobs::enqueue(&app.db, None, &Job::PurgeExpired).await.expect("enqueue");
        assert_eq!(app.run_jobs().await, 1);
        let left = |table: &'static str, column: &'static str| {
            let db = app.db.clone();
            async move {
                on_backend!(&db, |pool| sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(format!(
                    "SELECT {column} FROM {table} ORDER BY {column}"
                )))
                .fetch_all(pool)
                .await
                .expect("read"))
            }
        };
        assert_eq!(left("sessions", "id").await, ["live-session"]);
        assert_eq!(left("account_tokens", "digest").await, ["live-token"]);
        assert_eq!(left("rate_limit_counters", "subject").await, ["current"]);
        assert_eq!(left("stripe_events", "id").await, ["evt_recent"], "kept past Stripe's retries");
        assert!(job_state(&app, "purge_expired").await.is_empty(), "the purge succeeded");
    })
    .await;
}

backend_test!(
    a_job_enqueued_in_a_tenant_scope_carries_its_tenant_and_exists_only_if_the_scope_commits
);
async fn a_job_enqueued_in_a_tenant_scope_carries_its_tenant_and_exists_only_if_the_scope_commits(
    backend: Backend,
) {
    run_on(backend, |app| async move {
        let tenant: TenantId = crate::fixtures::tenant(&app.db, "Outbox", "outbox").await;
        let mut scope = for_tenant(&app.db, tenant, Intent::Write)
            .await
            .expect("scope");
        jobs::enqueue_in(&mut scope, &Job::PurgeExpired)
            .await
            .expect("enqueue");
        drop(scope);
        assert_eq!(count(&app, "jobs").await, 0, "rolled back with the scope");

        let mut scope = for_tenant(&app.db, tenant, Intent::Write)
            .await
            .expect("scope");
        jobs::enqueue_in(&mut scope, &Job::PurgeExpired)
            .await
            .expect("enqueue");
        scope.commit().await.expect("commit");
        let tenants: Vec<Option<TenantId>> = on_backend!(&app.db, |pool| sqlx::query_scalar(
            "SELECT tenant FROM jobs"
        )
        .fetch_all(pool)
        .await
        .expect("read jobs"));
        assert_eq!(tenants, [Some(tenant)]);
    })
    .await;
}

backend_test!(the_dev_mailbox_shows_sent_email_in_development_and_does_not_exist_in_production);
async fn the_dev_mailbox_shows_sent_email_in_development_and_does_not_exist_in_production(
    backend: Backend,
) {
    run_on(backend, |app| async move {
        sign_up(&app, "mailbox@example.com", "Mailbox Ltd").await;
        app.run_jobs().await;
        let page = app.get("/dev/mailbox").await;
        assert_eq!(page.status(), 200);
        let html = page.text().await.unwrap();
        assert!(
            html.contains("mailbox@example.com") && html.contains("/verify-email/"),
            "{html}"
        );
        let body = app.get("/dev/mailbox/1").await;
        assert_eq!(body.status(), 200);
        assert!(body.text().await.unwrap().contains("Confirm my email"));
    })
    .await;

    run_on_with(backend, Options::production, |app| async move {
        assert!(
            app.state.mailer.dev_mailbox.is_none(),
            "production keeps no mail"
        );
        for path in ["/dev/mailbox", "/dev/mailbox/1"] {
            assert_eq!(app.get(path).await.status(), 404, "{path}");
        }
    })
    .await;
}

backend_test!(in_production_without_smtp_mail_waits_in_the_queue);
async fn in_production_without_smtp_mail_waits_in_the_queue(backend: Backend) {
    run_on_with(backend, Options::production, |app| async move {
        jobs::enqueue(&app.db, None, &email("waiting@example.com", "Waiting"))
            .await
            .expect("enqueue");
        app.run_jobs().await;
        let jobs = job_state(&app, "send_email").await;
        assert_eq!(jobs.len(), 1);
        assert!(!jobs[0].3, "not dead: retried later");
        assert!(
            jobs[0]
                .2
                .as_deref()
                .unwrap_or_default()
                .contains("SMTP_URL"),
            "{jobs:?}"
        );
    })
    .await;
}

backend_test!(a_job_whose_last_run_never_finished_is_buried_not_run_again);
async fn a_job_whose_last_run_never_finished_is_buried_not_run_again(backend: Backend) {
    run_on(backend, |app| async move {
        jobs::enqueue(&app.db, None, &email("crash@example.com", "Crash"))
            .await
            .expect("enqueue");
        // As after a worker died mid-run on the last attempt: its lease has passed.
        app.execute("UPDATE jobs SET attempts = max_attempts, locked_until = 1")
            .await;
        assert_eq!(app.run_jobs().await, 1);
        let jobs = job_state(&app, "send_email").await;
        assert!(jobs[0].3, "buried");
        assert!(
            jobs[0]
                .2
                .as_deref()
                .unwrap_or_default()
                .contains("never finished")
        );
        assert!(
            app.emails_to("crash@example.com").await.is_empty(),
            "not sent again"
        );
    })
    .await;
}

/// A kind of job this version of the app doesn't have (an older one queued
/// it, say).
const RETIRED: jobs::JobKind = jobs::JobKind {
    name: "retired_kind",
    max_attempts: 5,
    run: |_, _| Box::pin(async { Ok(()) }),
};

backend_test!(a_capability_job_runs_by_its_kind_and_one_of_an_unknown_kind_is_buried_at_once);
async fn a_capability_job_runs_by_its_kind_and_one_of_an_unknown_kind_is_buried_at_once(
    backend: Backend,
) {
    run_on(backend, |app| async move {
        // A capability's kind (the password reset's) runs from the queue:
        // its email goes out.
        sign_up(&app, "kinds@example.com", "Kinds Ltd").await;
        app.run_jobs().await;
        let response = new_client()
            .post(app.url("/api/v1/password-reset"))
            .json(&serde_json::json!({ "email": "kinds@example.com" }))
            .send()
            .await
            .expect("request a reset");
        assert_eq!(response.status(), 202);
        assert_eq!(job_state(&app, "mail_password_reset").await.len(), 1);
        app.run_jobs().await;
        assert!(
            job_state(&app, "mail_password_reset").await.is_empty(),
            "it ran"
        );
        assert_eq!(
            app.emails_to("kinds@example.com").await.len(),
            2,
            "verification, then the reset link"
        );

        // One no capability knows is kept as dead on its first run, its
        // payload as it was.
        jobs::enqueue(&app.db, None, &RETIRED.job(serde_json::json!({ "n": 1 })))
            .await
            .expect("enqueue");
        assert_eq!(app.run_jobs().await, 1);
        let state = job_state(&app, "retired_kind").await;
        assert_eq!(state.len(), 1);
        let (attempts, _, error, dead) = &state[0];
        assert_eq!((*attempts, *dead), (1, true));
        assert!(
            error
                .as_deref()
                .unwrap_or_default()
                .contains("no kind of job is named retired_kind"),
            "{error:?}"
        );
    })
    .await;
}

backend_test!(a_tenant_lease_has_one_holder_at_a_time_and_outlives_no_dead_worker);
/// One worker at a time holds a tenant's lease on a kind of work; another
/// tenant's, or another kind's, is free; a released or dropped lease is
/// free at once, and one whose process died when it expires.
async fn a_tenant_lease_has_one_holder_at_a_time_and_outlives_no_dead_worker(backend: Backend) {
    use app::jobs::lease::TenantLease;
    use std::time::Duration;
    run_on(backend, |app| async move {
        let alpha: TenantId = crate::fixtures::tenant(&app.db, "Alpha", "alpha").await;
        let beta: TenantId = crate::fixtures::tenant(&app.db, "Beta", "beta").await;
        let take = |tenant, name| TenantLease::acquire(&app.db, tenant, name, Duration::ZERO);
        let dropped = take(alpha, "billing").await.expect("db").expect("free");
        drop(dropped);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let held = take(alpha, "billing").await.expect("db").expect("free once dropped");
        assert!(take(alpha, "billing").await.expect("db").is_none(), "held");
        let other_tenant = take(beta, "billing").await.expect("db").expect("beta's is free");
        let other_kind = take(alpha, "export").await.expect("db").expect("another kind's is free");

        // A second worker waits for the first to release.
        let waiting = tokio::spawn({
            let db = app.db.clone();
            async move { TenantLease::acquire(&db, alpha, "billing", Duration::from_secs(10)).await }
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        held.release().await;
        let next = waiting.await.expect("task").expect("db").expect("taken once released");

        // Its process dies (nothing runs its release): the lease stays held
        // until it expires.
        std::mem::forget(next);
        assert!(take(alpha, "billing").await.expect("db").is_none(), "still held");
        app.execute("UPDATE tenant_leases SET expires_at = 0").await;
        let taken_over = take(alpha, "billing").await.expect("db").expect("expired: taken over");
        for lease in [taken_over, other_tenant, other_kind] {
            lease.release().await;
        }
        assert_eq!(count(&app, "tenant_leases").await, 0);
    })
    .await;
}
