//! Passwords: what we accept, and how we store them.
//!
//! Accepted: 10 to 128 characters, not on the bundled list of common
//! passwords. Stored: argon2id with OWASP's parameters (m = 19456 KiB, t = 2,
//! p = 1) as a PHC string, which carries its own parameters, so a change of
//! [`params`] upgrades each hash at its owner's next sign-in
//! ([`Verified::Upgrade`]).
//!
//! Hashing costs tens of milliseconds of CPU on purpose: both functions here
//! run on the blocking pool, off the async workers.

use std::collections::HashSet;
use std::fmt;
use std::sync::LazyLock;

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::error::AppError;

pub const MIN_CHARS: usize = 10;
pub const MAX_CHARS: usize = 128;

/// A password that passed the rules above. Never printed.
#[derive(Clone)]
pub struct Password(String);

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(..)")
    }
}

impl Password {
    /// # Errors
    /// A message a person can act on.
    pub fn parse(candidate: &str) -> Result<Self, &'static str> {
        let chars = candidate.chars().count();
        if chars < MIN_CHARS {
            return Err("Use at least 10 characters.");
        }
        if chars > MAX_CHARS {
            return Err("Use at most 128 characters.");
        }
        if COMMON.contains(candidate.to_lowercase().as_str()) {
            return Err("This password is too common: choose another.");
        }
        Ok(Self(candidate.to_owned()))
    }
}

static COMMON: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("common-passwords.txt")
        .lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .collect()
});

/// OWASP's argon2id parameters (Password Storage Cheat Sheet).
fn params() -> Params {
    Params::new(19_456, 2, 1, None).expect("valid argon2 parameters")
}

fn hasher() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params())
}

/// The PHC string of `password`, with a fresh random salt.
///
/// # Errors
/// Only when the system's random source fails.
pub async fn hash(password: Password) -> Result<String, AppError> {
    blocking(move || {
        hasher()
            .hash_password(password.0.as_bytes())
            .map(|hash| hash.to_string())
            .map_err(|e| AppError::Internal(format!("hash a password: {e}")))
    })
    .await
}

/// The outcome of checking a password against a stored hash.
#[derive(Debug, PartialEq, Eq)]
pub enum Verified {
    Wrong,
    Right,
    /// Right, and the hash was made with other parameters: here is the
    /// password hashed with the current ones, to store instead.
    Upgrade(String),
}

/// Checks `candidate` against `stored` (a PHC string). With no stored hash
/// (an unknown email, an account without a password) it checks against a
/// decoy instead, so that the answer takes the same time either way.
///
/// # Errors
/// When the system's random source fails while upgrading.
pub async fn verify(candidate: String, stored: Option<String>) -> Result<Verified, AppError> {
    blocking(move || {
        let parsed = stored.as_deref().and_then(|stored| {
            PasswordHash::new(stored)
                .inspect_err(|_| {
                    tracing::error!("a stored password hash is not a valid PHC string")
                })
                .ok()
        });
        let Some(parsed) = parsed else {
            // The same work as a real check, whose answer is ignored.
            let _ = hasher().verify_password(candidate.as_bytes(), DECOY.as_str());
            return Ok(Verified::Wrong);
        };
        if hasher()
            .verify_password(candidate.as_bytes(), &parsed)
            .is_err()
        {
            return Ok(Verified::Wrong);
        }
        if is_current(&parsed) {
            return Ok(Verified::Right);
        }
        hasher()
            .hash_password(candidate.as_bytes())
            .map(|hash| Verified::Upgrade(hash.to_string()))
            .map_err(|e| AppError::Internal(format!("rehash a password: {e}")))
    })
    .await
}

/// Whether a hash was made with today's algorithm and parameters.
fn is_current(hash: &PasswordHash) -> bool {
    let current = params();
    hash.algorithm.as_str() == Algorithm::Argon2id.as_str()
        && hash.version == Some(Version::V0x13.into())
        && Params::try_from(hash).is_ok_and(|p| {
            (p.m_cost(), p.t_cost(), p.p_cost())
                == (current.m_cost(), current.t_cost(), current.p_cost())
        })
}

/// A hash of a random password with the current parameters, for [`verify`]
/// to check against when there is no real one.
static DECOY: LazyLock<String> = LazyLock::new(|| {
    hasher()
        .hash_password(uuid::Uuid::new_v4().as_bytes())
        .expect("hash the decoy password")
        .to_string()
});

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, AppError> + Send + 'static,
) -> Result<T, AppError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| AppError::Internal(format!("password hashing task: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_and_the_common_list_decide() {
        assert!(Password::parse("short9chr").is_err(), "9 characters");
        assert!(Password::parse("ten chars!").is_ok(), "10 characters");
        assert!(Password::parse(&"x".repeat(129)).is_err(), "129 characters");
        assert!(
            Password::parse(&"é".repeat(128)).is_ok(),
            "characters, not bytes"
        );
        assert_eq!(
            Password::parse("Password123").err(),
            Some("This password is too common: choose another."),
            "the list is compared in lower case"
        );
    }

    #[tokio::test]
    async fn a_hash_with_old_parameters_is_upgraded_on_a_right_password() {
        let old = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(8_192, 1, 1, None).expect("params"),
        )
        .hash_password(b"correct horse battery")
        .expect("hash")
        .to_string();
        let Verified::Upgrade(new) = verify("correct horse battery".into(), Some(old.clone()))
            .await
            .expect("verify")
        else {
            panic!("an old hash must be upgraded");
        };
        assert!(new.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{new}");
        assert_eq!(
            verify("correct horse battery".into(), Some(new))
                .await
                .expect("verify"),
            Verified::Right
        );
        assert_eq!(
            verify("wrong horse battery".into(), Some(old))
                .await
                .expect("verify"),
            Verified::Wrong
        );
        assert_eq!(
            verify("anything at all".into(), None)
                .await
                .expect("verify"),
            Verified::Wrong
        );
    }
}
