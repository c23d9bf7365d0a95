-- PostgreSQL only: app_tenant_table() distributes a table created after
-- `citus-distribute`. Both backends keep one sequence of versions, which a
-- tenant archive records.
SELECT 1;
