//! Random tokens (CSRF, emailed links, and later API tokens), their stored
//! digests, and comparing them without leaking, through timing, how much of
//! a guess was right.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::ids::TenantId;

/// 256 random bits from the OS, URL-safe (43 characters).
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system's random source works");
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A secret that names its tenant, `<prefix><tenant id>_<random token>`, so
/// the tenant scope to look it up in is known before the lookup (API
/// tokens `api_…`, a module's devices `kd_…`). Only its [`digest`] is stored.
pub fn tenant_secret(prefix: &str, tenant: TenantId) -> String {
    format!("{prefix}{}_{}", tenant.as_uuid().simple(), random_token())
}

/// The tenant a [`tenant_secret`] with `prefix` names, if it has the shape
/// of one.
pub fn tenant_of(prefix: &str, secret: &str) -> Option<TenantId> {
    let rest = secret.strip_prefix(prefix)?;
    let (tenant, _) = rest.split_once('_')?;
    tenant.parse().ok()
}

/// The SHA-256 digest of `token`, in hex: what the database keeps of a
/// token, so a copy of the table opens nothing.
pub fn digest(token: &str) -> String {
    digest_bytes(token.as_bytes())
}

/// The SHA-256 digest of `bytes`, in hex.
pub fn digest_bytes(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Compares in time that depends only on the lengths.
pub fn same(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_distinct_and_url_safe() {
        let (a, b) = (random_token(), random_token());
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert!(same(&a, &a.clone()));
        assert!(!same(&a, &b));
        assert!(!same(&a, &a[..42]));
    }
}
