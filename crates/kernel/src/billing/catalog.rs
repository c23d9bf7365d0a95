//! What the app sells, as data: the plans, each with its limits, its
//! features, its prices, its trial and how it is priced. The app defines
//! them in one file (`src/plans.rs`) from the quotas and features the core
//! and the modules declare here ([`Quota`], [`Feature`]); `app stripe-sync`
//! makes Stripe's products and prices from them, and
//! `billing::entitlement` answers from them what a tenant may do.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;

use super::stripe::Interval;
use crate::tenancy::TenantScope;

/// Something a plan may limit, counted per tenant, and what a per-seat
/// plan may bill by: locations, members, what a module counts.
pub struct Quota {
    /// Its name in the API (`limits.<key>`), in Stripe's metadata and in
    /// the code; never rename one a plan in Stripe uses.
    pub key: &'static str,
    /// What it counts, in the plural, as the billing page and a refusal
    /// say it: "active locations".
    pub noun: &'static str,
    /// One of them, as a price per seat says it: "active location".
    pub one: &'static str,
    /// How many the scope's tenant has now.
    pub count: for<'a> fn(&'a mut TenantScope) -> CountFuture<'a>,
}

/// What a [`Quota`]'s count returns.
pub type CountFuture<'a> = Pin<Box<dyn Future<Output = Result<i64, sqlx::Error>> + Send + 'a>>;

/// Something only some plans include (a module's export, single
/// sign-on), which code asks about with `Entitlement::allows`.
pub struct Feature {
    pub key: &'static str,
    /// As the pricing and billing pages list it.
    pub name: &'static str,
}

/// A plan: one tier of what the app sells.
pub struct Plan {
    /// Its name in the API, in Stripe's lookup keys (`<key>_<interval>`)
    /// and metadata; lowercase letters, digits and `_`. Never rename one
    /// that tenants are subscribed to.
    pub key: &'static str,
    /// As pages show it: "Pro".
    pub name: &'static str,
    /// One sentence for the pricing page.
    pub description: &'static str,
    /// What it allows of each quota it names; a quota it doesn't name has
    /// no limit.
    pub limits: &'static [Limit],
    pub features: &'static [&'static Feature],
    /// None for a free plan.
    pub prices: &'static [Price],
    /// Days of free trial a new subscription starts with (0: none).
    pub trial_days: u32,
    pub pricing: Pricing,
}

/// A plan's limit on one quota.
pub struct Limit {
    pub quota: &'static Quota,
    pub max: i64,
}

impl Limit {
    /// At most `max` of `quota`.
    pub const fn of(quota: &'static Quota, max: i64) -> Self {
        Self { quota, max }
    }
}

/// What a plan costs per interval, in the currency's minor unit (cents):
/// the whole price for a flat plan, the price of one unit for a per-seat
/// one.
pub struct Price {
    pub interval: Interval,
    pub amount: i64,
    /// ISO 4217, lowercase, as Stripe writes it: "eur".
    pub currency: &'static str,
}

impl Price {
    /// The amount as people read it: `€7`.
    pub fn display(&self) -> String {
        money(self.amount, self.currency)
    }
}

/// An amount in `currency`'s minor unit as people read it: `€7`, `$4.50`,
/// `12 CHF`.
pub fn money(amount: i64, currency: &str) -> String {
    let sign = if amount < 0 { "-" } else { "" };
    let (units, cents) = (amount.unsigned_abs() / 100, amount.unsigned_abs() % 100);
    let number = if cents == 0 {
        format!("{sign}{units}")
    } else {
        format!("{sign}{units}.{cents:02}")
    };
    match currency {
        "eur" => format!("€{number}"),
        "usd" => format!("${number}"),
        "gbp" => format!("£{number}"),
        other => format!("{number} {}", other.to_uppercase()),
    }
}

/// How a plan's price becomes a bill.
pub enum Pricing {
    /// The price, whatever the tenant's size.
    Flat,
    /// The price per seat, for each seat beyond the first `included`
    /// (which cost nothing). A seat is a member, unless a module declares
    /// what the app is sold by (`Capability::seat`): [`Catalog::seat`].
    PerSeat { included: i64 },
}

impl Pricing {
    pub fn is_per_seat(&self) -> bool {
        matches!(self, Self::PerSeat { .. })
    }
}

impl Plan {
    /// How many a subscription to it bills when the tenant has `seats`:
    /// the seats (at least one) for a per-seat plan, one for a flat one.
    pub fn quantity(&self, seats: i64) -> i64 {
        match self.pricing {
            Pricing::Flat => 1,
            Pricing::PerSeat { .. } => seats.max(1),
        }
    }

    /// Its limit on `quota`; `None` is no limit.
    pub fn limit(&self, quota: &Quota) -> Option<i64> {
        self.limits
            .iter()
            .find(|limit| limit.quota.key == quota.key)
            .map(|limit| limit.max)
    }

    pub fn includes(&self, feature: &Feature) -> bool {
        self.features.iter().any(|f| f.key == feature.key)
    }

    pub fn price(&self, interval: Interval) -> Option<&'static Price> {
        self.prices.iter().find(|price| price.interval == interval)
    }

    pub fn is_free(&self) -> bool {
        self.prices.is_empty()
    }

    /// What a subscription to it billed `interval` brings in a month at
    /// `quantity` seats, in its price's minor unit: a year's divided by 12;
    /// for a per-seat plan, the seats beyond those included.
    pub fn monthly_amount(&self, interval: Interval, quantity: i64) -> Option<i64> {
        let price = self.price(interval)?;
        let units = match self.pricing {
            Pricing::Flat => 1,
            Pricing::PerSeat { included } => (quantity - included).max(0),
        };
        let per_period = price.amount.checked_mul(units)?;
        Some(match interval {
            Interval::Monthly => per_period,
            Interval::Yearly => per_period / 12,
        })
    }

    /// Stripe's lookup key of its price for `interval`: `pro_monthly`.
    pub fn lookup_key(&self, interval: Interval) -> String {
        format!("{}_{}", self.key, interval.as_str())
    }
}

/// The seat of [`Catalog::unlimited`], which sells none.
const NO_SEAT: Quota = Quota {
    key: "seats",
    noun: "seats",
    one: "seat",
    count: |_| Box::pin(async { Ok(0) }),
};

/// The plans the app sells, checked once ([`Catalog::new`]), and what a
/// seat is.
#[derive(Clone, Copy)]
pub struct Catalog {
    plans: &'static [Plan],
    seat: &'static Quota,
}

impl Catalog {
    /// The plans, checked: at least one; the first free (what a tenant
    /// without a subscription is on), every other one priced; keys unique
    /// and fit for Stripe's lookup keys; one price per interval; limits and
    /// amounts not negative.
    ///
    /// # Errors
    /// What is wrong, naming the plan.
    pub fn new(plans: &'static [Plan], seat: &'static Quota) -> Result<Self, String> {
        let Some(first) = plans.first() else {
            return Err("there are no plans: define at least a free one".to_owned());
        };
        if !first.is_free() {
            return Err(format!(
                "the first plan, {}, has prices: the first is the free plan every tenant \
                 starts on",
                first.key
            ));
        }
        let mut keys = HashSet::new();
        for plan in plans {
            let key = plan.key;
            if key.is_empty()
                || !key
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            {
                return Err(format!(
                    "plan key {key:?}: use lowercase letters, digits and _"
                ));
            }
            if !keys.insert(key) {
                return Err(format!("two plans have the key {key}"));
            }
            if !std::ptr::eq(plan, first) && plan.is_free() {
                return Err(format!(
                    "plan {key} has no prices: only the first plan is free"
                ));
            }
            let mut intervals = HashSet::new();
            for price in plan.prices {
                if !intervals.insert(price.interval.as_str()) {
                    return Err(format!(
                        "plan {key} has two {} prices",
                        price.interval.as_str()
                    ));
                }
                if price.amount < 0
                    || price.currency.len() != 3
                    || !price.currency.chars().all(|c| c.is_ascii_lowercase())
                {
                    return Err(format!(
                        "plan {key}: a price needs an amount ≥ 0 and a currency in 3 lowercase \
                         letters, as Stripe writes it (\"eur\")"
                    ));
                }
            }
            let mut quotas = HashSet::new();
            for limit in plan.limits {
                if limit.max < 0 || !quotas.insert(limit.quota.key) {
                    return Err(format!(
                        "plan {key}: each quota's limit once, and not negative ({})",
                        limit.quota.key
                    ));
                }
            }
            if let Pricing::PerSeat { included } = plan.pricing
                && included < 0
            {
                return Err(format!("plan {key}: a negative included quantity"));
            }
        }
        Ok(Self { plans, seat })
    }

    /// Until the app sets its own (`crate::state`): one free plan with no
    /// limits, and nothing sold by the seat.
    pub fn unlimited() -> Self {
        Self {
            plans: &[Plan {
                key: "free",
                name: "Free",
                description: "Everything, without limits.",
                limits: &[],
                features: &[],
                prices: &[],
                trial_days: 0,
                pricing: Pricing::Flat,
            }],
            seat: &NO_SEAT,
        }
    }

    pub fn plans(&self) -> &'static [Plan] {
        self.plans
    }

    /// What a per-seat plan bills by.
    pub fn seat(&self) -> &'static Quota {
        self.seat
    }

    /// The plan every tenant without a subscription is on.
    pub fn free(&self) -> &'static Plan {
        &self.plans[0]
    }

    /// What a super-admin's comp grants: the last (the most complete) plan.
    pub fn top(&self) -> &'static Plan {
        &self.plans[self.plans.len() - 1]
    }

    pub fn get(&self, key: &str) -> Option<&'static Plan> {
        self.plans.iter().find(|plan| plan.key == key)
    }

    /// Every quota some plan limits, in the order the plans name them.
    pub fn limited_quotas(&self) -> Vec<&'static Quota> {
        let mut seen = Vec::<&'static Quota>::new();
        for limit in self.plans.iter().flat_map(|plan| plan.limits) {
            if !seen.iter().any(|quota| quota.key == limit.quota.key) {
                seen.push(limit.quota);
            }
        }
        seen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_read_as_money() {
        let price = |amount, currency| Price {
            interval: Interval::Monthly,
            amount,
            currency,
        };
        assert_eq!(price(700, "eur").display(), "€7");
        assert_eq!(price(450, "usd").display(), "$4.50");
        assert_eq!(price(499_005, "gbp").display(), "£4990.05");
        assert_eq!(price(1200, "chf").display(), "12 CHF");
        // Credits (a downgrade's invoice) keep their sign, under a unit too.
        assert_eq!(money(-50, "eur"), "€-0.50");
        assert_eq!(money(-1_250, "usd"), "$-12.50");
    }

    /// What a subscription brings in a month: per seat beyond those
    /// included, a year's in twelfths, a flat price whatever the seats.
    #[test]
    fn a_plans_monthly_amount_counts_only_the_seats_it_bills() {
        let plan = |pricing| Plan {
            key: "team",
            name: "Team",
            description: "",
            limits: &[],
            features: &[],
            prices: &[
                Price {
                    interval: Interval::Monthly,
                    amount: 900,
                    currency: "usd",
                },
                Price {
                    interval: Interval::Yearly,
                    amount: 9_600,
                    currency: "usd",
                },
            ],
            trial_days: 0,
            pricing,
        };
        let included = plan(Pricing::PerSeat { included: 5 });
        assert_eq!(included.monthly_amount(Interval::Monthly, 8), Some(2_700));
        assert_eq!(included.monthly_amount(Interval::Monthly, 3), Some(0));
        assert_eq!(included.monthly_amount(Interval::Yearly, 6), Some(800));
        let flat = plan(Pricing::Flat);
        assert_eq!(flat.monthly_amount(Interval::Monthly, 40), Some(900));
    }
}
