-- Everyone's punches on a range of days (the board, payroll, inspection)
-- are found by time alone: without this index they were read by scanning
-- every punch the tenant ever recorded.
CREATE INDEX punches_at ON punches (tenant_id, at);
