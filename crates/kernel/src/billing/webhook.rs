//! `POST /webhooks/stripe`: Stripe's events, the only source of a tenant's
//! subscription state (ARCHITECTURE §5).
//!
//! 1. The signature is checked (HMAC-SHA256 of `"{t}.{body}"` with the
//!    endpoint's secret, 300 s tolerance): bad, missing or stale → 400, and
//!    nothing is written. So is a body that isn't an event.
//! 2. Only what routing needs is parsed (ids, `client_reference_id`,
//!    metadata, customer): an endpoint sends events in its own API version.
//! 3. In the tenant's scope, under a lock on its billing row, the event id is
//!    recorded (unique: a redelivery changes nothing) and the subscription is
//!    fetched from Stripe as it is now and stored, in one transaction. Events
//!    arrive out of order; fetching makes the order irrelevant.
//! 4. Any failure (Stripe unreachable, the database) is a 500: the
//!    transaction rolls back, the event id with it, and Stripe retries.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use sha2::Sha256;
use time::OffsetDateTime;

use super::global::{tenant_exists, tenant_of_customer};
use super::stripe::{SubscriptionSnapshot, TENANT_METADATA, is_live_status};
use super::{BillingState, locked_state};
use crate::error::AppError;
use crate::http::AppState;
use crate::http::routes::{Access, Routes, post};
use crate::ids::TenantId;
use crate::on_tx;
use crate::tenancy::{Intent, TenantScope, for_tenant};

pub fn routes() -> Routes {
    Routes::new().add("/webhooks/stripe", Access::Public, post(receive))
}

/// How far a signature's timestamp may be from now.
pub const TOLERANCE_SECS: i64 = 300;

/// Why a signature is refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("no Stripe-Signature header, or one without t= and v1=")]
    Malformed,
    #[error("no v1 signature matches the webhook secret")]
    Mismatch,
    #[error("the signature's timestamp is more than 300 seconds from now")]
    Stale,
}

/// Checks a `Stripe-Signature` header (`t=…,v1=…[,v1=…]`) against the body:
/// any `v1` may match (Stripe sends two while a secret is being rolled).
///
/// # Errors
/// The reason the signature is refused.
pub fn verify_signature(
    payload: &[u8],
    header: &str,
    secret: &str,
    now: i64,
) -> Result<(), SignatureError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", hex)) => signatures.extend(hex::decode(hex).ok()),
            _ => {}
        }
    }
    let Some(timestamp) = timestamp else {
        return Err(SignatureError::Malformed);
    };
    if signatures.is_empty() {
        return Err(SignatureError::Malformed);
    }
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).map_err(|_| SignatureError::Mismatch)?;
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    if !signatures
        .iter()
        .any(|signature| mac.clone().verify_slice(signature).is_ok())
    {
        return Err(SignatureError::Mismatch);
    }
    // abs_diff: a signed header may carry any i64, and a difference of two
    // can overflow one.
    if now.abs_diff(timestamp) > TOLERANCE_SECS.unsigned_abs() {
        return Err(SignatureError::Stale);
    }
    Ok(())
}

/// The part of an event that routing needs, and nothing more.
#[derive(Deserialize)]
struct Event {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    data: EventData,
}

#[derive(Deserialize)]
struct EventData {
    object: EventObject,
}

#[derive(Deserialize)]
struct EventObject {
    id: String,
    #[serde(default)]
    client_reference_id: Option<String>,
    #[serde(default)]
    metadata: Option<HashMap<String, String>>,
    #[serde(default)]
    customer: Option<IdOrObject>,
    /// An invoice's subscription (API versions before 2025-03-31).
    #[serde(default)]
    subscription: Option<IdOrObject>,
    /// An invoice's subscription (later versions).
    #[serde(default)]
    parent: Option<InvoiceParent>,
}

#[derive(Deserialize)]
struct InvoiceParent {
    #[serde(default)]
    subscription_details: Option<SubscriptionDetails>,
}

#[derive(Deserialize)]
struct SubscriptionDetails {
    #[serde(default)]
    subscription: Option<IdOrObject>,
    #[serde(default)]
    metadata: Option<HashMap<String, String>>,
}

/// A reference that is an id, or the object when expanded.
#[derive(Deserialize)]
#[serde(untagged)]
enum IdOrObject {
    Id(String),
    Object { id: String },
}

impl IdOrObject {
    fn into_id(self) -> String {
        match self {
            Self::Id(id) | Self::Object { id } => id,
        }
    }
}

/// What an event asks the app to look at.
enum Subject {
    /// A Checkout Session: read it for its subscription.
    Checkout(String),
    /// A subscription, or an invoice's (if it has one).
    Subscription(Option<String>),
}

/// An event the app handles, reduced to what routing needs.
struct Routed {
    id: String,
    kind: String,
    subject: Subject,
    /// Where the tenant may be named, in order of trust.
    client_reference_id: Option<String>,
    metadata_tenant: Option<String>,
    customer: Option<String>,
}

impl Routed {
    /// `None` for an event type the app doesn't handle.
    fn of(event: Event) -> Option<Self> {
        let object = event.data.object;
        let details = object.parent.and_then(|p| p.subscription_details);
        let metadata_tenant = object
            .metadata
            .as_ref()
            .or(details.as_ref().and_then(|d| d.metadata.as_ref()))
            .and_then(|metadata| metadata.get(TENANT_METADATA).cloned());
        let subject = match event.kind.as_str() {
            "checkout.session.completed" => Subject::Checkout(object.id),
            "customer.subscription.created"
            | "customer.subscription.updated"
            | "customer.subscription.deleted" => Subject::Subscription(Some(object.id)),
            "invoice.paid" | "invoice.payment_failed" => Subject::Subscription(
                details
                    .and_then(|d| d.subscription)
                    .or(object.subscription)
                    .map(IdOrObject::into_id),
            ),
            _ => return None,
        };
        Some(Self {
            id: event.id,
            kind: event.kind,
            subject,
            client_reference_id: object.client_reference_id,
            metadata_tenant,
            customer: object.customer.map(IdOrObject::into_id),
        })
    }

    /// The tenant: by `client_reference_id`, then metadata, then customer.
    async fn tenant(&self, state: &AppState) -> Result<Option<TenantId>, sqlx::Error> {
        let named = [&self.client_reference_id, &self.metadata_tenant]
            .into_iter()
            .flatten()
            .filter_map(|id| id.parse::<TenantId>().ok());
        for id in named {
            if tenant_exists(&state.db, id).await? {
                return Ok(Some(id));
            }
        }
        match &self.customer {
            Some(customer) => tenant_of_customer(&state.db, customer).await,
            None => Ok(None),
        }
    }
}

async fn receive(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, &'static str), AppError> {
    let Some(secret) = &state.config.stripe.webhook_secret else {
        return Err(AppError::NotConfigured(
            "Stripe webhooks are not configured: set STRIPE_WEBHOOK_SECRET.".to_owned(),
        ));
    };
    let header = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let now = OffsetDateTime::now_utc().unix_timestamp();
    verify_signature(&body, header, secret.expose(), now)
        .map_err(|error| AppError::BadRequest(format!("Stripe signature refused: {error}.")))?;
    let event: Event = serde_json::from_slice(&body)
        .map_err(|error| AppError::BadRequest(format!("Not a Stripe event: {error}.")))?;
    let Some(routed) = Routed::of(event) else {
        return Ok((
            StatusCode::OK,
            "ignored: not an event type this app handles",
        ));
    };
    let stripe = super::stripe_of(&state)?;
    let Some(tenant) = routed.tenant(&state).await? else {
        tracing::warn!(
            event = routed.id,
            kind = routed.kind,
            "a Stripe event names no tenant of this app; ignored"
        );
        return Ok((StatusCode::OK, "ignored: no tenant of this app"));
    };
    apply(&state, stripe, tenant, &routed)
        .await
        // Stripe retries on any failure; say 500 whatever failed.
        .map_err(|error| match error {
            AppError::PaymentProvider(detail) => AppError::Internal(detail),
            other => other,
        })
}

/// Records the event and stores the subscription as Stripe has it now, in
/// one transaction under the tenant's billing-row lock.
async fn apply(
    state: &AppState,
    stripe: &super::stripe::Stripe,
    tenant: TenantId,
    event: &Routed,
) -> Result<(StatusCode, &'static str), AppError> {
    let mut scope = for_tenant(&state.db, tenant, Intent::Write).await?;
    let current = locked_state(&mut scope).await?;
    if !record_event(&mut scope, event).await? {
        return Ok((StatusCode::OK, "already processed"));
    }
    let subscription = match &event.subject {
        Subject::Subscription(id) => id.clone(),
        Subject::Checkout(id) => match stripe.completed_checkout(id).await? {
            Some(checkout)
                if checkout.client_reference_id.as_deref() == Some(&*tenant.to_string()) =>
            {
                checkout.subscription
            }
            Some(_) => {
                tracing::warn!(event = event.id, %tenant, "a checkout for another tenant; ignored");
                None
            }
            None => None,
        },
    };
    if let Some(id) = subscription {
        let snapshot = stripe.subscription(&id).await?;
        let named = snapshot.tenant.as_deref();
        if named.is_some_and(|named| named != tenant.to_string()) {
            tracing::warn!(event = event.id, %tenant, subscription = id, "a subscription of another tenant; ignored");
        } else if replaces(&current, &snapshot) {
            super::state::store_subscription(&mut scope, &current, &snapshot).await?;
        }
    }
    scope.commit().await?;
    Ok((StatusCode::OK, "processed"))
}

/// Whether `snapshot` should be the tenant's subscription: it is the one on
/// file (or there is none), or it is live and the one on file no longer is
/// (a new subscription after an ended one; an old one ending changes nothing).
fn replaces(current: &BillingState, snapshot: &SubscriptionSnapshot) -> bool {
    match &current.stripe_subscription_id {
        None => true,
        Some(id) if *id == snapshot.id => true,
        Some(_) => {
            let current_live = current
                .subscription_status
                .as_deref()
                .is_some_and(is_live_status);
            snapshot.is_live() && !current_live
        }
    }
}

/// Records the event id; `false` when it was recorded already.
async fn record_event(scope: &mut TenantScope, event: &Routed) -> Result<bool, sqlx::Error> {
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let inserted = on_tx!(scope.tx(), |conn| sqlx::query(
        "INSERT INTO stripe_events (id, type, processed_at) VALUES ($1, $2, $3) \
         ON CONFLICT (id) DO NOTHING"
    )
    .bind(&event.id)
    .bind(&event.kind)
    .bind(now)
    .execute(conn)
    .await
    .map(|done| done.rows_affected()))?;
    Ok(inserted == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(payload: &str, secret: &str, t: i64) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{t}.{payload}").as_bytes());
        format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
    }

    #[test]
    fn signatures_are_checked_against_the_secret_and_the_clock() {
        let now = 1_800_000_000;
        let body = r#"{"id":"evt_1"}"#;
        let good = sign(body, "whsec_a", now);
        assert_eq!(
            verify_signature(body.as_bytes(), &good, "whsec_a", now),
            Ok(())
        );
        assert_eq!(
            verify_signature(body.as_bytes(), &good, "whsec_a", now + TOLERANCE_SECS),
            Ok(())
        );
        assert_eq!(
            verify_signature(body.as_bytes(), &good, "whsec_a", now + TOLERANCE_SECS + 1),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify_signature(body.as_bytes(), &good, "whsec_b", now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(br#"{"id":"evt_2"}"#, &good, "whsec_a", now),
            Err(SignatureError::Mismatch)
        );
        let rolled = format!(
            "{},v1={}",
            sign(body, "whsec_old", now),
            &good[good.find("v1=").unwrap() + 3..]
        );
        assert_eq!(
            verify_signature(body.as_bytes(), &rolled, "whsec_a", now),
            Ok(()),
            "any v1 may match"
        );
        // Validly signed, with a timestamp as far from now as an i64 goes:
        // stale, not an overflow.
        for far in [i64::MIN, i64::MAX, -now] {
            assert_eq!(
                verify_signature(body.as_bytes(), &sign(body, "whsec_a", far), "whsec_a", now),
                Err(SignatureError::Stale),
                "{far}"
            );
        }
        for header in ["", "t=1", "v1=00", "garbage", &good.replace("v1=", "v0=")] {
            assert_eq!(
                verify_signature(body.as_bytes(), header, "whsec_a", now),
                Err(SignatureError::Malformed),
                "{header}"
            );
        }
    }
}
