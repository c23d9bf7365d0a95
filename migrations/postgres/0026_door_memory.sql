-- The door's memory (crates/kernel/src/access/memory.rs). A person's
-- tenant request reads their session, their membership and the tenant in
-- one query inside the scope (0025). The app now remembers what that query
-- read, with where each row version is (`ctid`) and which transaction wrote
-- it (`xmin`: any UPDATE, or a delete and a new INSERT, makes a new version
-- elsewhere, written by another transaction), and the next request of the
-- same session in the same tenant asks only whether those three row
-- versions are still the live ones, inside the statement that opens the
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
       s.expires_at, s.created_at, s.xmin::text::bigint AS version, s.ctid AS row_id
FROM sessions s
CROSS JOIN LATERAL (SELECT (s.data::jsonb ->> 'impersonator')::uuid AS id) i
WHERE s.id = current_setting('app.session_id', true) AND s.user_id IS NOT NULL;

-- The check, for the scope's own tenant (its `app.tenant_id`), raising
-- no_data_found (P0002) when anything changed. The session is named by its
-- row version, never by its id: the id is the cookie's secret, and a failed
-- statement is written to the server's log with its text. It runs as its
-- owner, since scopes have no right on sessions, and tells its caller only
-- whether a session row version it names is still live and belongs to a
-- member of the scope's tenant. PL/pgSQL, which keeps its plan per
-- connection (a SQL statement in the opening string would be planned anew
-- on every request, which costs more than the round trip it saves).
CREATE FUNCTION door_unchanged(
    p_session_row TID, p_session_version BIGINT, p_tenant_version BIGINT,
    p_membership_row TID, p_membership_version BIGINT,
    p_now_unix BIGINT, p_started_after BIGINT)
RETURNS VOID
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    PERFORM FROM sessions s
    JOIN memberships m ON m.ctid = p_membership_row AND m.user_id = s.user_id
    JOIN tenants t ON t.id = m.tenant_id
    WHERE s.ctid = p_session_row
      AND t.id = nullif(current_setting('app.tenant_id', true), '')::uuid
      AND s.user_id IS NOT NULL
      AND s.expires_at > p_now_unix AND s.created_at > p_started_after
      AND s.xmin::text::bigint = p_session_version
      AND t.xmin::text::bigint = p_tenant_version
      AND m.xmin::text::bigint = p_membership_version;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'the door''s rows changed' USING ERRCODE = 'no_data_found';
    END IF;
END
$$;

REVOKE ALL ON FUNCTION door_unchanged(TID, BIGINT, BIGINT, TID, BIGINT, BIGINT, BIGINT) FROM PUBLIC;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'app_tenant') THEN
        GRANT EXECUTE ON FUNCTION door_unchanged(TID, BIGINT, BIGINT, TID, BIGINT, BIGINT, BIGINT) TO app_tenant;
    END IF;
END
$$;
