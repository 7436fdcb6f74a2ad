//! The sweeper: every payment pending past `MPESA_PENDING_QUERY_SECS` is asked of STK
//! Query, so a lost callback still settles ("being processed" and rate limits mean not
//! yet); one still pending past `MPESA_PENDING_TIMEOUT_SECS` is TIMED_OUT. And the
//! reconciliation report: everything flagged for a person, with what to do.

use super::PaymentStatus;
use super::callbacks::{Outcome, settle};
use super::mpesa::client::Queried;
use super::pay::Mpesa;
use crate::audit::{Audit, AuditEntry};
use crate::billing::invoices::Links;
use crate::config::MpesaConfig;
use crate::db::{Access, Db, Flagged, PaymentChange, SystemTask};
use crate::error::AppResult;

/// Payments asked about per sweep.
const BATCH: u64 = 200;

/// Asks STK Query about every payment pending too long; returns how many changed.
pub async fn sweep(
    db: &Db,
    mpesa: &Mpesa,
    config: &MpesaConfig,
    links: &Links,
) -> AppResult<usize> {
    let now = db.clock().now();
    let query_after = chrono::Duration::from_std(config.query_after).unwrap_or_default();
    let timeout_after = chrono::Duration::from_std(config.timeout_after).unwrap_or_default();
    let due = db
        .platform_read(Access::Task(SystemTask::Mpesa))
        .await?
        .pending_payments(now - query_after, BATCH)
        .await?;
    let mut changed = 0;
    for (tenant, id, checkout) in due {
        // Daraja is asked first, with no transaction open: a slow answer never holds a
        // pooled connection, a row lock or (on SQLite) the write lock. The payment is then
        // locked and checked again, since a callback may have settled it meanwhile.
        let answer = match &checkout {
            Some(checkout) => mpesa.daraja.stk_query(checkout).await,
            None => Ok(Queried::Pending),
        };
        let tx = db.platform_write(Access::Task(SystemTask::Mpesa)).await?;
        let Some(record) = tx.find_tenant(tenant).await? else {
            continue;
        };
        let scope = tx.into_tenant(&record).await?;
        let Some(payment) = scope.payment_locked(id).await? else {
            continue;
        };
        if payment.status != PaymentStatus::Pending
            || payment.flag.is_some()
            || payment.checkout_request_id != checkout
        {
            continue;
        }
        let outcome = match answer {
            Ok(Queried::Done {
                result_code,
                result_desc,
            }) => Some(Outcome {
                checkout_request_id: payment.checkout_request_id.clone().unwrap_or_default(),
                result_code,
                result_desc,
                paid: None,
            }),
            Ok(Queried::Pending) => None,
            Err(e) => {
                tracing::warn!(payment = %payment.id, error = %e, "STK Query failed");
                None
            }
        };
        let entry = match outcome {
            Some(outcome) => {
                let flag = settle(&scope, &payment, &outcome, links).await?;
                AuditEntry::new("billing.payment.query", "payment", payment.id).with_changes(
                    serde_json::json!({ "resultCode": outcome.result_code, "flag": flag }),
                )
            }
            None if now - payment.created_at >= timeout_after => {
                scope
                    .change_payment(
                        payment.id,
                        PaymentChange {
                            status: Some(PaymentStatus::TimedOut),
                            result: Some((None, "no answer from M-Pesa in time".into())),
                            queried: true,
                            ..Default::default()
                        },
                    )
                    .await?;
                super::callbacks::failed(&scope, payment.id, links).await?;
                AuditEntry::new("billing.payment.timeout", "payment", payment.id)
            }
            None => {
                scope
                    .change_payment(
                        payment.id,
                        PaymentChange {
                            queried: true,
                            ..Default::default()
                        },
                    )
                    .await?;
                scope
                    .commit_unaudited("asked STK Query; still pending")
                    .await?;
                continue;
            }
        };
        scope.commit(Audit::by(Default::default(), entry)).await?;
        changed += 1;
    }
    Ok(changed)
}

/// What is flagged for a person, newest first, with what to do about each.
/// `access` is the platform admin asking, or the system (`msingi payments reconcile`).
pub async fn report(db: &Db, access: Access<'_>) -> AppResult<Vec<(Flagged, &'static str)>> {
    let flagged = db.platform_read(access).await?.flagged(500).await?;
    Ok(flagged
        .into_iter()
        .map(|f| {
            let todo = advice(&f.flag);
            (f, todo)
        })
        .collect())
}

/// Flags told per alert (the rest wait for the next sweep).
const ALERT_BATCH: u64 = 50;

/// Tells every platform admin, by one email, what was flagged for review since the last
/// alert: the marking and the emails are one transaction, so a flag is told once (a
/// crash before the commit tells it on the next run; two sweepers skip each other's
/// rows). Returns how many flags were told; with no platform admin, none are marked, so
/// the first admin hears of them.
pub async fn alert_reviews(db: &Db, links: &Links) -> AppResult<usize> {
    let tx = db.platform_write(Access::Task(SystemTask::Mpesa)).await?;
    let admins = tx.platform_admins().await?;
    if admins.is_empty() {
        return Ok(0);
    }
    let flags = tx.take_unalerted_flags(ALERT_BATCH).await?;
    if flags.is_empty() {
        return Ok(0);
    }
    let link = format!(
        "{}/graphiql?query={}",
        links.public_url(),
        urlencoding(REVIEW_QUERY)
    );
    let mail = crate::billing::mail::payment_review(&flags, &link)?;
    for admin in &admins {
        tx.enqueue(&mail.clone().to_job(&admin.email, None)).await?;
    }
    tx.commit().await?;
    tracing::warn!(
        flags = flags.len(),
        admins = admins.len(),
        "platform admins told of M-Pesa items to review"
    );
    Ok(flags.len())
}

/// The query the alert's link opens in GraphiQL.
const REVIEW_QUERY: &str = "{ paymentReviews { kind id tenantId reason at action } }";

fn urlencoding(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// What to do about a flag.
pub fn advice(flag: &str) -> &'static str {
    if flag.starts_with("amount mismatch") || flag.starts_with("phone mismatch") {
        "compare the M-Pesa statement with the request; settle by hand or refund the customer"
    } else if flag.starts_with("late success") {
        "money was received after the payment was given up: settle the invoice by hand or refund"
    } else if flag.starts_with("forged") || flag.contains("MPESA_CALLBACK_ALLOW") {
        "not from Safaricom for a payment of ours: ignore, and check where it came from"
    } else if flag.starts_with("malformed") {
        "Safaricom's body was unreadable: check the payment with STK Query or the M-Pesa portal"
    } else {
        "look at the payment and its callbacks"
    }
}
