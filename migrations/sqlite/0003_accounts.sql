-- Accounts: a password (an argon2id PHC string; NULL until one is set, for
-- a user created by an invitation before accepting it) and when the email
-- was verified (NULL: not yet; the app shows a banner).
ALTER TABLE users ADD COLUMN password_hash TEXT;
ALTER TABLE users ADD COLUMN email_verified_at TEXT;
