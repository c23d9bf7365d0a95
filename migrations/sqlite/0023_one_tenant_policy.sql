-- PostgreSQL only: one Row-Level Security policy per tenant-owned table.
-- SQLite has no RLS; both backends keep one sequence of versions, which a
-- tenant archive records.
SELECT 1;
