//! `payInvoice`: an STK push for what an invoice still owes, and reading payments.

use super::callbacks::CallbackKey;
use super::mpesa::client::{Daraja, DarajaError, Push};
use super::{Payment, PaymentStatus, whole_shillings};
use crate::audit::{Audit, AuditEntry};
use crate::auth::Caller;
use crate::billing::invoices::InvoiceStatus;
use crate::db::{Db, NewPayment, PaymentChange};
use crate::error::{AppError, AppResult};
use crate::page::{Page, PageRequest};
use crate::rbac::perm;
use crate::services::Services;
use crate::tenancy::TenantContext;

/// What a push needs besides the database.
#[derive(Debug, Clone)]
pub struct Mpesa {
    /// The Daraja client.
    pub daraja: Daraja,
    /// Signs callback URLs.
    pub callbacks: CallbackKey,
    /// This server's public URL (callbacks come back under it).
    pub public_url: String,
}

/// Prompts `phone` (any Kenyan form) to pay what invoice `invoice_id` still owes, rounded
/// up to whole shillings. A pending push for the invoice is returned instead of a second
/// one. A suspended tenant can always pay. [P:billing.manage]
pub async fn pay_invoice(
    services: &Services,
    caller: &Caller,
    invoice_id: uuid::Uuid,
    phone: &str,
) -> AppResult<Payment> {
    let ctx = caller.require(perm::BILLING_MANAGE)?;
    let phone = crate::billing::phone::normalise_msisdn(phone, "phoneNumber")?;
    let mpesa = services
        .mpesa
        .as_ref()
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("M-Pesa is not configured")))?;
    push(
        &services.db,
        mpesa,
        ctx,
        invoice_id,
        phone,
        "user",
        caller.actor(),
    )
    .await
}

/// Pushes for invoice `invoice_id` in `ctx`'s tenant (the user's request, or dunning).
pub async fn push(
    db: &Db,
    mpesa: &Mpesa,
    ctx: &TenantContext,
    invoice_id: uuid::Uuid,
    phone: String,
    initiated_by: &'static str,
    actor: crate::audit::Actor,
) -> AppResult<Payment> {
    // First the payment, committed, so a callback that overtakes the push's answer finds it.
    let scope = db.write_billing(ctx).await?;
    let invoice = scope
        .invoice_locked(invoice_id)
        .await?
        .ok_or(AppError::NotFound { entity: "invoice" })?;
    if let Some(pending) = scope.pending_payment_of(invoice.id).await? {
        return Ok(pending);
    }
    let due = invoice.amount_due_minor();
    if invoice.status != InvoiceStatus::Open || due <= 0 {
        return Err(AppError::Conflict(format!(
            "invoice {} is {}: nothing to pay",
            invoice.number.as_deref().unwrap_or("draft"),
            invoice.status.as_str()
        )));
    }
    let (amount, rounding) = whole_shillings(due);
    let payment = scope
        .insert_payment(NewPayment {
            invoice_id: invoice.id,
            currency: invoice.currency.clone(),
            amount_minor: amount,
            rounding_minor: rounding,
            phone: phone.clone(),
            initiated_by,
        })
        .await?;
    let number = invoice.number.clone().unwrap_or_default();
    let entry = AuditEntry::new("billing.payment.push", "payment", payment.id).with_changes(
        serde_json::json!({
            "invoice": number, "amount": crate::billing::money::decimal(amount),
            "rounding": crate::billing::money::decimal(rounding), "phone": phone,
            "initiatedBy": initiated_by,
        }),
    );
    scope.commit(Audit::by(actor.clone(), entry)).await?;

    let tenant = crate::ids::TenantId::from_uuid(payment.tenant_id);
    let request = Push {
        amount: amount / 100,
        phone,
        callback_url: mpesa.callbacks.url(&mpesa.public_url, tenant, payment.id),
        account_reference: account_reference(&number),
        description: "Msingi bill".into(),
    };
    let answer = mpesa.daraja.stk_push(&request).await;
    let scope = db.write_billing(ctx).await?;
    let change = match &answer {
        Ok(accepted) => PaymentChange {
            request_ids: Some((
                accepted.merchant_request_id.clone(),
                accepted.checkout_request_id.clone(),
            )),
            ..Default::default()
        },
        Err(e) => PaymentChange {
            status: Some(PaymentStatus::Failed),
            result: Some((None, e.to_string())),
            ..Default::default()
        },
    };
    scope.change_payment(payment.id, change).await?;
    let payment = scope
        .payment(payment.id)
        .await?
        .ok_or(AppError::NotFound { entity: "payment" })?;
    let entry = AuditEntry::new("billing.payment.pushed", "payment", payment.id).with_changes(
        serde_json::json!({
            "checkoutRequestId": payment.checkout_request_id,
            "error": answer.as_ref().err().map(ToString::to_string),
        }),
    );
    scope.commit(Audit::by(actor, entry)).await?;
    match answer {
        Ok(_) => Ok(payment),
        Err(e) => Err(provider_error(&e)),
    }
}

/// The caller-facing error of a refused push.
fn provider_error(e: &DarajaError) -> AppError {
    AppError::PaymentProvider(match e {
        DarajaError::Busy(_) => {
            "M-Pesa is busy with another transaction on this phone: try again in a minute".into()
        }
        other => format!("M-Pesa could not take the payment: {other}"),
    })
}

/// The prompt's `AccountReference` (at most 12 characters): the invoice number, or its
/// last 12 characters (the sequence, which tells invoices apart).
pub fn account_reference(number: &str) -> String {
    let chars: Vec<char> = number.chars().collect();
    chars[chars.len().saturating_sub(12)..].iter().collect()
}

/// The active tenant's payments, newest first. [P:billing.read]
pub async fn list(
    services: &Services,
    caller: &Caller,
    page: PageRequest,
) -> AppResult<Page<Payment>> {
    let ctx = caller.require(perm::BILLING_READ)?;
    services.db.read(ctx).await?.payments(page).await
}

/// One payment of the active tenant. [P:billing.read]
pub async fn get(
    services: &Services,
    caller: &Caller,
    id: uuid::Uuid,
) -> AppResult<Option<Payment>> {
    let ctx = caller.require(perm::BILLING_READ)?;
    services.db.read(ctx).await?.payment(id).await
}

/// The payments of the active tenant's `invoices`. [P:billing.read]
pub async fn of_invoices(
    services: &Services,
    caller: &Caller,
    invoices: Vec<uuid::Uuid>,
) -> AppResult<Vec<Payment>> {
    let ctx = caller.require(perm::BILLING_READ)?;
    services.db.read(ctx).await?.payments_of(invoices).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_account_reference_fits_twelve_characters() {
        assert_eq!(account_reference("DUKA-000042"), "DUKA-000042");
        assert_eq!(account_reference("MAMA-MBOGA-000042"), "MBOGA-000042");
        assert!(
            account_reference("A-VERY-LONG-TENANT-SLUG-000001")
                .chars()
                .count()
                <= 12
        );
    }
}
