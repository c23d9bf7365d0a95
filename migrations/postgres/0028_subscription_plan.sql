-- Plans are data (src/plans.rs): a tenant's subscription is to one of
-- them, placed by its price (an override in STRIPE_PRICES, or the lookup
-- key `stripe-sync` gives it: `<plan>_<interval>`). Before, the only paid
-- plan was Pro, which keeps its key.
ALTER TABLE tenants ADD COLUMN subscription_plan TEXT;
UPDATE tenants SET subscription_plan = 'pro' WHERE stripe_subscription_id IS NOT NULL;
