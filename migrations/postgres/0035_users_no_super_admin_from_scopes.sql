-- Citus writes a column's default into the statement it sends to a shard,
-- so a scope's INSERT into users names is_super_admin there (false), which
-- the scope role's column grant (0003, 0019: id, email, password_hash,
-- created_at) refuses: signup and invitations failed on Citus. The scope
-- role may now name is_super_admin too, and a policy refuses a row that
-- makes a super-admin, which is what leaving the column out kept from it.
-- The table's owner is not bound (no FORCE): operators' paths are unchanged.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'app_tenant') THEN
        GRANT INSERT (is_super_admin) ON users TO app_tenant;
        ALTER TABLE users ENABLE ROW LEVEL SECURITY;
        CREATE POLICY scopes_read ON users FOR SELECT TO app_tenant USING (true);
        CREATE POLICY scopes_add_no_super_admin ON users FOR INSERT TO app_tenant
            WITH CHECK (NOT is_super_admin);
    END IF;
END
$$;
