-- Invitations (tenant-owned): an owner or admin invites an email with a
-- role and, for managers and staff, locations. The emailed link carries a
-- random token; only its SHA-256 digest is kept. Pending while accepted_at
-- is NULL; revoking deletes the row; resending replaces the token (the old
-- link stops working) and the expiry (unix seconds).
CREATE TABLE invitations (
    tenant_id    UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id           UUID NOT NULL,
    email        TEXT NOT NULL,
    role         TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'manager', 'staff')),
    token_digest TEXT NOT NULL,
    invited_by   UUID REFERENCES users (id) ON DELETE SET NULL,
    expires_at   BIGINT NOT NULL,
    accepted_at  TIMESTAMPTZ,
    accepted_by  UUID REFERENCES users (id) ON DELETE SET NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, token_digest)
);

-- One pending invitation per email and tenant.
CREATE UNIQUE INDEX invitations_pending_email ON invitations (tenant_id, email)
    WHERE accepted_at IS NULL;

-- The locations a manager or staff member will work at once they accept.
CREATE TABLE invitation_locations (
    tenant_id     UUID NOT NULL,
    id            UUID NOT NULL,
    invitation_id UUID NOT NULL,
    location_id   UUID NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, invitation_id, location_id),
    FOREIGN KEY (tenant_id, invitation_id) REFERENCES invitations (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, location_id) REFERENCES locations (tenant_id, id) ON DELETE CASCADE
);

CREATE INDEX invitation_locations_location ON invitation_locations (tenant_id, location_id);

ALTER TABLE invitations ENABLE ROW LEVEL SECURITY;
ALTER TABLE invitations FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON invitations
    USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY all_tenants ON invitations
    USING (current_setting('app.all_tenants', true) = 'on')
    WITH CHECK (current_setting('app.all_tenants', true) = 'on');

ALTER TABLE invitation_locations ENABLE ROW LEVEL SECURITY;
ALTER TABLE invitation_locations FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON invitation_locations
    USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY all_tenants ON invitation_locations
    USING (current_setting('app.all_tenants', true) = 'on')
    WITH CHECK (current_setting('app.all_tenants', true) = 'on');
