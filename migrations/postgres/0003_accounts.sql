-- Accounts: a password (an argon2id PHC string; NULL until one is set, for
-- a user created by an invitation before accepting it) and when the email
-- was verified (NULL: not yet; the app shows a banner).
ALTER TABLE users ADD COLUMN password_hash TEXT;
ALTER TABLE users ADD COLUMN email_verified_at TIMESTAMPTZ;

-- Signup creates the user inside the tenant scope that creates their first
-- tenant, so the scope role may insert users, but only these columns: a
-- scope can't create a super-admin or a pre-verified email.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'app_tenant') THEN
        REVOKE INSERT ON users FROM app_tenant;
        GRANT INSERT (id, email, password_hash, created_at) ON users TO app_tenant;
    END IF;
END
$$;
