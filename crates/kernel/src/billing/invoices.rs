//! The tenant's invoices, kept locally so the billing page lists them
//! without calling Stripe (table `invoices`, migration 0032). Each
//! `invoice.*` event's job re-reads its invoice from Stripe and stores it as
//! it is then ([`store`]), under the tenant's billing lease, like every
//! event: order, duplicates and concurrency change nothing. Drafts are not
//! kept (Stripe can still change or delete them): an invoice appears once
//! finalized.

use serde::Serialize;

use crate::on_tx;
use crate::tenancy::TenantScope;

crate::row! {
    columns: invoice_columns;
    /// An invoice as the app keeps it.
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
    pub struct Invoice {
        /// Stripe's id: `in_…`.
        pub id: String,
        /// As printed on it: `ABCD-0001`.
        pub number: Option<String>,
        /// open, paid, void or uncollectible.
        pub status: String,
        /// What it is for, in the currency's minor unit (cents).
        pub total: i64,
        /// What is still to pay.
        pub amount_due: i64,
        /// ISO 4217, lowercase: `eur`.
        pub currency: String,
        /// When it was made (unix seconds).
        pub created: i64,
        /// Stripe's page to see and pay it.
        pub hosted_invoice_url: Option<String>,
        pub invoice_pdf: Option<String>,
    }
}

/// How many the billing page lists.
pub const RECENT: i64 = 12;

/// Stores `invoice` as read from Stripe (a draft is not kept). Paid and
/// void are final in Stripe: a reading that is not (one that reached a
/// stalled worker late) doesn't overwrite them.
///
/// # Errors
/// When the database fails.
pub async fn store(scope: &mut TenantScope, invoice: &Invoice) -> Result<(), sqlx::Error> {
    if invoice.status == "draft" {
        return Ok(());
    }
    let tenant = scope.tenant_id();
    on_tx!(scope.tx(), |conn| sqlx::query(
        "INSERT INTO invoices (tenant_id, id, number, status, total, amount_due, currency, \
         created, hosted_invoice_url, invoice_pdf) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         ON CONFLICT (tenant_id, id) DO UPDATE SET number = excluded.number, \
         status = excluded.status, total = excluded.total, amount_due = excluded.amount_due, \
         currency = excluded.currency, created = excluded.created, \
         hosted_invoice_url = excluded.hosted_invoice_url, invoice_pdf = excluded.invoice_pdf \
         WHERE invoices.status NOT IN ('paid', 'void') OR excluded.status IN ('paid', 'void')"
    )
    .bind(tenant)
    .bind(&invoice.id)
    .bind(&invoice.number)
    .bind(&invoice.status)
    .bind(invoice.total)
    .bind(invoice.amount_due)
    .bind(&invoice.currency)
    .bind(invoice.created)
    .bind(&invoice.hosted_invoice_url)
    .bind(&invoice.invoice_pdf)
    .execute(conn)
    .await
    .map(drop))
}

/// The tenant's latest [`RECENT`] invoices, newest first.
///
/// # Errors
/// When the database fails.
pub async fn recent(scope: &mut TenantScope) -> Result<Vec<Invoice>, sqlx::Error> {
    let tenant = scope.tenant_id();
    on_tx!(scope.tx(), |conn| sqlx::query_as(concat!(
        "SELECT ",
        invoice_columns!(),
        " FROM invoices WHERE tenant_id = $1 ORDER BY created DESC, id DESC LIMIT $2"
    ))
    .bind(tenant)
    .bind(RECENT)
    .fetch_all(conn)
    .await)
}
