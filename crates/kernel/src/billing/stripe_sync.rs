//! `app stripe-sync`: makes Stripe's catalogue say what `src/plans.rs`
//! says, so no price id is copied by hand.
//!
//! * Each priced plan is a product, `plan_<key>`, named and described as
//!   the plan is.
//! * Each of its prices is a recurring price holding the lookup key
//!   `<plan>_<interval>`, which Checkout looks it up by. Stripe's amounts
//!   can't change, so a price that no longer matches the plan (another
//!   amount, currency or pricing model) is replaced: a new price takes the
//!   lookup key over and the old one is archived. Archived prices keep
//!   billing the subscriptions on them (Stripe never moves a subscriber to
//!   a new price by itself); nothing is ever deleted.
//! * A per-seat plan with seats included is a graduated price: the first
//!   `included` seats at 0, each further one at the plan's price.
//! * One Customer Portal configuration, marked in its metadata, lets
//!   customers switch between the plans' prices, update their payment
//!   method, see their invoices and cancel at the period's end. A changed
//!   one is made anew and the old deactivated.
//!
//! It reads before it writes: a second run changes nothing and says so.

use std::collections::{BTreeMap, HashMap};

use stripe_billing::billing_portal_configuration::{
    CreateBillingPortalConfiguration, CreateBillingPortalConfigurationBusinessProfile,
    CreateBillingPortalConfigurationFeatures,
    CreateBillingPortalConfigurationFeaturesCustomerUpdate,
    CreateBillingPortalConfigurationFeaturesCustomerUpdateAllowedUpdates as CustomerUpdates,
    CreateBillingPortalConfigurationFeaturesSubscriptionCancel,
    CreateBillingPortalConfigurationFeaturesSubscriptionCancelMode,
    CreateBillingPortalConfigurationFeaturesSubscriptionUpdate,
    CreateBillingPortalConfigurationFeaturesSubscriptionUpdateDefaultAllowedUpdates as SubscriptionUpdates,
    CreateBillingPortalConfigurationFeaturesSubscriptionUpdateProrationBehavior, InvoiceListParam,
    PaymentMethodUpdateParam, SubscriptionUpdateProductParam, UpdateBillingPortalConfiguration,
};
use stripe_product::price::{
    CreatePrice, CreatePriceRecurring, CreatePriceRecurringInterval, CreatePriceTiers,
    CreatePriceTiersUpTo, ListPrice, UpdatePrice,
};
use stripe_product::product::{CreateProduct, RetrieveProduct, UpdateProduct};
use stripe_product::{PriceBillingScheme, PriceTiersMode};

use super::catalog::{Catalog, Plan, Price, Pricing};
use super::stripe::{Interval, PORTAL_METADATA, Stripe, provider_error, unless_missing};
use crate::error::AppError;

/// The metadata key naming a product's or price's plan.
const PLAN_METADATA: &str = "plan";

/// What a plan's product id starts with; the plan's key follows.
pub const PRODUCT_PREFIX: &str = "plan_";

/// The Stripe product of `plan`.
pub fn product_id(plan: &Plan) -> String {
    format!("{PRODUCT_PREFIX}{}", plan.key)
}

/// Brings Stripe's products, prices and Portal configuration in line with
/// `plans`, calling `report` with each change as it is made (so a failure
/// half-way still says what was done; running again finishes the job).
/// Customers leave the Portal for `return_url`.
///
/// # Errors
/// When Stripe fails.
pub async fn sync(
    stripe: &Stripe,
    plans: Catalog,
    return_url: &str,
    report: &mut dyn FnMut(String),
) -> Result<(), AppError> {
    let mut sold = Vec::new();
    for plan in plans.plans().iter().filter(|plan| !plan.is_free()) {
        let product = sync_product(stripe, plan, report).await?;
        let mut prices = Vec::new();
        for price in plan.prices {
            prices.push(sync_price(stripe, plan, price, &product, report).await?);
        }
        archive_others(stripe, &product, &prices, report).await?;
        sold.push((product, prices));
    }
    sync_portal(stripe, &sold, return_url, report).await
}

async fn sync_product(
    stripe: &Stripe,
    plan: &Plan,
    report: &mut dyn FnMut(String),
) -> Result<String, AppError> {
    let id = product_id(plan);
    let metadata = HashMap::from([(PLAN_METADATA.to_owned(), plan.key.to_owned())]);
    let answer = RetrieveProduct::new(id.as_str()).send(&stripe.client).await;
    match unless_missing("reading a product", answer)? {
        None => {
            CreateProduct::new(plan.name)
                .id(id.as_str())
                .description(plan.description)
                .metadata(metadata)
                .send(&stripe.client)
                .await
                .map_err(provider_error("creating a product"))?;
            report(format!("created product {id} ({})", plan.name));
        }
        Some(product)
            if product.name != plan.name
                || product.description.as_deref() != Some(plan.description)
                || !product.active =>
        {
            UpdateProduct::new(id.as_str())
                .name(plan.name)
                .description(plan.description)
                .active(true)
                .metadata(metadata)
                .send(&stripe.client)
                .await
                .map_err(provider_error("updating a product"))?;
            report(format!("updated product {id} ({})", plan.name));
        }
        Some(_) => {}
    }
    Ok(id)
}

/// The id of the price holding `price`'s lookup key once it matches.
async fn sync_price(
    stripe: &Stripe,
    plan: &Plan,
    price: &Price,
    product: &str,
    report: &mut dyn FnMut(String),
) -> Result<String, AppError> {
    let key = plan.lookup_key(price.interval);
    let holder = ListPrice::new()
        .lookup_keys(vec![key.clone()])
        .expand(vec!["data.tiers".to_owned()])
        .send(&stripe.client)
        .await
        .map_err(provider_error("looking up a price"))?
        .data
        .into_iter()
        .next();
    let described = describe(plan, price);
    match holder {
        Some(holder) if matches(&holder, plan, price, product) => {
            if !holder.active {
                UpdatePrice::new(holder.id.as_str())
                    .active(true)
                    .send(&stripe.client)
                    .await
                    .map_err(provider_error("reactivating a price"))?;
                report(format!(
                    "reactivated price {key} ({described}): {}",
                    holder.id
                ));
            }
            Ok(holder.id.to_string())
        }
        holder => {
            let mut recurring = CreatePriceRecurring::new(match price.interval {
                Interval::Monthly => CreatePriceRecurringInterval::Month,
                Interval::Yearly => CreatePriceRecurringInterval::Year,
            });
            recurring.interval_count = Some(1);
            let mut create = CreatePrice::new(
                price
                    .currency
                    .parse::<stripe_types::Currency>()
                    .unwrap_or_else(|never| match never {}),
            )
            .product(product)
            .recurring(recurring)
            .lookup_key(key.as_str())
            .transfer_lookup_key(true)
            .nickname(format!("{}, {}", plan.name, price.interval.as_str()))
            .metadata(HashMap::from([(
                PLAN_METADATA.to_owned(),
                plan.key.to_owned(),
            )]));
            create = match included(plan) {
                None => create.unit_amount(price.amount),
                Some(included) => {
                    let mut free = CreatePriceTiers::new(CreatePriceTiersUpTo::I64(included));
                    free.unit_amount = Some(0);
                    let mut paid = CreatePriceTiers::new(CreatePriceTiersUpTo::Inf);
                    paid.unit_amount = Some(price.amount);
                    create
                        .billing_scheme(PriceBillingScheme::Tiered)
                        .tiers_mode(PriceTiersMode::Graduated)
                        .tiers(vec![free, paid])
                }
            };
            let created = create
                .send(&stripe.client)
                .await
                .map_err(provider_error("creating a price"))?;
            let replaced = holder.map_or(String::new(), |old| format!(", in place of {}", old.id));
            report(format!(
                "created price {key} ({described}): {}{replaced}",
                created.id
            ));
            Ok(created.id.to_string())
        }
    }
}

/// Seats included free, for a per-seat plan that has some.
fn included(plan: &Plan) -> Option<i64> {
    match plan.pricing {
        Pricing::PerSeat { included } if included > 0 => Some(included),
        _ => None,
    }
}

/// Whether Stripe's `price` bills what `plan` says for its interval.
fn matches(existing: &stripe_product::Price, plan: &Plan, price: &Price, product: &str) -> bool {
    let interval = price.interval.stripe_name();
    let billed = match included(plan) {
        None => {
            existing.billing_scheme == PriceBillingScheme::PerUnit
                && existing.unit_amount == Some(price.amount)
        }
        Some(included) => {
            let tiers: Vec<(Option<i64>, Option<i64>)> = existing
                .tiers
                .iter()
                .flatten()
                .map(|tier| {
                    (
                        tier.up_to,
                        tier.unit_amount
                            .filter(|_| tier.flat_amount.unwrap_or(0) == 0),
                    )
                })
                .collect();
            existing.billing_scheme == PriceBillingScheme::Tiered
                && existing.tiers_mode == Some(PriceTiersMode::Graduated)
                && tiers == [(Some(included), Some(0)), (None, Some(price.amount))]
        }
    };
    billed
        && existing.product.id().as_str() == product
        && existing.currency.to_string() == price.currency
        && existing
            .recurring
            .as_ref()
            .is_some_and(|r| r.interval.as_str() == interval && r.interval_count == 1)
}

/// `€7 per seat, monthly`, `€499, yearly, 5 seats included`.
fn describe(plan: &Plan, price: &Price) -> String {
    let each = match plan.pricing {
        Pricing::Flat => String::new(),
        Pricing::PerSeat { .. } => " per seat".to_owned(),
    };
    let included = included(plan).map_or(String::new(), |n| format!(", {n} seats included"));
    format!(
        "{}{each}, {}{included}",
        price.display(),
        price.interval.as_str()
    )
}

/// Archives the product's active prices other than `kept`: ones replaced
/// (by this run or one that stopped half-way) or of an interval the plan
/// no longer sells.
async fn archive_others(
    stripe: &Stripe,
    product: &str,
    kept: &[String],
    report: &mut dyn FnMut(String),
) -> Result<(), AppError> {
    let active = ListPrice::new()
        .product(product)
        .active(true)
        .limit(100)
        .send(&stripe.client)
        .await
        .map_err(provider_error("listing a product's prices"))?;
    for price in active
        .data
        .iter()
        .filter(|p| !kept.contains(&p.id.to_string()))
    {
        UpdatePrice::new(price.id.as_str())
            .active(false)
            .send(&stripe.client)
            .await
            .map_err(provider_error("archiving a price"))?;
        report(format!(
            "archived price {} of {product}: its subscriptions keep it, new ones can't choose it",
            price.id
        ));
    }
    Ok(())
}

async fn sync_portal(
    stripe: &Stripe,
    sold: &[(String, Vec<String>)],
    return_url: &str,
    report: &mut dyn FnMut(String),
) -> Result<(), AppError> {
    // What the configuration says, in one string: the current one is
    // marked with it, and a different one is made anew.
    let mut said = BTreeMap::new();
    said.insert("return_url", return_url.to_owned());
    said.insert("headline", crate::brand::APP_NAME.to_owned());
    for (product, prices) in sold {
        said.insert(product.as_str(), prices.join(" "));
    }
    let version = crate::tokens::digest(&format!("{said:?}"))[..16].to_owned();
    let (current, others): (Vec<_>, Vec<_>) = stripe
        .portal_configurations()
        .await?
        .into_iter()
        .partition(|(_, v)| *v == version);
    if current.is_empty() {
        create_portal(stripe, sold, return_url, version, report).await?;
    }
    // Older ones (or one left active by a run that stopped half-way).
    for (old, _) in others {
        UpdateBillingPortalConfiguration::new(old.as_str())
            .active(false)
            .send(&stripe.client)
            .await
            .map_err(provider_error(
                "deactivating a Customer Portal configuration",
            ))?;
        report(format!("deactivated Customer Portal configuration {old}"));
    }
    Ok(())
}

async fn create_portal(
    stripe: &Stripe,
    sold: &[(String, Vec<String>)],
    return_url: &str,
    version: String,
    report: &mut dyn FnMut(String),
) -> Result<(), AppError> {
    let mut features = CreateBillingPortalConfigurationFeatures::new();
    let mut customer = CreateBillingPortalConfigurationFeaturesCustomerUpdate::new(true);
    customer.allowed_updates = Some(vec![
        CustomerUpdates::Email,
        CustomerUpdates::Address,
        CustomerUpdates::TaxId,
    ]);
    features.customer_update = Some(customer);
    features.invoice_history = Some(InvoiceListParam::new(true));
    features.payment_method_update = Some(PaymentMethodUpdateParam::new(true));
    let mut cancel = CreateBillingPortalConfigurationFeaturesSubscriptionCancel::new(true);
    cancel.mode = Some(CreateBillingPortalConfigurationFeaturesSubscriptionCancelMode::AtPeriodEnd);
    features.subscription_cancel = Some(cancel);
    // Switching plans, not seats: a per-seat quantity follows the app.
    let mut update = CreateBillingPortalConfigurationFeaturesSubscriptionUpdate::new(true);
    update.default_allowed_updates = Some(vec![
        SubscriptionUpdates::Price,
        SubscriptionUpdates::PromotionCode,
    ]);
    update.products = Some(
        sold.iter()
            .map(|(product, prices)| {
                SubscriptionUpdateProductParam::new(prices.clone(), product.as_str())
            })
            .collect(),
    );
    update.proration_behavior = Some(
        CreateBillingPortalConfigurationFeaturesSubscriptionUpdateProrationBehavior::AlwaysInvoice,
    );
    features.subscription_update = Some(update);
    let mut profile = CreateBillingPortalConfigurationBusinessProfile::new();
    profile.headline = Some(crate::brand::APP_NAME.to_owned());
    let created = CreateBillingPortalConfiguration::new(features)
        .business_profile(profile)
        .default_return_url(return_url)
        .name(format!("{} (app stripe-sync)", crate::brand::APP_NAME))
        .metadata(HashMap::from([(PORTAL_METADATA.to_owned(), version)]))
        .send(&stripe.client)
        .await
        .map_err(provider_error("creating a Customer Portal configuration"))?;
    report(format!(
        "created Customer Portal configuration {}: plan changes between {} products, payment methods, invoices, cancellation",
        created.id,
        sold.len()
    ));
    Ok(())
}
