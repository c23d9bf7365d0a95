-- 0033 replaced the foreign key from employees to memberships by a trigger
-- (Citus refuses ON DELETE SET NULL on a key that includes the distribution
-- column). Two things the key did were lost with it:
--
-- * It cleared the link whatever the scope. The memberships of a deleted
--   account go by the cascade from users, outside any scope, which passes
--   over Row-Level Security; an AFTER trigger fires once the cascade is
--   done, under the deleting role's policies: for an ordinary owner, whom
--   FORCE binds, its UPDATE saw no tenant, and the employee kept the id of a
--   member gone. The trigger now fires BEFORE each delete, inside the
--   cascade, and so clears the link wherever the delete comes from.
-- * It refused a link to no member, whoever wrote it: the app checks its
--   own writes, but an imported archive was checked by nothing. The key is
--   back, without an action (Citus takes that): the trigger now clears the
--   link before the member goes, so the key finds nothing left to refuse.
--
-- Links an ordinary owner's deleted accounts left dangling are cleared
-- first, in every tenant; NOT VALID keeps the key from failing the
-- migration on any left (on Citus, as an ordinary owner: the setting stays
-- on the coordinator, since a propagated SET LOCAL would send the workers
-- this whole file).

-- A BEFORE trigger returns the row, or the delete is skipped. The UPDATE is
-- planned afresh each time (EXECUTE): PL/pgSQL would otherwise keep the
-- plan of its first run on the connection, policies and all, and PostgreSQL
-- replans only for another role, not for a cascade's exemption; an ordinary
-- owner's scope (the same role) would then leave its plan to the cascade.
CREATE OR REPLACE FUNCTION employees_unlink_membership() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE 'UPDATE employees SET membership_id = NULL WHERE tenant_id = $1 AND membership_id = $2'
        USING OLD.tenant_id, OLD.id;
    RETURN OLD;
END
$$;

-- Citus sends a change to a distributed table's shards as the text of the
-- statement it came in, and the workers refuse a text of several: each
-- change is a statement of its own inside the block.
SET LOCAL citus.enable_unsafe_triggers = on;
DO $$
BEGIN
    DROP TRIGGER employees_unlink_membership ON memberships;
    CREATE TRIGGER employees_unlink_membership BEFORE DELETE ON memberships
        FOR EACH ROW EXECUTE FUNCTION employees_unlink_membership();

    PERFORM set_config('app.all_tenants', 'on', true);
    UPDATE employees e SET membership_id = NULL
    WHERE membership_id IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM memberships m
                      WHERE m.tenant_id = e.tenant_id AND m.id = e.membership_id);

    ALTER TABLE employees ADD CONSTRAINT employees_tenant_id_membership_id_fkey
        FOREIGN KEY (tenant_id, membership_id) REFERENCES memberships (tenant_id, id) NOT VALID;
END
$$;
