//! Dunning, as data: reminder days after an invoice's due date (`BILLING_DUNNING_DAYS`,
//! 0, 1, 3, 5 by default). The first step marks the subscription PAST_DUE with
//! `graceUntil` (the plan's grace, else `BILLING_GRACE_DAYS`) and tells the owners; each
//! later one reminds them. When grace ends unpaid the subscription is SUSPENDED (its
//! tenant's members can read and pay, not write); `BILLING_CANCEL_AFTER_DAYS` later it is
//! CANCELED. Paying restores ACTIVE at once ([`super::lifecycle::pay`]).
//!
//! A sweep finds due steps and queues one [`DunningStep`] each; a step re-checks what it
//! is for under the tenant's renewal lock and does nothing when that moved on (paid, or
//! done already), so two sweeps, a replay or a late worker never mail twice.

use msingi_jobs::{Dunning, DunningStep};

use super::invoices::{InvoiceStatus, Links};
use super::lifecycle;
use super::subscriptions::SubscriptionPatch;
use crate::audit::{Audit, AuditEntry};
use crate::billing::SubscriptionStatus;
use crate::config::BillingConfig;
use crate::db::DueStep;
use crate::db::{Access, Db, SystemTask, TenantScope};
use crate::error::{AppError, AppResult};

/// Steps of each kind queued per sweep (the next sweep takes the rest).
const SWEEP_LIMIT: u64 = 1000;

/// Queues every lifecycle step due now; returns how many.
pub async fn sweep(db: &Db, billing: &BillingConfig) -> AppResult<usize> {
    let now = db.clock().now();
    let tx = db
        .platform_write(Access::Task(SystemTask::BillingSweep))
        .await?;
    let due = tx
        .due_lifecycle_steps(now, cancel_after(billing), SWEEP_LIMIT)
        .await?;
    for (tenant, step) in &due {
        let step = match *step {
            DueStep::Dun { invoice, step } => Dunning::Remind {
                invoice_id: invoice,
                step,
            },
            DueStep::Suspend {
                subscription,
                grace_until,
            } => Dunning::Suspend {
                subscription_id: subscription,
                grace_until,
            },
            DueStep::Cancel {
                subscription,
                suspended_at,
            } => Dunning::Cancel {
                subscription_id: subscription,
                suspended_at,
            },
        };
        tx.enqueue_for(*tenant, &DunningStep::new(tenant.into_uuid(), step))
            .await?;
    }
    tx.commit().await?;
    Ok(due.len())
}

/// How long a subscription stays SUSPENDED before it is CANCELED.
pub fn cancel_after(billing: &BillingConfig) -> chrono::Duration {
    chrono::Duration::days(i64::from(billing.cancel_after_days))
}

/// The M-Pesa prompt a dunning step asks for, once it committed: the tenant's
/// `billingPhone` asked to pay the invoice (the payments module decides whether it may).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    /// The tenant.
    pub tenant: crate::ids::TenantId,
    /// The invoice.
    pub invoice_id: uuid::Uuid,
    /// The tenant's billing phone.
    pub phone: String,
}

/// Runs one step in `scope` (the job's tenant), which holds the claim on its effect; a
/// reminder of a tenant with a `billingPhone` returns the prompt to push.
pub async fn run(
    scope: TenantScope,
    job: DunningStep,
    billing: &BillingConfig,
    links: &Links,
) -> AppResult<Option<Prompt>> {
    scope.lock_renewals().await?;
    let now = scope.now();
    let Some(subscription) = scope.subscription().await? else {
        return Ok(None);
    };
    let tenant = scope
        .own_tenant()
        .await?
        .ok_or(AppError::NotFound { entity: "tenant" })?;
    let pay_link = format!("{}/billing", links.app_url());
    let mut prompt = None;
    let entry = match job.step {
        Dunning::Remind { invoice_id, step } => {
            let Some(invoice) = scope.invoice(invoice_id).await? else {
                return Ok(None);
            };
            if invoice.status != InvoiceStatus::Open
                || invoice.dunning_step != step
                || invoice.next_dunning_at.is_none_or(|at| at > now)
            {
                return Ok(None);
            }
            prompt = tenant.billing_phone.clone().map(|phone| Prompt {
                tenant: tenant.id,
                invoice_id: invoice.id,
                phone,
            });
            let link = links.hosted_url(&invoice, now)?;
            let index = usize::try_from(step).unwrap_or(usize::MAX);
            let due_at = invoice.due_at.unwrap_or(now);
            let next = billing
                .dunning_days
                .get(index.saturating_add(1))
                .map(|days| due_at + chrono::Duration::days(i64::from(*days)));
            scope
                .set_invoice_dunning(invoice.id, step + 1, next)
                .await?;
            let marks_past_due = matches!(
                subscription.status,
                SubscriptionStatus::Trialing | SubscriptionStatus::Active
            ) && invoice.subscription_id == Some(subscription.id);
            if marks_past_due {
                let grace_until = due_at + lifecycle::grace(&subscription.plan, billing);
                scope
                    .update_subscription(
                        subscription.id,
                        SubscriptionPatch {
                            status: Some(SubscriptionStatus::PastDue),
                            grace_until: Some(Some(grace_until)),
                            ..Default::default()
                        },
                    )
                    .await?;
                scope.invalidates_access();
                super::mail::to_owners(
                    &scope,
                    &tenant,
                    crate::notify::notifications::kind::PAST_DUE,
                    super::mail::past_due(&tenant, &invoice, grace_until, &link)?,
                )
                .await?;
            } else {
                super::mail::to_owners(
                    &scope,
                    &tenant,
                    crate::notify::notifications::kind::PAYMENT_DUE,
                    super::mail::payment_due(&tenant, &invoice, &link)?,
                )
                .await?;
            }
            AuditEntry::new("billing.invoice.remind", "invoice", invoice.id).with_changes(
                serde_json::json!({ "step": step, "pastDue": marks_past_due, "nextAt": next }),
            )
        }
        Dunning::Suspend {
            subscription_id,
            grace_until,
        } => {
            if subscription.id != subscription_id
                || subscription.status != SubscriptionStatus::PastDue
                || subscription.grace_until != Some(grace_until)
                || grace_until > now
            {
                return Ok(None);
            }
            scope
                .update_subscription(
                    subscription.id,
                    SubscriptionPatch {
                        status: Some(SubscriptionStatus::Suspended),
                        suspended_at: Some(Some(now)),
                        ..Default::default()
                    },
                )
                .await?;
            scope.invalidates_access();
            let owed = owed(&scope).await?;
            super::mail::to_owners(
                &scope,
                &tenant,
                crate::notify::notifications::kind::SUSPENDED,
                super::mail::suspended(&tenant, &owed, &pay_link)?,
            )
            .await?;
            AuditEntry::new(
                "billing.subscription.suspend",
                "subscription",
                subscription.id,
            )
            .with_changes(serde_json::json!({ "graceUntil": grace_until }))
        }
        Dunning::Cancel {
            subscription_id,
            suspended_at,
        } => {
            if subscription.id != subscription_id
                || subscription.status != SubscriptionStatus::Suspended
                || subscription.suspended_at != Some(suspended_at)
                || suspended_at + cancel_after(billing) > now
            {
                return Ok(None);
            }
            scope
                .update_subscription(
                    subscription.id,
                    SubscriptionPatch {
                        status: Some(SubscriptionStatus::Canceled),
                        canceled_at: Some(Some(now)),
                        cancel_at_period_end: Some(false),
                        pending_plan_id: Some(None),
                        ..Default::default()
                    },
                )
                .await?;
            scope.invalidates_access();
            super::mail::to_owners(
                &scope,
                &tenant,
                crate::notify::notifications::kind::CANCELED,
                super::mail::canceled(&tenant, "an invoice stayed unpaid", &pay_link)?,
            )
            .await?;
            AuditEntry::new(
                "billing.subscription.cancel",
                "subscription",
                subscription.id,
            )
            .with_changes(serde_json::json!({ "reason": "unpaid", "suspendedAt": suspended_at }))
        }
    };
    scope.commit(Audit::by(Default::default(), entry)).await?;
    Ok(prompt)
}

/// What the tenant's open invoices still owe, for the suspension email.
async fn owed(scope: &TenantScope) -> AppResult<String> {
    let mut total = 0i64;
    let mut currency = crate::billing::DEFAULT_CURRENCY.to_owned();
    for id in scope.open_invoice_ids().await? {
        if let Some(invoice) = scope.invoice(id).await? {
            total += invoice.amount_due_minor();
            currency = invoice.currency.clone();
        }
    }
    Ok(crate::billing::Money::new(total, &currency).to_string())
}
