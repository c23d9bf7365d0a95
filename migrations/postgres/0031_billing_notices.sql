-- The billing emails sent for Stripe's events (crates/kernel/src/billing/
-- notices.rs): payment failed, trial ending, subscription canceled, a
-- receipt. One per event and kind: the row is inserted in the transaction
-- that stores what the event changed and queues the emails, so a job run
-- again (a retry after a failure further on) sends nothing twice.
CREATE TABLE billing_notices (
    tenant_id UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id        UUID NOT NULL,
    event_id  TEXT NOT NULL,
    kind      TEXT NOT NULL,
    sent_at   BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, event_id, kind)
);
SELECT app_tenant_table('billing_notices', 'SELECT, INSERT');
