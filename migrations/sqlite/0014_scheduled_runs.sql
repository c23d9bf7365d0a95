-- Runs of scheduled tenant jobs (src/jobs/scheduled.rs): a job due once per
-- period in each tenant's time zone (a monthly email on the 1st). The
-- instance that inserts the (job, tenant, period) row enqueues the run, in
-- the same transaction, so it is enqueued once however many instances
-- race; the queue's lease retries a run that crashed.
CREATE TABLE scheduled_runs (
    job          TEXT NOT NULL,
    tenant       TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    period       TEXT NOT NULL,
    claimed_at   BIGINT NOT NULL,
    completed_at BIGINT,
    PRIMARY KEY (job, tenant, period)
);

-- Side effects a run may have caused (an email handed to SMTP), recorded
-- before they happen: a run retried after a crash skips them.
CREATE TABLE scheduled_effects (
    job         TEXT NOT NULL,
    tenant      TEXT NOT NULL,
    period      TEXT NOT NULL,
    effect      TEXT NOT NULL,
    recorded_at BIGINT NOT NULL,
    PRIMARY KEY (job, tenant, period, effect),
    FOREIGN KEY (job, tenant, period) REFERENCES scheduled_runs (job, tenant, period) ON DELETE CASCADE
);
