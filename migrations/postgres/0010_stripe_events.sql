-- Stripe webhooks. Each event is recorded, under its unique id, in the same
-- transaction as the change it makes: a redelivered event finds its id and
-- changes nothing, and an attempt that fails leaves no record, so Stripe's
-- retry runs it again. Kept 30 days (Stripe retries for 3).
CREATE TABLE stripe_events (
    id           TEXT PRIMARY KEY,
    type         TEXT NOT NULL,
    processed_at BIGINT NOT NULL
);
CREATE INDEX stripe_events_processed_at ON stripe_events (processed_at);

-- What the billing page shows of the subscription: when a scheduled
-- cancellation takes effect, and which price it is on.
ALTER TABLE tenants ADD COLUMN subscription_ends_at BIGINT;
ALTER TABLE tenants ADD COLUMN subscription_price TEXT;
-- A tenant is found by its Stripe customer when an event names nothing else.
CREATE UNIQUE INDEX tenants_stripe_customer_id ON tenants (stripe_customer_id);

-- Events are recorded inside the tenant's scope; it may add them (ON
-- CONFLICT (id) needs to read the id), nothing more.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'app_tenant') THEN
        REVOKE SELECT, UPDATE, DELETE ON stripe_events FROM app_tenant;
        GRANT SELECT (id) ON stripe_events TO app_tenant;
    END IF;
END
$$;
