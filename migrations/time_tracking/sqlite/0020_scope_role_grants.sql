-- PostgreSQL's 0020 grants the scope role its rights on time tracking's
-- tables; SQLite has no roles. Kept so both backends share one schema
-- version (tenant archives carry it).
SELECT 1;
