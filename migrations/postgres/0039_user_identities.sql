-- Sign-in with Google, GitHub and OpenID Connect providers
-- (src/accounts/oauth): which provider account signs in which user, one per
-- provider. `subject` is the provider's stable id for the person (never the
-- email, which can change hands); `email` is what the provider said when
-- the identity was linked, shown on the account page. No provider token is
-- kept.
CREATE TABLE user_identities (
    provider   TEXT NOT NULL,
    subject    TEXT NOT NULL,
    user_id    UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email      TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (provider, subject),
    UNIQUE (user_id, provider)
);

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'app_tenant') THEN
        -- Signing up with a provider creates the user (verified: the
        -- provider vouched for the address), their identity and their first
        -- tenant in one scope, so none exists without the others.
        GRANT INSERT ON user_identities TO app_tenant;
        GRANT INSERT (email_verified_at) ON users TO app_tenant;
    END IF;
END
$$;
