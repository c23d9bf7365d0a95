-- app_tenant_table() (0024) learns Citus. On a database `citus-distribute`
-- has sharded, a table created by a later migration would stay on the
-- coordinator, and Citus refuses a key from such a table to a distributed
-- one, so the migration would fail at its first foreign key. The function
-- now distributes the new table first, on tenant_id, co-located with the
-- other tenant-owned tables (and in Citus' sequential mode, which its keys
-- to the reference table `tenants` need in the same transaction); the
-- migration then adds the table's foreign keys after the call, in a DO
-- block (docs/scaling-out.md, "Adding a migration later"). On plain
-- PostgreSQL, and before `citus-distribute` has run, nothing changes.
CREATE OR REPLACE FUNCTION app_tenant_table(
    tbl regclass,
    rights text DEFAULT 'SELECT, INSERT, UPDATE, DELETE'
) RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    sharded boolean := false;
    -- By name: distributing a table Citus already manages (one created with
    -- a key to `tenants` inline is on the coordinator) makes it anew, under
    -- another oid.
    target text := tbl::text;
BEGIN
    IF rights !~ '^(SELECT|INSERT|UPDATE|DELETE)(, (SELECT|INSERT|UPDATE|DELETE))*$' THEN
        RAISE EXCEPTION 'app_tenant_table(%): rights must be a list of SELECT, INSERT, UPDATE, DELETE, not "%"', tbl, rights;
    END IF;
    -- Citus' catalog exists only with the extension: read it by name.
    IF to_regclass('pg_dist_partition') IS NOT NULL THEN
        EXECUTE 'SELECT EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = ''locations''::regclass)'
            INTO sharded;
    END IF;
    IF sharded THEN
        PERFORM set_config('citus.multi_shard_modify_mode', 'sequential', true);
        PERFORM create_distributed_table(target, 'tenant_id', colocate_with => 'locations');
    END IF;
    EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', target);
    EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', target);
    EXECUTE format($p$CREATE POLICY tenant_isolation ON %s
        USING (tenant_id BETWEEN app_scope_first() AND app_scope_last())
        WITH CHECK (tenant_id BETWEEN app_scope_first() AND app_scope_last())$p$, target);
    -- Managed hosts may have no scope role (0001): RLS alone binds there.
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'app_tenant') THEN
        EXECUTE format('GRANT %s ON %s TO app_tenant', rights, target);
    END IF;
END
$$;
