//! What this app sells: edit this file to shape your plans, then run
//! `app stripe-sync` to make (or update) their products and prices in
//! Stripe. docs/billing.md says what each field does.
//!
//! * The first plan is the free one every new organisation starts on; the
//!   others need prices. The last is what a super-admin's comp grants.
//! * `limits` caps a quota (`LOCATIONS`, `MEMBERS`, or one a module
//!   declares); a quota a plan doesn't list has no limit there.
//! * `features` lists what only some plans include; code asks with
//!   `t.entitlement().allows(&FEATURE)`.
//! * Amounts are in the currency's minor unit (cents). A per-seat plan
//!   charges its price per seat: a member, unless a module sells by
//!   something else (its `Capability::seat`).
//! * Never rename a plan's `key` once tenants subscribe to it: Stripe's
//!   lookup keys are made from it.

use kernel::billing::catalog::{Limit, Plan, Price, Pricing};
use kernel::billing::stripe::Interval::{Monthly, Yearly};

use crate::locations::LOCATIONS;
use crate::members::MEMBERS;
{% if time_tracking %}#[cfg(feature = "time-tracking")] // module: time_tracking
{% endif %}{% if time_tracking %}use crate::modules::time_tracking::employees::ACTIVE_EMPLOYEES; // module: time_tracking
{% endif %}{% if time_tracking %}#[cfg(feature = "time-tracking")] // module: time_tracking
{% endif %}{% if time_tracking %}use crate::modules::time_tracking::pay::workbook::PAYROLL_WORKBOOK; // module: time_tracking
{% endif %}use crate::sso::SINGLE_SIGN_ON;

/// The plans, cheapest first.
pub const PLANS: &[Plan] = &[
    Plan {
        key: "free",
        name: "Free",
        description: "For a small team finding its feet.",
        limits: &[
            Limit::of(&LOCATIONS, 2),
            Limit::of(&MEMBERS, 5),
{% if time_tracking %}            #[cfg(feature = "time-tracking")] // module: time_tracking
{% endif %}{% if time_tracking %}            Limit::of(&ACTIVE_EMPLOYEES, 10), // module: time_tracking
{% endif %}        ],
        features: &[],
        prices: &[],
        trial_days: 0,
        pricing: Pricing::Flat,
    },
    Plan {
        key: "starter",
        name: "Starter",
        description: "For a growing business with a few sites.",
        limits: &[Limit::of(&LOCATIONS, 5)],
        features: &[],
        prices: &[eur(Monthly, 400), eur(Yearly, 4_000)],
        trial_days: 14,
        pricing: Pricing::PerSeat { included: 0 },
    },
    Plan {
        key: "pro",
        name: "Pro",
        description: "Every site, every tool.",
        limits: &[],
        features: &[
{% if time_tracking %}            #[cfg(feature = "time-tracking")] // module: time_tracking
{% endif %}{% if time_tracking %}            &PAYROLL_WORKBOOK, // module: time_tracking
{% endif %}        ],
        prices: &[eur(Monthly, 700), eur(Yearly, 7_000)],
        trial_days: 14,
        pricing: Pricing::PerSeat { included: 0 },
    },
    Plan {
        key: "business",
        name: "Business",
        description: "For large teams: one price, however many seats.",
        limits: &[],
        features: &[
            &SINGLE_SIGN_ON,
{% if time_tracking %}            #[cfg(feature = "time-tracking")] // module: time_tracking
{% endif %}{% if time_tracking %}            &PAYROLL_WORKBOOK, // module: time_tracking
{% endif %}        ],
        prices: &[eur(Monthly, 49_900), eur(Yearly, 499_000)],
        trial_days: 0,
        pricing: Pricing::Flat,
    },
];

const fn eur(interval: kernel::billing::stripe::Interval, amount: i64) -> Price {
    Price {
        interval,
        amount,
        currency: "eur",
    }
}
