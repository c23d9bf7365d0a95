-- Sign-in with Google, GitHub and OpenID Connect providers
-- (src/accounts/oauth): which provider account signs in which user, one per
-- provider. `subject` is the provider's stable id for the person (never the
-- email, which can change hands), unique only at its `issuer` (the OpenID
-- issuer, or GitHub's site): an identity matches only at the issuer it was
-- linked at, so pointing OIDC_ISSUER at another provider can't sign its
-- users into accounts linked at the first. `email` is what the provider
-- said when the identity was linked, shown on the account page. No
-- provider token is kept.
CREATE TABLE user_identities (
    provider   TEXT NOT NULL,
    issuer     TEXT NOT NULL,
    subject    TEXT NOT NULL,
    user_id    UUID NOT NULL,
    email      TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (provider, issuer, subject),
    UNIQUE (user_id, provider)
);

DO $$
BEGIN
    -- Signing up with a provider writes the user and their identity in one
    -- transaction. On a database `citus-distribute` has sharded, `users`
    -- is a reference table, and Citus checks a key from a coordinator
    -- table to it in that transaction against its own write (a distributed
    -- deadlock): the identities become a reference table too, before their
    -- key (citus-distribute does the same for a database sharded later:
    -- crates/kernel/src/db/citus.rs, WRITTEN_WITH_USERS).
    IF to_regclass('pg_dist_partition') IS NOT NULL THEN
        IF (SELECT EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = 'users'::regclass)) THEN
            PERFORM create_reference_table('user_identities');
        END IF;
    END IF;
    ALTER TABLE user_identities
        ADD FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'app_tenant') THEN
        -- That transaction is the scope that creates the user's first
        -- tenant, so none of the three exists without the others. (The
        -- address is marked verified after it, outside the scope, which
        -- still can't create a verified account: 0003.)
        GRANT INSERT ON user_identities TO app_tenant;
    END IF;
END
$$;
