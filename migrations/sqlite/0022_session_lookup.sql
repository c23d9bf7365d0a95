-- PostgreSQL only: the function through which a tenant scope (running as
-- app_tenant) reads its request's session. SQLite has no roles; the doors
-- read the sessions table in the same query (src/sessions/mod.rs,
-- `signed_in_session!`). Both backends keep one sequence of versions, which
-- a tenant archive records.
SELECT 1;
