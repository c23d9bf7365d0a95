//! The billing emails to a tenant's owners, one per Stripe event and kind:
//! a payment failed (with the way to update the card), the trial ends in
//! three days, the subscription was canceled, and (with
//! `STRIPE_RECEIPT_EMAILS=true`) a receipt for a paid invoice. Each is sent
//! from the transaction that stores what the event changed, with a row in
//! `billing_notices` (unique per event and kind), through the outbox: a
//! job run again sends nothing twice, and nothing is sent if the change
//! rolls back.

use askama::Template;

use super::stripe::SubscriptionSnapshot;
use crate::accounts::email::Email;
use crate::error::AppError;
use crate::ids::BillingNoticeId;
use crate::mail::Mail;
use crate::tenancy::TenantScope;
use crate::{on_tx, row, text_body};

/// A billing email's kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Notice {
    PaymentFailed,
    TrialEnding,
    Canceled,
    Receipt,
}

impl Notice {
    /// What an event of type `kind` tells the owners of the tenant whose
    /// subscription (as Stripe has it now) is `subscription`, if anything.
    pub fn of(kind: &str, subscription: &SubscriptionSnapshot, receipts: bool) -> Option<Self> {
        match (kind, subscription.status.as_str()) {
            ("invoice.payment_failed", "past_due" | "unpaid" | "incomplete") => {
                Some(Self::PaymentFailed)
            }
            ("customer.subscription.trial_will_end", "trialing") => Some(Self::TrialEnding),
            ("customer.subscription.deleted", "canceled") => Some(Self::Canceled),
            ("invoice.paid", _) if receipts && subscription.is_live() => Some(Self::Receipt),
            _ => None,
        }
    }

    /// As `billing_notices.kind` and the templates name it.
    pub fn key(self) -> &'static str {
        match self {
            Self::PaymentFailed => "payment_failed",
            Self::TrialEnding => "trial_ending",
            Self::Canceled => "canceled",
            Self::Receipt => "receipt",
        }
    }
}

/// A billing email. Its wording is in `templates/mail/billing_notice.*`.
#[derive(Template)]
#[template(path = "mail/billing_notice.html")]
pub struct BillingNoticeMail {
    pub app_name: &'static str,
    /// [`Notice::key`].
    pub kind: &'static str,
    pub organisation: String,
    pub plan: String,
    /// The trial's end, or when the paid period ends: `2026-12-08`.
    pub date: Option<String>,
    /// The tenant's billing page, where the Customer Portal opens.
    pub billing_url: String,
}

text_body!(BillingNoticeMail, "mail/billing_notice.txt");

impl Mail for BillingNoticeMail {
    fn subject(&self) -> String {
        let what = match self.kind {
            "payment_failed" => "a payment failed",
            "trial_ending" => "the trial ends in 3 days",
            "canceled" => "the subscription was canceled",
            _ => "payment received",
        };
        format!("{}: {what} for {}", self.app_name, self.organisation)
    }
}

row! {
    /// What a billing email says of the tenant.
    struct Organisation {
        name: String,
        slug: String,
    }
}

/// Sends `notice` for `event` to the scope's tenant's owners, in the
/// scope's transaction, unless it was sent for this event already.
///
/// # Errors
/// When the database or a template fails.
pub async fn send(
    scope: &mut TenantScope,
    base_url: &str,
    event: &str,
    notice: Notice,
    plan: &str,
    subscription: &SubscriptionSnapshot,
) -> Result<(), AppError> {
    let tenant = scope.tenant_id();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let first = on_tx!(scope.tx(), |conn| sqlx::query(
        "INSERT INTO billing_notices (tenant_id, id, event_id, kind, sent_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING"
    )
    .bind(tenant)
    .bind(BillingNoticeId::new())
    .bind(event)
    .bind(notice.key())
    .bind(now)
    .execute(conn)
    .await
    .map(|done| done.rows_affected() == 1))?;
    if !first {
        return Ok(());
    }
    let organisation: Organisation = on_tx!(scope.tx(), |conn| sqlx::query_as(
        "SELECT name, slug FROM tenants WHERE id = $1"
    )
    .bind(tenant)
    .fetch_one(conn)
    .await)?;
    let owners: Vec<String> = on_tx!(scope.tx(), |conn| sqlx::query_scalar(
        "SELECT u.email FROM memberships m JOIN users u ON u.id = m.user_id \
         WHERE m.tenant_id = $1 AND m.role = 'owner' ORDER BY u.email"
    )
    .bind(tenant)
    .fetch_all(conn)
    .await)?;
    let date = match notice {
        Notice::Canceled | Notice::Receipt => None,
        Notice::TrialEnding | Notice::PaymentFailed => subscription.period_end.map(super::day),
    };
    let mail = BillingNoticeMail {
        app_name: crate::brand::APP_NAME,
        kind: notice.key(),
        organisation: organisation.name,
        plan: plan.to_owned(),
        date,
        billing_url: format!("{base_url}/t/{}/billing", organisation.slug),
    };
    for owner in owners {
        if let Ok(to) = Email::parse(&owner) {
            crate::mail::send_in(scope, &to, &mail).await?;
        }
    }
    Ok(())
}
