//! Rate limits on the doors that guessing comes through: sign-in, signup,
//! password reset, verification emails, invitation acceptance, second-factor entry.
//!
//! Two limits each, and a request must pass both:
//! * **per client address**, in memory ([governor]'s GCRA): a burst, then
//!   one more attempt per interval. Each app instance counts on its own, so
//!   with N instances an address gets up to N times the burst; that is the
//!   price of not touching the database for it. The address is the peer's,
//!   or, behind proxies, taken from `X-Forwarded-For` as
//!   `TRUSTED_PROXY_HOPS` says ([`crate::http::client_address`]).
//! * **per account** (an email, an invitation), in the database, so it
//!   holds however many instances run and whichever address guesses: a
//!   fixed window of at most `max` counted attempts.
//!
//! Over either limit: 429 with `Retry-After`.

mod global;

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::db::Db;
use crate::error::AppError;

/// What is being limited.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Limit {
    /// Sign-in attempts; per account, only the failed ones count.
    Login,
    Signup,
    PasswordReset,
    /// Asking for another email-verification link.
    VerificationEmail,
    InvitationAcceptance,
    SecondFactor,
}

/// How much a limit allows.
struct Rule {
    /// Attempts an address may make at once…
    address_burst: u32,
    /// …and how often it gets one more.
    address_refill: Duration,
    /// Attempts counted against one account per window.
    account_max: u32,
    account_window: Duration,
}

const MINUTE: Duration = Duration::from_secs(60);

impl Limit {
    pub const ALL: [Limit; 6] = [
        Limit::Login,
        Limit::Signup,
        Limit::PasswordReset,
        Limit::VerificationEmail,
        Limit::InvitationAcceptance,
        Limit::SecondFactor,
    ];

    /// The bucket's name in the database.
    fn name(self) -> &'static str {
        match self {
            Self::Login => "login",
            Self::Signup => "signup",
            Self::PasswordReset => "password_reset",
            Self::VerificationEmail => "verification_email",
            Self::InvitationAcceptance => "invitation",
            Self::SecondFactor => "second_factor",
        }
    }

    fn rule(self) -> Rule {
        let rule = |address_burst, address_refill, account_max, account_window| Rule {
            address_burst,
            address_refill,
            account_max,
            account_window,
        };
        match self {
            // An office behind one address signs in together: a generous
            // burst, while one account gets 10 wrong guesses a quarter hour.
            Self::Login => rule(30, Duration::from_secs(2), 10, 15 * MINUTE),
            Self::Signup => rule(20, 3 * MINUTE, 5, 60 * MINUTE),
            Self::PasswordReset => rule(10, 6 * MINUTE, 5, 60 * MINUTE),
            Self::VerificationEmail => rule(10, 6 * MINUTE, 3, 60 * MINUTE),
            Self::InvitationAcceptance => rule(20, Duration::from_secs(3), 10, 15 * MINUTE),
            Self::SecondFactor => rule(20, Duration::from_secs(3), 5, 5 * MINUTE),
        }
    }
}

/// The per-address limiters of one app instance (in `AppState`).
pub struct RateLimits {
    limiters: HashMap<Limit, DefaultKeyedRateLimiter<IpAddr>>,
}

impl Default for RateLimits {
    fn default() -> Self {
        let limiters = Limit::ALL
            .into_iter()
            .map(|limit| {
                let rule = limit.rule();
                let burst = NonZeroU32::new(rule.address_burst).expect("a burst of at least 1");
                let quota = Quota::with_period(rule.address_refill)
                    .expect("a refill period above zero")
                    .allow_burst(burst);
                (limit, DefaultKeyedRateLimiter::keyed(quota))
            })
            .collect();
        Self { limiters }
    }
}

/// Addresses remembered before the idle ones are forgotten.
const REMEMBERED_ADDRESSES: usize = 10_000;

impl RateLimits {
    /// Counts one attempt from `address`.
    ///
    /// # Errors
    /// 429 when the address has used up its burst.
    pub fn check_address(&self, limit: Limit, address: IpAddr) -> Result<(), AppError> {
        let limiter = &self.limiters[&limit];
        if limiter.len() > REMEMBERED_ADDRESSES {
            limiter.retain_recent();
        }
        limiter.check_key(&address).map_err(|not_until| {
            AppError::RateLimited(not_until.wait_time_from(DefaultClock::default().now()))
        })
    }
}

/// The account key as stored: a digest, so the table holds no emails (nor
/// the passwords people type into the email field by mistake).
fn subject(key: &str) -> String {
    crate::tokens::digest(&key.trim().to_lowercase())
}

/// Counts one attempt against `account`.
///
/// # Errors
/// 429 when the account's window is full; a database failure.
pub async fn count_account(db: &Db, limit: Limit, account: &str) -> Result<(), AppError> {
    let rule = limit.rule();
    let hits = global::hit(db, limit.name(), &subject(account), rule.account_window).await?;
    // This attempt is among the hits: refused beyond the maximum.
    over_limit(Some(hits), i64::from(rule.account_max))
}

/// Counts a failed attempt against `account` (a wrong password), refusing
/// nothing: the next [`ensure_account_allowed`] does.
///
/// # Errors
/// When the database fails.
pub async fn count_failure(db: &Db, limit: Limit, account: &str) -> Result<(), AppError> {
    let rule = limit.rule();
    global::hit(db, limit.name(), &subject(account), rule.account_window).await?;
    Ok(())
}

/// Refuses when `account` has used up its window, without counting this
/// attempt (sign-in counts only failures, after the fact).
///
/// # Errors
/// 429 when the account's window is full; a database failure.
pub async fn ensure_account_allowed(db: &Db, limit: Limit, account: &str) -> Result<(), AppError> {
    let rule = limit.rule();
    let hits = global::current(db, limit.name(), &subject(account), rule.account_window).await?;
    // This attempt is not counted yet: refused once the maximum is reached.
    over_limit(hits, i64::from(rule.account_max) - 1)
}

/// Refuses when more than `allowed` hits are in the window.
fn over_limit(hits: Option<global::Hits>, allowed: i64) -> Result<(), AppError> {
    match hits {
        Some(hits) if hits.count > allowed => Err(AppError::RateLimited(hits.retry_after)),
        _ => Ok(()),
    }
}

/// Forgets counters whose window has passed (the periodic purge).
///
/// # Errors
/// When the database fails.
pub async fn purge_expired(db: &Db) -> Result<u64, sqlx::Error> {
    let longest = Limit::ALL
        .into_iter()
        .map(|limit| limit.rule().account_window)
        .max()
        .unwrap_or(MINUTE);
    global::delete_older_than(db, longest).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_gets_its_burst_then_waits() {
        let limits = RateLimits::default();
        let address: IpAddr = [192, 0, 2, 1].into();
        for _ in 0..Limit::Signup.rule().address_burst {
            assert!(limits.check_address(Limit::Signup, address).is_ok());
        }
        let Err(AppError::RateLimited(wait)) = limits.check_address(Limit::Signup, address) else {
            panic!("the burst is used up");
        };
        assert!(
            wait > Duration::from_secs(60) && wait <= 3 * MINUTE,
            "{wait:?}"
        );
        let other: IpAddr = [192, 0, 2, 2].into();
        assert!(
            limits.check_address(Limit::Signup, other).is_ok(),
            "per address"
        );
        assert!(
            limits.check_address(Limit::Login, address).is_ok(),
            "per limit"
        );
    }

    #[test]
    fn account_keys_are_stored_as_digests_of_their_normal_form() {
        assert_eq!(subject(" Maria@Example.com"), subject("maria@example.com"));
        assert_eq!(subject("maria@example.com").len(), 64);
        assert!(!subject("maria@example.com").contains("maria"));
    }
}
