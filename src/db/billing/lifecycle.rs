//! What the billing lifecycle reads and writes: payments and credit on invoices, the
//! tenant's credit balance, and the sweeps that find due dunning steps, expired grace and
//! subscriptions to cancel.

use chrono::{DateTime, Utc};
use sea_orm::ColumnTrait;
use sea_orm::sea_query::Expr;

use super::invoices::to_invoice;
use crate::billing::SubscriptionStatus;
use crate::billing::invoices::{Invoice, InvoiceStatus};
use crate::db::entities::{invoices, subscriptions, tenants};
use crate::db::scope::{PlatformTx, TenantScope};
use crate::error::AppResult;
use crate::ids::TenantId;

/// How much of an invoice is paid, and from where.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvoicePaid {
    /// Paid in all (payments and credit).
    pub amount_paid_minor: i64,
    /// Of which from the tenant's credit.
    pub credit_applied_minor: i64,
    /// Set when it is now paid in full.
    pub paid_at: Option<DateTime<Utc>>,
}

impl TenantScope {
    /// One invoice of this tenant, its row locked until the unit of work ends (PostgreSQL
    /// `FOR UPDATE`; SQLite writers are serial), so two payments never both read the same
    /// amount paid.
    pub async fn invoice_locked(&self, id: uuid::Uuid) -> AppResult<Option<Invoice>> {
        let row = self
            .table::<invoices::Entity>()
            .by_id(id)
            .lock_for_update()
            .one()
            .await?;
        Ok(row.map(|r| to_invoice(r, Vec::new())))
    }

    /// Records what is paid on invoice `id` (PAID when `paid_at` is set; its dunning
    /// stops).
    pub async fn set_invoice_paid(&self, id: uuid::Uuid, paid: InvoicePaid) -> AppResult<()> {
        use invoices::Column as C;
        let mut update = self
            .table::<invoices::Entity>()
            .update()
            .set(C::AmountPaidMinor, Expr::value(paid.amount_paid_minor))
            .set(
                C::CreditAppliedMinor,
                Expr::value(paid.credit_applied_minor),
            )
            .set(C::UpdatedAt, Expr::value(self.now()));
        if let Some(at) = paid.paid_at {
            update = update
                .set(C::Status, Expr::value(InvoiceStatus::Paid.as_str()))
                .set(C::PaidAt, Expr::value(at))
                .set(C::NextDunningAt, Expr::value(Option::<DateTime<Utc>>::None));
        }
        update.filter(C::Id.eq(id)).exec().await?;
        Ok(())
    }

    /// Records that invoice `id` had dunning step `step` (the next one at `next`).
    pub async fn set_invoice_dunning(
        &self,
        id: uuid::Uuid,
        step: i32,
        next: Option<DateTime<Utc>>,
    ) -> AppResult<()> {
        use invoices::Column as C;
        self.table::<invoices::Entity>()
            .update()
            .set(C::DunningStep, Expr::value(step))
            .set(C::NextDunningAt, Expr::value(next))
            .set(C::UpdatedAt, Expr::value(self.now()))
            .filter(C::Id.eq(id))
            .exec()
            .await?;
        Ok(())
    }

    /// Open invoices, oldest first (the order credit pays them in).
    pub async fn open_invoice_ids(&self) -> AppResult<Vec<uuid::Uuid>> {
        Ok(self
            .table::<invoices::Entity>()
            .find()
            .filter(invoices::Column::Status.eq(InvoiceStatus::Open.as_str()))
            .order_by_asc(invoices::Column::Id)
            .all()
            .await?
            .into_iter()
            .map(|r| r.id)
            .collect())
    }

    /// Whether an open invoice is past its due date at `now`.
    pub async fn has_overdue_invoice(&self, now: DateTime<Utc>) -> AppResult<bool> {
        Ok(self
            .table::<invoices::Entity>()
            .find()
            .filter(invoices::Column::Status.eq(InvoiceStatus::Open.as_str()))
            .filter(invoices::Column::DueAt.lte(now))
            .count()
            .await?
            > 0)
    }

    /// The tenant's credit balance, its row locked until the unit of work ends.
    pub async fn credit_locked(&self) -> AppResult<i64> {
        Ok(self
            .table::<tenants::Entity>()
            .find()
            .lock_for_update()
            .one()
            .await?
            .map_or(0, |t| t.credit_minor))
    }

    /// Sets the tenant's credit balance (read with [`Self::credit_locked`] first).
    pub async fn set_credit(&self, minor: i64) -> AppResult<()> {
        self.table::<tenants::Entity>()
            .update()
            .set(tenants::Column::CreditMinor, Expr::value(minor))
            .set(tenants::Column::UpdatedAt, Expr::value(self.now()))
            .exec()
            .await?;
        Ok(())
    }
}

/// A due step of the lifecycle, as the sweep finds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DueStep {
    /// An open invoice's next dunning step.
    Dun {
        /// The invoice.
        invoice: uuid::Uuid,
        /// The step's number, from 0.
        step: i32,
    },
    /// A PAST_DUE subscription whose grace ended.
    Suspend {
        /// The subscription.
        subscription: uuid::Uuid,
        /// The end of its grace.
        grace_until: DateTime<Utc>,
    },
    /// A SUSPENDED subscription whose further period ended.
    Cancel {
        /// The subscription.
        subscription: uuid::Uuid,
        /// When it was suspended.
        suspended_at: DateTime<Utc>,
    },
}

impl PlatformTx {
    /// Due steps of the lifecycle at `now` (at most `limit` of each kind): open invoices'
    /// dunning steps, grace that ended, suspensions older than `cancel_after`.
    pub async fn due_lifecycle_steps(
        &self,
        now: DateTime<Utc>,
        cancel_after: chrono::Duration,
        limit: u64,
    ) -> AppResult<Vec<(TenantId, DueStep)>> {
        let mut due = Vec::new();
        for row in self
            .across_tenants::<invoices::Entity>()
            .find()
            .filter(invoices::Column::Status.eq(InvoiceStatus::Open.as_str()))
            .filter(invoices::Column::NextDunningAt.lte(now))
            .order_by_asc(invoices::Column::NextDunningAt)
            .limit(limit)
            .all()
            .await?
        {
            due.push((
                TenantId::from_uuid(row.tenant_id),
                DueStep::Dun {
                    invoice: row.id,
                    step: row.dunning_step,
                },
            ));
        }
        let subscriptions = |status: SubscriptionStatus| {
            self.across_tenants::<subscriptions::Entity>()
                .find()
                .filter(subscriptions::Column::Status.eq(status.as_str()))
        };
        for row in subscriptions(SubscriptionStatus::PastDue)
            .filter(subscriptions::Column::GraceUntil.lte(now))
            .order_by_asc(subscriptions::Column::GraceUntil)
            .limit(limit)
            .all()
            .await?
        {
            due.push((
                TenantId::from_uuid(row.tenant_id),
                DueStep::Suspend {
                    subscription: row.id,
                    grace_until: row.grace_until.unwrap_or(now),
                },
            ));
        }
        for row in subscriptions(SubscriptionStatus::Suspended)
            .filter(subscriptions::Column::SuspendedAt.lte(now - cancel_after))
            .order_by_asc(subscriptions::Column::SuspendedAt)
            .limit(limit)
            .all()
            .await?
        {
            due.push((
                TenantId::from_uuid(row.tenant_id),
                DueStep::Cancel {
                    subscription: row.id,
                    suspended_at: row.suspended_at.unwrap_or(now),
                },
            ));
        }
        Ok(due)
    }

    /// The first moment after `now` at which something of billing falls due: a period's
    /// end, a dunning step, the end of grace, a cancellation. The test clock stops there
    /// on its way, so a long move lives every step in order.
    pub async fn next_billing_event(
        &self,
        now: DateTime<Utc>,
        cancel_after: chrono::Duration,
    ) -> AppResult<Option<DateTime<Utc>>> {
        use subscriptions::Column as S;
        let subscriptions = || self.across_tenants::<subscriptions::Entity>().find();
        let mut next: Vec<DateTime<Utc>> = Vec::new();
        let renewing = [
            SubscriptionStatus::Trialing,
            SubscriptionStatus::Active,
            SubscriptionStatus::PastDue,
            SubscriptionStatus::Suspended,
        ]
        .map(SubscriptionStatus::as_str);
        if let Some(row) = subscriptions()
            .filter(S::Status.is_in(renewing))
            .filter(S::CurrentPeriodEnd.gt(now))
            .order_by_asc(S::CurrentPeriodEnd)
            .limit(1)
            .one()
            .await?
        {
            next.push(row.current_period_end);
        }
        if let Some(row) = subscriptions()
            .filter(S::Status.eq(SubscriptionStatus::PastDue.as_str()))
            .filter(S::GraceUntil.gt(now))
            .order_by_asc(S::GraceUntil)
            .limit(1)
            .one()
            .await?
            && let Some(at) = row.grace_until
        {
            next.push(at);
        }
        if let Some(row) = subscriptions()
            .filter(S::Status.eq(SubscriptionStatus::Suspended.as_str()))
            .filter(S::SuspendedAt.gt(now - cancel_after))
            .order_by_asc(S::SuspendedAt)
            .limit(1)
            .one()
            .await?
            && let Some(at) = row.suspended_at
        {
            next.push(at + cancel_after);
        }
        if let Some(row) = self
            .across_tenants::<invoices::Entity>()
            .find()
            .filter(invoices::Column::Status.eq(InvoiceStatus::Open.as_str()))
            .filter(invoices::Column::NextDunningAt.gt(now))
            .order_by_asc(invoices::Column::NextDunningAt)
            .limit(1)
            .one()
            .await?
            && let Some(at) = row.next_dunning_at
        {
            next.push(at);
        }
        Ok(next.into_iter().min())
    }
}
