//! Invoices and their lines, and the renewal that issues them.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait};

use crate::billing::invoices::{Invoice, InvoiceLine, InvoiceStatus, LineKind, NewInvoice, number};
use crate::db::entities::{invoice_counters, invoice_lines, invoices, subscriptions};
use crate::db::scope::{PlatformTx, TenantScope};
use crate::error::{AppError, AppResult};
use crate::ids::TenantId;
use crate::page::{Page, PageRequest};

fn to_line(row: invoice_lines::Model) -> InvoiceLine {
    InvoiceLine {
        description: row.description,
        kind: LineKind::from_stored(&row.kind),
        quantity: row.quantity,
        unit_amount_minor: row.unit_amount_minor,
        amount_minor: row.amount_minor,
    }
}

pub(super) fn to_invoice(row: invoices::Model, lines: Vec<InvoiceLine>) -> Invoice {
    Invoice {
        id: row.id,
        tenant_id: row.tenant_id,
        number: row.number,
        status: InvoiceStatus::from_stored(&row.status),
        period: row.period_start.zip(row.period_end),
        currency: row.currency,
        lines,
        subtotal_minor: row.subtotal_minor,
        tax_rate_bp: row.tax_rate_bp,
        tax_minor: row.tax_minor,
        total_minor: row.total_minor,
        amount_paid_minor: row.amount_paid_minor,
        issued_at: row.issued_at,
        due_at: row.due_at,
        paid_at: row.paid_at,
        subscription_id: row.subscription_id,
        credit_applied_minor: row.credit_applied_minor,
        dunning_step: row.dunning_step,
        next_dunning_at: row.next_dunning_at,
    }
}

impl TenantScope {
    /// Serialises this tenant's renewals (PostgreSQL; SQLite writers are serial).
    pub async fn lock_renewals(&self) -> AppResult<()> {
        self.table::<subscriptions::Entity>()
            .advisory_lock(&format!("renew:{}", self.tenant_id()))
            .await
    }

    /// Issues `new` as an OPEN invoice (PAID at once when it totals nothing) with the
    /// tenant's next number. CONFLICT when the period already has an invoice.
    pub async fn issue_invoice(&self, new: NewInvoice) -> AppResult<Invoice> {
        let now = self.now();
        let subtotal: i64 = new.lines.iter().map(|l| l.amount_minor).sum();
        let tax = crate::billing::invoices::tax_of(subtotal, new.tax_rate_bp);
        let total = subtotal + tax;
        let sequence = self.next_invoice_number().await?;
        let (status, paid_at) = if total <= 0 {
            (InvoiceStatus::Paid, Some(now))
        } else {
            (InvoiceStatus::Open, None)
        };
        let id = uuid::Uuid::now_v7();
        let due_at = now + chrono::Duration::days(i64::from(new.due_days));
        let next_dunning_at = new
            .first_dunning_day
            .filter(|_| status == InvoiceStatus::Open)
            .map(|days| due_at + chrono::Duration::days(i64::from(days)));
        let row = self
            .table::<invoices::Entity>()
            .insert(invoices::ActiveModel {
                id: Set(id),
                number: Set(Some(number(&new.slug, sequence))),
                status: Set(status.as_str().to_owned()),
                subscription_id: Set(Some(new.subscription_id)),
                period_start: Set(Some(new.period.0)),
                period_end: Set(Some(new.period.1)),
                currency: Set(new.currency.clone()),
                subtotal_minor: Set(subtotal),
                tax_rate_bp: Set(new.tax_rate_bp),
                tax_minor: Set(tax),
                total_minor: Set(total),
                amount_paid_minor: Set(0),
                issued_at: Set(Some(now)),
                due_at: Set(Some(due_at)),
                paid_at: Set(paid_at),
                dunning_step: Set(0),
                next_dunning_at: Set(next_dunning_at),
                credit_applied_minor: Set(0),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            })
            .await
            .map_err(|e| AppError::conflict_on_unique(e, "this period already has an invoice"))?;
        for (position, line) in new.lines.iter().enumerate() {
            self.table::<invoice_lines::Entity>()
                .insert(invoice_lines::ActiveModel {
                    invoice_id: Set(id),
                    position: Set(i32::try_from(position).unwrap_or(i32::MAX)),
                    description: Set(line.description.clone()),
                    kind: Set(line.kind.as_str().to_owned()),
                    quantity: Set(line.quantity),
                    unit_amount_minor: Set(line.unit_amount_minor),
                    amount_minor: Set(line.amount_minor),
                    ..Default::default()
                })
                .await?;
        }
        Ok(to_invoice(row, new.lines))
    }

    /// Takes the tenant's next invoice number under its counter's lock: gap-free, since a
    /// rolled-back finalization rolls the counter back too.
    async fn next_invoice_number(&self) -> AppResult<i64> {
        let table = self.table::<invoice_counters::Entity>();
        table
            .advisory_lock(&format!("invoice-number:{}", self.tenant_id()))
            .await?;
        let current = table.find().lock_for_update().one().await?;
        let next = current.as_ref().map_or(0, |c| c.last_number) + 1;
        if current.is_some() {
            table
                .update()
                .set(invoice_counters::Column::LastNumber, Expr::value(next))
                .exec()
                .await?;
        } else {
            table
                .insert(invoice_counters::ActiveModel {
                    last_number: Set(next),
                    ..Default::default()
                })
                .await?;
        }
        Ok(next)
    }

    /// Applies `patch` to subscription `id`.
    pub async fn update_subscription(
        &self,
        id: uuid::Uuid,
        patch: crate::billing::subscriptions::SubscriptionPatch,
    ) -> AppResult<()> {
        use subscriptions::Column as C;
        let mut update = self
            .table::<subscriptions::Entity>()
            .update()
            .set(C::UpdatedAt, Expr::value(self.now()));
        if let Some(plan) = patch.plan_id {
            update = update.set(C::PlanId, Expr::value(plan));
        }
        if let Some(status) = patch.status {
            update = update.set(C::Status, Expr::value(status.as_str()));
        }
        if let Some((start, end)) = patch.period {
            update = update
                .set(C::CurrentPeriodStart, Expr::value(start))
                .set(C::CurrentPeriodEnd, Expr::value(end));
        }
        if let Some(at) = patch.trial_end {
            update = update.set(C::TrialEnd, Expr::value(at));
        }
        if let Some(flag) = patch.cancel_at_period_end {
            update = update.set(C::CancelAtPeriodEnd, Expr::value(flag));
        }
        if let Some(at) = patch.canceled_at {
            update = update.set(C::CanceledAt, Expr::value(at));
        }
        if let Some(at) = patch.grace_until {
            update = update.set(C::GraceUntil, Expr::value(at));
        }
        if let Some(plan) = patch.pending_plan_id {
            update = update.set(C::PendingPlanId, Expr::value(plan));
        }
        if let Some(at) = patch.suspended_at {
            update = update.set(C::SuspendedAt, Expr::value(at));
        }
        update.filter(C::Id.eq(id)).exec().await?;
        // Every change of a subscription goes through here, so here is where its
        // `subscription.updated` event is made, in the same unit of work. The event names
        // the state it describes: the same state written twice is one event.
        if let Some(sub) = self.subscription().await?.filter(|s| s.id == id) {
            let key = format!(
                "{id}:{}:{}:{}:{}:{}",
                sub.status.as_str(),
                sub.plan.id,
                sub.current_period_end.timestamp_micros(),
                sub.cancel_at_period_end,
                self.now().timestamp_micros()
            );
            let data = serde_json::json!({
                "id": sub.id,
                "status": sub.status.as_str(),
                "plan": sub.plan.code,
                "currentPeriodStart": sub.current_period_start,
                "currentPeriodEnd": sub.current_period_end,
                "cancelAtPeriodEnd": sub.cancel_at_period_end,
                "canceledAt": sub.canceled_at,
                "graceUntil": sub.grace_until,
            });
            crate::webhooks::emit(self, "subscription.updated", &key, data).await?;
        }
        Ok(())
    }

    async fn with_lines(&self, rows: Vec<invoices::Model>) -> AppResult<Vec<Invoice>> {
        let ids: Vec<uuid::Uuid> = rows.iter().map(|r| r.id).collect();
        let mut lines: HashMap<uuid::Uuid, Vec<(i32, InvoiceLine)>> = HashMap::new();
        if !ids.is_empty() {
            for line in self
                .table::<invoice_lines::Entity>()
                .find()
                .filter(invoice_lines::Column::InvoiceId.is_in(ids))
                .all()
                .await?
            {
                lines
                    .entry(line.invoice_id)
                    .or_default()
                    .push((line.position, to_line(line)));
            }
        }
        Ok(rows
            .into_iter()
            .map(|row| {
                let mut of_row = lines.remove(&row.id).unwrap_or_default();
                of_row.sort_by_key(|(position, _)| *position);
                to_invoice(row, of_row.into_iter().map(|(_, l)| l).collect())
            })
            .collect())
    }

    /// This tenant's invoices, newest first, optionally of one status.
    pub async fn invoices(
        &self,
        page: PageRequest,
        status: Option<InvoiceStatus>,
    ) -> AppResult<Page<Invoice>> {
        let mut query = self.table::<invoices::Entity>().find();
        if let Some(status) = status {
            query = query.filter(invoices::Column::Status.eq(status.as_str()));
        }
        let page = query.page(invoices::Column::Id, page, true).await?;
        let items = self.with_lines(page.items).await?;
        Ok(Page {
            items,
            has_next: page.has_next,
            has_previous: page.has_previous,
            total: page.total,
        })
    }

    /// One invoice of this tenant.
    pub async fn invoice(&self, id: uuid::Uuid) -> AppResult<Option<Invoice>> {
        let Some(row) = self.table::<invoices::Entity>().by_id(id).one().await? else {
            return Ok(None);
        };
        Ok(self.with_lines(vec![row]).await?.pop())
    }
}

impl PlatformTx {
    /// Subscriptions whose period ended by `now` and that have not ended: (tenant,
    /// subscription, period end), in (period end, id) order after `after`,
    /// at most `limit`.
    pub async fn due_renewals(
        &self,
        now: DateTime<Utc>,
        after: Option<(DateTime<Utc>, uuid::Uuid)>,
        limit: u64,
    ) -> AppResult<Vec<(TenantId, uuid::Uuid, DateTime<Utc>)>> {
        use crate::billing::SubscriptionStatus;
        use sea_orm::Condition;
        let mut query = self
            .across_tenants::<subscriptions::Entity>()
            .find()
            .filter(subscriptions::Column::CurrentPeriodEnd.lte(now))
            .filter(subscriptions::Column::Status.ne(SubscriptionStatus::Canceled.as_str()));
        if let Some((end, id)) = after {
            query = query.filter(
                Condition::any()
                    .add(subscriptions::Column::CurrentPeriodEnd.gt(end))
                    .add(
                        Condition::all()
                            .add(subscriptions::Column::CurrentPeriodEnd.eq(end))
                            .add(subscriptions::Column::Id.gt(id)),
                    ),
            );
        }
        Ok(query
            .order_by_asc(subscriptions::Column::CurrentPeriodEnd)
            .order_by_asc(subscriptions::Column::Id)
            .limit(limit)
            .all()
            .await?
            .into_iter()
            .map(|s| (TenantId::from_uuid(s.tenant_id), s.id, s.current_period_end))
            .collect())
    }
}
