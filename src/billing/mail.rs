//! The emails billing sends a tenant's owners, rendered when the job is written (in the
//! unit of work that causes them, so a rolled-back change never mails).

use chrono::{DateTime, Utc};

use super::invoices::Invoice;
use crate::db::TenantScope;
use crate::error::AppResult;
use crate::identity::mail::{Mail, render};
use crate::tenancy::Tenant;

fn day(at: DateTime<Utc>) -> String {
    at.format("%-d %b %Y").to_string()
}

fn due(invoice: &Invoice) -> String {
    invoice.money(invoice.amount_due_minor()).to_string()
}

fn number(invoice: &Invoice) -> &str {
    invoice.number.as_deref().unwrap_or("draft")
}

const FOOTER: &str = "You receive this because you own this team on Msingi.";

/// A new invoice, with its hosted link.
pub fn invoice_issued(tenant: &Tenant, invoice: &Invoice, link: &str) -> Mail {
    let body = match invoice.due_at {
        Some(at) if invoice.amount_due_minor() > 0 => format!(
            "Invoice {} for {} is ready: {} is due by {}.",
            number(invoice),
            tenant.name,
            due(invoice),
            day(at)
        ),
        _ => format!(
            "Invoice {} for {} is ready; nothing is due on it.",
            number(invoice),
            tenant.name
        ),
    };
    render(
        format!("Invoice {} from Msingi", number(invoice)),
        "Hello,",
        &body,
        "View the invoice",
        link,
        FOOTER,
    )
    .about("invoiceId", invoice.id)
    .about("invoiceNumber", &invoice.number)
}

/// The invoice is overdue: the subscription is past due until `grace_until`.
pub fn past_due(
    tenant: &Tenant,
    invoice: &Invoice,
    grace_until: DateTime<Utc>,
    link: &str,
) -> Mail {
    render(
        format!("Payment overdue: invoice {}", number(invoice)),
        "Hello,",
        &format!(
            "Invoice {} for {} is overdue: {} is still due. Pay it by {} to keep {} running; after that it can be read but not changed.",
            number(invoice),
            tenant.name,
            due(invoice),
            day(grace_until),
            tenant.name
        ),
        "Pay the invoice",
        link,
        FOOTER,
    )
    .about("invoiceId", invoice.id)
    .about("invoiceNumber", &invoice.number)
}

/// A reminder that an invoice is still unpaid.
pub fn payment_due(tenant: &Tenant, invoice: &Invoice, link: &str) -> Mail {
    render(
        format!("Reminder: invoice {} is unpaid", number(invoice)),
        "Hello,",
        &format!(
            "{} is still due on invoice {} for {}.",
            due(invoice),
            number(invoice),
            tenant.name
        ),
        "Pay the invoice",
        link,
        FOOTER,
    )
    .about("invoiceId", invoice.id)
    .about("invoiceNumber", &invoice.number)
}

/// Grace ran out: the tenant is suspended until it pays.
pub fn suspended(tenant: &Tenant, owed: &str, link: &str) -> Mail {
    render(
        format!("{} is suspended for an unpaid invoice", tenant.name),
        "Hello,",
        &format!(
            "{} is suspended: {owed} is overdue. Your team can still sign in, read everything and pay; nothing can be changed until the invoice is paid, which restores it at once.",
            tenant.name
        ),
        "Pay the invoice",
        link,
        FOOTER,
    )
}

/// The subscription ended.
pub fn canceled(tenant: &Tenant, why: &str, link: &str) -> Mail {
    render(
        format!("The subscription of {} has ended", tenant.name),
        "Hello,",
        &format!(
            "The subscription of {} has ended ({why}). Its data stays readable; choose a plan to continue.",
            tenant.name
        ),
        "Choose a plan",
        link,
        FOOTER,
    )
}

/// A payment was received (with its M-Pesa receipt).
pub fn payment_received(
    tenant: &Tenant,
    invoice: &Invoice,
    amount: &super::Money,
    receipt: &str,
    link: &str,
) -> Mail {
    let left = if invoice.amount_due_minor() > 0 {
        format!(" {} is still due on it.", due(invoice))
    } else {
        " It is paid in full.".to_owned()
    };
    render(
        format!("Payment received: {amount} (M-Pesa {receipt})"),
        "Hello,",
        &format!(
            "We received {amount} by M-Pesa for invoice {} of {} (receipt {receipt}).{left}",
            number(invoice),
            tenant.name
        ),
        "View the invoice",
        link,
        FOOTER,
    )
    .about("invoiceId", invoice.id)
    .about("invoiceNumber", &invoice.number)
}

/// An M-Pesa payment ended without money (refused, cancelled, timed out).
pub fn payment_failed(
    tenant: &Tenant,
    invoice: &Invoice,
    payment: &crate::payments::Payment,
    link: &str,
) -> Mail {
    let why = payment
        .result_desc
        .clone()
        .unwrap_or_else(|| payment.status.as_str().to_lowercase().replace('_', " "));
    render(
        format!("Payment not completed: invoice {}", number(invoice)),
        "Hello,",
        &format!(
            "The M-Pesa payment of {} for invoice {} of {} did not go through ({why}). {} is still due; you can try again from the invoice.",
            crate::billing::Money::new(payment.amount_minor, &payment.currency),
            number(invoice),
            tenant.name,
            due(invoice)
        ),
        "Pay the invoice",
        link,
        FOOTER,
    )
    .about("invoiceId", invoice.id)
    .about("paymentId", payment.id)
}

/// A soft quota reached `threshold` % (`used` of `max`) in the open period.
pub fn usage_threshold(
    tenant: &Tenant,
    metric: &crate::usage::Metric,
    (used, max, threshold): (i64, i64, i32),
    link: &str,
) -> Mail {
    let what = if threshold >= 100 {
        "has reached its quota".to_owned()
    } else {
        format!("is at {threshold}% of its quota")
    };
    render(
        format!("{}: {} {what}", tenant.name, metric.name),
        "Hello,",
        &format!(
            "{} has used {used} of the {max} {} of {} its plan includes this billing period. Usage past the quota is still recorded and billed as the plan says; a larger plan raises it.",
            tenant.name, metric.unit, metric.name
        ),
        "See usage",
        link,
        FOOTER,
    )
    .about("metric", &metric.code)
    .about("used", used)
    .about("max", max)
}

/// Tells every owner of the scope's tenant: an in-app notification of `kind` and `mail`
/// queued to their address, both only if the unit of work commits.
pub async fn to_owners(
    scope: &TenantScope,
    tenant: &Tenant,
    kind: &'static str,
    mail: Mail,
) -> AppResult<()> {
    let notification = crate::notify::notifications::NewNotification {
        kind,
        title: mail.subject.clone(),
        body: mail.summary.clone(),
        data: Some({
            let mut data = mail.refs.clone();
            data.insert("link".into(), mail.link.clone().into());
            serde_json::Value::Object(data)
        }),
    };
    for owner in scope.owner_ids().await? {
        scope.insert_notification(owner, &notification).await?;
        if let Some(member) = scope.get_member(owner).await? {
            scope
                .enqueue(&mail.clone().to_job(&member.user.email, Some(tenant.id)))
                .await?;
        }
    }
    Ok(())
}
