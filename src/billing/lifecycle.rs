//! The rules that move money and subscriptions: issuing an invoice (paid from credit as
//! far as it goes, its owners mailed), paying one (an overpayment becomes credit; paying
//! what is overdue restores a PAST_DUE or SUSPENDED subscription at once, and paying the
//! first invoice makes an ended trial ACTIVE), and proration.
//! Every function runs inside the caller's unit of work, so it commits with the change
//! that causes it or not at all.
//!
//! Billing state and tenant status stay separate: the platform suspends a tenant (its
//! `status`), billing suspends a subscription. One rule links them, in the tenant context:
//! members may write only when neither is suspended and the subscription has not ended.

use chrono::{DateTime, Duration, Utc};

use super::invoices::{Invoice, InvoiceLine, Links, NewInvoice};
use super::{Plan, SubscriptionStatus};
use crate::config::BillingConfig;
use crate::db::InvoicePaid;
use crate::db::TenantScope;
use crate::error::{AppError, AppResult};
use crate::tenancy::Tenant;

/// `amount_minor` for the part of `period` from `from` to its end, to the second, rounded
/// half up to the minor unit.
pub fn prorated(
    amount_minor: i64,
    period: (DateTime<Utc>, DateTime<Utc>),
    from: DateTime<Utc>,
) -> i64 {
    let total = (period.1 - period.0).num_seconds().max(1);
    let left = (period.1 - from).num_seconds().clamp(0, total);
    let product = i128::from(amount_minor) * i128::from(left);
    let total = i128::from(total);
    let rounded = (2 * product + total) / (2 * total);
    i64::try_from(rounded).unwrap_or(i64::MAX)
}

/// The tax rate of `plan`'s invoices: its own, else the deployment's.
pub fn tax_rate_bp(plan: &Plan, billing: &BillingConfig) -> i32 {
    plan.tax_rate_bp.unwrap_or(billing.tax_rate_bp)
}

/// How long a subscription on `plan` stays PAST_DUE before it is suspended.
pub fn grace(plan: &Plan, billing: &BillingConfig) -> Duration {
    let days = plan
        .grace_days
        .map_or(i64::from(billing.grace_days), i64::from);
    Duration::days(days)
}

/// The invoice of `lines` for `subscription` over `period` on `plan`, for `tenant`, taxed
/// at the tenant's own rate, else the plan's, else the deployment's.
pub fn invoice_of(
    subscription: uuid::Uuid,
    period: (DateTime<Utc>, DateTime<Utc>),
    plan: &Plan,
    lines: Vec<InvoiceLine>,
    billing: &BillingConfig,
    tenant: &Tenant,
) -> NewInvoice {
    NewInvoice {
        subscription_id: subscription,
        period,
        currency: plan.price.currency.clone(),
        lines,
        tax_rate_bp: tenant
            .tax_rate_bp
            .unwrap_or_else(|| tax_rate_bp(plan, billing)),
        due_days: billing.due_days,
        slug: tenant.slug.as_str().to_owned(),
        first_dunning_day: billing.dunning_days.first().copied(),
    }
}

/// Issues `new`, pays it from the tenant's credit as far as that goes, and mails the
/// tenant's owners its hosted link.
pub async fn issue(
    scope: &TenantScope,
    tenant: &Tenant,
    new: NewInvoice,
    links: &Links,
) -> AppResult<Invoice> {
    let issued = scope.issue_invoice(new).await?;
    apply_credit(scope, issued.id).await?;
    let invoice = scope
        .invoice(issued.id)
        .await?
        .ok_or(AppError::NotFound { entity: "invoice" })?;
    let link = links.hosted_url(&invoice, scope.now())?;
    super::mail::to_owners(
        scope,
        tenant,
        crate::notify::notifications::kind::INVOICE_ISSUED,
        super::mail::invoice_issued(tenant, &invoice, &link)?,
    )
    .await?;
    let id = invoice.id.to_string();
    let data = crate::webhooks::data::invoice(&invoice);
    crate::webhooks::emit(scope, "invoice.created", &id, data.clone()).await?;
    if invoice.paid_at.is_some() {
        crate::webhooks::emit(scope, "invoice.paid", &id, data).await?;
    }
    Ok(invoice)
}

/// What a payment did.
#[derive(Debug, Clone, PartialEq)]
pub struct Settled {
    /// The invoice after it.
    pub invoice: Invoice,
    /// The part that paid the invoice.
    pub applied_minor: i64,
    /// The part beyond what was due, now the tenant's credit.
    pub credited_minor: i64,
    /// Whether it restored the subscription to ACTIVE.
    pub restored: bool,
}

/// Pays `amount_minor` on invoice `id`: what is due is paid (PAID when nothing is left),
/// the rest becomes the tenant's credit, and a PAST_DUE or SUSPENDED subscription with
/// nothing left overdue is ACTIVE again at once.
pub async fn pay(scope: &TenantScope, id: uuid::Uuid, amount_minor: i64) -> AppResult<Settled> {
    if amount_minor < 0 {
        return Err(AppError::bad_input("amount", "must not be negative"));
    }
    let invoice = scope
        .invoice_locked(id)
        .await?
        .ok_or(AppError::NotFound { entity: "invoice" })?;
    let applied = amount_minor.min(invoice.amount_due_minor());
    if applied > 0 {
        record(scope, &invoice, applied, 0).await?;
    }
    let credited = amount_minor - applied;
    if credited > 0 {
        let credit = scope.credit_locked().await?;
        scope.set_credit(credit.saturating_add(credited)).await?;
    }
    let restored = restore(scope).await?;
    let invoice = scope
        .invoice(id)
        .await?
        .ok_or(AppError::NotFound { entity: "invoice" })?;
    Ok(Settled {
        invoice,
        applied_minor: applied,
        credited_minor: credited,
        restored,
    })
}

/// Adds `minor` to the tenant's credit, then pays its open invoices from it, oldest first.
pub async fn add_credit(scope: &TenantScope, minor: i64) -> AppResult<()> {
    if minor <= 0 {
        return Ok(());
    }
    let credit = scope.credit_locked().await?;
    scope.set_credit(credit.saturating_add(minor)).await?;
    for id in scope.open_invoice_ids().await? {
        if !apply_credit(scope, id).await? {
            break;
        }
    }
    restore(scope).await?;
    Ok(())
}

/// Pays invoice `id` from the tenant's credit as far as it goes; false when no credit is
/// left.
async fn apply_credit(scope: &TenantScope, id: uuid::Uuid) -> AppResult<bool> {
    let credit = scope.credit_locked().await?;
    if credit <= 0 {
        return Ok(false);
    }
    let Some(invoice) = scope.invoice_locked(id).await? else {
        return Ok(true);
    };
    let applied = credit.min(invoice.amount_due_minor());
    if applied > 0 {
        record(scope, &invoice, applied, applied).await?;
        scope.set_credit(credit - applied).await?;
    }
    Ok(credit > applied)
}

/// Records `applied` more paid on `invoice` (`from_credit` of it from credit).
async fn record(
    scope: &TenantScope,
    invoice: &Invoice,
    applied: i64,
    from_credit: i64,
) -> AppResult<()> {
    let paid = invoice.amount_paid_minor + applied;
    scope
        .set_invoice_paid(
            invoice.id,
            InvoicePaid {
                amount_paid_minor: paid,
                credit_applied_minor: invoice.credit_applied_minor + from_credit,
                paid_at: (paid >= invoice.total_minor).then(|| scope.now()),
            },
        )
        .await
}

/// A PAST_DUE or SUSPENDED subscription with nothing overdue left is ACTIVE again (its
/// tenant's members may write from the next request on every node), and so is one whose
/// trial ended once nothing is left open. True when it was.
pub async fn restore(scope: &TenantScope) -> AppResult<bool> {
    let Some(subscription) = scope.subscription().await? else {
        return Ok(false);
    };
    let now = scope.now();
    let restores = match subscription.status {
        SubscriptionStatus::PastDue | SubscriptionStatus::Suspended => {
            !scope.has_overdue_invoice(now).await?
        }
        SubscriptionStatus::Trialing => {
            subscription.trial_end.is_some_and(|end| end <= now)
                && scope.open_invoice_ids().await?.is_empty()
        }
        _ => false,
    };
    if !restores {
        return Ok(false);
    }
    scope
        .update_subscription(
            subscription.id,
            super::subscriptions::SubscriptionPatch {
                status: Some(SubscriptionStatus::Active),
                grace_until: Some(None),
                suspended_at: Some(None),
                ..Default::default()
            },
        )
        .await?;
    scope.invalidates_access();
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proration_is_exact_to_the_second_and_rounds_half_up() {
        let start = DateTime::parse_from_rfc3339("2027-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let end = start + Duration::days(31);
        // Nothing used: the whole amount; all used: nothing.
        assert_eq!(prorated(150_000, (start, end), start), 150_000);
        assert_eq!(prorated(150_000, (start, end), end), 0);
        // Ten days left of 31: 150000 × 10/31 = 48387.096… → 48387.
        assert_eq!(
            prorated(150_000, (start, end), end - Duration::days(10)),
            48_387
        );
        // One second left of a 2-second period: exactly half a cent of 1 rounds up.
        assert_eq!(
            prorated(
                1,
                (start, start + Duration::seconds(2)),
                start + Duration::seconds(1)
            ),
            1
        );
        // Before the period, never more than the whole; after it, never negative.
        assert_eq!(prorated(500, (start, end), start - Duration::days(1)), 500);
        assert_eq!(prorated(500, (start, end), end + Duration::days(1)), 0);
    }
}
