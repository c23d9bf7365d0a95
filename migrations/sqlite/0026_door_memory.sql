-- PostgreSQL only: the door's memory, its row versions and its check
-- (SQLite runs in the app's process, with no round trip to save). This
-- file keeps the two backends' migrations numbered alike, as a tenant
-- archive records the schema's version.
SELECT 1;
