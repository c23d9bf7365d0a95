-- PostgreSQL only: its unlink trigger fires before a member goes, and its
-- foreign key from employees to memberships is back. Both backends keep one
-- sequence of versions, which a tenant archive records.
SELECT 1;
