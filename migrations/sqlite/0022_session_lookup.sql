-- Nothing to do on SQLite: the PostgreSQL twin of this migration creates
-- the function through which a tenant scope (running as app_tenant) reads
-- its request's session; SQLite has no roles, and the doors read the
-- sessions table directly (src/sessions/mod.rs, `signed_in_source`).
SELECT 1;
