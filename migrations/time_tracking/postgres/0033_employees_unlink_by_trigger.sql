-- A removed member's employee is unlinked by a trigger, as on SQLite
-- (0011), instead of by the foreign key's ON DELETE SET NULL (membership_id):
-- Citus refuses SET NULL on a foreign key that includes the distribution
-- column, so that key kept `citus-distribute` from sharding employees. The
-- app checks that a new link names a member of the tenant, and locks that
-- member until the employee is written (employees::check_references).
ALTER TABLE employees DROP CONSTRAINT employees_tenant_id_membership_id_fkey;

CREATE FUNCTION employees_unlink_membership() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE employees SET membership_id = NULL
    WHERE tenant_id = OLD.tenant_id AND membership_id = OLD.id;
    RETURN NULL;
END
$$;

-- On a distributed database Citus refuses a trigger without this; the
-- trigger then runs on each shard of memberships, beside the co-located
-- shard of employees it updates. Plain PostgreSQL keeps it as a harmless
-- placeholder setting.
SET LOCAL citus.enable_unsafe_triggers = on;

CREATE TRIGGER employees_unlink_membership AFTER DELETE ON memberships
    FOR EACH ROW EXECUTE FUNCTION employees_unlink_membership();
