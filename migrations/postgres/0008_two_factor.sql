-- Two-factor authentication (TOTP). totp_secret is encrypted with
-- ENCRYPTION_KEYS (src/crypto.rs); NULL: not enrolled. totp_last_step is
-- the last 30-second step whose code was accepted: a code is accepted once.
ALTER TABLE users ADD COLUMN totp_secret TEXT;
ALTER TABLE users ADD COLUMN totp_last_step BIGINT;

-- One-time recovery codes, for a lost authenticator: only SHA-256 digests.
CREATE TABLE recovery_codes (
    user_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    digest  TEXT NOT NULL,
    used_at BIGINT,
    PRIMARY KEY (user_id, digest)
);

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'app_tenant') THEN
        REVOKE ALL ON recovery_codes FROM app_tenant;
    END IF;
END
$$;
