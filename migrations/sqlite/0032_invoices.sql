-- The tenant's Stripe invoices: see PostgreSQL's 0032.
CREATE TABLE invoices (
    tenant_id          TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id                 TEXT NOT NULL,
    number             TEXT,
    status             TEXT NOT NULL,
    total              INTEGER NOT NULL,
    amount_due         INTEGER NOT NULL,
    currency           TEXT NOT NULL,
    created            INTEGER NOT NULL,
    hosted_invoice_url TEXT,
    invoice_pdf        TEXT,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX invoices_by_date ON invoices (tenant_id, created DESC);
