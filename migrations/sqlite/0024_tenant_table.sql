-- PostgreSQL only: app_tenant_table(), which makes a table tenant-owned
-- (Row-Level Security, its policy, the scope role's rights). SQLite has
-- none of these; both backends keep one sequence of versions, which a
-- tenant archive records.
SELECT 1;
