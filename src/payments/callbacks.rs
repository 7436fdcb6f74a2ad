//! Safaricom's callbacks. The `CallBackURL` of each push carries an HMAC-SHA256 token of
//! the payment (keyed by `MPESA_CALLBACK_SECRET`), so a callback names its tenant and
//! payment unforgeably. Arrival stores the raw body first and answers at once; a job
//! processes it, idempotently: a payment settles once whatever arrives how often, amount
//! and phone are checked against the push, and anything that does not add up is flagged
//! for review, never settled, never a 5xx.

use hmac::{Hmac, Mac};
use msingi_jobs::ProcessMpesaCallback;
use serde_json::Value;
use sha2::Sha256;

use super::{Payment, PaymentStatus};
use crate::audit::{Audit, AuditEntry};
use crate::billing::invoices::Links;
use crate::db::{Access, Db, PaymentChange, SystemTask, TenantScope};
use crate::error::{AppError, AppResult};
use crate::ids::TenantId;

/// The key of callback URL tokens.
#[derive(Clone)]
pub struct CallbackKey(Vec<u8>);

impl std::fmt::Debug for CallbackKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CallbackKey(..)")
    }
}

impl CallbackKey {
    /// `MPESA_CALLBACK_SECRET`, else the secret generated once into the data directory.
    pub fn load(config: &crate::config::MpesaConfig) -> anyhow::Result<Self> {
        if let Some(secret) = &config.callback_secret {
            return Ok(Self(secret.as_bytes().to_vec()));
        }
        let path = &config.callback_secret_file;
        if let Ok(existing) = std::fs::read_to_string(path)
            && !existing.trim().is_empty()
        {
            return Ok(Self(existing.trim().as_bytes().to_vec()));
        }
        use rand::RngCore as _;
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let secret = hex::encode(bytes);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, &secret)?;
        tracing::warn!(path = %path.display(), "generated an M-Pesa callback secret (set MPESA_CALLBACK_SECRET in production)");
        Ok(Self(secret.into_bytes()))
    }

    fn mac(&self, tenant: TenantId, payment: uuid::Uuid) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key");
        mac.update(format!("mpesa-callback:{tenant}:{payment}").as_bytes());
        mac
    }

    /// The token of `payment`'s callback URL.
    pub fn token(&self, tenant: TenantId, payment: uuid::Uuid) -> String {
        hex::encode(self.mac(tenant, payment).finalize().into_bytes())
    }

    /// Whether `token` is `payment`'s (in constant time).
    pub fn verify(&self, tenant: TenantId, payment: uuid::Uuid, token: &str) -> bool {
        hex::decode(token).is_ok_and(|bytes| self.mac(tenant, payment).verify_slice(&bytes).is_ok())
    }

    /// `payment`'s callback URL under `public_url`.
    pub fn url(&self, public_url: &str, tenant: TenantId, payment: uuid::Uuid) -> String {
        format!(
            "{}/webhooks/mpesa/{tenant}/{payment}/{}",
            public_url.trim_end_matches('/'),
            self.token(tenant, payment)
        )
    }
}

/// Flagged callbacks stored per source address in the throttle's window.
pub const FLAGGED_PER_SOURCE: u32 = 100;

/// Stores a callback as it arrived and queues its processing in the same transaction;
/// `ids` are the URL's (tenant, payment, token) when it had that shape. A bad token or a
/// refused source is stored flagged and not processed. Returns the stored id.
pub async fn receive(
    db: &Db,
    throttle: &crate::auth::throttle::Throttle,
    key: &CallbackKey,
    ids: Option<(&str, &str, &str)>,
    source: Option<String>,
    allowed_source: bool,
    body: String,
) -> AppResult<uuid::Uuid> {
    let named = ids.and_then(|(tenant, payment, token)| {
        let tenant = TenantId::from_uuid(uuid::Uuid::parse_str(tenant).ok()?);
        let payment = uuid::Uuid::parse_str(payment).ok()?;
        key.verify(tenant, payment, token)
            .then_some((tenant, payment))
    });
    let flag = match (named, allowed_source) {
        (None, _) => Some("forged or unknown: the URL's token names no payment".to_owned()),
        (Some(_), false) => Some("from an address outside MPESA_CALLBACK_ALLOW".to_owned()),
        _ => None,
    };
    let named = named.filter(|_| flag.is_none());
    if flag.is_some() {
        // Callbacks that name no payment of ours (or come from outside the allow-list) are
        // kept for review, but one address cannot fill the table with them: past
        // FLAGGED_PER_SOURCE in the throttle's window, RATE_LIMITED and nothing stored. A
        // callback whose URL's token is good is never throttled.
        let from = source.as_deref().unwrap_or("unknown");
        throttle
            .attempt(&format!("mpesa-flagged:{from}"), FLAGGED_PER_SOURCE)
            .await?;
    }
    let id = db
        .receive_callback(named, source, body, flag.clone(), ProcessMpesaCallback::new)
        .await?;
    if let Some(flag) = flag {
        tracing::warn!(callback = %id, %flag, "M-Pesa callback flagged");
    }
    Ok(id)
}

/// What a callback says.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// `CheckoutRequestID`.
    pub checkout_request_id: String,
    /// `ResultCode`.
    pub result_code: i32,
    /// `ResultDesc`.
    pub result_desc: String,
    /// On success: the amount in minor units, the receipt and the phone.
    pub paid: Option<(i64, String, String)>,
}

/// Reads a callback body; `Err` says what is wrong with it.
pub fn parse(body: &str) -> Result<Outcome, String> {
    let value: Value = serde_json::from_str(body).map_err(|e| format!("not JSON: {e}"))?;
    let callback = &value["Body"]["stkCallback"];
    let checkout = callback["CheckoutRequestID"]
        .as_str()
        .ok_or("no Body.stkCallback.CheckoutRequestID")?
        .to_owned();
    let result_code = match &callback["ResultCode"] {
        Value::Number(n) => n.as_i64().and_then(|n| i32::try_from(n).ok()),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
    .ok_or("no numeric Body.stkCallback.ResultCode")?;
    let result_desc = callback["ResultDesc"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let paid = if result_code == 0 {
        let items = callback["CallbackMetadata"]["Item"]
            .as_array()
            .ok_or("a success without CallbackMetadata.Item")?;
        let item = |name: &str| {
            items
                .iter()
                .find(|i| i["Name"] == name)
                .and_then(|i| i.get("Value"))
                .cloned()
        };
        let amount = item("Amount").ok_or("a success without Amount")?;
        let amount = match amount {
            Value::Number(n) => n.to_string(),
            Value::String(s) => s,
            _ => return Err("Amount is not a number".into()),
        };
        let minor = crate::billing::money::parse_amount(&amount, "Amount")
            .map_err(|_| format!("Amount {amount:?} is not an amount"))?;
        let receipt = match item("MpesaReceiptNumber") {
            Some(Value::String(s)) if !s.is_empty() && s.len() <= 40 => s,
            _ => return Err("a success without MpesaReceiptNumber".into()),
        };
        let phone = match item("PhoneNumber") {
            Some(Value::Number(n)) => n.to_string(),
            Some(Value::String(s)) => s,
            _ => String::new(),
        };
        Some((minor, receipt, phone))
    } else {
        None
    };
    Ok(Outcome {
        checkout_request_id: checkout,
        result_code,
        result_desc,
        paid,
    })
}

/// Processes stored callback `id`: settles, fails or flags its payment. Safe to run any
/// number of times: what it does depends only on the payment's state, under its lock.
pub async fn process(db: &Db, links: &Links, id: uuid::Uuid) -> AppResult<()> {
    let tx = db.platform_write(Access::Task(SystemTask::Mpesa)).await?;
    let Some(callback) = tx.callback(id).await? else {
        return Ok(());
    };
    if callback.status != "RECEIVED" {
        return Ok(());
    }
    let Some((tenant_id, payment_id)) = callback.payment else {
        tx.finish_callback(id, Some("names no payment".into()))
            .await?;
        return tx.commit().await;
    };
    let outcome = match parse(&callback.body) {
        Ok(outcome) => outcome,
        Err(why) => {
            tx.finish_callback(id, Some(format!("malformed: {why}")))
                .await?;
            return tx.commit().await;
        }
    };
    let Some(tenant) = tx.find_tenant(tenant_id).await? else {
        tx.finish_callback(id, Some("its tenant no longer exists".into()))
            .await?;
        return tx.commit().await;
    };
    let scope = tx.into_tenant(&tenant).await?;
    let Some(payment) = scope.payment_locked(payment_id).await? else {
        return Err(AppError::internal(anyhow::anyhow!(
            "payment {payment_id} of a valid token is missing"
        )));
    };
    match payment.checkout_request_id.as_deref() {
        // The push's answer is not recorded yet (the callback overtook it): later.
        None if payment.status == PaymentStatus::Pending => {
            return Err(AppError::Conflict(
                "the push's answer is not recorded yet".into(),
            ));
        }
        Some(checkout) if checkout == outcome.checkout_request_id => {}
        _ => {
            let flag = format!(
                "its CheckoutRequestID {} is not the payment's",
                outcome.checkout_request_id
            );
            return finish(db, scope, id, Some(flag), None).await;
        }
    }
    let flag = settle(&scope, &payment, &outcome, links).await?;
    let entry = AuditEntry::new("billing.payment.callback", "payment", payment.id).with_changes(
        serde_json::json!({
            "resultCode": outcome.result_code, "receipt": outcome.paid.as_ref().map(|p| &p.1),
            "flag": flag,
        }),
    );
    finish(db, scope, id, flag, Some(entry)).await
}

/// Commits the scope with `entry`, then marks the callback done (or flagged). A crash
/// between the two leaves it RECEIVED, so it is processed again, which changes nothing:
/// the payment is final by then, or flagged the same way.
async fn finish(
    db: &Db,
    scope: TenantScope,
    callback: uuid::Uuid,
    flag: Option<String>,
    entry: Option<AuditEntry>,
) -> AppResult<()> {
    match entry {
        Some(entry) => scope.commit(Audit::by(Default::default(), entry)).await?,
        None => {
            scope
                .commit_unaudited("a callback flagged for review")
                .await?
        }
    }
    let tx = db.platform_write(Access::Task(SystemTask::Mpesa)).await?;
    tx.finish_callback(callback, flag).await?;
    tx.commit().await
}

/// Applies `outcome` to `payment` (locked): the flag for review when it does not add up.
/// Shared by callbacks and STK Query (which has no receipt, so `outcome.paid` is the
/// requested amount with no receipt).
pub async fn settle(
    scope: &TenantScope,
    payment: &Payment,
    outcome: &Outcome,
    links: &Links,
) -> AppResult<Option<String>> {
    let status = PaymentStatus::of_result(outcome.result_code);
    if payment.status.is_final() {
        // Delivered again, or after the sweeper gave up.
        return Ok(match (payment.status, status, &outcome.paid) {
            (PaymentStatus::Succeeded, PaymentStatus::Succeeded, Some((_, receipt, _)))
                if payment.receipt_number.as_deref() == Some(receipt) =>
            {
                None
            }
            (PaymentStatus::Succeeded, PaymentStatus::Succeeded, None) => None,
            (_, PaymentStatus::Succeeded, _) => {
                let flag = format!(
                    "late success after {}: money was received; settle by hand",
                    payment.status.as_str()
                );
                scope
                    .change_payment(
                        payment.id,
                        PaymentChange {
                            flag: Some(flag.clone()),
                            receipt_number: outcome.paid.as_ref().map(|p| p.1.clone()),
                            ..Default::default()
                        },
                    )
                    .await?;
                Some(flag)
            }
            _ => None,
        });
    }
    if status != PaymentStatus::Succeeded {
        scope
            .change_payment(
                payment.id,
                PaymentChange {
                    status: Some(status),
                    result: Some((Some(outcome.result_code), outcome.result_desc.clone())),
                    ..Default::default()
                },
            )
            .await?;
        failed(scope, payment.id, links).await?;
        return Ok(None);
    }
    let (amount, receipt, phone) = match &outcome.paid {
        Some((amount, receipt, phone)) => (*amount, Some(receipt.clone()), phone.clone()),
        None => (payment.amount_minor, None, payment.phone.clone()),
    };
    let mismatch = if amount != payment.amount_minor {
        Some(format!(
            "amount mismatch: asked {}, paid {}",
            crate::billing::money::decimal(payment.amount_minor),
            crate::billing::money::decimal(amount)
        ))
    } else if !phone.is_empty() && phone != payment.phone {
        Some(format!(
            "phone mismatch: asked {}, paid from {phone}",
            payment.phone
        ))
    } else {
        None
    };
    if let Some(flag) = mismatch {
        scope
            .change_payment(
                payment.id,
                PaymentChange {
                    flag: Some(flag.clone()),
                    receipt_number: receipt,
                    paid: Some((amount, phone)),
                    result: Some((Some(outcome.result_code), outcome.result_desc.clone())),
                    ..Default::default()
                },
            )
            .await?;
        return Ok(Some(flag));
    }
    scope
        .change_payment(
            payment.id,
            PaymentChange {
                status: Some(PaymentStatus::Succeeded),
                receipt_number: receipt.clone(),
                paid: Some((amount, phone)),
                result: Some((Some(outcome.result_code), outcome.result_desc.clone())),
                ..Default::default()
            },
        )
        .await?;
    let settled = crate::billing::lifecycle::pay(scope, payment.invoice_id, amount).await?;
    if let Some(tenant) = scope.own_tenant().await? {
        let link = links.hosted_url(&settled.invoice, scope.now())?;
        let mail = crate::billing::mail::payment_received(
            &tenant,
            &settled.invoice,
            &crate::billing::Money::new(amount, &payment.currency),
            receipt.as_deref().unwrap_or("confirmed by M-Pesa"),
            &link,
        )?;
        crate::billing::mail::to_owners(
            scope,
            &tenant,
            crate::notify::notifications::kind::PAYMENT_SUCCEEDED,
            mail,
        )
        .await?;
    }
    if let Some(paid) = scope.payment(payment.id).await? {
        let key = paid.id.to_string();
        crate::webhooks::emit(
            scope,
            "payment.succeeded",
            &key,
            crate::webhooks::data::payment(&paid),
        )
        .await?;
    }
    if settled.invoice.paid_at.is_some() {
        crate::webhooks::emit(
            scope,
            "invoice.paid",
            &settled.invoice.id.to_string(),
            crate::webhooks::data::invoice(&settled.invoice),
        )
        .await?;
    }
    Ok(None)
}

/// Tells of a payment that ended without money (failed, cancelled, timed out): the
/// owners (in the app and by email, with the invoice's link to try again) and the
/// `payment.failed` webhook.
pub async fn failed(scope: &TenantScope, payment: uuid::Uuid, links: &Links) -> AppResult<()> {
    let Some(payment) = scope.payment(payment).await? else {
        return Ok(());
    };
    if let (Some(tenant), Some(invoice)) = (
        scope.own_tenant().await?,
        scope.invoice(payment.invoice_id).await?,
    ) {
        let link = links.hosted_url(&invoice, scope.now())?;
        let mail = crate::billing::mail::payment_failed(&tenant, &invoice, &payment, &link)?;
        crate::billing::mail::to_owners(
            scope,
            &tenant,
            crate::notify::notifications::kind::PAYMENT_FAILED,
            mail,
        )
        .await?;
    }
    crate::webhooks::emit(
        scope,
        "payment.failed",
        &payment.id.to_string(),
        crate::webhooks::data::payment(&payment),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callbacks_are_read_whatever_order_and_number_types() {
        let ok = parse(include_str!(
            "../../tests/fixtures/daraja/callback_success_with_balance.json"
        ))
        .unwrap();
        assert_eq!(ok.result_code, 0);
        assert_eq!(
            ok.paid,
            Some((100, "LGR7OWQX0R".into(), "254721566839".into()))
        );
        let ok = parse(include_str!(
            "../../tests/fixtures/daraja/callback_success.json"
        ))
        .unwrap();
        assert_eq!(
            ok.paid,
            Some((100, "NLJ7RT61SV".into(), "254708374149".into()))
        );
        let cancelled = parse(include_str!(
            "../../tests/fixtures/daraja/callback_cancelled.json"
        ))
        .unwrap();
        assert_eq!(cancelled.result_code, 1032);
        assert_eq!(cancelled.paid, None);
        for bad in [
            "",
            "{}",
            r#"{"Body":{"stkCallback":{"CheckoutRequestID":"x"}}}"#,
            r#"{"Body":{"stkCallback":{"CheckoutRequestID":"x","ResultCode":0}}}"#,
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_token_is_bound_to_its_payment() {
        let key = CallbackKey(b"secret".to_vec());
        let tenant = TenantId::from_uuid(uuid::Uuid::new_v4());
        let payment = uuid::Uuid::new_v4();
        let token = key.token(tenant, payment);
        assert!(key.verify(tenant, payment, &token));
        assert!(!key.verify(tenant, uuid::Uuid::new_v4(), &token));
        assert!(!key.verify(TenantId::from_uuid(uuid::Uuid::new_v4()), payment, &token));
        assert!(!key.verify(tenant, payment, "00"));
        assert!(!CallbackKey(b"other".to_vec()).verify(tenant, payment, &token));
    }
}
