-- The doors read a request's session inside the tenant scope's own
-- transaction, in the same query as the membership, so a tenant request
-- costs one check instead of a session read on a connection of its own
-- (src/access/mod.rs; SQLite reads the table in the same query). Scopes run as app_tenant, which has no right on
-- sessions (0019), and gets none: this function, running as its owner,
-- answers for one session id (the cookie's secret) at a time, with only
-- the signed-in user, the super-admin acting as them (and whether they no
-- longer are one, which ends the impersonation), and the idle expiry. A
-- scope can't list sessions or read their data.
--
-- PL/pgSQL, not SQL: a SECURITY DEFINER SQL function is never inlined, and
-- PostgreSQL plans its body anew on every call (0.20 ms a call against
-- 0.11 ms here, where PL/pgSQL keeps the plan per connection; the bare
-- SELECT takes 0.09 ms).
CREATE FUNCTION signed_in_session(session_id TEXT, now_unix BIGINT, started_after BIGINT)
RETURNS TABLE (user_id UUID, impersonator UUID, impersonation_ended BOOLEAN, expires_at BIGINT)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
BEGIN
    RETURN QUERY
    SELECT s.user_id, i.id,
           i.id IS NOT NULL AND NOT EXISTS (
               SELECT 1 FROM users a WHERE a.id = i.id AND a.is_super_admin),
           s.expires_at
    FROM sessions s
    CROSS JOIN LATERAL (SELECT (s.data::jsonb ->> 'impersonator')::uuid AS id) i
    WHERE s.id = session_id AND s.user_id IS NOT NULL
      AND s.expires_at > now_unix AND s.created_at > started_after;
END
$$;

REVOKE ALL ON FUNCTION signed_in_session(TEXT, BIGINT, BIGINT) FROM PUBLIC;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'app_tenant') THEN
        GRANT EXECUTE ON FUNCTION signed_in_session(TEXT, BIGINT, BIGINT) TO app_tenant;
    END IF;
END
$$;
