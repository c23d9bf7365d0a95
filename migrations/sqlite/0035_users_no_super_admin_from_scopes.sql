-- PostgreSQL only: the scope role's rights on users (SQLite has no roles).
-- Both backends keep one sequence of versions, which a tenant archive
-- records.
SELECT 1;
