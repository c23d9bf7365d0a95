-- PostgreSQL only: the row versions and the check behind the door's memory
-- (SQLite runs in the app's process, with no round trip to save). Both
-- backends keep one sequence of versions, which a tenant archive records.
SELECT 1;
