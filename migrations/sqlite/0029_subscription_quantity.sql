-- How many seats a per-seat subscription bills, as Stripe last said: the
-- seats job (crates/kernel/src/billing/seats.rs) changes it in Stripe when
-- the tenant's count of seats no longer matches.
ALTER TABLE tenants ADD COLUMN subscription_quantity BIGINT;
