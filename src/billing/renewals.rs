//! Renewals: a sweep finds subscriptions whose period ended and queues one job per
//! (subscription, period); the job issues the next period's invoice and moves the
//! subscription on, exactly once (its id is derived from both, and the effect's claim and
//! the one-invoice-per-period key commit with the invoice).

use msingi_jobs::RenewSubscription;

use crate::audit::{Audit, AuditEntry};
use crate::billing::SubscriptionStatus;
use crate::billing::invoices::{InvoiceLine, LineKind, NewInvoice};
use crate::config::BillingConfig;
use crate::db::{Access, Db, SystemTask, TenantScope};
use crate::error::AppResult;

/// Subscriptions renewed per sweep transaction.
const SWEEP_BATCH: u64 = 500;

/// Queues the renewal of every subscription whose period ended; returns how many. Walks
/// them in (period end, id) order in batches, each batch in its own transaction.
pub async fn sweep(db: &Db) -> AppResult<usize> {
    let now = db.clock().now();
    let mut queued = 0;
    let mut after = None;
    loop {
        let tx = db
            .platform_write(Access::Task(SystemTask::BillingSweep))
            .await?;
        let due = tx.due_renewals(now, after, SWEEP_BATCH).await?;
        for (tenant, subscription, period_end) in &due {
            let job = RenewSubscription::new(tenant.into_uuid(), *subscription, *period_end);
            tx.enqueue_for(*tenant, &job).await?;
        }
        tx.commit().await?;
        queued += due.len();
        match due.last() {
            Some((_, id, end)) if due.len() as u64 == SWEEP_BATCH => after = Some((*end, *id)),
            _ => return Ok(queued),
        }
    }
}

/// Runs one renewal in `scope` (the job's tenant), which already holds the claim on the
/// job's effect.
pub async fn renew(
    scope: TenantScope,
    job: RenewSubscription,
    billing: &BillingConfig,
) -> AppResult<()> {
    scope.lock_renewals().await?;
    let Some(subscription) = scope.subscription().await? else {
        return Ok(());
    };
    let renews = matches!(
        subscription.status,
        SubscriptionStatus::Trialing | SubscriptionStatus::Active
    );
    if subscription.id != job.subscription_id
        || subscription.current_period_end != job.period_end
        || !renews
        || subscription.cancel_at_period_end
    {
        // Already renewed past this period, or no longer renewing: nothing to do.
        return Ok(());
    }
    // A renewal moves the subscription to the version of its plan offered now.
    let plan = scope
        .offered_plan(&subscription.plan.code)
        .await?
        .unwrap_or(subscription.plan);
    let start = job.period_end;
    let end = plan.interval.period_end(start);
    let tenant = scope
        .own_tenant()
        .await?
        .ok_or(crate::error::AppError::NotFound { entity: "tenant" })?;
    let line = InvoiceLine {
        description: format!(
            "{} plan, {} to {}",
            plan.name,
            start.format("%-d %b %Y"),
            end.format("%-d %b %Y")
        ),
        kind: LineKind::Subscription,
        quantity: 1,
        unit_amount_minor: plan.price.minor,
        amount_minor: plan.price.minor,
    };
    let invoice = scope
        .issue_invoice(NewInvoice {
            subscription_id: subscription.id,
            period: (start, end),
            currency: plan.price.currency.clone(),
            lines: vec![line],
            tax_rate_bp: billing.tax_rate_bp,
            due_days: billing.due_days,
            slug: tenant.slug.as_str().to_owned(),
        })
        .await?;
    scope
        .renew_subscription(
            subscription.id,
            plan.id,
            (start, end),
            SubscriptionStatus::Active,
        )
        .await?;
    let entry = AuditEntry::new("billing.invoice.issue", "invoice", invoice.id).with_changes(
        serde_json::json!({
            "number": invoice.number, "total": crate::billing::money::decimal(invoice.total_minor),
            "currency": invoice.currency, "periodStart": start, "periodEnd": end,
            "plan": { "code": plan.code, "version": plan.version },
        }),
    );
    scope.commit(Audit::by(Default::default(), entry)).await?;
    Ok(())
}
