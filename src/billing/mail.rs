//! The emails billing sends a tenant's owners, rendered from `templates/email/` in the
//! tenant's branding when the job is written (in the unit of work that causes them, so a
//! rolled-back change never mails).

use chrono::{DateTime, Utc};
use minijinja::context;

use super::invoices::Invoice;
use crate::db::TenantScope;
use crate::error::AppResult;
use crate::identity::mail::Mail;
use crate::notify::templates::{self, Brand};
use crate::tenancy::Tenant;

fn day(at: DateTime<Utc>) -> String {
    at.format("%-d %b %Y").to_string()
}

fn due(invoice: &Invoice) -> String {
    invoice.money(invoice.amount_due_minor()).to_string()
}

/// What is still due on the invoice, or nothing when it is paid.
fn still_due(invoice: &Invoice) -> Option<String> {
    (invoice.amount_due_minor() > 0).then(|| due(invoice))
}

fn number(invoice: &Invoice) -> &str {
    invoice.number.as_deref().unwrap_or("draft")
}

/// `template` in the tenant's branding, about `invoice`.
fn about_invoice(
    template: &str,
    tenant: &Tenant,
    invoice: &Invoice,
    link: &str,
    ctx: minijinja::Value,
) -> AppResult<Mail> {
    let ctx = context! { tenant => tenant.name, number => number(invoice), ..ctx };
    Ok(templates::render(template, &Brand::of(tenant), link, ctx)?
        .about("invoiceId", invoice.id)
        .about("invoiceNumber", &invoice.number))
}

/// A new invoice, with its hosted link.
pub fn invoice_issued(tenant: &Tenant, invoice: &Invoice, link: &str) -> AppResult<Mail> {
    let due_by = invoice.due_at.map(day);
    let due = still_due(invoice).filter(|_| due_by.is_some());
    about_invoice(
        "invoice_issued",
        tenant,
        invoice,
        link,
        context! { due, due_by },
    )
}

/// The invoice is overdue: the subscription is past due until `grace_until`.
pub fn past_due(
    tenant: &Tenant,
    invoice: &Invoice,
    grace_until: DateTime<Utc>,
    link: &str,
) -> AppResult<Mail> {
    let ctx = context! { due => due(invoice), grace_until => day(grace_until) };
    about_invoice("past_due", tenant, invoice, link, ctx)
}

/// A reminder that an invoice is still unpaid.
pub fn payment_due(tenant: &Tenant, invoice: &Invoice, link: &str) -> AppResult<Mail> {
    about_invoice(
        "payment_due",
        tenant,
        invoice,
        link,
        context! { due => due(invoice) },
    )
}

/// Grace ran out: the tenant is suspended until it pays.
pub fn suspended(tenant: &Tenant, owed: &str, link: &str) -> AppResult<Mail> {
    let ctx = context! { tenant => tenant.name, owed };
    templates::render("suspended", &Brand::of(tenant), link, ctx)
}

/// The subscription ended.
pub fn canceled(tenant: &Tenant, why: &str, link: &str) -> AppResult<Mail> {
    let ctx = context! { tenant => tenant.name, why };
    templates::render("canceled", &Brand::of(tenant), link, ctx)
}

/// A payment was received (with its M-Pesa receipt).
pub fn payment_received(
    tenant: &Tenant,
    invoice: &Invoice,
    amount: &super::Money,
    receipt: &str,
    link: &str,
) -> AppResult<Mail> {
    let ctx = context! { amount => amount.to_string(), receipt, due => still_due(invoice) };
    about_invoice("payment_received", tenant, invoice, link, ctx)
}

/// An M-Pesa payment ended without money (refused, cancelled, timed out).
pub fn payment_failed(
    tenant: &Tenant,
    invoice: &Invoice,
    payment: &crate::payments::Payment,
    link: &str,
) -> AppResult<Mail> {
    let why = payment
        .result_desc
        .clone()
        .unwrap_or_else(|| payment.status.as_str().to_lowercase().replace('_', " "));
    let amount = crate::billing::Money::new(payment.amount_minor, &payment.currency).to_string();
    let ctx = context! { amount, why, due => due(invoice) };
    Ok(about_invoice("payment_failed", tenant, invoice, link, ctx)?.about("paymentId", payment.id))
}

/// A soft quota reached `threshold` % (`used` of `max`) in the open period.
pub fn usage_threshold(
    tenant: &Tenant,
    metric: &crate::usage::Metric,
    (used, max, threshold): (i64, i64, i32),
    link: &str,
) -> AppResult<Mail> {
    let ctx = context! {
        tenant => tenant.name, metric => metric.name, unit => metric.unit, used, max, threshold
    };
    Ok(
        templates::render("usage_threshold", &Brand::of(tenant), link, ctx)?
            .about("metric", &metric.code)
            .about("used", used)
            .about("max", max),
    )
}

/// An endpoint stopped receiving webhooks.
pub fn webhook_disabled(tenant: &Tenant, url: &str, reason: &str, link: &str) -> AppResult<Mail> {
    let ctx = context! { tenant => tenant.name, url, reason };
    Ok(templates::render("webhook_disabled", &Brand::of(tenant), link, ctx)?.about("url", url))
}

/// To platform admins: `flags` need review (with what to do about each).
pub fn payment_review(flags: &[crate::db::Flagged], link: &str) -> AppResult<Mail> {
    let items: Vec<_> = flags
        .iter()
        .map(|f| {
            context! {
                kind => f.kind,
                id => f.id.to_string(),
                tenant => f.tenant_id.map(|t| t.to_string()),
                reason => &f.flag,
                action => crate::payments::reconcile::advice(&f.flag),
            }
        })
        .collect();
    let ctx = context! { count => flags.len(), items };
    templates::render("payment_review", &Brand::platform(), link, ctx)
}

/// Tells every owner of the scope's tenant: an in-app notification of `kind`, and `mail`
/// queued to their address unless they chose not to get `kind` by email; both only if
/// the unit of work commits.
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
        if !scope.wants_email(owner, kind).await? {
            continue;
        }
        if let Some(member) = scope.get_member(owner).await? {
            scope
                .enqueue(&mail.clone().to_job(&member.user.email, Some(tenant.id)))
                .await?;
        }
    }
    Ok(())
}
