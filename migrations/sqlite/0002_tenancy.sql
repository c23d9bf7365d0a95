-- Tenancy: tenants and users (global), memberships, locations and location
-- grants (tenant-owned). Same shape as the PostgreSQL schema: tenant_id NOT
-- NULL, primary key (tenant_id, id), composite foreign keys, tenant_id
-- leading every unique constraint and index. SQLite has no Row-Level
-- Security: here the tenant scopes in the application are the only layer.

CREATE TABLE tenants (
    id         TEXT PRIMARY KEY NOT NULL,
    name       TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    slug       TEXT NOT NULL UNIQUE,
    time_zone  TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE users (
    id             TEXT PRIMARY KEY NOT NULL,
    email          TEXT NOT NULL,
    is_super_admin BOOLEAN NOT NULL DEFAULT 0,
    created_at     TEXT NOT NULL
);

CREATE UNIQUE INDEX users_email ON users (lower(email));

CREATE TABLE super_admin_audit (
    id            TEXT PRIMARY KEY NOT NULL,
    actor_user_id TEXT REFERENCES users (id) ON DELETE SET NULL,
    actor         TEXT NOT NULL,
    reason        TEXT NOT NULL CHECK (length(trim(reason)) > 0),
    created_at    TEXT NOT NULL
);

CREATE INDEX super_admin_audit_created_at ON super_admin_audit (created_at);

CREATE TABLE memberships (
    tenant_id  TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id         TEXT NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role       TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'manager', 'staff')),
    created_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, user_id)
);

CREATE TABLE locations (
    tenant_id   TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id          TEXT NOT NULL,
    name        TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    address     TEXT NOT NULL DEFAULT '',
    time_zone   TEXT NOT NULL,
    archived_at TEXT,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE UNIQUE INDEX locations_active_name ON locations (tenant_id, lower(name))
    WHERE archived_at IS NULL;

-- The list order (active first, by name), so a page is read off the index.
CREATE INDEX locations_list ON locations (tenant_id, (archived_at IS NOT NULL), lower(name), id);

CREATE TABLE location_grants (
    tenant_id     TEXT NOT NULL,
    id            TEXT NOT NULL,
    membership_id TEXT NOT NULL,
    location_id   TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, membership_id, location_id),
    FOREIGN KEY (tenant_id, membership_id) REFERENCES memberships (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, location_id) REFERENCES locations (tenant_id, id) ON DELETE CASCADE
);

CREATE INDEX location_grants_location ON location_grants (tenant_id, location_id);
