-- PostgreSQL only: the current_session view the doors read a request's
-- session through (SQLite reads the sessions table in the same query).
-- Both backends keep one sequence of versions, which a tenant archive
-- records.
SELECT 1;
