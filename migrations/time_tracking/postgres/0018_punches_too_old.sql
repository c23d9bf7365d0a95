-- Punches that arrived too old to record are kept for a manager: Review
-- lists those that arrived on a range of days, found by arrival time.
CREATE INDEX punches_too_old ON punches (tenant_id, received_at) WHERE outcome = 'too_old';
