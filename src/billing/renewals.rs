//! Period ends: a sweep finds subscriptions whose period ended and queues one job per
//! (subscription, period); the job does what the period's end means, exactly once (its id
//! is derived from both, and the effect's claim and the one-invoice-per-period key commit
//! with the invoice): a subscription set to cancel ends; any other renews, on the plan a
//! downgrade chose or else on its plan's version offered now, with the next period's
//! invoice issued (paid from credit as far as it goes; its owners mailed).

use msingi_jobs::RenewSubscription;

use super::invoices::{InvoiceLine, LineKind, Links};
use super::lifecycle;
use super::subscriptions::SubscriptionPatch;
use crate::audit::{Audit, AuditEntry};
use crate::billing::SubscriptionStatus;
use crate::config::BillingConfig;
use crate::db::{Access, Db, SystemTask, TenantScope};
use crate::error::{AppError, AppResult};

/// Subscriptions renewed per sweep transaction.
const SWEEP_BATCH: u64 = 500;

/// Queues the period end of every subscription whose period ended; returns how many.
/// Walks them in (period end, id) order in batches, each batch in its own transaction.
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

/// A subscription line for `plan` over `period`.
pub fn subscription_line(
    plan: &super::Plan,
    period: (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>),
) -> InvoiceLine {
    InvoiceLine {
        description: format!(
            "{} plan, {} to {}",
            plan.name,
            period.0.format("%-d %b %Y"),
            period.1.format("%-d %b %Y")
        ),
        kind: LineKind::Subscription,
        quantity: 1,
        unit_amount_minor: plan.price.minor,
        amount_minor: plan.price.minor,
    }
}

/// Runs one period end in `scope` (the job's tenant), which already holds the claim on
/// the job's effect. A job for a period that has not ended yet, or that the subscription
/// is already past, does nothing (and commits nothing, so its claim is not kept).
pub async fn renew(
    scope: TenantScope,
    job: RenewSubscription,
    billing: &BillingConfig,
    links: &Links,
) -> AppResult<()> {
    scope.lock_renewals().await?;
    let Some(subscription) = scope.subscription().await? else {
        return Ok(());
    };
    if subscription.id != job.subscription_id
        || subscription.current_period_end != job.period_end
        || job.period_end > scope.now()
        || subscription.status == SubscriptionStatus::Canceled
    {
        return Ok(());
    }
    let tenant = scope
        .own_tenant()
        .await?
        .ok_or(AppError::NotFound { entity: "tenant" })?;
    // The period that ends is billed for its metered usage, at the prices of the plan it
    // ends on.
    let usage = crate::usage::report::invoice_lines(
        &scope,
        &subscription.plan,
        subscription.current_period_start,
    )
    .await?;
    if subscription.cancel_at_period_end {
        if !usage.is_empty() {
            // The last period's usage, on an invoice of its own (keyed by the end, which
            // no renewal takes now).
            let new = lifecycle::invoice_of(
                subscription.id,
                (job.period_end, job.period_end),
                &subscription.plan,
                usage,
                billing,
                &tenant,
            );
            lifecycle::issue(&scope, &tenant, new, links).await?;
        }
        scope
            .update_subscription(
                subscription.id,
                SubscriptionPatch {
                    status: Some(SubscriptionStatus::Canceled),
                    canceled_at: Some(Some(job.period_end)),
                    cancel_at_period_end: Some(false),
                    pending_plan_id: Some(None),
                    ..Default::default()
                },
            )
            .await?;
        scope.invalidates_access();
        let link = format!("{}/billing", links.app_url());
        super::mail::to_owners(
            &scope,
            &tenant,
            crate::notify::notifications::kind::CANCELED,
            super::mail::canceled(&tenant, "canceled at the end of its period", &link)?,
        )
        .await?;
        let entry = AuditEntry::new(
            "billing.subscription.cancel",
            "subscription",
            subscription.id,
        )
        .with_changes(serde_json::json!({ "at": job.period_end, "atPeriodEnd": true }));
        scope.commit(Audit::by(Default::default(), entry)).await?;
        return Ok(());
    }
    // A downgrade takes effect now; otherwise the plan's version offered now.
    let code = match subscription.pending_plan_id {
        Some(pending) => scope.plan_version(pending).await?.map(|p| p.code),
        None => None,
    }
    .unwrap_or_else(|| subscription.plan.code.clone());
    let plan = scope
        .offered_plan(&code)
        .await?
        .unwrap_or(subscription.plan.clone());
    let period = (job.period_end, plan.interval.period_end(job.period_end));
    let mut lines = vec![subscription_line(&plan, period)];
    lines.extend(usage);
    let new = lifecycle::invoice_of(subscription.id, period, &plan, lines, billing, &tenant);
    let invoice = lifecycle::issue(&scope, &tenant, new, links).await?;
    // A trial ends ACTIVE once its first invoice is paid (at once when credit or a free
    // plan covers it); until then it stays TRIALING, and dunning runs as for any invoice.
    let status = match subscription.status {
        SubscriptionStatus::Trialing if invoice.amount_due_minor() == 0 => {
            SubscriptionStatus::Active
        }
        other => other,
    };
    scope
        .update_subscription(
            subscription.id,
            SubscriptionPatch {
                plan_id: Some(plan.id),
                period: Some(period),
                status: Some(status),
                pending_plan_id: Some(None),
                ..Default::default()
            },
        )
        .await?;
    if plan.id != subscription.plan.id {
        scope.invalidates_access();
    }
    let entry = AuditEntry::new("billing.invoice.issue", "invoice", invoice.id).with_changes(
        serde_json::json!({
            "number": invoice.number, "total": crate::billing::money::decimal(invoice.total_minor),
            "currency": invoice.currency, "periodStart": period.0, "periodEnd": period.1,
            "plan": { "code": plan.code, "version": plan.version },
        }),
    );
    scope.commit(Audit::by(Default::default(), entry)).await?;
    Ok(())
}
