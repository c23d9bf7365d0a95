-- Pay (src/modules/time_tracking/pay, holidays, absences): the tenant's pay
-- rules and each location's own, public holidays by location, and paid
-- absences. Every table is tenant-owned and keeps the rules of
-- 0002_tenancy.sql.

-- The tenant's pay rules (a location without its own uses these). A NULL
-- threshold: no daily (weekly) limit. The defaults are Spain's statutory
-- maxima of ordinary time (9 h a day, 40 h a week): review them.
ALTER TABLE time_tracking_settings
    ADD COLUMN daily_overtime_minutes  INTEGER DEFAULT 540 CHECK (daily_overtime_minutes BETWEEN 1 AND 1440),
    ADD COLUMN weekly_overtime_minutes INTEGER DEFAULT 2400 CHECK (weekly_overtime_minutes BETWEEN 1 AND 10080),
    ADD COLUMN overtime_percent        INTEGER NOT NULL DEFAULT 125 CHECK (overtime_percent BETWEEN 100 AND 1000),
    ADD COLUMN sunday_holiday_percent  INTEGER NOT NULL DEFAULT 175 CHECK (sunday_holiday_percent BETWEEN 100 AND 1000);

-- A location's own pay rules, whole: without a row it uses the tenant's.
CREATE TABLE location_pay_rules (
    tenant_id               UUID NOT NULL,
    id                      UUID NOT NULL,
    location_id             UUID NOT NULL,
    daily_overtime_minutes  INTEGER CHECK (daily_overtime_minutes BETWEEN 1 AND 1440),
    weekly_overtime_minutes INTEGER CHECK (weekly_overtime_minutes BETWEEN 1 AND 10080),
    overtime_percent        INTEGER NOT NULL CHECK (overtime_percent BETWEEN 100 AND 1000),
    sunday_holiday_percent  INTEGER NOT NULL CHECK (sunday_holiday_percent BETWEEN 100 AND 1000),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, location_id),
    FOREIGN KEY (tenant_id, location_id) REFERENCES locations (tenant_id, id) ON DELETE CASCADE
);

-- A location's public holidays: worked time on them is Sunday/holiday time,
-- and they are not working days in the forecast.
CREATE TABLE holidays (
    tenant_id   UUID NOT NULL,
    id          UUID NOT NULL,
    location_id UUID NOT NULL,
    day         DATE NOT NULL,
    name        TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, location_id, day),
    FOREIGN KEY (tenant_id, location_id) REFERENCES locations (tenant_id, id) ON DELETE CASCADE
);

-- Paid leave: an employee's hours of vacation, sickness or other paid
-- absence on one day (at most one entry a day).
CREATE TABLE absences (
    tenant_id   UUID NOT NULL,
    id          UUID NOT NULL,
    employee_id UUID NOT NULL,
    day         DATE NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('vacation', 'sick', 'other')),
    minutes     INTEGER NOT NULL CHECK (minutes BETWEEN 1 AND 1440),
    note        TEXT NOT NULL DEFAULT '' CHECK (length(note) <= 200),
    -- The user who recorded it (kept when they leave the tenant).
    recorded_by UUID NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, employee_id, day),
    FOREIGN KEY (tenant_id, employee_id) REFERENCES employees (tenant_id, id) ON DELETE CASCADE
);

CREATE INDEX absences_day ON absences (tenant_id, day);

DO $$
DECLARE
    tbl TEXT;
BEGIN
    FOREACH tbl IN ARRAY ARRAY['location_pay_rules', 'holidays', 'absences']
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
