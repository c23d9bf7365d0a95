//! The job that processes one of Stripe's events from the inbox
//! ([`super::webhook`]): it finds the tenant and the subscription the event
//! is about, and stores the tenant's subscription as Stripe has it now; an
//! invoice's event also stores the invoice as Stripe has it now
//! ([`super::invoices`]).
//!
//! * Stripe is read outside any database transaction, while the worker
//!   holds the tenant's `billing` lease ([`TenantLease`]): one tenant's
//!   events are processed one at a time, so two readings are never applied
//!   out of order; what was read is applied under a short lock on the
//!   tenant's row, if the row is still as it was before Stripe was read.
//! * Events arrive in any order, twice, or late; the job reads the
//!   subscriptions as they are now, so the order doesn't matter.
//! * The tenant's subscription is chosen among all of its customers'
//!   subscriptions (a checkout left `incomplete` and its paid replacement;
//!   one made in Stripe's dashboard while an old one ends) by
//!   [`the_tenants`]: running over incomplete over ended, then the newer.
//! * Stripe failing or slow fails the job, which the queue retries with
//!   backoff. An answer no retry can change (no such subscription, no
//!   tenant of this app) finishes the event with that outcome, kept in
//!   `stripe_events.outcome`; the event's redelivery (a resend from Stripe's
//!   dashboard) processes it again.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::BillingState;
use super::global::{InboxEvent, finish_event, inbox_event, tenant_exists, tenant_of_customer};
use super::notices::{self, Notice};
use super::state::{current_state, locked_state, store_subscription};
use super::stripe::{Stripe, SubscriptionSnapshot, the_tenants};
use super::{invoices, seats};
use crate::http::AppState;
use crate::ids::TenantId;
use crate::jobs::lease::TenantLease;
use crate::jobs::{JobError, JobKind};
use crate::tenancy::{Intent, for_tenant};

/// Processes one event of the inbox: `{"event": id}`.
pub const STRIPE_EVENT: JobKind = JobKind {
    name: "stripe_event",
    // Backoff from 10 s to 6 h: about four days, past Stripe's own three.
    max_attempts: 25,
    run: |state, fields| Box::pin(run(state, fields)),
};

/// What an event asks the job to look at, as the inbox keeps it.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Subject {
    /// A completed Checkout Session: read it for its subscription.
    Checkout {
        session: String,
    },
    Subscription {
        id: String,
    },
    /// An invoice, and its subscription if it is a subscription's.
    Invoice {
        id: String,
        subscription: Option<String>,
    },
}

/// What the job routes an event by.
#[derive(Debug, Serialize, Deserialize)]
pub struct Routing {
    pub subject: Subject,
    /// The tenants the event names (`client_reference_id`, metadata), the
    /// most trusted first; the first that exists is the one.
    pub tenants: Vec<String>,
    pub customer: Option<String>,
}

/// How long a worker waits for another to finish with the same tenant
/// before its job fails and is retried later.
const LEASE_PATIENCE: Duration = Duration::from_secs(5);

/// The tenant's `billing` lease, which every job that reads Stripe and
/// stores what it read holds (this one, and `seats`), waiting a little for
/// another worker to finish; if it doesn't, the job fails and is retried.
///
/// # Errors
/// The lease is still held; the database fails.
pub(super) async fn billing_lease(
    state: &AppState,
    tenant: TenantId,
) -> Result<TenantLease, JobError> {
    TenantLease::acquire(&state.db, tenant, "billing", LEASE_PATIENCE)
        .await?
        .ok_or_else(|| "another worker is processing this tenant's billing".into())
}

async fn run(
    state: &AppState,
    fields: &serde_json::Map<String, serde_json::Value>,
) -> Result<(), JobError> {
    let id = fields
        .get("event")
        .and_then(serde_json::Value::as_str)
        .ok_or("a stripe_event job without its event id")?;
    let Some(event) = inbox_event(&state.db, id).await? else {
        return Ok(()); // purged
    };
    if event.processed_at.is_some() {
        return Ok(());
    }
    let stripe = super::stripe_of(state)?;
    let routing: Routing = serde_json::from_str(&event.payload)?;
    let outcome = process(state, stripe, &event, &routing).await?;
    if outcome != Outcome::Applied {
        tracing::info!(
            event = id,
            kind = event.kind,
            outcome = outcome.as_str(),
            "a Stripe event changed nothing"
        );
    }
    finish_event(&state.db, id, outcome.as_str()).await?;
    Ok(())
}

/// What processing an event did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    /// The tenant's subscription is stored as Stripe has it now.
    Applied,
    CheckoutIncomplete,
    /// A completed checkout that made no subscription (a one-off payment).
    NoSubscription,
    NoTenant,
    /// The subscription names another tenant than the event leads to.
    OtherTenant,
    /// Stripe has no such subscription (or Checkout Session) any more.
    Gone,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Self::Applied => super::global::APPLIED,
            Self::CheckoutIncomplete => "ignored: the checkout is not complete",
            Self::NoSubscription => "ignored: the checkout made no subscription",
            Self::NoTenant => "ignored: no tenant of this app",
            Self::OtherTenant => "ignored: it is another tenant's",
            Self::Gone => "ignored: Stripe no longer has it",
        }
    }
}

async fn process(
    state: &AppState,
    stripe: &Stripe,
    event: &InboxEvent,
    routing: &Routing,
) -> Result<Outcome, JobError> {
    let mut named = routing.tenants.clone();
    let (subscription, invoice) = match &routing.subject {
        Subject::Subscription { id } => (Some(id.clone()), None),
        Subject::Invoice { id, subscription } => (subscription.clone(), Some(id.as_str())),
        Subject::Checkout { session } => match stripe.completed_checkout(session).await? {
            None => return Ok(Outcome::CheckoutIncomplete),
            Some(checkout) => {
                // Stripe's own record of whose checkout it was comes first.
                named.splice(0..0, checkout.client_reference_id);
                match checkout.subscription {
                    Some(id) => (Some(id), None),
                    None => return Ok(Outcome::NoSubscription),
                }
            }
        },
    };
    let tenant = tenant_of(state, stripe, &named, routing, subscription.as_deref()).await?;
    let Some(tenant) = tenant else {
        return Ok(Outcome::NoTenant);
    };
    let lease = billing_lease(state, tenant).await?;
    let outcome = async {
        let mut outcome = Outcome::Applied;
        if let Some(subscription) = &subscription {
            outcome = sync_tenant(state, stripe, event, tenant, subscription).await?;
        }
        if let Some(invoice) = invoice
            && outcome == Outcome::Applied
        {
            let stored = sync_invoice(state, stripe, tenant, invoice).await?;
            // A subscription's event applied whatever became of the
            // invoice (a draft Stripe deleted).
            if subscription.is_none() || stored != Outcome::Gone {
                outcome = stored;
            }
        }
        Ok(outcome)
    }
    .await;
    lease.release().await;
    outcome
}

/// The tenant an event leads to: the first it names that exists, else its
/// customer's, else (an invoice before the checkout's events; a
/// subscription made in Stripe's dashboard) the one its subscription names.
async fn tenant_of(
    state: &AppState,
    stripe: &Stripe,
    named: &[String],
    routing: &Routing,
    subscription: Option<&str>,
) -> Result<Option<TenantId>, JobError> {
    for id in named.iter().filter_map(|id| id.parse::<TenantId>().ok()) {
        if tenant_exists(&state.db, id).await? {
            return Ok(Some(id));
        }
    }
    if let Some(customer) = &routing.customer
        && let Some(tenant) = tenant_of_customer(&state.db, customer).await?
    {
        return Ok(Some(tenant));
    }
    let Some(subscription) = subscription else {
        return Ok(None);
    };
    let Some(snapshot) = stripe.subscription(subscription).await? else {
        return Ok(None);
    };
    match snapshot.tenant.and_then(|id| id.parse::<TenantId>().ok()) {
        Some(id) if tenant_exists(&state.db, id).await? => Ok(Some(id)),
        _ => Ok(None),
    }
}

/// Under the tenant's lease: reads from Stripe, outside any transaction,
/// the event's subscription and every subscription of the tenant's
/// customers (the event's and the one on file may be two, after a second
/// checkout before the first was linked), and stores the tenant's.
async fn sync_tenant(
    state: &AppState,
    stripe: &Stripe,
    event: &InboxEvent,
    tenant: TenantId,
    subscription: &str,
) -> Result<Outcome, JobError> {
    let Some(on_file) = on_file(state, tenant).await? else {
        return Ok(Outcome::NoTenant);
    };
    let named = stripe.subscription(subscription).await?;
    let theirs = |s: &SubscriptionSnapshot| {
        s.tenant
            .as_deref()
            .is_none_or(|named| named == tenant.to_string())
    };
    if named.as_ref().is_some_and(|s| !theirs(s)) {
        tracing::warn!(%tenant, subscription, "a subscription of another tenant; ignored");
        return Ok(Outcome::OtherTenant);
    }
    let mut customers: Vec<String> = named.iter().map(|s| s.customer.clone()).collect();
    if let Some(customer) = &on_file.stripe_customer_id
        && !customers.contains(customer)
    {
        customers.push(customer.clone());
    }
    // Looking at all of them, not only the two an event names, is what
    // makes the choice the same whatever events come: a subscription that
    // ends hands over to any other still running, with no event of its own.
    // A later reading of one replaces an earlier.
    let mut readings: Vec<SubscriptionSnapshot> = named.into_iter().collect();
    for customer in &customers {
        for candidate in stripe.subscriptions_of(customer).await? {
            if theirs(&candidate) {
                readings.retain(|reading| reading.id != candidate.id);
                readings.push(candidate);
            }
        }
    }
    let chosen = readings
        .into_iter()
        .fold(None, |kept, reading| the_tenants(kept, Some(reading)));
    let Some(chosen) = chosen else {
        return Ok(Outcome::Gone);
    };
    // The event's own news for the owners, when its subscription is the
    // tenant's.
    let notice = (chosen.id == subscription)
        .then(|| Notice::of(&event.kind, &chosen, state.config.stripe.receipt_emails))
        .flatten()
        .map(|notice| (event.id.as_str(), notice));
    apply(state, tenant, &on_file, &chosen, notice).await
}

/// Under the tenant's lease: reads the invoice from Stripe, outside any
/// transaction, and stores it as it is now if it is the tenant's (its
/// subscription names the tenant; without one, its customer is the
/// tenant's).
async fn sync_invoice(
    state: &AppState,
    stripe: &Stripe,
    tenant: TenantId,
    id: &str,
) -> Result<Outcome, JobError> {
    let Some(reading) = stripe.invoice(id).await? else {
        return Ok(Outcome::Gone);
    };
    let Some(on_file) = on_file(state, tenant).await? else {
        return Ok(Outcome::NoTenant);
    };
    let theirs = match &reading.tenant {
        Some(named) => *named == tenant.to_string(),
        None => reading.customer.is_some() && reading.customer == on_file.stripe_customer_id,
    };
    if !theirs {
        tracing::warn!(%tenant, invoice = id, "an invoice of another tenant; ignored");
        return Ok(Outcome::OtherTenant);
    }
    let mut scope = for_tenant(&state.db, tenant, Intent::Write).await?;
    invoices::store(&mut scope, &reading.invoice).await?;
    scope.commit().await?;
    Ok(Outcome::Applied)
}

/// The tenant's billing state; `None` when the tenant is gone.
async fn on_file(state: &AppState, tenant: TenantId) -> Result<Option<BillingState>, JobError> {
    let mut scope = for_tenant(&state.db, tenant, Intent::Read).await?;
    let read = match current_state(&mut scope).await {
        Ok(billing) => Some(billing),
        Err(sqlx::Error::RowNotFound) => None,
        Err(error) => return Err(error.into()),
    };
    scope.commit().await?;
    Ok(read)
}

/// Stores `chosen` in a short transaction under the tenant row's lock, if
/// the subscription on file is still as it was read before Stripe was.
async fn apply(
    state: &AppState,
    tenant: TenantId,
    on_file: &BillingState,
    chosen: &SubscriptionSnapshot,
    notice: Option<(&str, Notice)>,
) -> Result<Outcome, JobError> {
    let mut scope = for_tenant(&state.db, tenant, Intent::Write).await?;
    let current = match locked_state(&mut scope).await {
        Ok(billing) => billing,
        Err(sqlx::Error::RowNotFound) => return Ok(Outcome::NoTenant),
        Err(error) => return Err(error.into()),
    };
    if !current.same_subscription(on_file) {
        // Only a lease holder stores a subscription: this one's lease ran
        // out while it read Stripe (a stalled machine), and another stored
        // a newer reading. Start again from that.
        return Err("the subscription on file changed while Stripe was read".into());
    }
    let plan = state
        .stripe
        .as_deref()
        .and_then(|s| s.plan_of(state.plans, chosen));
    if plan.is_none() && chosen.is_live() {
        tracing::warn!(%tenant, subscription = chosen.id, price = chosen.price, "a subscription whose price is of no plan in src/plans.rs: it gets the top plan");
    }
    store_subscription(&mut scope, &current, chosen, plan).await?;
    // Stripe keeps the quantity when the price changes: a move between a
    // flat and a per-seat plan (in the Portal) bills the wrong one until
    // the seats job sets it.
    let before = current
        .subscription_plan
        .as_deref()
        .and_then(|key| state.plans.get(key));
    if let (Some(before), Some(after)) = (before, plan)
        && before.pricing.is_per_seat() != after.pricing.is_per_seat()
        && chosen.is_live()
    {
        seats::plan_changed(&mut scope).await?;
    }
    if let Some((event, notice)) = notice {
        let plan = plan.unwrap_or_else(|| state.plans.top()).name;
        notices::send(
            &mut scope,
            &state.config.base_url,
            event,
            notice,
            plan,
            chosen,
        )
        .await?;
    }
    scope.commit().await?;
    Ok(Outcome::Applied)
}
