-- The durable job queue (ARCHITECTURE §11): work that must happen even if
-- this instance stops, such as sending an email. Global, not tenant-owned:
-- workers read it outside any tenant scope. A job that works for a tenant
-- names it in `tenant` (explicitly, never as ambient state), and opens its
-- own scope for it. Times are unix seconds.
--   run_at        when it is due (moved forward by backoff after a failure)
--   locked_until  a worker's lease: past it, another worker may take the job
--   dead_at       set after the last attempt failed; kept for inspection
CREATE TABLE jobs (
    id           TEXT PRIMARY KEY NOT NULL,
    kind         TEXT NOT NULL,
    tenant       TEXT,
    payload      TEXT NOT NULL,
    run_at       INTEGER NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    locked_until INTEGER,
    last_error   TEXT,
    dead_at      INTEGER,
    created_at   INTEGER NOT NULL
);

CREATE INDEX jobs_due ON jobs (run_at) WHERE dead_at IS NULL;

-- One row per run of a periodic job and period ("2026-11-23T14" for an
-- hourly one): the instance that inserts it enqueues the run, so the run
-- happens once per period however many instances are up.
CREATE TABLE periodic_runs (
    job        TEXT NOT NULL,
    period     TEXT NOT NULL,
    claimed_at INTEGER NOT NULL,
    PRIMARY KEY (job, period)
);

-- Single-use tokens mailed to a user (email verification, password reset).
-- Only a SHA-256 digest is stored, so a leaked table opens no account.
-- `email` is the address the link was sent to: after an email change, an
-- old verification link verifies nothing.
CREATE TABLE account_tokens (
    digest     TEXT PRIMARY KEY NOT NULL,
    purpose    TEXT NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email      TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE INDEX account_tokens_user ON account_tokens (user_id, purpose);
CREATE INDEX account_tokens_expires_at ON account_tokens (expires_at);
