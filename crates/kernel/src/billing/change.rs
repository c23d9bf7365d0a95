//! Changing plan in the app: an owner with a subscription picks another
//! plan or interval, sees what it costs now (Stripe's own preview of the
//! prorated invoice), and confirms. The change is made with the previewed
//! proration date and invoiced at once (`always_invoice`), so the amount
//! charged (or credited, for a downgrade) is the one shown. The tenant's
//! plan follows when Stripe's `customer.subscription.updated` arrives,
//! like every change; the Customer Portal offers the same switch
//! (`stripe-sync` configures it).
//!
//! A downgrade below what the tenant uses keeps everything: additions
//! beyond the new limits are refused (`ensure_room`) and the billing page
//! says what is over.

use time::OffsetDateTime;

use super::catalog::{Plan, Pricing, money};
use super::stripe::{Interval, PriceChange, Stripe};
use super::{before_stripe, stripe_of};
use crate::access::InTenant;
use crate::error::AppError;
use crate::http::AppState;
use crate::tenancy::Action;

/// How long a preview's proration date may be confirmed.
const PREVIEW_LIFETIME: i64 = 3600;

/// How far ahead of this server's clock a preview's date may be (another
/// server's clock).
const CLOCK_SKEW: i64 = 60;

/// A plan change as Stripe previews it.
#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ChangePreview {
    /// The plan's key.
    pub plan: &'static str,
    #[schema(value_type = String)]
    pub plan_name: &'static str,
    pub interval: Interval,
    /// Seats billed on the new plan (1 for a flat plan).
    pub quantity: u64,
    /// Charged now for the rest of the period, prorated; negative: credited
    /// to the next invoices. In the currency's minor unit.
    pub amount_now: i64,
    pub currency: String,
    /// Its size as people read it (`€12.50`), charged or credited.
    pub amount_now_display: String,
    /// What the new plan costs each period.
    pub recurring_display: String,
    /// The billing interval changes (monthly to yearly or back): Stripe
    /// starts a new period now, so the amount now is a whole new period
    /// less what is unused of the current one.
    pub cycle_resets: bool,
    /// The moment the proration is computed for: confirm with it to be
    /// charged what was shown.
    #[serde(with = "time::serde::rfc3339")]
    pub proration_at: OffsetDateTime,
}

/// The plan asked for, and the change it makes to the subscription as of
/// now.
struct Change {
    plan: &'static Plan,
    interval: Interval,
    /// Monthly to yearly or back: Stripe starts a new period now.
    cycle_resets: bool,
    price_change: PriceChange,
}

async fn prepare<'a>(
    state: &'a AppState,
    mut t: InTenant,
    plan: &str,
    interval: Interval,
) -> Result<(&'a Stripe, Change), AppError> {
    t.member.authorize(Action::ManageBilling)?;
    let stripe = stripe_of(state)?;
    let subscription = t
        .billing
        .stripe_subscription_id
        .clone()
        .filter(|_| t.billing.has_subscription())
        .ok_or_else(|| {
            AppError::Conflict("There is no subscription to change: choose a plan first.".into())
        })?;
    let plan = super::on_sale(state, plan, interval).ok_or_else(|| {
        AppError::Unprocessable(format!(
            "There is no {plan} plan sold {}: see /pricing.",
            interval.as_str()
        ))
    })?;
    let quantity = plan.quantity((t.plans.seat().count)(&mut t.scope).await?);
    before_stripe(t.scope).await?;
    let current = stripe
        .subscription(&subscription)
        .await?
        .filter(|s| s.is_live() && s.item.is_some())
        .ok_or_else(|| {
            AppError::Conflict(
                "Stripe has no running subscription for this organisation any more.".into(),
            )
        })?;
    let price = stripe.price_for(plan, interval).await?;
    if current.price.as_deref() == Some(price.as_str()) {
        return Err(AppError::Conflict(format!(
            "The subscription is already on the {} plan, billed {}.",
            plan.name,
            interval.as_str()
        )));
    }
    let cycle_resets = current.interval.as_deref() != Some(interval.stripe_name());
    let price_change = PriceChange {
        subscription: current.id,
        item: current.item.unwrap_or_default(),
        from: current.price.unwrap_or_default(),
        price,
        quantity: u64::try_from(quantity).unwrap_or(1),
        proration_date: OffsetDateTime::now_utc().unix_timestamp(),
    };
    Ok((
        stripe,
        Change {
            plan,
            interval,
            cycle_resets,
            price_change,
        },
    ))
}

/// What changing to `plan` at `interval` costs now.
///
/// # Errors
/// 403 for anyone but an owner; 409 without a running subscription or on
/// that plan already; 422 for a plan not on sale; Stripe's failures.
pub async fn preview(
    state: &AppState,
    t: InTenant,
    plan: &str,
    interval: Interval,
) -> Result<ChangePreview, AppError> {
    let (stripe, change) = prepare(state, t, plan, interval).await?;
    let (amount_now, currency) = stripe.preview_price_change(&change.price_change).await?;
    let quantity = change.price_change.quantity;
    let price = change
        .plan
        .price(change.interval)
        .ok_or_else(|| AppError::Internal("a plan on sale without its price".into()))?;
    let recurring_display = match change.plan.pricing {
        Pricing::Flat => format!("{} {}", price.display(), change.interval.per()),
        Pricing::PerSeat { .. } => format!(
            "{} per {} {} ({} now)",
            price.display(),
            state.plans.seat().one,
            change.interval.per(),
            quantity
        ),
    };
    Ok(ChangePreview {
        plan: change.plan.key,
        plan_name: change.plan.name,
        interval: change.interval,
        quantity,
        amount_now_display: money(amount_now.abs(), &currency),
        amount_now,
        currency,
        recurring_display,
        cycle_resets: change.cycle_resets,
        proration_at: OffsetDateTime::from_unix_timestamp(change.price_change.proration_date)
            .map_err(|error| AppError::Internal(format!("a proration date: {error}")))?,
    })
}

/// A previewed change, to make.
pub struct Previewed {
    pub plan: String,
    pub interval: Interval,
    /// The preview's moment and seat count: the charge is the one shown.
    pub proration_at: OffsetDateTime,
    pub quantity: u64,
}

/// Changes the subscription as `previewed` (a preview from the last hour),
/// prorated as of its moment and invoiced now, once paid.
///
/// # Errors
/// As [`preview`]; 422 for a proration date not from a recent preview; 409
/// when the seat count changed since, or the payment did not go through.
pub async fn confirm(state: &AppState, t: InTenant, previewed: Previewed) -> Result<(), AppError> {
    let proration_date = previewed.proration_at.unix_timestamp();
    let now = OffsetDateTime::now_utc().unix_timestamp();
    if !(now - PREVIEW_LIFETIME..=now + CLOCK_SKEW).contains(&proration_date) {
        return Err(AppError::Unprocessable(
            "proration_at: the preview is out of date; preview the change again.".into(),
        ));
    }
    let (stripe, mut change) = prepare(state, t, &previewed.plan, previewed.interval).await?;
    if change.price_change.quantity != previewed.quantity {
        return Err(AppError::Conflict(format!(
            "The seat count changed since the preview ({} then, {} now): preview the change again.",
            previewed.quantity, change.price_change.quantity
        )));
    }
    change.price_change.proration_date = proration_date;
    stripe.change_price(&change.price_change).await?;
    Ok(())
}
