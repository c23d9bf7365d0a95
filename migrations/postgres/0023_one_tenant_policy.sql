-- One policy per tenant-owned table, which PostgreSQL can use as an index
-- condition. Until now each table had two permissive policies, the
-- tenant's (tenant_id = app.tenant_id) and the audited escape hatch's
-- (app.all_tenants = 'on'), and PostgreSQL ORs permissive policies: an OR
-- of a row condition and a constant is no index condition, so a prepared
-- query's generic plan filtered every row of the tenant by it, and, its
-- row estimate thrown off, sorted them all instead of reading the ordered
-- index. On a tenant of 1,000 locations (others of 200) the locations list
-- took 1.5 ms in PostgreSQL instead of 0.07 ms, and the app served 1,575
-- requests a second instead of 3,900 (tenancy_rls bench, docs/measured.md).
--
-- Now a scope reaches a closed range of tenant ids: its tenant's id twice,
-- or, in the all-tenants scope, every id. `tenant_id BETWEEN first AND
-- last` is a condition on the column every index leads with, on values
-- fixed for the statement, so it is an index condition. Without either
-- setting both ends are NULL: no rows, as before. The functions are plain
-- SQL and STABLE, so the planner inlines them.
CREATE FUNCTION app_scope_first() RETURNS UUID
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT CASE WHEN current_setting('app.all_tenants', true) = 'on'
                THEN '00000000-0000-0000-0000-000000000000'::uuid
                ELSE nullif(current_setting('app.tenant_id', true), '')::uuid END
$$;

CREATE FUNCTION app_scope_last() RETURNS UUID
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT CASE WHEN current_setting('app.all_tenants', true) = 'on'
                THEN 'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid
                ELSE nullif(current_setting('app.tenant_id', true), '')::uuid END
$$;

-- Every table with the two policies, whichever migration made it (the
-- core's and the modules'): tenants is keyed by id, the others by
-- tenant_id.
DO $$
DECLARE
    tbl TEXT;
    col TEXT;
BEGIN
    FOR tbl IN SELECT tablename FROM pg_policies
               WHERE schemaname = 'public' AND policyname = 'all_tenants'
    LOOP
        col := CASE WHEN tbl = 'tenants' THEN 'id' ELSE 'tenant_id' END;
        EXECUTE format('DROP POLICY all_tenants ON %I', tbl);
        EXECUTE format('DROP POLICY tenant_isolation ON %I', tbl);
        EXECUTE format($p$CREATE POLICY tenant_isolation ON %I
            USING (%I BETWEEN app_scope_first() AND app_scope_last())
            WITH CHECK (%I BETWEEN app_scope_first() AND app_scope_last())$p$, tbl, col, col);
    END LOOP;
END
$$;
