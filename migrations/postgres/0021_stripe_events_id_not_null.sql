-- SQLite's 0021 makes stripe_events.id NOT NULL, as it always was here.
-- Kept so both backends share one schema version (tenant archives carry it).
SELECT 1;
