//! Email addresses, normalised once: trimmed and lower-cased, so comparing
//! two is comparing strings (the `users_email` index is on `lower(email)`
//! as a second guard).

use std::fmt;

/// A plausible email address: one `@`, something before it, a dotted domain
/// after it, no spaces. Whether it receives mail is for the verification
/// email to find out.
#[derive(Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl TryFrom<String> for Email {
    type Error = &'static str;

    fn try_from(candidate: String) -> Result<Self, Self::Error> {
        Self::parse(&candidate)
    }
}

impl From<Email> for String {
    fn from(email: Email) -> Self {
        email.0
    }
}

impl Email {
    /// # Errors
    /// A message a person can act on.
    pub fn parse(candidate: &str) -> Result<Self, &'static str> {
        let email = candidate.trim().to_lowercase();
        if email.is_empty() {
            return Err("Enter your email address.");
        }
        let well_formed = email.len() <= 254
            && !email.chars().any(|c| c.is_whitespace() || c.is_control())
            && email.rsplit_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && local.len() <= 64
                    && domain.contains('.')
                    && !domain.contains('@')
                    && domain
                        .split('.')
                        .all(|label| !label.is_empty() && !label.starts_with('-'))
            });
        if well_formed {
            Ok(Self(email))
        } else {
            Err("Enter an email address like name@example.com.")
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Email({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::Email;

    #[test]
    fn emails_are_trimmed_and_lower_cased() {
        assert_eq!(
            Email::parse("  Maria.Lopez@Example.COM \n").map(|e| e.0),
            Ok("maria.lopez@example.com".to_owned())
        );
    }

    #[test]
    fn malformed_emails_are_refused() {
        for bad in [
            "",
            "   ",
            "maria",
            "maria@",
            "@example.com",
            "maria@example",
            "maria lopez@example.com",
            "maria@example..com",
            "maria@-example.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} must be refused");
        }
    }
}
