//! The calls the app makes to Stripe's API, through async-stripe (which
//! sends its pinned API version with every request, so the answers parse
//! into its types whatever version the account defaults to). Each returns
//! only what the app keeps: a URL to send the owner to, or a
//! [`SubscriptionSnapshot`].

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use stripe::{Client, ClientBuilder, IdempotencyKey, RequestStrategy, StripeRequest};
use stripe_billing::Subscription;
use stripe_billing::billing_portal_configuration::ListBillingPortalConfiguration;
use stripe_billing::billing_portal_session::CreateBillingPortalSession;
use stripe_billing::invoice::{
    CreatePreviewInvoice, CreatePreviewInvoiceSubscriptionDetails,
    CreatePreviewInvoiceSubscriptionDetailsItems,
    CreatePreviewInvoiceSubscriptionDetailsProrationBehavior, RetrieveInvoice,
};
use stripe_billing::subscription::{
    CancelSubscription, ListSubscription, ListSubscriptionStatus, RetrieveSubscription,
    UpdateSubscription, UpdateSubscriptionItems, UpdateSubscriptionPaymentBehavior,
    UpdateSubscriptionProrationBehavior,
};
use stripe_checkout::checkout_session::{
    CreateCheckoutSession, CreateCheckoutSessionAutomaticTax, CreateCheckoutSessionCustomerUpdate,
    CreateCheckoutSessionCustomerUpdateAddress, CreateCheckoutSessionLineItems,
    CreateCheckoutSessionSubscriptionData, RetrieveCheckoutSession,
};
use stripe_checkout::{
    CheckoutSessionBillingAddressCollection, CheckoutSessionMode, CheckoutSessionStatus,
};
use stripe_product::price::ListPrice;

use super::catalog::{Catalog, Plan};
use super::invoices::Invoice;
use crate::config::StripeConfig;
use crate::error::AppError;
use crate::ids::TenantId;

/// The metadata key that names the tenant on a subscription.
pub const TENANT_METADATA: &str = "tenant_id";

/// The metadata key that marks the Customer Portal configuration
/// `stripe-sync` made, with the version of what it says.
pub(super) const PORTAL_METADATA: &str = "stripe_sync";

/// A Stripe client with the app's settings; present when
/// `STRIPE_SECRET_KEY` is set.
pub struct Stripe {
    pub(super) client: Client,
    /// Price ids by lookup key, instead of looking them up.
    overrides: BTreeMap<String, String>,
    automatic_tax: bool,
    promotion_codes: bool,
}

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Interval {
    Monthly,
    Yearly,
}

impl Interval {
    pub const ALL: [Self; 2] = [Self::Monthly, Self::Yearly];

    /// As a price reads: "€7 a month".
    pub fn per(self) -> &'static str {
        match self {
            Self::Monthly => "a month",
            Self::Yearly => "a year",
        }
    }

    /// As Stripe's prices say it: `month`, `year`.
    pub fn stripe_name(self) -> &'static str {
        match self {
            Self::Monthly => "month",
            Self::Yearly => "year",
        }
    }

    /// As in forms, the API and lookup keys.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Monthly => "monthly",
            Self::Yearly => "yearly",
        }
    }
}

/// A subscription as the app keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubscriptionSnapshot {
    pub id: String,
    pub customer: String,
    /// Stripe's status: active, trialing, past_due, canceled, incomplete, …
    pub status: String,
    /// When it was created (unix seconds): of two equally standing, the
    /// newer is the tenant's ([`the_tenants`]).
    pub created: i64,
    /// The tenant named in its metadata (set at checkout).
    pub tenant: Option<String>,
    /// The end of the period paid for (the latest among its items).
    pub period_end: Option<i64>,
    /// When a scheduled cancellation takes effect.
    pub ends_at: Option<i64>,
    pub price: Option<String>,
    /// Its price's product: `plan_<key>` for a price `stripe-sync` made,
    /// which names the plan (and stays on a price replaced since).
    pub product: Option<String>,
    /// Its price's lookup key (`pro_monthly`): the plan, for a price made
    /// by hand with one.
    pub lookup_key: Option<String>,
    /// Its price's billing period: `month`, `year`.
    pub interval: Option<String>,
    /// Its item (the one the app sells), and how many it bills.
    pub item: Option<String>,
    pub quantity: Option<i64>,
    /// What it brings in a month, in the currency's minor unit: its price
    /// per unit times its quantity, a year's divided by 12 (the revenue
    /// page's MRR). `None` for a price that isn't per unit (tiered).
    pub monthly_amount: Option<i64>,
    /// Its price's currency: `eur`.
    pub currency: Option<String>,
    /// When it ended (unix seconds), if it has.
    pub ended_at: Option<i64>,
}

impl SubscriptionSnapshot {
    fn of(subscription: &Subscription) -> Self {
        let period_end = subscription
            .items
            .data
            .iter()
            .map(|item| item.current_period_end)
            .max();
        let ends_at = if subscription.cancel_at_period_end {
            period_end
        } else {
            subscription.cancel_at
        };
        let first = subscription.items.data.first();
        let quantity = first
            .and_then(|item| item.quantity)
            .and_then(|quantity| i64::try_from(quantity).ok());
        let monthly_amount = first.and_then(|item| {
            let recurring = item.price.recurring.as_ref()?;
            let per_period = item.price.unit_amount?.checked_mul(quantity.unwrap_or(1))?;
            let count = i64::try_from(recurring.interval_count.max(1)).ok()?;
            // Per month, from a period of `count` days, weeks, months or years.
            let (times, per) = match recurring.interval.as_str() {
                "day" => (365, 12),
                "week" => (52, 12),
                "month" => (1, 1),
                "year" => (1, 12),
                _ => return None,
            };
            Some(per_period * times / (per * count))
        });
        Self {
            id: subscription.id.to_string(),
            customer: subscription.customer.id().to_string(),
            status: subscription.status.as_str().to_owned(),
            created: subscription.created,
            tenant: subscription.metadata.get(TENANT_METADATA).cloned(),
            period_end,
            ends_at,
            price: first.map(|item| item.price.id.to_string()),
            product: first.map(|item| item.price.product.id().to_string()),
            lookup_key: first.and_then(|item| item.price.lookup_key.clone()),
            interval: first
                .and_then(|item| item.price.recurring.as_ref())
                .map(|recurring| recurring.interval.as_str().to_owned()),
            item: first.map(|item| item.id.to_string()),
            quantity,
            monthly_amount,
            currency: first.map(|item| item.price.currency.to_string()),
            ended_at: subscription.ended_at,
        }
    }

    pub fn is_live(&self) -> bool {
        is_live_status(&self.status)
    }

    /// How far along it is: paying (or about to) over stalled (unpaid,
    /// paused) over a first payment not made yet over ended.
    fn standing(&self) -> u8 {
        match self.status.as_str() {
            status if is_running_status(status) => 3,
            "canceled" | "incomplete_expired" => 0,
            "incomplete" => 1,
            _ => 2,
        }
    }
}

/// Which of two subscriptions is the tenant's, when it has more than one
/// (a checkout left `incomplete` and its paid replacement; one made in
/// Stripe's dashboard while an old one ends): the one further along, then
/// the newer, then (for a total order) the greater id. Whatever order their
/// events arrive in, keeping the winner of each comparison ends on the same
/// one.
pub fn the_tenants(
    a: Option<SubscriptionSnapshot>,
    b: Option<SubscriptionSnapshot>,
) -> Option<SubscriptionSnapshot> {
    match (a, b) {
        (Some(a), Some(b)) => {
            let rank = |s: &SubscriptionSnapshot| (s.standing(), s.created, s.id.clone());
            Some(if rank(&b) > rank(&a) { b } else { a })
        }
        (a, b) => a.or(b),
    }
}

/// Whether a subscription with Stripe's `status` is running: paid for, in
/// its trial, or in the grace of a failed payment.
pub fn is_running_status(status: &str) -> bool {
    matches!(status, "active" | "trialing" | "past_due")
}

/// Whether a subscription with Stripe's `status` is still running (or
/// trying to): not canceled, not expired unpaid.
pub fn is_live_status(status: &str) -> bool {
    !matches!(status, "canceled" | "incomplete_expired")
}

/// An invoice as Stripe has it now, and whose it is.
#[derive(Clone, Debug)]
pub struct InvoiceReading {
    pub invoice: Invoice,
    pub customer: Option<String>,
    /// The tenant its subscription names, for a subscription's invoice.
    pub tenant: Option<String>,
}

/// Moving a subscription's item to another price (and quantity), prorated
/// as of a moment.
#[derive(Clone, Debug)]
pub struct PriceChange {
    pub subscription: String,
    pub item: String,
    /// The price it is on now.
    pub from: String,
    pub price: String,
    pub quantity: u64,
    /// Unix seconds.
    pub proration_date: i64,
}

/// A completed Checkout Session: whose it is and what it created.
#[derive(Clone, Debug)]
pub struct CompletedCheckout {
    pub client_reference_id: Option<String>,
    pub subscription: Option<String>,
}

/// What a checkout needs to know about the tenant and what it buys.
pub struct CheckoutRequest<'a> {
    pub tenant: TenantId,
    pub plan: &'static Plan,
    pub interval: Interval,
    /// Seats, for a per-seat plan.
    pub quantity: u64,
    /// The tenant's Stripe customer, reused when it has one.
    pub customer: Option<&'a str>,
    /// Prefilled on Checkout when there is no customer yet.
    pub email: Option<&'a str>,
    pub success_url: String,
    pub cancel_url: String,
}

pub(super) fn provider_error(what: &str) -> impl Fn(stripe::StripeError) -> AppError + '_ {
    move |error| AppError::PaymentProvider(format!("Stripe, {what}: {error}"))
}

/// A read's answer, `None` when Stripe has no such object (404): a retry
/// would get the same.
pub(super) fn unless_missing<T>(
    what: &str,
    answer: Result<T, stripe::StripeError>,
) -> Result<Option<T>, AppError> {
    match answer {
        Ok(object) => Ok(Some(object)),
        Err(stripe::StripeError::Stripe(_, 404)) => Ok(None),
        Err(error) => Err(provider_error(what)(error)),
    }
}

impl Stripe {
    /// A client when a secret key is configured.
    ///
    /// # Errors
    /// When the client can't be built from the configuration.
    pub fn from_config(config: &StripeConfig) -> Result<Option<Self>, stripe::StripeError> {
        let Some(key) = &config.secret_key else {
            return Ok(None);
        };
        let client = ClientBuilder::new(key.expose())
            .url(config.api_base.clone())
            .timeout(Duration::from_secs(20))
            .app_info(crate::brand::APP_NAME, None, None)
            .build()?;
        Ok(Some(Self {
            client,
            overrides: config.price_overrides.clone(),
            automatic_tax: config.automatic_tax,
            promotion_codes: config.promotion_codes,
        }))
    }

    /// The price to sell `plan` at for `interval`: an override, else the
    /// active price holding its lookup key (`stripe-sync` made it).
    async fn price_of(&self, plan: &Plan, interval: Interval) -> Result<Option<String>, AppError> {
        let key = plan.lookup_key(interval);
        if let Some(price) = self.overrides.get(&key) {
            return Ok(Some(price.clone()));
        }
        let prices = ListPrice::new()
            .lookup_keys(vec![key])
            .active(true)
            .send(&self.client)
            .await
            .map_err(provider_error("looking up a price"))?;
        Ok(prices.data.first().map(|price| price.id.to_string()))
    }

    /// [`Self::price_of`], or a 503 saying to run `stripe-sync`.
    pub(super) async fn price_for(
        &self,
        plan: &Plan,
        interval: Interval,
    ) -> Result<String, AppError> {
        self.price_of(plan, interval).await?.ok_or_else(|| {
            AppError::NotConfigured(format!(
                "{} has no Stripe price for {}: run `app stripe-sync`, or set STRIPE_PRICES={}=price_….",
                plan.name,
                interval.as_str(),
                plan.lookup_key(interval)
            ))
        })
    }

    /// The Customer Portal configuration `stripe-sync` made; `None` before
    /// it ran (Stripe's default configuration is used then).
    pub(super) async fn portal_configuration(&self) -> Result<Option<String>, AppError> {
        Ok(self
            .portal_configurations()
            .await?
            .into_iter()
            .next()
            .map(|(id, _)| id))
    }

    /// The active Customer Portal configurations `stripe-sync` made, each
    /// with the version of what it says (one, unless a run stopped
    /// half-way).
    pub(super) async fn portal_configurations(&self) -> Result<Vec<(String, String)>, AppError> {
        let configurations = ListBillingPortalConfiguration::new()
            .active(true)
            .limit(100)
            .send(&self.client)
            .await
            .map_err(provider_error("listing Customer Portal configurations"))?;
        Ok(configurations
            .data
            .into_iter()
            .filter_map(|configuration| {
                let version = configuration.metadata?.remove(PORTAL_METADATA)?;
                Some((configuration.id.to_string(), version))
            })
            .collect())
    }

    /// The plan `subscription` pays for: the one whose price it is (an
    /// override), else the one its price's product is (`plan_<key>`, made
    /// by `stripe-sync`: a subscriber stays on a price replaced since, which
    /// lost its lookup key), else the one its lookup key names.
    pub fn plan_of(
        &self,
        plans: Catalog,
        subscription: &SubscriptionSnapshot,
    ) -> Option<&'static Plan> {
        let overridden = self
            .overrides
            .iter()
            .find(|(_, price)| subscription.price.as_deref() == Some(price.as_str()))
            .map(|(key, _)| key.as_str());
        let by_key = |key: &str| {
            Interval::ALL
                .iter()
                .find_map(|interval| key.strip_suffix(&format!("_{}", interval.as_str())))
                .and_then(|plan| plans.get(plan))
        };
        overridden
            .and_then(by_key)
            .or_else(|| {
                let product = subscription.product.as_deref()?;
                plans.get(product.strip_prefix(super::stripe_sync::PRODUCT_PREFIX)?)
            })
            .or_else(|| subscription.lookup_key.as_deref().and_then(by_key))
    }

    /// Opens a subscription-mode Checkout Session for a plan and returns its
    /// URL.
    /// The tenant id goes in `client_reference_id` and in the subscription's
    /// metadata, so every later event can be traced to it. The idempotency
    /// key is per tenant, minute and parameters: a double click opens one
    /// session.
    ///
    /// # Errors
    /// The plan has no price for the interval; Stripe fails.
    pub async fn checkout(&self, request: CheckoutRequest<'_>) -> Result<String, AppError> {
        let (plan, interval) = (request.plan, request.interval);
        let price = self.price_for(plan, interval).await?;
        let tenant = request.tenant.to_string();
        // Stripe answers a key it saw with other parameters with a 400, so
        // the key names the parameters: a double click opens one session, a
        // checkout after the customer was linked (or at another price)
        // another.
        let minute = time::OffsetDateTime::now_utc().unix_timestamp() / 60;
        let parameters = crate::tokens::digest(&format!(
            "{price}\n{}\n{}\n{:?}\n{:?}\n{}\n{}\n{}\n{}",
            self.promotion_codes,
            request.quantity,
            request.customer,
            request.email,
            plan.trial_days,
            self.automatic_tax,
            request.success_url,
            request.cancel_url
        ));
        let key = IdempotencyKey::new(format!("checkout-{tenant}-{minute}-{}", &parameters[..16]))
            .map_err(|error| AppError::Internal(format!("idempotency key: {error:?}")))?;
        let mut subscription = CreateCheckoutSessionSubscriptionData::new();
        subscription.metadata = Some(HashMap::from([(
            TENANT_METADATA.to_owned(),
            tenant.clone(),
        )]));
        subscription.trial_period_days = (plan.trial_days > 0).then_some(plan.trial_days);
        let mut line_item = CreateCheckoutSessionLineItems::new();
        line_item.price = Some(price.to_owned());
        line_item.quantity = Some(request.quantity.max(1));
        let mut session = CreateCheckoutSession::new()
            .mode(CheckoutSessionMode::Subscription)
            .client_reference_id(tenant.clone())
            .line_items(vec![line_item])
            .subscription_data(subscription)
            .success_url(request.success_url)
            .cancel_url(request.cancel_url);
        session = match (request.customer, request.email) {
            (Some(customer), _) => session.customer(customer),
            (None, Some(email)) => session.customer_email(email),
            (None, None) => session,
        };
        if self.promotion_codes {
            session = session.allow_promotion_codes(true);
        }
        if self.automatic_tax {
            session = session
                .automatic_tax(CreateCheckoutSessionAutomaticTax::new(true))
                .billing_address_collection(CheckoutSessionBillingAddressCollection::Required);
            if request.customer.is_some() {
                let mut update = CreateCheckoutSessionCustomerUpdate::new();
                update.address = Some(CreateCheckoutSessionCustomerUpdateAddress::Auto);
                session = session.customer_update(update);
            }
        }
        let created = session
            .customize()
            .request_strategy(RequestStrategy::Idempotent(key))
            .send(&self.client)
            .await
            .map_err(provider_error("creating a Checkout Session"))?;
        created.url.ok_or_else(|| {
            AppError::PaymentProvider("Stripe returned a Checkout Session without a URL".to_owned())
        })
    }

    /// A Customer Portal session for `customer`, returning to `return_url`.
    ///
    /// # Errors
    /// When Stripe fails.
    pub async fn portal(&self, customer: &str, return_url: String) -> Result<String, AppError> {
        let mut session = CreateBillingPortalSession::new()
            .customer(customer)
            .return_url(return_url);
        // Stripe's default configuration, if stripe-sync's can't be read:
        // the customer still reaches their billing.
        match self.portal_configuration().await {
            Ok(Some(configuration)) => session = session.configuration(configuration),
            Ok(None) => {}
            Err(error) => {
                tracing::warn!(%error, "the Customer Portal opens with Stripe's default configuration")
            }
        }
        let session = session
            .send(&self.client)
            .await
            .map_err(provider_error("creating a Customer Portal session"))?;
        Ok(session.url)
    }

    /// A Checkout Session as it is now, if it completed (and Stripe still
    /// has it).
    ///
    /// # Errors
    /// When Stripe fails.
    pub async fn completed_checkout(
        &self,
        id: &str,
    ) -> Result<Option<CompletedCheckout>, AppError> {
        let answer = RetrieveCheckoutSession::new(id).send(&self.client).await;
        let Some(session) = unless_missing("reading a Checkout Session", answer)? else {
            return Ok(None);
        };
        if session.status != Some(CheckoutSessionStatus::Complete) {
            return Ok(None);
        }
        Ok(Some(CompletedCheckout {
            client_reference_id: session.client_reference_id,
            subscription: session.subscription.map(|s| s.id().to_string()),
        }))
    }

    /// A subscription as it is now; `None` when Stripe has no such
    /// subscription.
    ///
    /// # Errors
    /// When Stripe fails.
    pub async fn subscription(&self, id: &str) -> Result<Option<SubscriptionSnapshot>, AppError> {
        let answer = RetrieveSubscription::new(id).send(&self.client).await;
        Ok(unless_missing("reading a subscription", answer)?.map(|s| SubscriptionSnapshot::of(&s)))
    }

    /// An invoice as it is now; `None` when Stripe has no such invoice.
    ///
    /// # Errors
    /// When Stripe fails.
    pub async fn invoice(&self, id: &str) -> Result<Option<InvoiceReading>, AppError> {
        let answer = RetrieveInvoice::new(id).send(&self.client).await;
        Ok(
            unless_missing("reading an invoice", answer)?.map(|invoice| InvoiceReading {
                customer: invoice.customer.as_ref().map(|c| c.id().to_string()),
                tenant: invoice
                    .parent
                    .as_ref()
                    .and_then(|parent| parent.subscription_details.as_ref())
                    .and_then(|details| details.metadata.as_ref())
                    .and_then(|metadata| metadata.get(TENANT_METADATA).cloned()),
                invoice: Invoice {
                    id: id.to_owned(),
                    number: invoice.number,
                    status: invoice
                        .status
                        .map_or_else(|| "draft".to_owned(), |status| status.as_str().to_owned()),
                    total: invoice.total,
                    amount_due: invoice.amount_due,
                    currency: invoice.currency.to_string(),
                    created: invoice.created,
                    hosted_invoice_url: invoice.hosted_invoice_url,
                    invoice_pdf: invoice.invoice_pdf,
                },
            }),
        )
    }

    /// Every subscription of `customer`, whatever its status (the newest
    /// 100: a customer with more has bigger problems); none when Stripe has
    /// no such customer.
    ///
    /// # Errors
    /// When Stripe fails.
    pub async fn subscriptions_of(
        &self,
        customer: &str,
    ) -> Result<Vec<SubscriptionSnapshot>, AppError> {
        let answer = ListSubscription::new()
            .customer(customer)
            .status(ListSubscriptionStatus::All)
            .limit(100)
            .send(&self.client)
            .await;
        Ok(
            unless_missing("listing a customer's subscriptions", answer)?
                .map(|list| list.data.iter().map(SubscriptionSnapshot::of).collect())
                .unwrap_or_default(),
        )
    }

    /// Schedules the subscription to end at its period's end, or undoes
    /// that.
    ///
    /// # Errors
    /// When Stripe fails.
    pub async fn cancel_at_period_end(
        &self,
        id: &str,
        cancel: bool,
    ) -> Result<SubscriptionSnapshot, AppError> {
        let subscription = UpdateSubscription::new(id)
            .cancel_at_period_end(cancel)
            .send(&self.client)
            .await
            .map_err(provider_error("updating a subscription"))?;
        Ok(SubscriptionSnapshot::of(&subscription))
    }

    /// Sets how many seats the subscription's item bills, prorated as
    /// Stripe does by default. The idempotency key names the quantity and
    /// `attempt` (a period): a retry sends the same request once.
    ///
    /// # Errors
    /// When Stripe fails.
    pub async fn set_quantity(
        &self,
        subscription: &str,
        item: &str,
        quantity: u64,
        attempt: &str,
    ) -> Result<SubscriptionSnapshot, AppError> {
        let mut change = UpdateSubscriptionItems::new();
        change.id = Some(item.to_owned());
        change.quantity = Some(quantity);
        let key = IdempotencyKey::new(format!("seats-{subscription}-{quantity}-{attempt}"))
            .map_err(|error| AppError::Internal(format!("idempotency key: {error:?}")))?;
        let subscription = UpdateSubscription::new(subscription)
            .items(vec![change])
            .customize()
            .request_strategy(RequestStrategy::Idempotent(key))
            .send(&self.client)
            .await
            .map_err(provider_error("changing a subscription's quantity"))?;
        Ok(SubscriptionSnapshot::of(&subscription))
    }

    /// What `change` would charge now (after the customer's credit
    /// balance; negative: a credit, for a downgrade), and in which currency.
    ///
    /// # Errors
    /// When Stripe fails.
    pub async fn preview_price_change(
        &self,
        change: &PriceChange,
    ) -> Result<(i64, String), AppError> {
        let mut item = CreatePreviewInvoiceSubscriptionDetailsItems::new();
        item.id = Some(change.item.clone());
        item.price = Some(change.price.clone());
        item.quantity = Some(change.quantity);
        let mut details = CreatePreviewInvoiceSubscriptionDetails::new();
        details.items = Some(vec![item]);
        details.proration_behavior =
            Some(CreatePreviewInvoiceSubscriptionDetailsProrationBehavior::AlwaysInvoice);
        details.proration_date = Some(change.proration_date);
        let invoice = CreatePreviewInvoice::new()
            .subscription(change.subscription.as_str())
            .subscription_details(details)
            .send(&self.client)
            .await
            .map_err(provider_error("previewing a plan change"))?;
        // Charged: what is due after the customer's credit balance;
        // credited: the negative total.
        let now = if invoice.total > 0 {
            invoice.amount_due
        } else {
            invoice.total
        };
        Ok((now, invoice.currency.to_string()))
    }

    /// Makes `change`, invoiced now: what [`Self::preview_price_change`]
    /// showed for it. The idempotency key names all of it: a double submit
    /// changes once.
    ///
    /// # Errors
    /// When Stripe fails.
    pub async fn change_price(
        &self,
        change: &PriceChange,
    ) -> Result<SubscriptionSnapshot, AppError> {
        let mut item = UpdateSubscriptionItems::new();
        item.id = Some(change.item.clone());
        item.price = Some(change.price.clone());
        item.quantity = Some(change.quantity);
        let PriceChange {
            subscription,
            from,
            price,
            quantity,
            proration_date,
            ..
        } = change;
        let key = IdempotencyKey::new(format!(
            "change-{subscription}-{from}-{price}-{quantity}-{proration_date}"
        ))
        .map_err(|error| AppError::Internal(format!("idempotency key: {error:?}")))?;
        // The change waits for its payment: a declined card (or one that
        // asks for authentication) leaves the plan as it was.
        let subscription = UpdateSubscription::new(subscription.as_str())
            .items(vec![item])
            .proration_behavior(UpdateSubscriptionProrationBehavior::AlwaysInvoice)
            .proration_date(*proration_date)
            .payment_behavior(UpdateSubscriptionPaymentBehavior::PendingIfIncomplete)
            .expand(vec!["latest_invoice".to_owned()])
            .customize()
            .request_strategy(RequestStrategy::Idempotent(key))
            .send(&self.client)
            .await
            .map_err(provider_error("changing a subscription's plan"))?;
        if subscription.pending_update.is_some() {
            let invoice = match &subscription.latest_invoice {
                Some(stripe_types::Expandable::Object(invoice)) => {
                    invoice.hosted_invoice_url.clone()
                }
                _ => None,
            };
            return Err(AppError::Conflict(match invoice {
                Some(url) => format!(
                    "The payment for the change did not go through, so the plan stays as it \
                     was: pay the invoice at {url}, or update the card (Manage billing) and \
                     preview the change again."
                ),
                None => "The payment for the change did not go through, so the plan stays as \
                         it was: update the card (Manage billing) and preview the change again."
                    .to_owned(),
            }));
        }
        Ok(SubscriptionSnapshot::of(&subscription))
    }

    /// Ends the subscription now.
    ///
    /// # Errors
    /// When Stripe fails.
    pub async fn cancel_now(&self, id: &str) -> Result<SubscriptionSnapshot, AppError> {
        let subscription = CancelSubscription::new(id)
            .send(&self.client)
            .await
            .map_err(provider_error("canceling a subscription"))?;
        Ok(SubscriptionSnapshot::of(&subscription))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(id: &str, status: &str, created: i64) -> SubscriptionSnapshot {
        SubscriptionSnapshot {
            id: id.to_owned(),
            customer: "cus_1".to_owned(),
            status: status.to_owned(),
            created,
            tenant: None,
            period_end: None,
            ends_at: None,
            price: None,
            product: None,
            lookup_key: None,
            interval: None,
            item: None,
            quantity: None,
            monthly_amount: None,
            currency: None,
            ended_at: None,
        }
    }

    /// Every order of every pair of a tenant's subscriptions ends on the
    /// same one: paying over stalled over incomplete over ended, then the
    /// newer.
    #[test]
    fn the_tenants_subscription_is_the_same_whatever_order_they_are_seen_in() {
        let cases = [
            (
                vec![
                    snapshot("sub_a", "incomplete", 10),
                    snapshot("sub_b", "active", 5),
                    snapshot("sub_c", "incomplete_expired", 20),
                ],
                "sub_b",
            ),
            (
                vec![
                    snapshot("sub_a", "canceled", 30),
                    snapshot("sub_b", "active", 10),
                    snapshot("sub_c", "trialing", 20),
                ],
                "sub_c",
            ),
            (
                vec![
                    snapshot("sub_a", "unpaid", 30),
                    snapshot("sub_b", "past_due", 10),
                    snapshot("sub_c", "incomplete", 40),
                ],
                "sub_b",
            ),
            (
                vec![
                    snapshot("sub_a", "canceled", 10),
                    snapshot("sub_b", "incomplete", 5),
                ],
                "sub_b",
            ),
            (
                vec![
                    snapshot("sub_a", "canceled", 10),
                    snapshot("sub_b", "canceled", 20),
                ],
                "sub_b",
            ),
        ];
        for (subscriptions, expected) in cases {
            let n = subscriptions.len();
            for order in permutations(n) {
                let chosen = order.iter().fold(None, |kept, &i| {
                    the_tenants(kept, Some(subscriptions[i].clone()))
                });
                assert_eq!(chosen.map(|s| s.id).as_deref(), Some(expected), "{order:?}");
            }
        }
        assert_eq!(the_tenants(None, None), None);
    }

    fn permutations(n: usize) -> Vec<Vec<usize>> {
        if n == 0 {
            return vec![Vec::new()];
        }
        let mut all = Vec::new();
        for rest in permutations(n - 1) {
            for at in 0..=rest.len() {
                let mut order = rest.clone();
                order.insert(at, n - 1);
                all.push(order);
            }
        }
        all
    }
}
