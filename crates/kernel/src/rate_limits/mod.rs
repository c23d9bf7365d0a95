//! Rate limits on the doors that guessing comes through: sign-in, signup,
//! password reset (asking, and using the link), sign-in links (asking, and
//! using the link), verification emails,
//! invitation acceptance, second-factor entry, and the password confirming a
//! sensitive change.
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
use crate::tenancy::TenantScope;

/// What is being limited.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Limit {
    /// Sign-in attempts; per account, only the failed ones count.
    Login,
    Signup,
    PasswordReset,
    /// Asking for a sign-in link.
    SignInLink,
    /// Going to a sign-in provider, and coming back from it (per address:
    /// each round trip costs calls to the provider).
    ProviderSignIn,
    /// Asking for another email-verification link.
    VerificationEmail,
    InvitationAcceptance,
    SecondFactor,
    /// The password that confirms a sensitive change, per account.
    Reauthentication,
    /// Using a link's secret (a password reset, an email verification, a
    /// device's pairing code): per address, and per link where checking it
    /// costs something (a reset hashes the new password).
    LinkSecret,
    /// Invitation emails a tenant sends (new and resent), per day.
    InvitationEmails,
    /// Emails of one invitation (the first and each resend), per day.
    InvitationResends,
    /// Emails proving a tenant's claim on an email domain, per day.
    DomainProofs,
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
const DAY: Duration = Duration::from_secs(24 * 3600);

impl Limit {
    pub const ALL: [Limit; 13] = [
        Limit::Login,
        Limit::Signup,
        Limit::PasswordReset,
        Limit::SignInLink,
        Limit::ProviderSignIn,
        Limit::VerificationEmail,
        Limit::InvitationAcceptance,
        Limit::SecondFactor,
        Limit::Reauthentication,
        Limit::LinkSecret,
        Limit::InvitationEmails,
        Limit::InvitationResends,
        Limit::DomainProofs,
    ];

    /// The bucket's name in the database.
    fn name(self) -> &'static str {
        match self {
            Self::Login => "login",
            Self::Signup => "signup",
            Self::PasswordReset => "password_reset",
            Self::SignInLink => "sign_in_link",
            Self::ProviderSignIn => "provider_sign_in",
            Self::VerificationEmail => "verification_email",
            Self::InvitationAcceptance => "invitation",
            Self::SecondFactor => "second_factor",
            Self::Reauthentication => "reauthentication",
            Self::LinkSecret => "link_secret",
            Self::InvitationEmails => "invitation_emails",
            Self::InvitationResends => "invitation_resends",
            Self::DomainProofs => "domain_proofs",
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
            Self::PasswordReset | Self::SignInLink => rule(10, 6 * MINUTE, 5, 60 * MINUTE),
            Self::VerificationEmail => rule(10, 6 * MINUTE, 3, 60 * MINUTE),
            Self::ProviderSignIn => rule(30, Duration::from_secs(2), 10, 15 * MINUTE),
            Self::InvitationAcceptance => rule(20, Duration::from_secs(3), 10, 15 * MINUTE),
            Self::SecondFactor => rule(20, Duration::from_secs(3), 5, 5 * MINUTE),
            // Per account only: the caller holds the account's session.
            Self::Reauthentication => rule(20, Duration::from_secs(3), 10, 15 * MINUTE),
            Self::LinkSecret => rule(20, Duration::from_secs(3), 10, 15 * MINUTE),
            // Per tenant and per invitation only (the address is a member's):
            // enough to onboard a team in a day, too few to spam from.
            Self::InvitationEmails => rule(1, DAY, 100, DAY),
            Self::InvitationResends => rule(1, DAY, 5, DAY),
            // Per tenant: each goes to a domain's administrators, who may
            // not be the tenant's.
            Self::DomainProofs => rule(1, DAY, 10, DAY),
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

/// Counts one use of a tenant's `limit` for `key` (an invitation, the
/// tenant itself) in the scope's transaction, so it counts only if the use
/// commits.
///
/// # Errors
/// 429 when the window is full; a database failure.
pub async fn count_in(scope: &mut TenantScope, limit: Limit, key: &str) -> Result<(), AppError> {
    let rule = limit.rule();
    let hits = global::hit_in(scope, limit.name(), &subject(key), rule.account_window).await?;
    over_limit(Some(hits), i64::from(rule.account_max))
}

/// Admits one attempt at a secret of `account` (a second-factor code, a
/// password confirming a sensitive change), or refuses it before anything
/// is checked. Counted and decided in one statement, so concurrent attempts
/// can't all slip under the limit; [`Attempt::succeeded`] takes the count
/// back, so only failures add up.
///
/// # Errors
/// 429 when the account's window is full; a database failure.
pub async fn attempt(db: &Db, limit: Limit, account: &str) -> Result<Attempt, AppError> {
    let rule = limit.rule();
    let subject = subject(account);
    let hits = global::hit(db, limit.name(), &subject, rule.account_window).await?;
    over_limit(Some(hits), i64::from(rule.account_max))?;
    Ok(Attempt {
        bucket: limit.name(),
        subject,
    })
}

/// An attempt [`attempt`] admitted, counted as a failure until it succeeds.
#[must_use]
pub struct Attempt {
    bucket: &'static str,
    subject: String,
}

impl Attempt {
    /// The secret was right: the attempt doesn't count.
    pub async fn succeeded(self, db: &Db) -> Result<(), AppError> {
        global::refund(db, self.bucket, &self.subject).await?;
        Ok(())
    }
}

/// Sign-in's limits per account, which attackers must not be able to turn
/// into a lock-out of the owner (OWASP's Authentication Cheat Sheet warns
/// that account lockout is a denial of service):
///
/// * per account *and address*: [`Limit::Login`]'s 10 attempts in 15
///   minutes, counted and decided in one statement before the password is
///   hashed (30 concurrent guesses get at most 10 checked); a success clears
///   the pair's count. Guessing from one address locks out that address
///   only, so the owner elsewhere still signs in.
/// * per account, a slower backoff against guessing from many addresses:
///   past [`ACCOUNT_FAILURES_BEFORE_BACKOFF`] failures in an hour from
///   anywhere, an address that has failed on the account already waits for
///   its window to end; an address with no failures still gets its try, so
///   the owner at home signs in while a botnet gets one guess per address.
///
/// # Errors
/// 429 with `Retry-After`; a database failure.
pub async fn admit_sign_in(db: &Db, account: &str, address: IpAddr) -> Result<SignIn, AppError> {
    let rule = Limit::Login.rule();
    let pair = pair_subject(account, address);
    let hits = global::hit(db, LOGIN_PAIR, &pair, rule.account_window).await?;
    let failed_here_before = hits.count > 1;
    over_limit(Some(hits), i64::from(rule.account_max))?;
    if failed_here_before {
        let failures =
            global::current(db, LOGIN_FAILURES, &subject(account), ACCOUNT_WINDOW).await?;
        over_limit(failures, ACCOUNT_FAILURES_BEFORE_BACKOFF - 1)?;
    }
    Ok(SignIn {
        pair,
        account: subject(account),
    })
}

/// Failures on one account from every address in [`ACCOUNT_WINDOW`] before
/// addresses that failed already must wait (see [`admit_sign_in`]).
pub const ACCOUNT_FAILURES_BEFORE_BACKOFF: i64 = 50;
const ACCOUNT_WINDOW: Duration = Duration::from_secs(3600);
/// The per (account, address) and per account buckets of sign-in.
const LOGIN_PAIR: &str = "login_pair";
const LOGIN_FAILURES: &str = "login_failures";

/// A sign-in attempt [`admit_sign_in`] admitted.
#[must_use]
pub struct SignIn {
    pair: String,
    account: String,
}

impl SignIn {
    /// The password was wrong: counted against the account, from anywhere.
    pub async fn failed(self, db: &Db) -> Result<(), AppError> {
        global::hit(db, LOGIN_FAILURES, &self.account, ACCOUNT_WINDOW).await?;
        Ok(())
    }

    /// The password was right: this address starts afresh.
    pub async fn succeeded(self, db: &Db) -> Result<(), AppError> {
        global::clear(db, LOGIN_PAIR, &self.pair).await?;
        Ok(())
    }
}

/// The key of one account as tried from one address.
fn pair_subject(account: &str, address: IpAddr) -> String {
    subject(&format!("{}|{address}", account.trim().to_lowercase()))
}

/// Refuses when more than `allowed` hits are in the window.
fn over_limit(hits: Option<global::Hits>, allowed: i64) -> Result<(), AppError> {
    match hits {
        Some(hits) if hits.count > allowed => Err(AppError::RateLimited(hits.retry_after)),
        _ => Ok(()),
    }
}

/// Forgets counters whose window has passed (the periodic purge).
pub async fn purge_expired(db: &Db) -> Result<u64, sqlx::Error> {
    let longest = Limit::ALL
        .into_iter()
        .map(|limit| limit.rule().account_window)
        .chain([ACCOUNT_WINDOW])
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
