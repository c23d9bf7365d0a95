-- PostgreSQL only: its foreign key from employees to memberships gives way to
-- the trigger SQLite has used since 0011. Both backends keep one sequence of
-- versions, which a tenant archive records.
SELECT 1;
