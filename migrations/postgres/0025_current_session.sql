-- The door's session lookup without a function call. 0022's
-- signed_in_session() was a PL/pgSQL set-returning function: PostgreSQL
-- can't inline one, so every tenant request paid a function scan (its
-- result materialised, its plan estimated at 1,000 rows) on top of three
-- index lookups: in the tenancy_rls bench the door's query took 0.077 ms
-- of PostgreSQL's time per request, nearly twice the list it guards.
--
-- A scope that may read its request's session now names it in a
-- transaction-local setting, `app.session_id`, set in the scope's opening
-- statement (src/tenancy/scope.rs), and reads it through this view, which
-- PostgreSQL inlines into the door's query as one index lookup. The view
-- yields at most that one session, with only the signed-in user, the
-- super-admin acting as them (and whether they no longer are one), the
-- idle expiry and the start: the scope role still has no right on the
-- sessions table, can't list sessions or read their data, and a scope
-- without the setting sees none. security_barrier keeps a caller's
-- conditions from running before the view's own.
CREATE VIEW current_session WITH (security_barrier) AS
SELECT s.id, s.user_id, i.id AS impersonator,
       i.id IS NOT NULL AND NOT EXISTS (
           SELECT 1 FROM users a WHERE a.id = i.id AND a.is_super_admin) AS impersonation_ended,
       s.expires_at, s.created_at
FROM sessions s
CROSS JOIN LATERAL (SELECT (s.data::jsonb ->> 'impersonator')::uuid AS id) i
WHERE s.id = current_setting('app.session_id', true) AND s.user_id IS NOT NULL;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'app_tenant') THEN
        GRANT SELECT ON current_session TO app_tenant;
    END IF;
END
$$;

DROP FUNCTION signed_in_session(TEXT, BIGINT, BIGINT);
