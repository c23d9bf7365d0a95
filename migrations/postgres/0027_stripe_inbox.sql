-- Stripe's webhooks become an inbox (crates/kernel/src/billing/webhook.rs,
-- and sync.rs, the job).
-- The endpoint records each event, under its unique id, with a job to
-- process it, and answers at once; the job reads Stripe outside any
-- transaction and applies what it read under a short lock. Before, the
-- event was recorded in the transaction that applied it, with Stripe read
-- inside: one slow answer held the database (SQLite's only write lock, or a
-- PostgreSQL connection per delivery).
--
-- received_at: when it arrived (what the purge goes by); processed_at: when
-- its job finished (NULL until then); outcome: what the job did, for the
-- operator; payload: the parts of the event the job routes by (never the
-- whole event, which may hold a customer's details); job_id: the job, which
-- a redelivery of the same event queues again if it was lost.
ALTER TABLE stripe_events ADD COLUMN received_at BIGINT;
UPDATE stripe_events SET received_at = processed_at;
ALTER TABLE stripe_events ALTER COLUMN received_at SET NOT NULL;
ALTER TABLE stripe_events ALTER COLUMN processed_at DROP NOT NULL;
ALTER TABLE stripe_events ADD COLUMN outcome TEXT;
ALTER TABLE stripe_events ADD COLUMN payload TEXT NOT NULL DEFAULT '{}';
ALTER TABLE stripe_events ADD COLUMN job_id UUID;
DROP INDEX stripe_events_processed_at;
CREATE INDEX stripe_events_received_at ON stripe_events (received_at);

-- A lease on one kind of work for one tenant (crates/kernel/src/jobs/lease.rs):
-- the billing job holds the tenant's "billing" lease while it reads Stripe
-- and applies what it read, so two workers never apply two readings of one
-- tenant's subscription in the wrong order. Bookkeeping of the queue, like
-- `jobs`, taken and released outside scopes; a row lives while it is held.
CREATE TABLE tenant_leases (
    tenant     UUID NOT NULL,
    name       TEXT NOT NULL,
    holder     TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (tenant, name)
);

-- Events are no longer recorded in a tenant's scope: the scope role loses
-- its rights on them, and has none on the leases.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'app_tenant') THEN
        REVOKE ALL ON stripe_events, tenant_leases FROM app_tenant;
    END IF;
END
$$;
