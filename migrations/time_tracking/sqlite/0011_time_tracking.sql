-- Time tracking (src/modules/time_tracking): employees, kiosk devices,
-- punches and the tamper-evident log. Every table is
-- tenant-owned and keeps the rules of 0002_tenancy.sql.

-- Per tenant: the shift cap and the head of the log's hash chain (one row,
-- created on first use; locking it serialises appends to the chain).
CREATE TABLE time_tracking_settings (
    tenant_id          TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id                 TEXT NOT NULL,
    -- A shift open longer than this counts as closed at the cap.
    shift_cap_minutes  INTEGER NOT NULL DEFAULT 720 CHECK (shift_cap_minutes BETWEEN 60 AND 1440),
    log_seq            INTEGER NOT NULL DEFAULT 0,
    log_hash           TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id)
);

CREATE TABLE employees (
    tenant_id         TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id                TEXT NOT NULL,
    name              TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    employee_number   TEXT NOT NULL CHECK (length(employee_number) BETWEEN 1 AND 30),
    -- Read and written only through employees::national_id (encrypted by a
    -- later migration).
    national_id       TEXT NOT NULL DEFAULT '',
    hire_date         TEXT NOT NULL,
    leave_date        TEXT,
    weekly_minutes    INTEGER NOT NULL DEFAULT 0 CHECK (weekly_minutes BETWEEN 0 AND 10080),
    hourly_rate_cents INTEGER NOT NULL DEFAULT 0 CHECK (hourly_rate_cents >= 0),
    active            BOOLEAN NOT NULL DEFAULT 1,
    -- The member account of the employee, who then sees their own records.
    membership_id     TEXT,
    created_at        TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, employee_number),
    UNIQUE (tenant_id, membership_id)
);

-- SQLite's SET NULL would clear tenant_id too: unlink by trigger instead.
CREATE TRIGGER employees_unlink_membership AFTER DELETE ON memberships BEGIN
    UPDATE employees SET membership_id = NULL
    WHERE tenant_id = OLD.tenant_id AND membership_id = OLD.id;
END;

CREATE INDEX employees_list ON employees (tenant_id, active, lower(name));

-- Where an employee works, with the keyed hash of their PIN (the same for
-- each of their locations; NULL while inactive). The unique index makes a
-- PIN unique among a location's active employees and is the punch's one
-- indexed lookup.
CREATE TABLE employee_locations (
    tenant_id   TEXT NOT NULL,
    id          TEXT NOT NULL,
    employee_id TEXT NOT NULL,
    location_id TEXT NOT NULL,
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
    tenant_id          TEXT NOT NULL,
    id                 TEXT NOT NULL,
    location_id        TEXT NOT NULL,
    name               TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    pairing_digest     TEXT,
    pairing_expires_at TEXT,
    token_digest       TEXT,
    paired_at          TEXT,
    last_seen_at       TEXT,
    revoked_at         TEXT,
    created_at         TEXT NOT NULL,
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
    tenant_id     TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id            TEXT NOT NULL,
    client_id     TEXT NOT NULL,
    location_id   TEXT NOT NULL,
    device_id     TEXT,
    employee_id   TEXT,
    kind          TEXT NOT NULL CHECK (kind IN ('in', 'out')),
    -- The device's time (the moment the punch counts for) and the server's.
    at            TEXT NOT NULL,
    received_at   TEXT NOT NULL,
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
    tenant_id  TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id         TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    kind       TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    content    TEXT NOT NULL,
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, seq)
);

CREATE INDEX time_log_subject ON time_log (tenant_id, subject_id);

-- The log is append-only: changes and deletions are refused, except the
-- deletion of a whole tenant, whose entries go with it (the tenant row is
-- gone by then).
CREATE TRIGGER time_log_no_update BEFORE UPDATE ON time_log BEGIN
    SELECT RAISE(ABORT, 'time_log is append-only: entries are never changed or deleted');
END;

CREATE TRIGGER time_log_no_delete BEFORE DELETE ON time_log
WHEN EXISTS (SELECT 1 FROM tenants WHERE id = OLD.tenant_id) BEGIN
    SELECT RAISE(ABORT, 'time_log is append-only: entries are never changed or deleted');
END;
