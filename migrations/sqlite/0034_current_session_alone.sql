-- PostgreSQL only: its current_session view stops reading users (SQLite
-- reads the sessions table in the door's query). Both backends keep one
-- sequence of versions, which a tenant archive records.
SELECT 1;
