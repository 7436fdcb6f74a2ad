//! `GET /invoices/{id}?token=…`: the printable page of an invoice, for whoever holds its
//! signed link (`Invoice.hostedUrl`): the tenant's name and branding (`settings.logoUrl`,
//! `settings.brandColor`), the lines, tax, totals, and the payments with their M-Pesa
//! receipts. No script, no external asset but the
//! tenant's own logo.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use super::AppState;
use super::pages::escape;
use crate::billing::invoices::{Invoice, InvoiceStatus};
use crate::billing::money::decimal;

fn render(
    invoice: &Invoice,
    tenant: &crate::tenancy::Tenant,
    payments: &[crate::payments::Payment],
) -> String {
    let currency = escape(&invoice.currency);
    let amount = |minor: i64| format!("{currency} {}", decimal(minor));
    let brand = crate::notify::templates::Brand::of(tenant);
    let logo = brand
        .logo_url
        .as_deref()
        .map(|u| {
            format!(
                "<img src=\"{}\" alt=\"\" style=\"max-height:3rem\">",
                escape(u)
            )
        })
        .unwrap_or_default();
    let lines: String = invoice
        .lines
        .iter()
        .map(|l| {
            format!(
                "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                escape(&l.description),
                l.quantity,
                amount(l.unit_amount_minor),
                amount(l.amount_minor)
            )
        })
        .collect();
    let status = match invoice.status {
        InvoiceStatus::Paid => "Paid",
        InvoiceStatus::Open => "Due",
        InvoiceStatus::Void => "Void",
        InvoiceStatus::Uncollectible => "Uncollectible",
        InvoiceStatus::Draft => "Draft",
    };
    let date = |d: Option<chrono::DateTime<chrono::Utc>>| {
        d.map(|d| d.format("%-d %B %Y").to_string())
            .unwrap_or_default()
    };
    let rate = invoice.tax_rate_bp;
    let mut received: String = payments
        .iter()
        .filter(|p| p.status == crate::payments::PaymentStatus::Succeeded)
        .map(|p| {
            format!(
                "<tr><td>{} · M-Pesa {}</td><td class=\"n\">{}</td></tr>",
                date(p.completed_at),
                escape(
                    p.receipt_number
                        .as_deref()
                        .unwrap_or("(confirmed by STK Query)")
                ),
                amount(p.amount_minor)
            )
        })
        .collect();
    if invoice.credit_applied_minor > 0 {
        received.push_str(&format!(
            "<tr><td>From the account's credit</td><td class=\"n\">{}</td></tr>",
            amount(invoice.credit_applied_minor)
        ));
    }
    let received = if received.is_empty() {
        String::new()
    } else {
        format!("<h2>Payments</h2><table>{received}</table>")
    };
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Invoice {number} · {tenant}</title><style>body{{font-family:system-ui,sans-serif;\
         max-width:44rem;margin:2rem auto;padding:0 1rem;color:#222}}h1{{color:{colour}}}\
         table{{width:100%;border-collapse:collapse}}td,th{{padding:.4rem;border-bottom:1px solid #ddd;\
         text-align:left}}.n{{text-align:right}}@media print{{body{{margin:0}}}}</style></head><body>\
         {logo}<h1>{tenant}</h1><p>Invoice <strong>{number}</strong> · {status}</p>\
         <p>Issued {issued} · due {due}</p>\
         <table><thead><tr><th>Description</th><th class=\"n\">Qty</th><th class=\"n\">Unit</th>\
         <th class=\"n\">Amount</th></tr></thead><tbody>{lines}</tbody></table>\
         <table><tr><td>Subtotal</td><td class=\"n\">{subtotal}</td></tr>\
         <tr><td>Tax ({rate_whole}.{rate_fraction:02}%)</td><td class=\"n\">{tax}</td></tr>\
         <tr><td><strong>Total</strong></td><td class=\"n\"><strong>{total}</strong></td></tr>\
         <tr><td>Paid</td><td class=\"n\">{paid}</td></tr>\
         <tr><td><strong>Amount due</strong></td><td class=\"n\"><strong>{due_amount}</strong></td></tr>\
         </table>{received}</body></html>",
        number = escape(invoice.number.as_deref().unwrap_or("draft")),
        tenant = escape(&tenant.name),
        colour = escape(&brand.color),
        issued = date(invoice.issued_at),
        due = date(invoice.due_at),
        subtotal = amount(invoice.subtotal_minor),
        rate_whole = rate / 100,
        rate_fraction = rate % 100,
        tax = amount(invoice.tax_minor),
        total = amount(invoice.total_minor),
        paid = amount(invoice.amount_paid_minor),
        due_amount = amount(invoice.amount_due_minor()),
    )
}

/// The page, or 404 for a link that is not valid for this invoice.
pub(super) async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let (Ok(id), Some(token)) = (uuid::Uuid::parse_str(&id), query.get("token")) else {
        return (StatusCode::NOT_FOUND, "no such invoice\n").into_response();
    };
    match crate::billing::invoices::read::by_link(&state.services, id, token).await {
        Ok((invoice, tenant, payments)) => {
            Html(render(&invoice, &tenant, &payments)).into_response()
        }
        Err(crate::error::AppError::NotFound { .. }) => (
            StatusCode::NOT_FOUND,
            "no such invoice, or the link has expired\n",
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = ?e, "invoice page");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the invoice could not be shown\n",
            )
                .into_response()
        }
    }
}
