-- Time tracking (src/modules/time_tracking): employees, kiosk devices,
-- punches and the tamper-evident log. Every table is
-- tenant-owned and keeps the rules of 0002_tenancy.sql.

-- Per tenant: the shift cap and the head of the log's hash chain (one row,
-- created on first use; locking it serialises appends to the chain).
CREATE TABLE time_tracking_settings (
    tenant_id          UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id                 UUID NOT NULL,
    -- A shift open longer than this counts as closed at the cap.
    shift_cap_minutes  INTEGER NOT NULL DEFAULT 720 CHECK (shift_cap_minutes BETWEEN 60 AND 1440),
    log_seq            BIGINT NOT NULL DEFAULT 0,
    log_hash           TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id)
);

CREATE TABLE employees (
    tenant_id         UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id                UUID NOT NULL,
    name              TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    employee_number   TEXT NOT NULL CHECK (length(employee_number) BETWEEN 1 AND 30),
    -- Read and written only through employees::national_id (encrypted by a
    -- later migration).
    national_id       TEXT NOT NULL DEFAULT '',
    hire_date         DATE NOT NULL,
    leave_date        DATE,
    weekly_minutes    INTEGER NOT NULL DEFAULT 0 CHECK (weekly_minutes BETWEEN 0 AND 10080),
    hourly_rate_cents BIGINT NOT NULL DEFAULT 0 CHECK (hourly_rate_cents >= 0),
    active            BOOLEAN NOT NULL DEFAULT true,
    -- The member account of the employee, who then sees their own records.
    membership_id     UUID,
    created_at        TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, employee_number),
    UNIQUE (tenant_id, membership_id),
    FOREIGN KEY (tenant_id, membership_id) REFERENCES memberships (tenant_id, id)
        ON DELETE SET NULL (membership_id)
);

CREATE INDEX employees_list ON employees (tenant_id, active, lower(name));

-- Where an employee works, with the keyed hash of their PIN (the same for
-- each of their locations; NULL while inactive). The unique index makes a
-- PIN unique among a location's active employees and is the punch's one
-- indexed lookup.
CREATE TABLE employee_locations (
    tenant_id   UUID NOT NULL,
    id          UUID NOT NULL,
    employee_id UUID NOT NULL,
    location_id UUID NOT NULL,
    pin_digest  TEXT,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, employee_id, location_id),
    UNIQUE (tenant_id, location_id, pin_digest),
    FOREIGN KEY (tenant_id, employee_id) REFERENCES employees (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, location_id) REFERENCES locations (tenant_id, id) ON DELETE CASCADE
);

-- A tablet paired with one location. The pairing code is one-time and
-- short-lived; the device token is long-lived until revoked. Only digests
-- are kept.
CREATE TABLE kiosk_devices (
    tenant_id          UUID NOT NULL,
    id                 UUID NOT NULL,
    location_id        UUID NOT NULL,
    name               TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    pairing_digest     TEXT,
    pairing_expires_at TIMESTAMPTZ,
    token_digest       TEXT,
    paired_at          TIMESTAMPTZ,
    last_seen_at       TIMESTAMPTZ,
    revoked_at         TIMESTAMPTZ,
    created_at         TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, pairing_digest),
    UNIQUE (tenant_id, token_digest),
    FOREIGN KEY (tenant_id, location_id) REFERENCES locations (tenant_id, id) ON DELETE CASCADE
);

-- Every punch a kiosk sent, whatever its outcome, under its client id: a
-- replay finds the row and answers as the first time. Shifts are derived
-- from the recorded punches. Records go only with their
-- tenant: deleting an employee or a location that has any is refused.
CREATE TABLE punches (
    tenant_id     UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id            UUID NOT NULL,
    client_id     UUID NOT NULL,
    location_id   UUID NOT NULL,
    device_id     UUID,
    employee_id   UUID,
    kind          TEXT NOT NULL CHECK (kind IN ('in', 'out')),
    -- The device's time (the moment the punch counts for) and the server's.
    at            TIMESTAMPTZ NOT NULL,
    received_at   TIMESTAMPTZ NOT NULL,
    -- 'recorded', or why not (the error code a replay answers with).
    outcome       TEXT NOT NULL,
    message       TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, client_id),
    FOREIGN KEY (tenant_id, location_id) REFERENCES locations (tenant_id, id),
    FOREIGN KEY (tenant_id, device_id) REFERENCES kiosk_devices (tenant_id, id),
    FOREIGN KEY (tenant_id, employee_id) REFERENCES employees (tenant_id, id)
);

CREATE INDEX punches_employee_at ON punches (tenant_id, employee_id, at);
CREATE INDEX punches_location_at ON punches (tenant_id, location_id, at);

-- The tamper-evident log: each entry's hash covers its content and the
-- previous entry's hash. Content names people and rows by id only.
CREATE TABLE time_log (
    tenant_id  UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id         UUID NOT NULL,
    seq        BIGINT NOT NULL,
    kind       TEXT NOT NULL,
    subject_id UUID NOT NULL,
    content    TEXT NOT NULL,
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, seq)
);

CREATE INDEX time_log_subject ON time_log (tenant_id, subject_id);

DO $$
DECLARE
    tbl TEXT;
BEGIN
    FOREACH tbl IN ARRAY ARRAY['time_tracking_settings', 'employees', 'employee_locations',
                               'kiosk_devices', 'punches', 'time_log']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', tbl);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', tbl);
        EXECUTE format($p$CREATE POLICY tenant_isolation ON %I
            USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
            WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)$p$, tbl);
        EXECUTE format($p$CREATE POLICY all_tenants ON %I
            USING (current_setting('app.all_tenants', true) = 'on')
            WITH CHECK (current_setting('app.all_tenants', true) = 'on')$p$, tbl);
    END LOOP;
END
$$;

-- The log is append-only. The scope role may only add entries; and for
-- every role (an ordinary owner runs the app on managed hosts) a trigger
-- refuses changes and deletions, except the deletion of a whole tenant,
-- whose entries go with it (the tenant row is gone by then).
CREATE FUNCTION time_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND NOT EXISTS (SELECT 1 FROM tenants WHERE id = OLD.tenant_id) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'time_log is append-only: entries are never changed or deleted'
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER time_log_append_only BEFORE UPDATE OR DELETE ON time_log
    FOR EACH ROW EXECUTE FUNCTION time_log_append_only();

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'app_tenant') THEN
        REVOKE UPDATE, DELETE ON time_log FROM app_tenant;
    END IF;
END
$$;
