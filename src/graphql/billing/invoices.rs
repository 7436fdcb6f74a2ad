//! Invoices.

use async_graphql::{Context, Enum, ID, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use super::Money;
use crate::billing::invoices::{self, Invoice as InvoiceRecord};
use crate::graphql::connection::Connection;
use crate::graphql::{caller, services};
use crate::page::PageRequest;

/// Where an invoice is in its life.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "crate::billing::invoices::InvoiceStatus")]
pub enum InvoiceStatus {
    /// Being prepared.
    Draft,
    /// Finalized and owed.
    Open,
    /// Paid in full.
    Paid,
    /// Cancelled.
    Void,
    /// Given up on.
    Uncollectible,
}

/// What a line is for.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "crate::billing::invoices::LineKind")]
pub enum InvoiceLineKind {
    /// The plan's price for a period.
    Subscription,
    /// Metered usage above what the plan includes.
    Usage,
    /// A plan change within a period.
    Proration,
    /// Credit applied.
    Credit,
    /// A correction.
    Adjustment,
}

/// One line of an invoice.
#[derive(SimpleObject)]
pub struct InvoiceLine {
    description: String,
    kind: InvoiceLineKind,
    quantity: i32,
    unit_amount: Money,
    amount: Money,
}

/// An invoice.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Invoice {
    #[graphql(skip)]
    record: InvoiceRecord,
    id: ID,
    /// Gap-free per tenant (`DUKA-000042`), given when the invoice is finalized.
    number: String,
    status: InvoiceStatus,
    lines: Vec<InvoiceLine>,
    subtotal: Money,
    /// Tax on the subtotal, computed once per invoice and rounded half up.
    tax: Money,
    total: Money,
    amount_paid: Money,
    amount_due: Money,
    period_start: Option<DateTime<Utc>>,
    period_end: Option<DateTime<Utc>>,
    issued_at: Option<DateTime<Utc>>,
    due_at: Option<DateTime<Utc>>,
    paid_at: Option<DateTime<Utc>>,
}

#[async_graphql::ComplexObject]
impl Invoice {
    /// Its payments (M-Pesa pushes and what came of them), oldest first.
    async fn payments(&self, ctx: &Context<'_>) -> Result<Vec<crate::graphql::payments::Payment>> {
        crate::graphql::payments::of_invoice(ctx, self.record.id).await
    }

    /// A signed link (valid 90 days) to the invoice's printable page: the tenant's name
    /// and branding, the lines, tax and payments.
    async fn hosted_url(&self, ctx: &Context<'_>) -> Result<String> {
        Ok(invoices::read::hosted_url(services(ctx)?, &self.record)?)
    }
}

impl From<InvoiceRecord> for Invoice {
    fn from(i: InvoiceRecord) -> Self {
        let money = |minor| i.money(minor).into();
        Self {
            id: ID(i.id.to_string()),
            number: i.number.clone().unwrap_or_default(),
            status: i.status.into(),
            lines: i
                .lines
                .iter()
                .map(|l| InvoiceLine {
                    description: l.description.clone(),
                    kind: l.kind.into(),
                    quantity: i32::try_from(l.quantity).unwrap_or(i32::MAX),
                    unit_amount: money(l.unit_amount_minor),
                    amount: money(l.amount_minor),
                })
                .collect(),
            subtotal: money(i.subtotal_minor),
            tax: money(i.tax_minor),
            total: money(i.total_minor),
            amount_paid: money(i.amount_paid_minor),
            amount_due: money(i.amount_due_minor()),
            period_start: i.period.map(|p| p.0),
            period_end: i.period.map(|p| p.1),
            issued_at: i.issued_at,
            due_at: i.due_at,
            paid_at: i.paid_at,
            record: i,
        }
    }
}

crate::graphql::connection::node!(Invoice, "InvoiceConnection", "InvoiceEdge");

/// Invoice queries.
#[derive(Default)]
pub struct InvoicesQuery;

#[Object]
impl InvoicesQuery {
    /// The active tenant's invoices, newest first (at most 100 per page). [P:billing.read]
    async fn invoices(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        status: Option<InvoiceStatus>,
    ) -> Result<Connection<Invoice>> {
        let page = PageRequest::parse(first, after.as_deref())?
            .counting(ctx.look_ahead().field("totalCount").exists());
        let page = invoices::read::list(services(ctx)?, caller(ctx)?, page, status.map(Into::into))
            .await?;
        Ok(Connection::of(page, |i: &InvoiceRecord| i.id))
    }

    /// One invoice of the active tenant; null when there is no such invoice in it.
    /// [P:billing.read]
    async fn invoice(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Invoice>> {
        let id = uuid::Uuid::parse_str(&id)
            .map_err(|_| crate::error::AppError::bad_input("id", "not an invoice id"))?;
        Ok(invoices::read::get(services(ctx)?, caller(ctx)?, id)
            .await?
            .map(Into::into))
    }
}
