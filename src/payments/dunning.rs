//! Dunning on M-Pesa: when a reminder falls due and the tenant has a `billingPhone`, the
//! phone is prompted by STK push. What earlier prompts of the invoice answered decides:
//! insufficient balance (1), unreachable (1037), expired (1019) or a busy subscriber
//! (1001) are tried again at the next reminder; a prompt the customer cancelled (1032) is
//! not repeated until someone asks (payInvoice); a configuration error (2, 3, 2028, wrong
//! credentials) stops the prompts and is logged for the platform's admins.

use super::PaymentStatus;
use super::pay::{Mpesa, push};
use crate::billing::dunning::Prompt;
use crate::db::Db;
use crate::error::AppResult;

/// Result codes that mean the deployment's M-Pesa set-up is wrong, not the customer.
const CONFIGURATION: &[i32] = &[2, 3, 2028];

/// Pushes `prompt` unless an earlier answer says not to.
pub async fn prompt(db: &Db, mpesa: &Mpesa, prompt: Prompt) -> AppResult<()> {
    let ctx = crate::worker::context_for(db, prompt.tenant, "dunning prompt").await?;
    let earlier = db
        .read(&ctx)
        .await?
        .payments_of(vec![prompt.invoice_id])
        .await?;
    if earlier.iter().any(|p| p.status == PaymentStatus::Cancelled) {
        tracing::info!(invoice = %prompt.invoice_id, "the customer cancelled a prompt: not prompting again");
        return Ok(());
    }
    if let Some(p) = earlier.iter().find(|p| {
        p.result_code.is_some_and(|c| CONFIGURATION.contains(&c))
            || p.result_desc
                .as_deref()
                .is_some_and(|d| d.contains("refused the credentials"))
    }) {
        tracing::error!(
            payment = %p.id, code = ?p.result_code, desc = ?p.result_desc,
            "M-Pesa configuration error: dunning prompts stopped; platform admins must fix MPESA_*"
        );
        return Ok(());
    }
    match push(
        db,
        mpesa,
        &ctx,
        prompt.invoice_id,
        prompt.phone,
        "dunning",
        Default::default(),
    )
    .await
    {
        Ok(payment) => {
            tracing::info!(payment = %payment.id, "dunning prompt sent");
        }
        Err(e) => tracing::warn!(invoice = %prompt.invoice_id, error = %e, "dunning prompt failed"),
    }
    Ok(())
}
