//! Payments: `payInvoice`, `payments`, `payment`, `paymentUpdated`, `Invoice.payments`.

use async_graphql::{Context, Enum, ID, Object, Result, SimpleObject, Subscription};
use chrono::{DateTime, Utc};
use futures::{Stream, StreamExt as _};

use super::billing::Money;
use super::billing::invoices::Invoice;
use crate::graphql::connection::Connection;
use crate::graphql::{caller, services};
use crate::page::PageRequest;
use crate::payments::{self, Payment as PaymentRecord};

/// Who moved the money.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum PaymentProvider {
    /// Safaricom's M-Pesa, by STK push.
    Mpesa,
}

/// Where a payment is.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "crate::payments::PaymentStatus")]
pub enum PaymentStatus {
    /// The prompt went out; no answer yet.
    Pending,
    /// Paid: the invoice is settled with it.
    Succeeded,
    /// Refused, or could not be sent.
    Failed,
    /// The customer cancelled the prompt.
    Cancelled,
    /// No answer in time.
    TimedOut,
}

/// A payment of an invoice.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Payment {
    #[graphql(skip)]
    record: PaymentRecord,
    id: ID,
    provider: PaymentProvider,
    status: PaymentStatus,
    /// What the customer was asked for: what was due, rounded up to whole shillings.
    amount: Money,
    /// What the rounding up to whole shillings added (it becomes credit once paid).
    rounding: Money,
    /// The MSISDN prompted (`2547…`).
    phone_number: String,
    /// Daraja's CheckoutRequestID.
    checkout_request_id: Option<String>,
    /// M-Pesa's receipt, e.g. NLJ7RT61SV, once paid.
    receipt_number: Option<String>,
    result_code: Option<i32>,
    result_description: Option<String>,
    /// Why it waits for a person's review (an amount or phone mismatch, a late success).
    review_reason: Option<String>,
    created_at: DateTime<Utc>,
    completed_at: Option<DateTime<Utc>>,
}

#[async_graphql::ComplexObject]
impl Payment {
    /// The invoice it pays.
    async fn invoice(&self, ctx: &Context<'_>) -> Result<Option<Invoice>> {
        Ok(crate::billing::invoices::read::get(
            services(ctx)?,
            caller(ctx)?,
            self.record.invoice_id,
        )
        .await?
        .map(Into::into))
    }
}

impl From<PaymentRecord> for Payment {
    fn from(p: PaymentRecord) -> Self {
        let money = |minor| crate::billing::Money::new(minor, &p.currency).into();
        Self {
            id: ID(p.id.to_string()),
            provider: PaymentProvider::Mpesa,
            status: p.status.into(),
            amount: money(p.amount_minor),
            rounding: money(p.rounding_minor),
            phone_number: p.phone.clone(),
            checkout_request_id: p.checkout_request_id.clone(),
            receipt_number: p.receipt_number.clone(),
            result_code: p.result_code,
            result_description: p.result_desc.clone(),
            review_reason: p.flag.clone(),
            created_at: p.created_at,
            completed_at: p.completed_at,
            record: p,
        }
    }
}

crate::graphql::connection::node!(Payment, "PaymentConnection", "PaymentEdge");

fn payment_id(id: &str, field: &'static str) -> Result<uuid::Uuid, crate::error::AppError> {
    uuid::Uuid::parse_str(id)
        .map_err(|_| crate::error::AppError::bad_input(field, "not a payment id"))
}

/// Payment queries.
#[derive(Default)]
pub struct PaymentsQuery;

#[Object]
impl PaymentsQuery {
    /// The active tenant's payments, newest first (at most 100 per page). [P:billing.read]
    async fn payments(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<Payment>> {
        let page = PageRequest::parse(first, after.as_deref())?
            .counting(ctx.look_ahead().field("totalCount").exists());
        let page = payments::pay::list(services(ctx)?, caller(ctx)?, page).await?;
        Ok(Connection::of(page, |p: &PaymentRecord| p.id))
    }

    /// One payment of the active tenant; null when there is no such payment in it.
    /// [P:billing.read]
    async fn payment(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Payment>> {
        let id = payment_id(&id, "id")?;
        Ok(payments::pay::get(services(ctx)?, caller(ctx)?, id)
            .await?
            .map(Into::into))
    }

    /// The reconciliation report: every M-Pesa payment and callback waiting for a person
    /// (an amount or phone mismatch, a late success after TIMED_OUT, a forged, unknown or
    /// malformed callback), newest first (at most 500), each with what to do. [PA]
    async fn payment_reviews(&self, ctx: &Context<'_>) -> Result<Vec<PaymentReview>> {
        let admin = caller(ctx)?.platform_admin()?;
        let db = &services(ctx)?.db;
        let access = crate::db::Access::Admin(&admin, "reconciliation report");
        Ok(payments::reconcile::report(db, access)
            .await?
            .into_iter()
            .map(|(flagged, action)| PaymentReview {
                kind: flagged.kind.to_owned(),
                id: ID(flagged.id.to_string()),
                tenant_id: flagged.tenant_id.map(|t| ID(t.to_string())),
                reason: flagged.flag,
                at: flagged.at,
                action: action.to_owned(),
            })
            .collect())
    }
}

/// A payment or callback waiting for a person's review.
#[derive(SimpleObject)]
pub struct PaymentReview {
    /// `payment` or `callback`.
    kind: String,
    /// The payment's or the stored callback's id.
    id: ID,
    /// The tenant, when known (a forged callback may name none).
    tenant_id: Option<ID>,
    /// Why it was flagged.
    reason: String,
    /// When it was flagged (the callback's arrival, the payment's last change).
    at: DateTime<Utc>,
    /// What to do about it.
    action: String,
}

/// Payment mutations.
#[derive(Default)]
pub struct PaymentsMutation;

#[Object]
impl PaymentsMutation {
    /// Prompts `phoneNumber` (07…, 01…, +254…, 254…) by M-Pesa STK push to pay what the
    /// invoice still owes, rounded up to whole shillings (the rounding is recorded). A
    /// PENDING payment; the outcome arrives by Safaricom's callback (`paymentUpdated`). A
    /// second call while one is pending returns it; a paid or void invoice is refused; a
    /// suspended tenant can always pay. [P:billing.manage]
    async fn pay_invoice(
        &self,
        ctx: &Context<'_>,
        invoice_id: ID,
        phone_number: String,
    ) -> Result<Payment> {
        let id = uuid::Uuid::parse_str(&invoice_id)
            .map_err(|_| crate::error::AppError::bad_input("invoiceId", "not an invoice id"))?;
        Ok(
            payments::pay::pay_invoice(services(ctx)?, caller(ctx)?, id, &phone_number)
                .await?
                .into(),
        )
    }
}

/// Live payment status.
#[derive(Default)]
pub struct PaymentsLive;

#[Subscription]
impl PaymentsLive {
    /// The payment now, then each change until its final status (SPAs wait here after
    /// `payInvoice`). Another tenant's payment gives NOT_FOUND. [P:billing.read]
    async fn payment_updated(
        &self,
        ctx: &Context<'_>,
        payment_id: ID,
    ) -> Result<impl Stream<Item = Result<Payment>> + use<>> {
        let id = payment_id_of(&payment_id)?;
        let services = services(ctx)?.clone();
        let tenant = caller(ctx)?
            .require(crate::rbac::perm::BILLING_READ)?
            .clone();
        Ok(payments::live::updates(services, tenant, id)
            .map(|p| p.map(Payment::from).map_err(Into::into)))
    }
}

fn payment_id_of(id: &str) -> Result<uuid::Uuid, crate::error::AppError> {
    payment_id(id, "paymentId")
}

/// `Invoice.payments`, resolved here so billing's invoice type needs no payment code.
pub async fn of_invoice(ctx: &Context<'_>, invoice: uuid::Uuid) -> Result<Vec<Payment>> {
    Ok(
        payments::pay::of_invoices(services(ctx)?, caller(ctx)?, vec![invoice])
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    )
}
