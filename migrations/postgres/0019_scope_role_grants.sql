-- Least privilege for the scope role: until now app_tenant had every DML
-- right on every table (default privileges), less a few revokes. From here
-- on it holds, table by table, only what tenant scopes (and the audited
-- all-tenants scope, which runs as it too) do, and a new table gets nothing
-- until its migration grants it. tests/app/row_level_security.rs lists the
-- grants it expects, so a change here is a change there.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'app_tenant') THEN
        ALTER DEFAULT PRIVILEGES IN SCHEMA public
            REVOKE SELECT, INSERT, UPDATE, DELETE ON TABLES FROM app_tenant;
        REVOKE ALL ON tenants, users, super_admin_audit, memberships, locations,
            location_grants, invitations, invitation_locations, api_tokens, sessions,
            jobs, periodic_runs, account_tokens, rate_limit_counters, recovery_codes,
            stripe_events, scheduled_runs, scheduled_effects
            FROM app_tenant;
        -- The organisation itself: created at signup and import, renamed and
        -- billed, deleted with everything it owns (the keys cascade).
        GRANT SELECT, INSERT, UPDATE, DELETE ON tenants TO app_tenant;
        -- Accounts are read (members' names and emails) and created by signup,
        -- invitations and import with these columns only: no privilege, no
        -- second factor, and never changed in a scope.
        GRANT SELECT ON users TO app_tenant;
        GRANT INSERT (id, email, password_hash, created_at) ON users TO app_tenant;
        -- The super-admin panel reads the audit log; it is written outside scopes.
        GRANT SELECT ON super_admin_audit TO app_tenant;
        GRANT SELECT, INSERT, UPDATE, DELETE
            ON memberships, locations, location_grants, invitations, invitation_locations, api_tokens
            TO app_tenant;
        -- Jobs are enqueued by the scope that causes them and run outside.
        GRANT INSERT ON jobs TO app_tenant;
        -- Per-tenant limits (invitation emails) are counted in the scope.
        GRANT SELECT, INSERT, UPDATE ON rate_limit_counters TO app_tenant;
        -- A webhook records its event in the scope it applies in.
        GRANT SELECT (id), INSERT ON stripe_events TO app_tenant;
        -- sessions, account_tokens, recovery_codes, periodic_runs,
        -- scheduled_runs and scheduled_effects: nothing (credentials and the
        -- queue's bookkeeping, outside scopes only).
    END IF;
END
$$;
