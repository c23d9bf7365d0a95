-- Billing: each tenant's subscription state, kept on its tenants row (which a
-- scope may lock and update, its own only). Webhooks are its only source;
-- super-admins can comp a tenant onto Pro (indefinitely, or until
-- comped_until). Times are unix seconds.
ALTER TABLE tenants ADD COLUMN stripe_customer_id TEXT;
ALTER TABLE tenants ADD COLUMN stripe_subscription_id TEXT;
ALTER TABLE tenants ADD COLUMN subscription_status TEXT;
ALTER TABLE tenants ADD COLUMN subscription_period_end INTEGER;
ALTER TABLE tenants ADD COLUMN past_due_since INTEGER;
ALTER TABLE tenants ADD COLUMN comped BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE tenants ADD COLUMN comped_until INTEGER;
ALTER TABLE tenants ADD COLUMN comp_reason TEXT;
