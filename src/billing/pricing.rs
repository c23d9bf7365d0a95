//! `GET /pricing`: the plans of `src/plans.rs` as a public page, monthly or
//! yearly (`?interval=yearly`, a link, no script), each with a way to start:
//! the signup form, which carries the chosen plan to Checkout once the
//! account exists.

use askama::Template;
use axum::extract::State;
use axum::response::Html;
use serde::Deserialize;

use super::catalog::{Plan, Pricing};
use super::stripe::Interval;
use crate::error::AppError;
use crate::http::AppState;
use crate::http::extract::Query;
use crate::http::routes::{Access, Routes, get};
use crate::pages::{Layout, render};

pub fn routes() -> Routes {
    Routes::new().add("/pricing", Access::Public, get(page))
}

#[derive(Template)]
#[template(path = "billing/pricing.html")]
struct PricingPage {
    layout: Layout,
    /// `monthly` or `yearly`.
    interval: &'static str,
    plans: Vec<PlanCard>,
}

/// A plan as the page shows it.
struct PlanCard {
    name: &'static str,
    description: &'static str,
    /// `€7`, or `Free`; `None`: not sold at this interval.
    price: Option<String>,
    /// What the price is for: "per member a month".
    per: String,
    trial: Option<String>,
    /// "Up to 2 active locations", "Unlimited members", …
    limits: Vec<String>,
    features: Vec<&'static str>,
    /// Where its button goes: the signup form, with the plan if paid.
    start: String,
}

#[derive(Deserialize)]
struct PricingQuery {
    #[serde(default)]
    interval: Option<Interval>,
}

async fn page(
    State(state): State<AppState>,
    layout: Layout,
    Query(query): Query<PricingQuery>,
) -> Result<Html<String>, AppError> {
    let interval = query.interval.unwrap_or(Interval::Monthly);
    let plans = state.plans;
    let quotas = plans.limited_quotas();
    let seat = plans.seat().one;
    let card = |plan: &'static Plan| {
        let period = interval.per();
        PlanCard {
            name: plan.name,
            description: plan.description,
            price: if plan.is_free() {
                Some("Free".to_owned())
            } else {
                plan.price(interval).map(|price| price.display())
            },
            per: match (&plan.pricing, plan.is_free()) {
                (_, true) => "forever".to_owned(),
                (Pricing::Flat, false) => period.to_owned(),
                (Pricing::PerSeat { included: 0 }, false) => format!("per {seat} {period}"),
                (Pricing::PerSeat { included }, false) => {
                    format!("per {seat} {period}, the first {included} free")
                }
            },
            trial: (plan.trial_days > 0).then(|| format!("{}-day free trial", plan.trial_days)),
            limits: quotas
                .iter()
                .map(|quota| match plan.limit(quota) {
                    Some(max) => format!("Up to {max} {}", quota.noun),
                    None => format!("Unlimited {}", quota.noun),
                })
                .collect(),
            features: plan.features.iter().map(|feature| feature.name).collect(),
            start: if plan.is_free() {
                "/signup".to_owned()
            } else {
                format!("/signup?plan={}&interval={}", plan.key, interval.as_str())
            },
        }
    };
    render(&PricingPage {
        layout,
        interval: interval.as_str(),
        plans: plans.plans().iter().map(card).collect(),
    })
}
