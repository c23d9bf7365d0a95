-- Invitations (tenant-owned): an owner or admin invites an email with a
-- role and, for managers and staff, locations. The emailed link carries a
-- random token; only its SHA-256 digest is kept. Pending while accepted_at
-- is NULL; revoking deletes the row; resending replaces the token (the old
-- link stops working) and the expiry (unix seconds).
CREATE TABLE invitations (
    tenant_id    TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id           TEXT NOT NULL,
    email        TEXT NOT NULL,
    role         TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'manager', 'staff')),
    token_digest TEXT NOT NULL,
    invited_by   TEXT REFERENCES users (id) ON DELETE SET NULL,
    expires_at   INTEGER NOT NULL,
    accepted_at  TEXT,
    accepted_by  TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_at   TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, token_digest)
);

-- One pending invitation per email and tenant.
CREATE UNIQUE INDEX invitations_pending_email ON invitations (tenant_id, email)
    WHERE accepted_at IS NULL;

-- The locations a manager or staff member will work at once they accept.
CREATE TABLE invitation_locations (
    tenant_id     TEXT NOT NULL,
    id            TEXT NOT NULL,
    invitation_id TEXT NOT NULL,
    location_id   TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, invitation_id, location_id),
    FOREIGN KEY (tenant_id, invitation_id) REFERENCES invitations (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, location_id) REFERENCES locations (tenant_id, id) ON DELETE CASCADE
);

CREATE INDEX invitation_locations_location ON invitation_locations (tenant_id, location_id);
