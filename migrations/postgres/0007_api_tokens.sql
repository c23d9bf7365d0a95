-- API tokens (tenant-owned): programmatic access to one tenant's API, sent
-- as `Authorization: Bearer <token>`. Only the SHA-256 digest of the token
-- is kept; the token itself is shown once. A token acts with its role,
-- never above its creator's current one, and sees the locations its
-- creator's membership sees; removing the creator from the tenant deletes
-- their tokens. Revoked tokens are kept (revoked_at) for the record.
CREATE TABLE api_tokens (
    tenant_id     UUID NOT NULL,
    id            UUID NOT NULL,
    name          TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    role          TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'manager', 'staff')),
    token_digest  TEXT NOT NULL,
    membership_id UUID NOT NULL,
    last_used_at  TIMESTAMPTZ,
    revoked_at    TIMESTAMPTZ,
    created_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, token_digest),
    FOREIGN KEY (tenant_id, membership_id) REFERENCES memberships (tenant_id, id) ON DELETE CASCADE
);

CREATE INDEX api_tokens_membership ON api_tokens (tenant_id, membership_id);

ALTER TABLE api_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE api_tokens FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON api_tokens
    USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY all_tenants ON api_tokens
    USING (current_setting('app.all_tenants', true) = 'on')
    WITH CHECK (current_setting('app.all_tenants', true) = 'on');
