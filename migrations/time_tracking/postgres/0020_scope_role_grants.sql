-- Time tracking's tables, table by table, for the scope role (see the
-- core's 0019): records that must not change once written (punches, their
-- voids, edits and the log) are insert-only; PINs and settings are updated;
-- only calendars, absences and location overrides are deleted.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'app_tenant') THEN
        REVOKE ALL ON time_tracking_settings, employees, employee_locations, kiosk_devices,
            punches, punch_voids, shift_edits, time_log, correction_requests,
            location_pay_rules, holidays, absences
            FROM app_tenant;
        GRANT SELECT, INSERT ON punches, punch_voids, shift_edits, time_log TO app_tenant;
        GRANT SELECT, INSERT, UPDATE
            ON time_tracking_settings, employees, kiosk_devices, correction_requests
            TO app_tenant;
        GRANT SELECT, INSERT, UPDATE, DELETE
            ON employee_locations, location_pay_rules, holidays, absences
            TO app_tenant;
    END IF;
END
$$;
