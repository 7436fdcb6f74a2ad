//! What an owner changes about the subscription: its plan (`changePlan`) and its end
//! (`cancelSubscription`).
//!
//! - An upgrade (a higher rank) applies at once: the unused part of the old plan is
//!   credited and the rest of the period on the new one charged, to the second, as two
//!   PRORATION lines on an invoice issued now (a net credit becomes the tenant's credit).
//! - A downgrade (any other plan) applies at the period's end; one whose limits the tenant
//!   already exceeds is refused, naming the limit.
//! - In a trial, either applies at once and the trial goes on.
//! - After the subscription ended, choosing a plan starts a new period on it now.
//! - Choosing the current plan again resumes a subscription set to end or to downgrade.
//! - Cancelling at the period's end keeps everything until then; cancelling now credits
//!   the unused part of the period (paid first from that credit: what is still owed).

use super::invoices::{InvoiceLine, LineKind, Links};
use super::subscriptions::{Subscription, SubscriptionPatch};
use super::{Plan, SubscriptionStatus, lifecycle};
use crate::audit::{Audit, AuditEntry};
use crate::auth::Caller;
use crate::db::TenantScope;
use crate::error::{AppError, AppResult};
use crate::rbac::perm;
use crate::services::Services;

const FIELD: &str = "planCode";

/// Moves the active tenant's subscription to plan `code`. [P:billing.manage]
pub async fn change_plan(
    services: &Services,
    caller: &Caller,
    code: &str,
) -> AppResult<Subscription> {
    let ctx = caller.require(perm::BILLING_MANAGE)?;
    let scope = services.db.write_billing(ctx).await?;
    scope.lock_renewals().await?;
    let subscription = scope.subscription().await?.ok_or(AppError::NotFound {
        entity: "subscription",
    })?;
    let target = scope
        .offered_plan(code.trim())
        .await?
        .ok_or_else(|| AppError::bad_input(FIELD, format!("no plan {code:?} is offered")))?;
    let tenant = scope
        .own_tenant()
        .await?
        .ok_or(AppError::NotFound { entity: "tenant" })?;
    let links = Links::of(services);
    let billing = &services.config.billing;
    let now = scope.now();
    let from = subscription.plan.clone();
    let upgrade = target.rank > from.rank;
    let (patch, effect) = match subscription.status {
        SubscriptionStatus::Canceled => {
            if scope.has_overdue_invoice(now).await? {
                return Err(AppError::Conflict(
                    "an invoice is overdue: pay it before choosing a plan again".into(),
                ));
            }
            fits(&scope, &target).await?;
            let period = (now, target.interval.period_end(now));
            let line = super::renewals::subscription_line(&target, period);
            let new = lifecycle::invoice_of(
                subscription.id,
                period,
                &target,
                vec![line],
                billing,
                &tenant,
            );
            let invoice = lifecycle::issue(&scope, &tenant, new, &links).await?;
            let patch = SubscriptionPatch {
                plan_id: Some(target.id),
                status: Some(SubscriptionStatus::Active),
                period: Some(period),
                trial_end: Some(None),
                canceled_at: Some(None),
                grace_until: Some(None),
                suspended_at: Some(None),
                ..Default::default()
            };
            (
                patch,
                serde_json::json!({ "restarted": true, "invoice": invoice.number }),
            )
        }
        SubscriptionStatus::PastDue | SubscriptionStatus::Suspended => {
            return Err(AppError::Conflict(
                "an invoice is overdue: pay it before changing the plan".into(),
            ));
        }
        _ if target.code == from.code => {
            if !subscription.cancel_at_period_end && subscription.pending_plan_id.is_none() {
                return Err(AppError::bad_input(
                    FIELD,
                    format!("the subscription is already on the {} plan", from.name),
                ));
            }
            let patch = SubscriptionPatch {
                cancel_at_period_end: Some(false),
                pending_plan_id: Some(None),
                ..Default::default()
            };
            (patch, serde_json::json!({ "resumed": true }))
        }
        SubscriptionStatus::Trialing if subscription.trial_end.is_some_and(|end| now < end) => {
            fits(&scope, &target).await?;
            let patch = SubscriptionPatch {
                plan_id: Some(target.id),
                pending_plan_id: Some(None),
                cancel_at_period_end: Some(false),
                ..Default::default()
            };
            (patch, serde_json::json!({ "inTrial": true }))
        }
        _ if upgrade => {
            fits(&scope, &target).await?;
            let period = (
                subscription.current_period_start,
                subscription.current_period_end,
            );
            let lines = proration_lines(&from, &target, period, now);
            let net: i64 = lines.iter().map(|l| l.amount_minor).sum();
            let mut invoice_lines = lines;
            if net < 0 {
                // More unused than the new plan costs: the difference is the tenant's
                // credit, and the invoice totals nothing.
                invoice_lines.push(InvoiceLine {
                    description: "Carried to your credit balance".into(),
                    kind: LineKind::Credit,
                    quantity: 1,
                    unit_amount_minor: -net,
                    amount_minor: -net,
                });
            }
            let new = lifecycle::invoice_of(
                subscription.id,
                (now, period.1),
                &target,
                invoice_lines,
                billing,
                &tenant,
            );
            let invoice = lifecycle::issue(&scope, &tenant, new, &links).await?;
            if net < 0 {
                lifecycle::add_credit(&scope, -net).await?;
            }
            let patch = SubscriptionPatch {
                plan_id: Some(target.id),
                pending_plan_id: Some(None),
                cancel_at_period_end: Some(false),
                ..Default::default()
            };
            (
                patch,
                serde_json::json!({ "upgrade": true, "invoice": invoice.number,
                "total": crate::billing::money::decimal(invoice.total_minor) }),
            )
        }
        _ => {
            fits(&scope, &target).await?;
            let patch = SubscriptionPatch {
                pending_plan_id: Some(Some(target.id)),
                cancel_at_period_end: Some(false),
                ..Default::default()
            };
            (
                patch,
                serde_json::json!({ "downgradeAt": subscription.current_period_end }),
            )
        }
    };
    scope.update_subscription(subscription.id, patch).await?;
    scope.invalidates_access();
    let changed = scope.subscription().await?.ok_or(AppError::NotFound {
        entity: "subscription",
    })?;
    let entry = AuditEntry::new(
        "billing.subscription.change",
        "subscription",
        subscription.id,
    )
    .with_changes(serde_json::json!({
        "from": { "code": from.code, "version": from.version },
        "to": { "code": target.code, "version": target.version },
        "effect": effect,
    }));
    scope.commit(Audit::by(caller.actor(), entry)).await?;
    // The new plan may put the tenant on another isolation tier: moved there live. The
    // plan change stands either way (a renewal tries again).
    if let Err(e) = crate::tiers::moves::follow_plan(&services.db, ctx.tenant_id()).await {
        tracing::warn!(tenant = %ctx.tenant_id(), error = ?e, "the move to the plan's tier did not start");
    }
    Ok(changed)
}

/// The two PRORATION lines of an upgrade from `from` to `to` at `now` in `period`: the
/// unused part of the old plan credited, the rest of the period on the new one charged.
pub fn proration_lines(
    from: &Plan,
    to: &Plan,
    period: (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>),
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<InvoiceLine> {
    let day = now.format("%-d %b %Y %H:%M UTC");
    let credit = lifecycle::prorated(from.price.minor, period, now);
    let charge = lifecycle::prorated(to.price.minor, period, now);
    vec![
        InvoiceLine {
            description: format!("Unused time on the {} plan from {day}", from.name),
            kind: LineKind::Proration,
            quantity: 1,
            unit_amount_minor: -credit,
            amount_minor: -credit,
        },
        InvoiceLine {
            description: format!("Remaining time on the {} plan from {day}", to.name),
            kind: LineKind::Proration,
            quantity: 1,
            unit_amount_minor: charge,
            amount_minor: charge,
        },
    ]
}

/// BAD_USER_INPUT naming the limit when the tenant already has more than `plan` allows.
async fn fits(scope: &TenantScope, plan: &Plan) -> AppResult<()> {
    for (limit, what) in [
        ("stores", "active stores"),
        ("members", "members and pending invitations"),
    ] {
        let Some(&max) = plan.limits.get(limit) else {
            continue;
        };
        let used = match limit {
            "stores" => scope.count_active_stores().await?,
            _ => scope.count_seats(None).await?,
        };
        if i64::try_from(used).unwrap_or(i64::MAX) > max {
            return Err(AppError::bad_input(
                FIELD,
                format!(
                    "limit {limit}: the tenant has {used} {what}; the {} plan allows {max}",
                    plan.name
                ),
            ));
        }
    }
    Ok(())
}

/// Ends the active tenant's subscription: at the period's end, or now with credit for the
/// unused part of the period. [P:billing.manage]
pub async fn cancel(
    services: &Services,
    caller: &Caller,
    at_period_end: bool,
) -> AppResult<Subscription> {
    let ctx = caller.require(perm::BILLING_MANAGE)?;
    let scope = services.db.write_billing(ctx).await?;
    scope.lock_renewals().await?;
    let subscription = scope.subscription().await?.ok_or(AppError::NotFound {
        entity: "subscription",
    })?;
    if subscription.status == SubscriptionStatus::Canceled {
        return Err(AppError::Conflict(
            "the subscription has already ended".into(),
        ));
    }
    let now = scope.now();
    let (patch, credit) = if at_period_end {
        let patch = SubscriptionPatch {
            cancel_at_period_end: Some(true),
            pending_plan_id: Some(None),
            ..Default::default()
        };
        (patch, 0)
    } else {
        // A trial cost nothing, so nothing is credited for it.
        let credit = if subscription.status == SubscriptionStatus::Trialing {
            0
        } else {
            // What the period cost with its tax, for the part not used.
            let price = subscription.plan.price.minor;
            let rate = lifecycle::tax_rate_bp(&subscription.plan, &services.config.billing);
            lifecycle::prorated(
                price + super::invoices::tax_of(price, rate),
                (
                    subscription.current_period_start,
                    subscription.current_period_end,
                ),
                now,
            )
        };
        let patch = SubscriptionPatch {
            status: Some(SubscriptionStatus::Canceled),
            canceled_at: Some(Some(now)),
            cancel_at_period_end: Some(false),
            pending_plan_id: Some(None),
            grace_until: Some(None),
            suspended_at: Some(None),
            ..Default::default()
        };
        (patch, credit)
    };
    scope.update_subscription(subscription.id, patch).await?;
    lifecycle::add_credit(&scope, credit).await?;
    // Ending now also ends the period's metering: what was used above the included units
    // is billed at once, on an invoice of its own (the credit above pays it first).
    let usage = if at_period_end {
        Vec::new()
    } else {
        crate::usage::report::invoice_lines(
            &scope,
            &subscription.plan,
            subscription.current_period_start,
        )
        .await?
    };
    let usage_invoice = if usage.is_empty() {
        None
    } else {
        let tenant = scope
            .own_tenant()
            .await?
            .ok_or(AppError::NotFound { entity: "tenant" })?;
        let new = lifecycle::invoice_of(
            subscription.id,
            (now, now),
            &subscription.plan,
            usage,
            &services.config.billing,
            &tenant,
        );
        Some(lifecycle::issue(&scope, &tenant, new, &Links::of(services)).await?)
    };
    scope.invalidates_access();
    let changed = scope.subscription().await?.ok_or(AppError::NotFound {
        entity: "subscription",
    })?;
    let entry = AuditEntry::new(
        "billing.subscription.cancel",
        "subscription",
        subscription.id,
    )
    .with_changes(serde_json::json!({
        "atPeriodEnd": at_period_end,
        "credit": crate::billing::money::decimal(credit),
        "usageInvoice": usage_invoice.map(|i| i.number),
    }));
    scope.commit(Audit::by(caller.actor(), entry)).await?;
    Ok(changed)
}
