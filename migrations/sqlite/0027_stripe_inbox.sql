-- Stripe's webhooks become an inbox: see PostgreSQL's 0027. SQLite can't
-- drop a NOT NULL, so the table is rebuilt.
CREATE TABLE stripe_events_rebuilt (
    id           TEXT NOT NULL PRIMARY KEY,
    type         TEXT NOT NULL,
    processed_at INTEGER,
    received_at  INTEGER NOT NULL,
    outcome      TEXT,
    payload      TEXT NOT NULL DEFAULT '{}',
    job_id       TEXT
);
INSERT INTO stripe_events_rebuilt (id, type, processed_at, received_at)
    SELECT id, type, processed_at, processed_at FROM stripe_events;
DROP TABLE stripe_events;
ALTER TABLE stripe_events_rebuilt RENAME TO stripe_events;
CREATE INDEX stripe_events_received_at ON stripe_events (received_at);

CREATE TABLE tenant_leases (
    tenant     TEXT NOT NULL,
    name       TEXT NOT NULL,
    holder     TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (tenant, name)
);
