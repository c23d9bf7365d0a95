-- Two-factor authentication (TOTP). totp_secret is encrypted with
-- ENCRYPTION_KEYS (src/crypto.rs); NULL: not enrolled. totp_last_step is
-- the last 30-second step whose code was accepted: a code is accepted once.
ALTER TABLE users ADD COLUMN totp_secret TEXT;
ALTER TABLE users ADD COLUMN totp_last_step INTEGER;

-- One-time recovery codes, for a lost authenticator: only SHA-256 digests.
CREATE TABLE recovery_codes (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    digest  TEXT NOT NULL,
    used_at INTEGER,
    PRIMARY KEY (user_id, digest)
);
