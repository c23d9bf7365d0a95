-- PostgreSQL's 0019 grants the scope role its rights table by table;
-- SQLite has no roles. Kept so both backends share one schema version
-- (tenant archives carry it).
SELECT 1;
