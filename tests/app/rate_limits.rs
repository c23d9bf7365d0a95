//! Rate limits: per client address (in memory, per instance) and per account
//! (in the database, across instances), answered with 429 and Retry-After.

use app::db::Backend;
use serde_json::json;

use crate::support::{Options, TestApp, backend_test, run_on_with};

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

async fn sign_up_maria(app: &TestApp) {
    let signup = reqwest::Client::new()
        .post(app.url("/api/v1/signup"))
        .json(
            &json!({"email": "maria@example.com", "password": PASSWORD, "organisation": "Maria's"}),
        )
        .send()
        .await
        .expect("signup");
    assert_eq!(signup.status(), 201);
}

const PASSWORD: &str = "correct horse battery";

backend_test!(guessing_from_one_address_locks_out_that_address_not_the_owner);
/// Guessing from one address locks that address out of the account, on
/// every instance, and not the owner: the right password from another
/// address still signs in (OWASP: lock-outs must not be a denial of
/// service).
async fn guessing_from_one_address_locks_out_that_address_not_the_owner(backend: Backend) {
    run_on_with(backend, behind_a_proxy, |app| async move {
        sign_up_maria(&app).await;
        for attempt in 1..=10 {
            let response =
                login_from(&app, "203.0.113.1", "maria@example.com", "wrong guess").await;
            assert_eq!(
                response.status(),
                401,
                "failure {attempt} is only a failure"
            );
        }
        let locked = login_from(&app, "203.0.113.1", "Maria@example.com", PASSWORD).await;
        assert_eq!(
            locked.status(),
            429,
            "even the right password, from that address"
        );
        let wait = retry_after(&locked);
        assert!((1..=15 * 60).contains(&wait), "Retry-After {wait}");
        let body: serde_json::Value = locked.json().await.expect("JSON");
        assert_eq!(body["error"]["code"], "rate_limited");

        let other = app.another_instance(behind_a_proxy()).await;
        let same_address = login_from(&other, "203.0.113.1", "maria@example.com", PASSWORD).await;
        assert_eq!(
            same_address.status(),
            429,
            "another instance sees the same count"
        );
        other.stop().await;

        let owner = login_from(&app, "198.51.100.7", "maria@example.com", PASSWORD).await;
        assert_eq!(owner.status(), 200, "the owner, elsewhere, signs in");
        let unknown = login_from(&app, "203.0.113.1", "nobody@example.com", "wrong guess").await;
        assert_eq!(unknown.status(), 401, "other accounts are not affected");
    })
    .await;
}

backend_test!(concurrent_wrong_passwords_are_checked_at_most_up_to_the_limit);
/// Counted and decided in one statement, before any password is hashed:
/// 30 wrong passwords at once against a limit of 10 get at most 10 checked.
async fn concurrent_wrong_passwords_are_checked_at_most_up_to_the_limit(backend: Backend) {
    run_on_with(backend, behind_a_proxy, |app| async move {
        sign_up_maria(&app).await;
        let guesses =
            (0..30).map(|_| login_from(&app, "203.0.113.2", "maria@example.com", "wrong guess"));
        let answers: Vec<u16> = futures_util::future::join_all(guesses)
            .await
            .iter()
            .map(|response| response.status().as_u16())
            .collect();
        let checked = answers.iter().filter(|status| **status == 401).count();
        let refused = answers.iter().filter(|status| **status == 429).count();
        assert_eq!(
            (checked, refused),
            (10, 20),
            "{answers:?} ({:?})",
            app.backend()
        );
    })
    .await;
}

backend_test!(guessing_from_many_addresses_slows_them_not_the_owner);
/// Guessing from many addresses (a botnet) slows those addresses down once
/// the account has seen many failures, while an address with none, the
/// owner's, still signs in.
async fn guessing_from_many_addresses_slows_them_not_the_owner(backend: Backend) {
    run_on_with(backend, behind_a_proxy, |app| async move {
        sign_up_maria(&app).await;
        let threshold = app::rate_limits::ACCOUNT_FAILURES_BEFORE_BACKOFF;
        for n in 0..threshold {
            let address = format!("192.0.2.{}", n + 1);
            let response = login_from(&app, &address, "maria@example.com", "wrong guess").await;
            assert_eq!(response.status(), 401, "{address}");
        }
        let again = login_from(&app, "192.0.2.1", "maria@example.com", "wrong guess").await;
        assert_eq!(again.status(), 429, "an address that failed waits now");
        let owner = login_from(&app, "198.51.100.7", "maria@example.com", PASSWORD).await;
        assert_eq!(owner.status(), 200, "the owner still signs in");
    })
    .await;
}

backend_test!(an_address_gets_a_burst_of_sign_ins_then_429_while_others_go_on);
async fn an_address_gets_a_burst_of_sign_ins_then_429_while_others_go_on(backend: Backend) {
    run_on_with(backend, behind_a_proxy, |app| async move {
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

backend_test!(signups_from_one_address_are_limited_too);
async fn signups_from_one_address_are_limited_too(backend: Backend) {
    run_on_with(backend, behind_a_proxy, |app| async move {
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
