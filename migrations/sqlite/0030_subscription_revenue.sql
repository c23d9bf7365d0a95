-- What a subscription brings in, for the super-admin's revenue page
-- (crates/kernel/src/admin/revenue.rs), from Stripe's own figures as the
-- webhooks store them: a month's amount in the currency's minor unit (its
-- price per unit times its quantity, a year's divided by 12), the
-- currency, and when it ended.
ALTER TABLE tenants ADD COLUMN subscription_monthly_amount BIGINT;
ALTER TABLE tenants ADD COLUMN subscription_currency TEXT;
ALTER TABLE tenants ADD COLUMN subscription_ended_at BIGINT;
