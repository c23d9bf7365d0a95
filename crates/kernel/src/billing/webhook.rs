//! `POST /webhooks/stripe`: Stripe's events, the only source of a tenant's
//! subscription state (ARCHITECTURE §5). The endpoint is an inbox, as
//! Stripe advises: it answers at once and leaves the work to a job
//! ([`super::sync`]), so a slow Stripe never holds a request, a connection
//! or a lock.
//!
//! 1. The signature is checked (HMAC-SHA256 of `"{t}.{body}"` with the
//!    endpoint's secret, 300 s tolerance): bad, missing or stale → 400, and
//!    nothing is written. So is a body that isn't an event.
//! 2. Only what routing needs is read (ids, `client_reference_id`, the
//!    tenant in metadata, the customer, an invoice's subscription): an
//!    endpoint sends events in its own API version. A type the app doesn't
//!    handle is answered 200 and forgotten.
//! 3. The event is recorded under its unique id with the id of the job
//!    that will process it, the job is queued, and the answer is 200. A
//!    redelivery of an event not applied yet processes it again
//!    ([`record_event`]); of an applied one, changes nothing. A failure to
//!    record is a 500, and Stripe retries.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use sha2::Sha256;
use time::OffsetDateTime;

use super::global::{Recorded, record_event};
use super::stripe::TENANT_METADATA;
use super::sync::{Routing, Subject};
use crate::error::AppError;
use crate::http::AppState;
use crate::http::routes::{Access, Routes, post};

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

/// What an event of a type the app handles asks its job to look at;
/// `None` for any other type.
fn routing_of(kind: &str, object: EventObject) -> Option<Routing> {
    let details = object.parent.and_then(|p| p.subscription_details);
    // Every place the tenant may be named, the most trusted first. An
    // invoice's own metadata is there but empty: its subscription's is in
    // its details.
    let tenants = [
        object.client_reference_id,
        object
            .metadata
            .and_then(|mut metadata| metadata.remove(TENANT_METADATA)),
        details
            .as_ref()
            .and_then(|d| d.metadata.as_ref())
            .and_then(|metadata| metadata.get(TENANT_METADATA).cloned()),
    ]
    .into_iter()
    .flatten()
    .collect();
    let subject = match kind {
        "checkout.session.completed" => Subject::Checkout { session: object.id },
        "customer.subscription.created"
        | "customer.subscription.updated"
        | "customer.subscription.deleted"
        | "customer.subscription.trial_will_end" => Subject::Subscription { id: object.id },
        "invoice.finalized"
        | "invoice.updated"
        | "invoice.paid"
        | "invoice.payment_failed"
        | "invoice.voided"
        | "invoice.marked_uncollectible" => Subject::Invoice {
            id: object.id,
            subscription: details
                .and_then(|d| d.subscription)
                .or(object.subscription)
                .map(IdOrObject::into_id),
        },
        _ => return None,
    };
    Some(Routing {
        subject,
        tenants,
        customer: object.customer.map(IdOrObject::into_id),
    })
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
    let Some(routing) = routing_of(&event.kind, event.data.object) else {
        return Ok((
            StatusCode::OK,
            "ignored: not an event type this app handles",
        ));
    };
    // Without the client, the job could do nothing: say so to Stripe,
    // which keeps the event and retries, rather than queue it to fail.
    super::stripe_of(&state)?;
    let payload = serde_json::to_string(&routing)
        .map_err(|error| AppError::Internal(format!("an event's routing: {error}")))?;
    let job = super::sync::STRIPE_EVENT.job(serde_json::json!({ "event": event.id }));
    match record_event(&state.db, &event.id, &event.kind, &payload, &job).await? {
        Recorded::New => Ok((StatusCode::OK, "received")),
        Recorded::Again => Ok((StatusCode::OK, "already received")),
    }
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
