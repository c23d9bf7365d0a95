-- The door's memory (crates/kernel/src/access/memory.rs). A person's
-- tenant request reads their session, their membership and the tenant in
-- one query inside the scope (0025). The app now remembers what that query
-- read, with each row's version (`xmin`, the transaction that wrote the row
-- as it is now: any UPDATE or re-INSERT gives it another), and the next
-- request of the same session in the same tenant asks only whether the
-- three rows are still those versions, inside the statement that opens the
-- scope: one round trip fewer. A sign-out, "log out everywhere else", a
-- removal, a new role, a billing change or an expired session changes or
-- removes a row, the check fails, the scope isn't opened, and the door reads
-- everything again: on the very next request, whichever instance served
-- the change.
--
-- The door's query reads the session's version through the view.
CREATE OR REPLACE VIEW current_session WITH (security_barrier) AS
SELECT s.id, s.user_id, i.id AS impersonator,
       i.id IS NOT NULL AND NOT EXISTS (
           SELECT 1 FROM users a WHERE a.id = i.id AND a.is_super_admin) AS impersonation_ended,
       s.expires_at, s.created_at, s.xmin::text::bigint AS version
FROM sessions s
CROSS JOIN LATERAL (SELECT (s.data::jsonb ->> 'impersonator')::uuid AS id) i
WHERE s.id = current_setting('app.session_id', true) AND s.user_id IS NOT NULL;

-- The check, raising no_data_found (P0002) when anything changed. It runs
-- as its owner, since scopes have no right on sessions, and tells its
-- caller only whether a session it names by its secret is as remembered.
-- PL/pgSQL, which keeps its plan per connection (a SQL statement in the
-- opening string would be planned anew on every request, which costs more
-- than the round trip it saves).
CREATE FUNCTION door_unchanged(
    session_id TEXT, tenant UUID,
    session_version BIGINT, tenant_version BIGINT, membership_version BIGINT,
    now_unix BIGINT, started_after BIGINT)
RETURNS VOID
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
BEGIN
    PERFORM FROM sessions s
    JOIN tenants t ON t.id = tenant
    JOIN memberships m ON m.tenant_id = tenant AND m.user_id = s.user_id
    WHERE s.id = session_id AND s.user_id IS NOT NULL
      AND s.expires_at > now_unix AND s.created_at > started_after
      AND s.xmin::text::bigint = session_version
      AND t.xmin::text::bigint = tenant_version
      AND m.xmin::text::bigint = membership_version;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'the door''s rows changed' USING ERRCODE = 'no_data_found';
    END IF;
END
$$;

REVOKE ALL ON FUNCTION door_unchanged(TEXT, UUID, BIGINT, BIGINT, BIGINT, BIGINT, BIGINT) FROM PUBLIC;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'app_tenant') THEN
        GRANT EXECUTE ON FUNCTION door_unchanged(TEXT, UUID, BIGINT, BIGINT, BIGINT, BIGINT, BIGINT) TO app_tenant;
    END IF;
END
$$;
