//! Payments (a tenant's), M-Pesa callbacks as they arrived and the shared Daraja token (the
//! platform's).

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait};

use super::entities::{mpesa_callbacks, mpesa_tokens, payments};
use super::platform::{Access, SystemTask};
use super::scope::{PlatformTx, TenantScope};
use crate::error::{AppError, AppResult};
use crate::ids::TenantId;
use crate::page::{Page, PageRequest};
use crate::payments::{Payment, PaymentStatus};

fn to_payment(row: payments::Model) -> Payment {
    Payment {
        id: row.id,
        tenant_id: row.tenant_id,
        invoice_id: row.invoice_id,
        status: PaymentStatus::from_stored(&row.status),
        currency: row.currency,
        amount_minor: row.amount_minor,
        rounding_minor: row.rounding_minor,
        phone: row.phone,
        merchant_request_id: row.merchant_request_id,
        checkout_request_id: row.checkout_request_id,
        receipt_number: row.receipt_number,
        result_code: row.result_code,
        result_desc: row.result_desc,
        flag: row.flag,
        created_at: row.created_at,
        completed_at: row.completed_at,
    }
}

/// A new pending payment.
#[derive(Debug, Clone)]
pub struct NewPayment {
    /// The invoice.
    pub invoice_id: uuid::Uuid,
    /// Currency.
    pub currency: String,
    /// Whole shillings, in minor units.
    pub amount_minor: i64,
    /// What the rounding added.
    pub rounding_minor: i64,
    /// The MSISDN.
    pub phone: String,
    /// `user` or `dunning`.
    pub initiated_by: &'static str,
}

/// What happened to a payment: each `Some` is set.
#[derive(Debug, Clone, Default)]
pub struct PaymentChange {
    /// New status.
    pub status: Option<PaymentStatus>,
    /// Daraja's ids, once the push is accepted.
    pub request_ids: Option<(String, String)>,
    /// M-Pesa's receipt.
    pub receipt_number: Option<String>,
    /// Daraja's result.
    pub result: Option<(Option<i32>, String)>,
    /// What the callback says was paid, and from which phone.
    pub paid: Option<(i64, String)>,
    /// A reason for review.
    pub flag: Option<String>,
    /// Asked of STK Query now.
    pub queried: bool,
}

impl TenantScope {
    /// Records a new PENDING payment.
    pub async fn insert_payment(&self, new: NewPayment) -> AppResult<Payment> {
        let now = self.now();
        let row = self
            .table::<payments::Entity>()
            .insert(payments::ActiveModel {
                id: Set(uuid::Uuid::now_v7()),
                invoice_id: Set(new.invoice_id),
                provider: Set("MPESA".into()),
                status: Set(PaymentStatus::Pending.as_str().into()),
                currency: Set(new.currency),
                amount_minor: Set(new.amount_minor),
                rounding_minor: Set(new.rounding_minor),
                phone: Set(new.phone),
                merchant_request_id: Set(None),
                checkout_request_id: Set(None),
                receipt_number: Set(None),
                result_code: Set(None),
                result_desc: Set(None),
                paid_amount_minor: Set(None),
                paid_phone: Set(None),
                flag: Set(None),
                initiated_by: Set(new.initiated_by.into()),
                created_at: Set(now),
                updated_at: Set(now),
                completed_at: Set(None),
                queried_at: Set(None),
                review_alerted_at: Set(None),
                ..Default::default()
            })
            .await?;
        Ok(to_payment(row))
    }

    /// One payment of this tenant.
    pub async fn payment(&self, id: uuid::Uuid) -> AppResult<Option<Payment>> {
        Ok(self
            .table::<payments::Entity>()
            .by_id(id)
            .one()
            .await?
            .map(to_payment))
    }

    /// One payment of this tenant, its row locked until the unit of work ends.
    pub async fn payment_locked(&self, id: uuid::Uuid) -> AppResult<Option<Payment>> {
        Ok(self
            .table::<payments::Entity>()
            .by_id(id)
            .lock_for_update()
            .one()
            .await?
            .map(to_payment))
    }

    /// The pending payment of `invoice`, if one is.
    pub async fn pending_payment_of(&self, invoice: uuid::Uuid) -> AppResult<Option<Payment>> {
        Ok(self
            .table::<payments::Entity>()
            .find()
            .filter(payments::Column::InvoiceId.eq(invoice))
            .filter(payments::Column::Status.eq(PaymentStatus::Pending.as_str()))
            .filter(payments::Column::Flag.is_null())
            .one()
            .await?
            .map(to_payment))
    }

    /// The payments of `invoices`, oldest first.
    pub async fn payments_of(&self, invoices: Vec<uuid::Uuid>) -> AppResult<Vec<Payment>> {
        if invoices.is_empty() {
            return Ok(Vec::new());
        }
        Ok(self
            .table::<payments::Entity>()
            .find()
            .filter(payments::Column::InvoiceId.is_in(invoices))
            .order_by_asc(payments::Column::Id)
            .all()
            .await?
            .into_iter()
            .map(to_payment)
            .collect())
    }

    /// This tenant's payments, newest first.
    pub async fn payments(&self, page: PageRequest) -> AppResult<Page<Payment>> {
        let page = self
            .table::<payments::Entity>()
            .find()
            .page(payments::Column::Id, page, true)
            .await?;
        Ok(Page {
            items: page.items.into_iter().map(to_payment).collect(),
            has_next: page.has_next,
            has_previous: page.has_previous,
            total: page.total,
        })
    }

    /// Records `change` on payment `id`. CONFLICT when the receipt is already another
    /// payment's.
    pub async fn change_payment(&self, id: uuid::Uuid, change: PaymentChange) -> AppResult<()> {
        use payments::Column as C;
        let now = self.now();
        let mut update = self
            .table::<payments::Entity>()
            .update()
            .set(C::UpdatedAt, Expr::value(now));
        if let Some(status) = change.status {
            update = update.set(C::Status, Expr::value(status.as_str()));
            if status.is_final() {
                update = update.set(C::CompletedAt, Expr::value(now));
            }
        }
        if let Some((merchant, checkout)) = change.request_ids {
            update = update
                .set(C::MerchantRequestId, Expr::value(merchant))
                .set(C::CheckoutRequestId, Expr::value(checkout));
        }
        if let Some(receipt) = change.receipt_number {
            update = update.set(C::ReceiptNumber, Expr::value(receipt));
        }
        if let Some((code, desc)) = change.result {
            let desc: String = desc.chars().take(300).collect();
            update = update
                .set(C::ResultCode, Expr::value(code))
                .set(C::ResultDesc, Expr::value(desc));
        }
        if let Some((amount, phone)) = change.paid {
            let phone: String = phone.chars().take(15).collect();
            update = update
                .set(C::PaidAmountMinor, Expr::value(amount))
                .set(C::PaidPhone, Expr::value(phone));
        }
        if let Some(flag) = change.flag {
            let flag: String = flag.chars().take(300).collect();
            update = update.set(C::Flag, Expr::value(flag));
        }
        if change.queried {
            update = update.set(C::QueriedAt, Expr::value(now));
        }
        update.filter(C::Id.eq(id)).exec().await.map_err(|e| {
            AppError::conflict_on_unique(e, "this M-Pesa receipt is already recorded")
        })?;
        Ok(())
    }
}

/// A stored callback.
#[derive(Debug, Clone)]
pub struct StoredCallback {
    /// Id.
    pub id: uuid::Uuid,
    /// The tenant and payment its URL's token names (verified at arrival).
    pub payment: Option<(TenantId, uuid::Uuid)>,
    /// The body, as it arrived.
    pub body: String,
    /// RECEIVED, PROCESSED or FLAGGED.
    pub status: String,
}

/// A flagged callback or payment, for the reconciliation report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Flagged {
    /// `callback` or `payment`.
    pub kind: &'static str,
    /// Its id.
    pub id: uuid::Uuid,
    /// The tenant, when known.
    pub tenant_id: Option<uuid::Uuid>,
    /// Why.
    pub flag: String,
    /// When.
    pub at: DateTime<Utc>,
}

fn flagged_callback(c: mpesa_callbacks::Model) -> Flagged {
    Flagged {
        kind: "callback",
        id: c.id,
        tenant_id: c.tenant_id,
        flag: c.flag.unwrap_or_default(),
        at: c.received_at,
    }
}

fn flagged_payment(p: payments::Model) -> Flagged {
    Flagged {
        kind: "payment",
        id: p.id,
        tenant_id: Some(p.tenant_id),
        flag: p.flag.unwrap_or_default(),
        at: p.updated_at,
    }
}

impl PlatformTx {
    /// Stores a callback body as it arrived: `payment` when its URL's token is valid,
    /// `flag` when it is already known to be wrong (forged, from a refused address).
    pub async fn insert_callback(
        &self,
        payment: Option<(TenantId, uuid::Uuid)>,
        source: Option<String>,
        body: String,
        flag: Option<String>,
    ) -> AppResult<uuid::Uuid> {
        let id = uuid::Uuid::now_v7();
        self.across_tenants::<mpesa_callbacks::Entity>()
            .insert(mpesa_callbacks::ActiveModel {
                id: Set(id),
                received_at: Set(self.now()),
                tenant_id: Set(payment.map(|(t, _)| t.into_uuid())),
                payment_id: Set(payment.map(|(_, p)| p)),
                source: Set(source.map(|s| s.chars().take(60).collect())),
                body: Set(body),
                status: Set(if flag.is_some() {
                    "FLAGGED"
                } else {
                    "RECEIVED"
                }
                .into()),
                flag: Set(flag),
                processed_at: Set(None),
                review_alerted_at: Set(None),
            })
            .await?;
        Ok(id)
    }

    /// One stored callback.
    pub async fn callback(&self, id: uuid::Uuid) -> AppResult<Option<StoredCallback>> {
        Ok(self
            .across_tenants::<mpesa_callbacks::Entity>()
            .by_id(id)
            .one()
            .await?
            .map(|row| StoredCallback {
                id: row.id,
                payment: row
                    .tenant_id
                    .zip(row.payment_id)
                    .map(|(t, p)| (TenantId::from_uuid(t), p)),
                body: row.body,
                status: row.status,
            }))
    }

    /// Records what processing made of callback `id`: PROCESSED, or FLAGGED with `flag`.
    pub async fn finish_callback(&self, id: uuid::Uuid, flag: Option<String>) -> AppResult<()> {
        use mpesa_callbacks::Column as C;
        let mut update = self
            .across_tenants::<mpesa_callbacks::Entity>()
            .update()
            .set(C::ProcessedAt, Expr::value(self.now()))
            .set(
                C::Status,
                Expr::value(if flag.is_some() {
                    "FLAGGED"
                } else {
                    "PROCESSED"
                }),
            );
        if let Some(flag) = flag {
            let flag: String = flag.chars().take(300).collect();
            update = update.set(C::Flag, Expr::value(flag));
        }
        update.filter(C::Id.eq(id)).exec().await?;
        Ok(())
    }

    /// Payments pending since before `before`, not flagged: (tenant, payment), oldest
    /// first, at most `limit`.
    pub async fn pending_payments(
        &self,
        before: DateTime<Utc>,
        limit: u64,
    ) -> AppResult<Vec<(TenantId, uuid::Uuid, Option<String>)>> {
        Ok(self
            .across_tenants::<payments::Entity>()
            .find()
            .filter(payments::Column::Status.eq(PaymentStatus::Pending.as_str()))
            .filter(payments::Column::Flag.is_null())
            .filter(payments::Column::CreatedAt.lte(before))
            .order_by_asc(payments::Column::CreatedAt)
            .limit(limit)
            .all()
            .await?
            .into_iter()
            .map(|p| {
                (
                    TenantId::from_uuid(p.tenant_id),
                    p.id,
                    p.checkout_request_id,
                )
            })
            .collect())
    }

    /// What was flagged for review and not yet told to platform admins, oldest first, at
    /// most `limit` of each kind, locked until the transaction ends (a second sweeper skips
    /// them), and marked told in this transaction: the caller queues the alert in it too,
    /// so each flag is told once.
    pub async fn take_unalerted_flags(&self, limit: u64) -> AppResult<Vec<Flagged>> {
        let now = self.now();
        let callbacks = self
            .across_tenants::<mpesa_callbacks::Entity>()
            .find()
            .filter(mpesa_callbacks::Column::Status.eq("FLAGGED"))
            .filter(mpesa_callbacks::Column::ReviewAlertedAt.is_null())
            .order_by_asc(mpesa_callbacks::Column::Id)
            .limit(limit)
            .lock_skip_locked()
            .all()
            .await?;
        let payments = self
            .across_tenants::<payments::Entity>()
            .find()
            .filter(payments::Column::Flag.is_not_null())
            .filter(payments::Column::ReviewAlertedAt.is_null())
            .order_by_asc(payments::Column::Id)
            .limit(limit)
            .lock_skip_locked()
            .all()
            .await?;
        if !callbacks.is_empty() {
            self.across_tenants::<mpesa_callbacks::Entity>()
                .update()
                .set(mpesa_callbacks::Column::ReviewAlertedAt, Expr::value(now))
                .filter(mpesa_callbacks::Column::Id.is_in(callbacks.iter().map(|c| c.id)))
                .exec()
                .await?;
        }
        if !payments.is_empty() {
            self.across_tenants::<payments::Entity>()
                .update()
                .set(payments::Column::ReviewAlertedAt, Expr::value(now))
                .filter(payments::Column::Id.is_in(payments.iter().map(|p| p.id)))
                .exec()
                .await?;
        }
        Ok(callbacks
            .into_iter()
            .map(flagged_callback)
            .chain(payments.into_iter().map(flagged_payment))
            .collect())
    }

    /// Everything flagged for review, newest first: callbacks, then payments.
    pub async fn flagged(&self, limit: u64) -> AppResult<Vec<Flagged>> {
        let mut flagged: Vec<Flagged> = self
            .across_tenants::<mpesa_callbacks::Entity>()
            .find()
            .filter(mpesa_callbacks::Column::Status.eq("FLAGGED"))
            .order_by_desc(mpesa_callbacks::Column::Id)
            .limit(limit)
            .all()
            .await?
            .into_iter()
            .map(flagged_callback)
            .collect();
        flagged.extend(
            self.across_tenants::<payments::Entity>()
                .find()
                .filter(payments::Column::Flag.is_not_null())
                .order_by_desc(payments::Column::Id)
                .limit(limit)
                .all()
                .await?
                .into_iter()
                .map(flagged_payment),
        );
        Ok(flagged)
    }
}

/// The shared Daraja token of one consumer key, held under its lock.
#[derive(Debug)]
pub struct TokenLease {
    tx: PlatformTx,
    consumer: String,
}

impl TokenLease {
    /// The stored token if it is still good at `valid_at` and is not the one Daraja just
    /// `refused` (another node may already have stored its replacement).
    pub async fn current(
        &self,
        valid_at: DateTime<Utc>,
        refused: Option<&str>,
    ) -> AppResult<Option<String>> {
        let row = self
            .tx
            .across_tenants::<mpesa_tokens::Entity>()
            .by_id(self.consumer.clone())
            .one()
            .await?;
        Ok(row
            .filter(|r| r.expires_at > valid_at)
            .filter(|r| refused != Some(r.access_token.as_str()))
            .map(|r| r.access_token))
    }

    /// Stores `token` (valid until `expires_at`) and releases the lock.
    pub async fn store(self, token: &str, expires_at: DateTime<Utc>) -> AppResult<()> {
        let table = self.tx.across_tenants::<mpesa_tokens::Entity>();
        let now = self.tx.now();
        let exists = table.by_id(self.consumer.clone()).one().await?.is_some();
        if exists {
            table
                .update()
                .set(mpesa_tokens::Column::AccessToken, Expr::value(token))
                .set(mpesa_tokens::Column::ExpiresAt, Expr::value(expires_at))
                .set(mpesa_tokens::Column::UpdatedAt, Expr::value(now))
                .filter(mpesa_tokens::Column::Consumer.eq(self.consumer.clone()))
                .exec()
                .await?;
        } else {
            table
                .insert(mpesa_tokens::ActiveModel {
                    consumer: Set(self.consumer.clone()),
                    access_token: Set(token.to_owned()),
                    expires_at: Set(expires_at),
                    updated_at: Set(now),
                })
                .await?;
        }
        self.tx.commit().await
    }
}

impl super::Db {
    /// Stores a callback as it arrived (see [`PlatformTx::insert_callback`]) and, unless it
    /// is flagged, queues `job(id)` to process it: both or neither. On PostgreSQL one
    /// statement (one round trip, atomic on its own), so acknowledging a callback costs one
    /// commit; elsewhere one transaction.
    pub async fn receive_callback<J: msingi_jobs::Job>(
        &self,
        payment: Option<(TenantId, uuid::Uuid)>,
        source: Option<String>,
        body: String,
        flag: Option<String>,
        job: impl FnOnce(uuid::Uuid) -> J,
    ) -> AppResult<uuid::Uuid> {
        let Some(pool) = self.platform_postgres_pool() else {
            let tx = self.platform_write(Access::Task(SystemTask::Mpesa)).await?;
            let queue = flag.is_none();
            let id = tx.insert_callback(payment, source, body, flag).await?;
            if queue {
                tx.enqueue(&job(id)).await?;
            }
            tx.commit().await?;
            return Ok(id);
        };
        tracing::debug!(access = %Access::Task(SystemTask::Mpesa), "platform door, one statement");
        let id = uuid::Uuid::now_v7();
        let now = self.clock().now();
        let queued = flag.is_none();
        let payload = serde_json::to_value(job(id)).map_err(AppError::internal)?;
        sqlx::query(
            "WITH stored AS (\
               INSERT INTO mpesa_callbacks \
                 (id, received_at, tenant_id, payment_id, source, body, status, flag) \
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id) \
             INSERT INTO outbox (tenant_id, job, queue, payload, created_at, attempts) \
             SELECT NULL, $9, $10, $11, $2, 0 FROM stored WHERE $12",
        )
        .bind(id)
        .bind(now)
        .bind(payment.map(|(t, _)| t.into_uuid()))
        .bind(payment.map(|(_, p)| p))
        .bind(source.map(|s| s.chars().take(60).collect::<String>()))
        .bind(body)
        .bind(if queued { "RECEIVED" } else { "FLAGGED" })
        .bind(flag)
        .bind(J::NAME)
        .bind(J::QUEUE)
        .bind(sqlx::types::Json(payload))
        .bind(queued)
        .execute(&pool)
        .await
        .map_err(AppError::internal)?;
        Ok(id)
    }

    /// The stored Daraja token of `consumer` if it is still good at `valid_at`.
    pub async fn daraja_token(
        &self,
        consumer: &str,
        valid_at: DateTime<Utc>,
    ) -> AppResult<Option<String>> {
        let tx = self.platform_read(Access::Task(SystemTask::Daraja)).await?;
        Ok(tx
            .across_tenants::<mpesa_tokens::Entity>()
            .by_id(consumer.to_owned())
            .one()
            .await?
            .filter(|r| r.expires_at > valid_at)
            .map(|r| r.access_token))
    }

    /// Takes `consumer`'s token lock (PostgreSQL; SQLite writers are serial) until the
    /// lease stores a token or is dropped.
    pub async fn lock_daraja_token(&self, consumer: &str) -> AppResult<TokenLease> {
        let tx = self
            .platform_write(Access::Task(SystemTask::Daraja))
            .await?;
        tx.across_tenants::<mpesa_tokens::Entity>()
            .advisory_lock(&format!("daraja-token:{consumer}"))
            .await?;
        Ok(TokenLease {
            tx,
            consumer: consumer.to_owned(),
        })
    }
}
