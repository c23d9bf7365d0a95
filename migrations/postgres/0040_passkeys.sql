-- Passkeys (src/accounts/passkeys.rs): WebAuthn credentials that sign their
-- user in, several per user, each named. `credential_id` is the
-- authenticator's id for it (base64url), by which a sign-in finds it;
-- `passkey` is webauthn-rs' record of it as JSON (its public key and
-- signature counter: no secret).
CREATE TABLE passkeys (
    id            UUID PRIMARY KEY,
    user_id       UUID NOT NULL,
    name          TEXT NOT NULL,
    credential_id TEXT NOT NULL UNIQUE,
    passkey       TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    last_used_at  TIMESTAMPTZ
);

CREATE INDEX passkeys_user ON passkeys (user_id);

-- The key after the table, in a DO block: on a database citus-distribute
-- has sharded, `users` is a reference table, a key to it makes this a table
-- Citus manages, and Citus refuses to carry a statement of a multi-statement
-- migration to the workers (docs/scaling-out.md, "Adding a migration later").
DO $$
BEGIN
    ALTER TABLE passkeys
        ADD FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE;
END
$$;
