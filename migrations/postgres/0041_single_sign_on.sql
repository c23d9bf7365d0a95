-- Per-tenant single sign-on (src/sso). A tenant's OpenID Connect provider:
-- one per tenant, its client secret sealed by the app (crypto::sealed,
-- purpose `sso_client_secret`; NULL after a tenant import, which never
-- carries a credential, until an owner enters it again); the role people from its domains join
-- with; whether they must sign in through it; and when a sign-in through
-- the current settings last worked (requiring it waits for one, so an
-- owner can't lock everyone out with a typo).
CREATE TABLE sso_connections (
    tenant_id     UUID NOT NULL,
    id            UUID NOT NULL,
    issuer        TEXT NOT NULL,
    client_id     TEXT NOT NULL,
    client_secret TEXT,
    default_role  TEXT NOT NULL CHECK (default_role IN ('admin', 'manager', 'staff')),
    required      BOOLEAN NOT NULL DEFAULT false,
    worked_at     TIMESTAMPTZ,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id)
);
SELECT app_tenant_table('sso_connections');
DO $$
BEGIN
    ALTER TABLE sso_connections
        ADD FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE;
END
$$;

-- The email domains tenants claim for single sign-on. Global: the sign-in
-- page finds a domain's tenant before any tenant is known, and a domain is
-- verified for one tenant at most (the partial unique index), while any
-- tenant may have a claim waiting. A claim is proven by following the link
-- mailed to one of the domain's administrative addresses (`sent_to`; only
-- the digest of its token is kept) or by a super-admin (`verified_by`).
CREATE TABLE sso_domains (
    tenant       UUID NOT NULL,
    domain       TEXT NOT NULL,
    sent_to      TEXT,
    token_digest TEXT UNIQUE,
    expires_at   BIGINT,
    verified_at  TIMESTAMPTZ,
    verified_by  TEXT,
    created_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant, domain)
);

CREATE UNIQUE INDEX sso_domains_verified ON sso_domains (domain) WHERE verified_at IS NOT NULL;

-- The key after the table, in a DO block (docs/scaling-out.md, "Adding a
-- migration later"); tenant scopes don't touch the table.
DO $$
BEGIN
    ALTER TABLE sso_domains
        ADD FOREIGN KEY (tenant) REFERENCES tenants (id) ON DELETE CASCADE;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'app_tenant') THEN
        REVOKE ALL ON sso_domains FROM app_tenant;
    END IF;
END
$$;
