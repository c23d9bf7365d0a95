-- API tokens (tenant-owned): programmatic access to one tenant's API, sent
-- as `Authorization: Bearer <token>`. Only the SHA-256 digest of the token
-- is kept; the token itself is shown once. A token acts with its role,
-- never above its creator's current one, and sees the locations its
-- creator's membership sees; removing the creator from the tenant deletes
-- their tokens. Revoked tokens are kept (revoked_at) for the record.
CREATE TABLE api_tokens (
    tenant_id     TEXT NOT NULL,
    id            TEXT NOT NULL,
    name          TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    role          TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'manager', 'staff')),
    token_digest  TEXT NOT NULL,
    membership_id TEXT NOT NULL,
    last_used_at  TEXT,
    revoked_at    TEXT,
    created_at    TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, token_digest),
    FOREIGN KEY (tenant_id, membership_id) REFERENCES memberships (tenant_id, id) ON DELETE CASCADE
);

CREATE INDEX api_tokens_membership ON api_tokens (tenant_id, membership_id);
