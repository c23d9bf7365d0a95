-- Sessions: tower-sessions records, stored in the app's own database so that
-- any number of app instances can serve one user. Global (not tenant-owned).
-- user_id is copied out of the record so that "log out everywhere else" and
-- listing a user's sessions are one indexed query. Times are unix seconds:
-- expires_at moves on every save (idle expiry), created_at never does
-- (absolute expiry).
CREATE TABLE sessions (
    id         TEXT PRIMARY KEY NOT NULL,
    user_id    TEXT,
    data       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);

CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_expires_at ON sessions (expires_at);
