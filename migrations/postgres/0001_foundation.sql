-- Sessions: tower-sessions records, stored in the app's own database so that
-- any number of app instances can serve one user. Global (not tenant-owned).
-- user_id is copied out of the record so that "log out everywhere else" and
-- listing a user's sessions are one indexed query. Times are unix seconds:
-- expires_at moves on every save (idle expiry), created_at never does
-- (absolute expiry).
CREATE TABLE sessions (
    id         TEXT PRIMARY KEY,
    user_id    UUID,
    data       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

-- The role that tenant scopes switch to (SET LOCAL ROLE app_tenant), so that
-- Row-Level Security binds even when the app connects as a superuser or a
-- BYPASSRLS role (local installs, Railway, CI). It can't log in, bypass RLS
-- or own anything; it gets plain DML on the tables this database's owner
-- creates from here on.
--
-- Managed hosts often forbid CREATE ROLE: there the app connects as an
-- ordinary owner, FORCE ROW LEVEL SECURITY alone binds it, and this block
-- does nothing. Roles are cluster-wide and parallel test databases race to
-- create this one, hence the tolerated errors.
DO $$
BEGIN
    IF EXISTS (
        SELECT 1 FROM pg_roles WHERE rolname = current_user AND (rolsuper OR rolcreaterole)
    ) THEN
        BEGIN
            CREATE ROLE app_tenant NOLOGIN NOSUPERUSER NOBYPASSRLS NOINHERIT;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;
        END;
        BEGIN
            EXECUTE format('GRANT app_tenant TO %I', current_user);
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;
        END;
        GRANT USAGE ON SCHEMA public TO app_tenant;
        ALTER DEFAULT PRIVILEGES IN SCHEMA public
            GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO app_tenant;
        ALTER DEFAULT PRIVILEGES IN SCHEMA public
            GRANT USAGE, SELECT ON SEQUENCES TO app_tenant;
    END IF;
END
$$;
