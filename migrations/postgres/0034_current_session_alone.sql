-- The door's view of its request's session reads `sessions` alone; whether
-- an impersonator is still a super-admin, which it read from `users`, the
-- door's query reads itself (sessions::signed_in_session!). On Citus `users`
-- is a reference table, and Citus plans a query that reads one by running
-- it again as the querying role, which has no right on `sessions`: the
-- view, reading only a table Citus leaves alone, keeps its owner's right.
DROP VIEW current_session;

CREATE VIEW current_session WITH (security_barrier) AS
SELECT s.id, s.user_id, (s.data::jsonb ->> 'impersonator')::uuid AS impersonator,
       s.expires_at, s.created_at, s.xmin::text::bigint AS version, s.ctid AS row_id
FROM sessions s
WHERE s.id = current_setting('app.session_id', true) AND s.user_id IS NOT NULL;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'app_tenant') THEN
        GRANT SELECT ON current_session TO app_tenant;
    END IF;
END
$$;
