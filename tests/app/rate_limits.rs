//! Rate limits: per client address (in memory, per instance) and per account
//! (in the database, across instances), answered with 429 and Retry-After.

use serde_json::json;

use crate::support::{Options, TestApp, each_backend_with};

/// Behind one trusted proxy, so each test can play several clients by
/// setting X-Forwarded-For.
fn behind_a_proxy() -> Options {
    Options {
        vars: vec![("TRUSTED_PROXY_HOPS", "1".to_owned())],
        ..Options::default()
    }
}

/// A sign-in from `address`, as one trusted proxy reports it (after an
/// entry the client wrote itself).
async fn login_from(
    app: &TestApp,
    address: &str,
    email: &str,
    password: &str,
) -> reqwest::Response {
    login_forwarded_for(app, &format!("198.51.100.99, {address}"), email, password).await
}

async fn login_forwarded_for(
    app: &TestApp,
    forwarded_for: &str,
    email: &str,
    password: &str,
) -> reqwest::Response {
    reqwest::Client::new()
        .post(app.url("/api/v1/login"))
        .header("x-forwarded-for", forwarded_for)
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .expect("POST /api/v1/login")
}

fn retry_after(response: &reqwest::Response) -> u64 {
    response.headers()["retry-after"]
        .to_str()
        .expect("ASCII")
        .parse()
        .expect("seconds")
}

#[tokio::test]
async fn an_account_is_locked_after_ten_failures_on_every_instance_and_address() {
    each_backend_with(behind_a_proxy, |app| async move {
        let signup = reqwest::Client::new()
            .post(app.url("/api/v1/signup"))
            .json(&json!({"email": "maria@example.com", "password": "correct horse battery", "organisation": "Maria's"}))
            .send()
            .await
            .expect("signup");
        assert_eq!(signup.status(), 201);
        for attempt in 1..=10 {
            let address = format!("203.0.113.{attempt}");
            let response = login_from(&app, &address, "maria@example.com", "wrong guess").await;
            assert_eq!(response.status(), 401, "failure {attempt} is only a failure");
        }
        let locked = login_from(&app, "203.0.113.50", "Maria@example.com", "correct horse battery").await;
        assert_eq!(locked.status(), 429, "even the right password, from a new address");
        let wait = retry_after(&locked);
        assert!((1..=15 * 60).contains(&wait), "Retry-After {wait}");
        let body: serde_json::Value = locked.json().await.expect("JSON");
        assert_eq!(body["error"]["code"], "rate_limited");

        let other = app.another_instance(behind_a_proxy()).await;
        let elsewhere = login_from(&other, "203.0.113.51", "maria@example.com", "correct horse battery").await;
        assert_eq!(elsewhere.status(), 429, "another instance sees the same count");
        other.stop().await;

        let unknown = login_from(&app, "203.0.113.52", "nobody@example.com", "wrong guess").await;
        assert_eq!(unknown.status(), 401, "other accounts are not affected");
    })
    .await;
}

#[tokio::test]
async fn an_address_gets_a_burst_of_sign_ins_then_429_while_others_go_on() {
    each_backend_with(behind_a_proxy, |app| async move {
        let mut limited = None;
        let started = std::time::Instant::now();
        for attempt in 1..=40 {
            // A new email each time: only the address's limit is in play.
            let email = format!("guess{attempt}@example.com");
            let response = login_from(&app, "203.0.113.7", &email, "wrong guess").await;
            if response.status() == 429 {
                limited = Some((attempt, retry_after(&response)));
                break;
            }
            assert_eq!(response.status(), 401);
        }
        let (attempt, wait) = limited.expect("limited within 40 attempts");
        // A burst of 30, and one more for every 2 s the attempts took.
        let refilled = usize::try_from(started.elapsed().as_secs() / 2).expect("small");
        assert!(
            (31..=31 + refilled + 1).contains(&attempt),
            "limited at attempt {attempt}, {refilled} refilled"
        );
        assert!((1..=2).contains(&wait), "one more every 2 s: {wait}");
        let spoofed =
            login_forwarded_for(&app, "1.2.3.4, 203.0.113.7", "x@example.com", "wrong guess").await;
        assert_eq!(
            spoofed.status(),
            429,
            "a forged left-hand entry changes nothing"
        );
        let neighbour = login_from(&app, "203.0.113.8", "x@example.com", "wrong guess").await;
        assert_eq!(neighbour.status(), 401, "another address is not limited");
    })
    .await;
}

#[tokio::test]
async fn signups_from_one_address_are_limited_too() {
    each_backend_with(behind_a_proxy, |app| async move {
        let mut statuses = Vec::new();
        for _ in 0..21 {
            let response = reqwest::Client::new()
                .post(app.url("/api/v1/signup"))
                .header("x-forwarded-for", "203.0.113.9")
                .json(&json!({"email": "bad", "password": "x", "organisation": ""}))
                .send()
                .await
                .expect("POST /api/v1/signup");
            statuses.push(response.status().as_u16());
        }
        assert!(statuses[..20].iter().all(|s| *s == 422), "{statuses:?}");
        assert_eq!(statuses[20], 429, "the 21st within the hour");
    })
    .await;
}
