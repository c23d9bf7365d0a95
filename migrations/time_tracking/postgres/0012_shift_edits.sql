-- Edits to shifts and correction requests (src/modules/time_tracking/shifts).
-- Shifts are derived from punches, so an edit never changes one: it adds
-- punches (punches.edit_id) and voids others (punch_voids), and keeps the
-- shift before and after, with its reason. Nothing here is ever deleted but
-- with its tenant.

-- A staff member's request to correct their own record.
CREATE TABLE correction_requests (
    tenant_id     UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id            UUID NOT NULL,
    employee_id   UUID NOT NULL,
    -- The shift it is about (its first punch), if any: a forgotten shift has none.
    shift_id      UUID,
    day           DATE NOT NULL,
    message       TEXT NOT NULL CHECK (length(message) BETWEEN 1 AND 1000),
    requested_by  UUID NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    -- 'open' until an edit resolves it or a manager dismisses it.
    status        TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved', 'dismissed')),
    closed_by     UUID,
    closed_at     TIMESTAMPTZ,
    -- Why it was dismissed.
    closing_note  TEXT,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, employee_id) REFERENCES employees (tenant_id, id)
);

CREATE INDEX correction_requests_open ON correction_requests (tenant_id, status, created_at);

CREATE TABLE shift_edits (
    tenant_id     UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id            UUID NOT NULL,
    employee_id   UUID NOT NULL,
    location_id   UUID NOT NULL,
    action        TEXT NOT NULL CHECK (action IN ('add', 'correct', 'delete')),
    reason        TEXT NOT NULL CHECK (length(reason) BETWEEN 1 AND 500),
    -- The shift as JSON: NULL before an addition, and after a deletion.
    before        TEXT,
    after         TEXT,
    -- The user who made it (kept when they leave the tenant).
    edited_by     UUID NOT NULL,
    correction_request_id UUID,
    created_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, employee_id) REFERENCES employees (tenant_id, id),
    FOREIGN KEY (tenant_id, location_id) REFERENCES locations (tenant_id, id),
    FOREIGN KEY (tenant_id, correction_request_id) REFERENCES correction_requests (tenant_id, id)
);

CREATE INDEX shift_edits_feed ON shift_edits (tenant_id, created_at);

-- Punches an edit added carry its id (and no device).
ALTER TABLE punches ADD COLUMN edit_id UUID;
ALTER TABLE punches ADD FOREIGN KEY (tenant_id, edit_id) REFERENCES shift_edits (tenant_id, id);

-- Punches an edit took out of the record: still there, no longer counted.
CREATE TABLE punch_voids (
    tenant_id  UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id         UUID NOT NULL,
    punch_id   UUID NOT NULL,
    edit_id    UUID NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, punch_id),
    FOREIGN KEY (tenant_id, punch_id) REFERENCES punches (tenant_id, id),
    FOREIGN KEY (tenant_id, edit_id) REFERENCES shift_edits (tenant_id, id)
);

DO $$
DECLARE
    tbl TEXT;
BEGIN
    FOREACH tbl IN ARRAY ARRAY['correction_requests', 'shift_edits', 'punch_voids']
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
