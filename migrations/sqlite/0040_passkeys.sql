-- Passkeys (src/accounts/passkeys.rs): WebAuthn credentials that sign their
-- user in, several per user, each named. `credential_id` is the
-- authenticator's id for it (base64url), by which a sign-in finds it;
-- `passkey` is webauthn-rs' record of it as JSON (its public key and
-- signature counter: no secret).
CREATE TABLE passkeys (
    id            TEXT PRIMARY KEY NOT NULL,
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    credential_id TEXT NOT NULL UNIQUE,
    passkey       TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    last_used_at  TEXT
);

CREATE INDEX passkeys_user ON passkeys (user_id);
