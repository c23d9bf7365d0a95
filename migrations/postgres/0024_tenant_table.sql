-- One call makes a table tenant-owned on PostgreSQL, the way every tenant
-- table so far was made by hand: Row-Level Security enabled and forced (so
-- it binds the table's owner too), the one policy of 0023, and the scope
-- role's rights (0019: every DML right, or fewer where `rights` says so, as
-- for append-only records). A migration that creates a tenant-owned table
-- ends with `SELECT app_tenant_table('notes');` (docs/tenancy.md,
-- "Adding a tenant-owned resource").
CREATE FUNCTION app_tenant_table(
    tbl regclass,
    rights text DEFAULT 'SELECT, INSERT, UPDATE, DELETE'
) RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    IF rights !~ '^(SELECT|INSERT|UPDATE|DELETE)(, (SELECT|INSERT|UPDATE|DELETE))*$' THEN
        RAISE EXCEPTION 'app_tenant_table(%): rights must be a list of SELECT, INSERT, UPDATE, DELETE, not "%"', tbl, rights;
    END IF;
    EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', tbl);
    EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', tbl);
    EXECUTE format($p$CREATE POLICY tenant_isolation ON %s
        USING (tenant_id BETWEEN app_scope_first() AND app_scope_last())
        WITH CHECK (tenant_id BETWEEN app_scope_first() AND app_scope_last())$p$, tbl);
    -- Managed hosts may have no scope role (0001): RLS alone binds there.
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'app_tenant') THEN
        EXECUTE format('GRANT %s ON %s TO app_tenant', rights, tbl);
    END IF;
END
$$;

-- Only migrations (the database's owner) call it.
REVOKE EXECUTE ON FUNCTION app_tenant_table(regclass, text) FROM PUBLIC;
