//! Encryption of what the app must read back but the database must not see
//! (two-factor secrets, personal data: [`sealed`]), with the keys in
//! `ENCRYPTION_KEYS`: XChaCha20-Poly1305 with a random nonce per value, and
//! the value's owner as associated data, so a ciphertext copied onto
//! another row doesn't decrypt.
//!
//! Several keys may be given, comma-separated: the first encrypts, all
//! decrypt, so a key is rotated by putting the new one first (and running
//! `rotate-keys`). Each ciphertext names its key by a short fingerprint. In
//! development a missing `ENCRYPTION_KEYS` is generated into
//! `data/encryption.key` (with a warning); production refuses to start
//! without it (`config`).

pub mod sealed;

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::config::{AppEnv, Config, KeyMaterial};

/// Where development keeps its generated key.
pub const DEV_KEY_FILE: &str = "data/encryption.key";

const VERSION: &str = "v1";

/// The keys, the encrypting one first.
pub struct Keys(Vec<Key>);

struct Key {
    fingerprint: String,
    cipher: XChaCha20Poly1305,
}

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("ENCRYPTION_KEYS is not set: ask the operator to set it (see the README)")]
    NoKeys,
    #[error("this value was encrypted with a key that ENCRYPTION_KEYS no longer lists")]
    UnknownKey,
    #[error("this value can't be decrypted: it was changed or belongs elsewhere")]
    Corrupt,
}

impl Keys {
    /// The configured keys; in development, a generated one kept in
    /// [`DEV_KEY_FILE`] when none is configured. `None` in production
    /// without keys.
    ///
    /// # Errors
    /// When the development key file can't be read or written.
    pub fn load(config: &Config) -> std::io::Result<Option<Self>> {
        if !config.encryption_keys.0.is_empty() {
            return Ok(Some(Self::new(&config.encryption_keys.0)));
        }
        if config.app_env != AppEnv::Development {
            return Ok(None);
        }
        let key = dev_key(Path::new(DEV_KEY_FILE), "ENCRYPTION_KEYS")?;
        Ok(Some(Self::new(&[key])))
    }

    pub fn new(keys: &[[u8; 32]]) -> Self {
        Self(
            keys.iter()
                .map(|key| Key {
                    fingerprint: fingerprint(key),
                    cipher: XChaCha20Poly1305::new(&(*key).into()),
                })
                .collect(),
        )
    }

    /// The fingerprint of the key that encrypts: every value not under it
    /// is rotated.
    pub fn newest_fingerprint(&self) -> &str {
        &self.0[0].fingerprint
    }

    /// `plaintext`, encrypted for `owner` (e.g. "totp:<user id>").
    ///
    /// # Panics
    /// Only if the operating system's random source fails.
    pub fn encrypt(&self, owner: &str, plaintext: &[u8]) -> String {
        let key = &self.0[0];
        let mut nonce = [0u8; 24];
        getrandom::fill(&mut nonce).expect("the operating system's random source works");
        let nonce = XNonce::from(nonce);
        let sealed = key
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: owner.as_bytes(),
                },
            )
            .expect("encrypting into memory can't fail");
        let mut bytes = nonce.to_vec();
        bytes.extend(sealed);
        format!(
            "{VERSION}.{}.{}",
            key.fingerprint,
            URL_SAFE_NO_PAD.encode(bytes)
        )
    }

    /// Reverses [`Keys::encrypt`] for the same `owner`.
    ///
    /// # Errors
    /// A key no longer listed, or a value changed or moved.
    pub fn decrypt(&self, owner: &str, value: &str) -> Result<Vec<u8>, CryptoError> {
        let mut parts = value.splitn(3, '.');
        let (Some(VERSION), Some(fingerprint), Some(sealed)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Err(CryptoError::Corrupt);
        };
        let key = self
            .0
            .iter()
            .find(|key| key.fingerprint == fingerprint)
            .ok_or(CryptoError::UnknownKey)?;
        let bytes = URL_SAFE_NO_PAD
            .decode(sealed)
            .map_err(|_| CryptoError::Corrupt)?;
        if bytes.len() < 24 {
            return Err(CryptoError::Corrupt);
        }
        let (nonce, sealed) = bytes.split_at(24);
        let nonce = XNonce::try_from(nonce).map_err(|_| CryptoError::Corrupt)?;
        key.cipher
            .decrypt(
                &nonce,
                Payload {
                    msg: sealed,
                    aad: owner.as_bytes(),
                },
            )
            .map_err(|_| CryptoError::Corrupt)
    }
}

/// The key of keyed hashes (HMAC-SHA256) that let a short secret be found
/// by one indexed lookup without being stored (a four-digit code typed at a
/// device, a blind index). A short code has only 10,000 values, so a plain
/// or salted hash would be guessed at once from a copy of the table;
/// without this key it can't be. `LOOKUP_KEY` is one key, never rotated:
/// changing it invalidates every such hash (they must all be made again).
/// Development generates [`DEV_LOOKUP_KEY_FILE`].
pub struct LookupKey(Hmac<Sha256>);

/// Where development keeps its generated lookup key.
pub const DEV_LOOKUP_KEY_FILE: &str = "data/lookup.key";

impl LookupKey {
    /// The configured key; in development, a generated one. `None` in
    /// production without `LOOKUP_KEY`.
    ///
    /// # Errors
    /// When the development key file can't be read or written.
    pub fn load(config: &Config) -> std::io::Result<Option<Self>> {
        let key = match config.lookup_key.0.first() {
            Some(key) => *key,
            None if config.app_env == AppEnv::Development => {
                dev_key(Path::new(DEV_LOOKUP_KEY_FILE), "LOOKUP_KEY")?
            }
            None => return Ok(None),
        };
        Ok(Some(Self::new(&key)))
    }

    pub fn new(key: &[u8; 32]) -> Self {
        Self(<Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key length"))
    }

    /// The keyed hash of `value` for `purpose` (which keeps one use's digests
    /// from matching another's), in hex.
    pub fn digest(&self, purpose: &str, value: &str) -> String {
        let mut mac = self.0.clone();
        mac.update(purpose.as_bytes());
        mac.update(&[0]);
        mac.update(value.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

/// Development's key for `variable`, generated into `path` on first use.
fn dev_key(path: &Path, variable: &str) -> std::io::Result<[u8; 32]> {
    match read_key(path)? {
        Some(key) => Ok(key),
        None => generate_key_file(path, variable),
    }
}

/// The key in `path`, or `None` when there is no such file.
fn read_key(path: &Path) -> std::io::Result<Option<[u8; 32]>> {
    match std::fs::read_to_string(path) {
        Ok(text) => KeyMaterial::parse(&text)
            .ok()
            .and_then(|keys| keys.0.first().copied())
            .map(Some)
            .ok_or_else(|| std::io::Error::other(format!("{} holds no valid key", path.display()))),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error),
    }
}

/// Writes a new key to `path`, unless another process (or app instance)
/// just did: the key is written to a file of its own, then linked into
/// place, which fails if `path` exists, so no one ever reads half a key and
/// everyone ends up with the same one.
fn generate_key_file(path: &Path, variable: &str) -> std::io::Result<[u8; 32]> {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| std::io::Error::other(e.to_string()))?;
    if let Some(folder) = path.parent() {
        std::fs::create_dir_all(folder)?;
    }
    let draft = path.with_extension(format!("{}.tmp", crate::tokens::random_token()));
    std::fs::write(&draft, STANDARD.encode(key))?;
    let linked = std::fs::hard_link(&draft, path);
    std::fs::remove_file(&draft)?;
    match linked {
        Ok(()) => {
            tracing::warn!(
                "{variable} is not set: generated a development key in {}. In production, set {variable}.",
                path.display()
            );
            Ok(key)
        }
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
            read_key(path)?.ok_or_else(|| std::io::Error::other("the key file vanished"))
        }
        Err(error) => Err(error),
    }
}

/// A key's public name: the first 8 hex digits of its SHA-256.
fn fingerprint(key: &[u8; 32]) -> String {
    let mut digest = crate::tokens::digest_bytes(key);
    digest.truncate(8);
    digest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_decrypts_for_its_owner_with_any_listed_key_only() {
        let (old, new) = ([1u8; 32], [2u8; 32]);
        let sealed = Keys::new(&[old]).encrypt("totp:alice", b"secret");
        let rotated = Keys::new(&[new, old]);
        assert_eq!(rotated.decrypt("totp:alice", &sealed).unwrap(), b"secret");
        assert!(matches!(
            rotated.decrypt("totp:bob", &sealed),
            Err(CryptoError::Corrupt)
        ));
        assert!(matches!(
            Keys::new(&[new]).decrypt("totp:alice", &sealed),
            Err(CryptoError::UnknownKey)
        ));
        let again = Keys::new(&[old]).encrypt("totp:alice", b"secret");
        assert_ne!(sealed, again, "a fresh nonce each time");
        assert!(!sealed.contains("secret"));
    }

    #[test]
    fn racing_instances_end_up_with_one_development_key() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("encryption.key");
        let keys: Vec<[u8; 32]> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8)
                .map(|_| scope.spawn(|| generate_key_file(&path, "ENCRYPTION_KEYS").unwrap()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(
            keys.iter().all(|key| *key == keys[0]),
            "every instance uses the same key"
        );
        assert_eq!(read_key(&path).unwrap(), Some(keys[0]));
        assert_eq!(
            std::fs::read_dir(folder.path()).unwrap().count(),
            1,
            "no drafts left"
        );
    }
}
