-- Tenancy: tenants and users (global), memberships, locations and location
-- grants (tenant-owned). The rules every tenant-owned table keeps, checked
-- against the live catalog by the test suite (tests/app/tenancy_schema.rs):
--   * tenant_id NOT NULL, primary key (tenant_id, id);
--   * foreign keys to other tenant-owned tables are composite, so a row can
--     never point at another tenant's row;
--   * every unique constraint and index leads with tenant_id;
--   * Row-Level Security enabled and forced, with the policies below.
-- These are also what Citus needs to distribute the tables by tenant_id.

-- Global ---------------------------------------------------------------------

CREATE TABLE tenants (
    id         UUID PRIMARY KEY,
    name       TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    -- Immutable once created: it is in every URL and link of the tenant.
    slug       TEXT NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$'),
    time_zone  TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE users (
    id             UUID PRIMARY KEY,
    email          TEXT NOT NULL,
    is_super_admin BOOLEAN NOT NULL DEFAULT false,
    created_at     TIMESTAMPTZ NOT NULL
);

CREATE UNIQUE INDEX users_email ON users (lower(email));

-- Every use of all_tenants_unsafe(): who, why, when.
CREATE TABLE super_admin_audit (
    id            UUID PRIMARY KEY,
    actor_user_id UUID REFERENCES users (id) ON DELETE SET NULL,
    actor         TEXT NOT NULL,
    reason        TEXT NOT NULL CHECK (length(btrim(reason)) > 0),
    created_at    TIMESTAMPTZ NOT NULL
);

CREATE INDEX super_admin_audit_created_at ON super_admin_audit (created_at);

-- Tenant-owned ---------------------------------------------------------------

CREATE TABLE memberships (
    tenant_id  UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id         UUID NOT NULL,
    user_id    UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role       TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'manager', 'staff')),
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, user_id)
);

CREATE TABLE locations (
    tenant_id   UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id          UUID NOT NULL,
    name        TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    address     TEXT NOT NULL DEFAULT '',
    time_zone   TEXT NOT NULL,
    archived_at TIMESTAMPTZ,
    created_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

-- Names are unique among a tenant's active locations; an archived name can
-- be used again.
CREATE UNIQUE INDEX locations_active_name ON locations (tenant_id, lower(name))
    WHERE archived_at IS NULL;

-- The list order (active first, by name), so a page is read off the index.
CREATE INDEX locations_list ON locations (tenant_id, (archived_at IS NOT NULL), lower(name), id);

-- Which locations a manager or staff member works at. The role itself lives
-- on the membership.
CREATE TABLE location_grants (
    tenant_id     UUID NOT NULL,
    id            UUID NOT NULL,
    membership_id UUID NOT NULL,
    location_id   UUID NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, membership_id, location_id),
    FOREIGN KEY (tenant_id, membership_id) REFERENCES memberships (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, location_id) REFERENCES locations (tenant_id, id) ON DELETE CASCADE
);

CREATE INDEX location_grants_location ON location_grants (tenant_id, location_id);

-- Row-Level Security -----------------------------------------------------------
--
-- A tenant scope sends, as one simple query:
--   BEGIN; SET LOCAL citus.propagate_set_commands = 'local';
--   SET LOCAL ROLE app_tenant;            -- only when the app's user bypasses RLS
--   SET LOCAL app.tenant_id = '<uuid>';
-- current_setting(…, true) is '' (not NULL) once a transaction-local setting
-- has ended on a pooled connection, hence the nullif: no tenant, no rows.
--
-- all_tenants_unsafe() sets app.all_tenants = 'on' instead (after writing its
-- audit entry); a user scope sets app.user_id, which shows that user's own
-- memberships in every tenant (the tenant switcher) and nothing else.

ALTER TABLE memberships ENABLE ROW LEVEL SECURITY;
ALTER TABLE memberships FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON memberships
    USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY all_tenants ON memberships
    USING (current_setting('app.all_tenants', true) = 'on')
    WITH CHECK (current_setting('app.all_tenants', true) = 'on');
CREATE POLICY own_memberships ON memberships FOR SELECT
    USING (user_id = nullif(current_setting('app.user_id', true), '')::uuid);

ALTER TABLE locations ENABLE ROW LEVEL SECURITY;
ALTER TABLE locations FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON locations
    USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY all_tenants ON locations
    USING (current_setting('app.all_tenants', true) = 'on')
    WITH CHECK (current_setting('app.all_tenants', true) = 'on');

ALTER TABLE location_grants ENABLE ROW LEVEL SECURITY;
ALTER TABLE location_grants FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON location_grants
    USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY all_tenants ON location_grants
    USING (current_setting('app.all_tenants', true) = 'on')
    WITH CHECK (current_setting('app.all_tenants', true) = 'on');

-- tenants is global (every scope may read it: the slug lookup, the tenant
-- switcher), but a scope may only write its own row, so an UPDATE that forgot
-- its WHERE can't rename every tenant.
ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
CREATE POLICY readable ON tenants FOR SELECT USING (true);
CREATE POLICY tenant_isolation ON tenants
    USING (id = nullif(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (id = nullif(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY all_tenants ON tenants
    USING (current_setting('app.all_tenants', true) = 'on')
    WITH CHECK (current_setting('app.all_tenants', true) = 'on');

-- The scope role gets plain DML on new tables by default (0001). It has no
-- business changing users or the audit log: accounts are changed outside
-- tenant scopes, and audit entries are written before a scope opens. So a
-- scoped query gone wrong can't make someone a super-admin or erase the
-- trail. (Where the role doesn't exist, an ordinary owner runs the app.)
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'app_tenant') THEN
        REVOKE UPDATE, DELETE ON users FROM app_tenant;
        REVOKE INSERT, UPDATE, DELETE ON super_admin_audit FROM app_tenant;
    END IF;
END
$$;
