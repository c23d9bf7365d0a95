-- The tenant's Stripe invoices, as the billing page lists them
-- (crates/kernel/src/billing/invoices.rs): each invoice as Stripe had it
-- when its latest `invoice.*` event was processed (re-read from Stripe, under
-- the tenant's billing lease), so a page view calls no one.
CREATE TABLE invoices (
    tenant_id          UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id                 TEXT NOT NULL,
    number             TEXT,
    status             TEXT NOT NULL,
    total              BIGINT NOT NULL,
    amount_due         BIGINT NOT NULL,
    currency           TEXT NOT NULL,
    created            BIGINT NOT NULL,
    hosted_invoice_url TEXT,
    invoice_pdf        TEXT,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX invoices_by_date ON invoices (tenant_id, created DESC);
SELECT app_tenant_table('invoices', 'SELECT, INSERT, UPDATE');
