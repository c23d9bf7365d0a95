-- SQLite lets a TEXT PRIMARY KEY hold NULL (a legacy quirk), so
-- stripe_events.id could be NULL here while PostgreSQL refuses it: the
-- table is rebuilt with the id NOT NULL, as on PostgreSQL (the schema parity
-- test found it).
CREATE TABLE stripe_events_rebuilt (
    id           TEXT NOT NULL PRIMARY KEY,
    type         TEXT NOT NULL,
    processed_at INTEGER NOT NULL
);
INSERT INTO stripe_events_rebuilt (id, type, processed_at)
    SELECT id, type, processed_at FROM stripe_events WHERE id IS NOT NULL;
DROP TABLE stripe_events;
ALTER TABLE stripe_events_rebuilt RENAME TO stripe_events;
CREATE INDEX stripe_events_processed_at ON stripe_events (processed_at);
