-- The billing emails sent for Stripe's events: see PostgreSQL's 0031.
CREATE TABLE billing_notices (
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id        TEXT NOT NULL,
    event_id  TEXT NOT NULL,
    kind      TEXT NOT NULL,
    sent_at   INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, event_id, kind)
);
