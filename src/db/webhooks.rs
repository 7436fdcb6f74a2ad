//! Webhook endpoints and deliveries: a tenant's rows, reached through its scope; the
//! dispatcher finds and claims due deliveries of every tenant through the platform door.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait as _};
use sea_orm::{ActiveValue::Set, ColumnTrait};

use super::Db;
use super::entities::{webhook_deliveries, webhook_endpoints};
use super::platform::{Access, SystemTask};
use super::scope::TenantScope;
use crate::error::{AppError, AppResult};
use crate::ids::{TenantId, WebhookDeliveryId, WebhookEndpointId};
use crate::page::{Page, PageRequest};
use crate::webhooks::{Delivery, DeliveryStatus, Endpoint};

fn to_endpoint(row: webhook_endpoints::Model) -> (Endpoint, String) {
    let endpoint = Endpoint {
        id: WebhookEndpointId::from_uuid(row.id),
        tenant: TenantId::from_uuid(row.tenant_id),
        url: row.url,
        events: serde_json::from_value(row.events).unwrap_or_default(),
        enabled: row.enabled,
        disabled_reason: row.disabled_reason,
        failing_since: row.failing_since,
        created_at: row.created_at,
    };
    (endpoint, row.secret_encrypted)
}

fn to_delivery(row: webhook_deliveries::Model) -> Delivery {
    Delivery {
        id: WebhookDeliveryId::from_uuid(row.id),
        tenant: TenantId::from_uuid(row.tenant_id),
        endpoint: WebhookEndpointId::from_uuid(row.endpoint_id),
        event_id: row.event_id,
        event_type: row.event_type,
        body: row.body,
        status: DeliveryStatus::parse(&row.status),
        attempts: row.attempts,
        last_response_status: row.last_response_status,
        last_error: row.last_error,
        next_attempt_at: row.next_attempt_at,
        created_at: row.created_at,
    }
}

/// What one attempt changes on its delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptRecord {
    /// The delivery's status after it.
    pub status: DeliveryStatus,
    /// The answer's HTTP status.
    pub response_status: Option<i32>,
    /// Why it failed without an answer.
    pub error: Option<String>,
    /// The next attempt, if any.
    pub next_attempt_at: Option<DateTime<Utc>>,
}

impl TenantScope {
    /// Stores a new endpoint with its sealed secret.
    pub async fn insert_webhook_endpoint(
        &self,
        url: &str,
        events: &[String],
        sealed_secret: &str,
    ) -> AppResult<Endpoint> {
        let now = self.now();
        let row = self
            .table::<webhook_endpoints::Entity>()
            .insert(webhook_endpoints::ActiveModel {
                id: Set(WebhookEndpointId::new().into_uuid()),
                url: Set(url.to_owned()),
                events: Set(serde_json::to_value(events).map_err(AppError::internal)?),
                secret_encrypted: Set(sealed_secret.to_owned()),
                enabled: Set(true),
                disabled_reason: Set(None),
                failing_since: Set(None),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            })
            .await?;
        Ok(to_endpoint(row).0)
    }

    /// This tenant's endpoints, newest first.
    pub async fn webhook_endpoints(&self) -> AppResult<Vec<Endpoint>> {
        Ok(self
            .table::<webhook_endpoints::Entity>()
            .find()
            .order_by_desc(webhook_endpoints::Column::Id)
            .all()
            .await?
            .into_iter()
            .map(|r| to_endpoint(r).0)
            .collect())
    }

    /// One endpoint of this tenant.
    pub async fn webhook_endpoint(&self, id: WebhookEndpointId) -> AppResult<Option<Endpoint>> {
        Ok(self.webhook_endpoint_with_secret(id).await?.map(|(e, _)| e))
    }

    /// One endpoint of this tenant and its sealed secret.
    pub async fn webhook_endpoint_with_secret(
        &self,
        id: WebhookEndpointId,
    ) -> AppResult<Option<(Endpoint, String)>> {
        Ok(self
            .table::<webhook_endpoints::Entity>()
            .by_id(id.into_uuid())
            .one()
            .await?
            .map(to_endpoint))
    }

    /// Deletes an endpoint and its deliveries.
    pub async fn delete_webhook_endpoint(&self, id: WebhookEndpointId) -> AppResult<()> {
        self.table::<webhook_deliveries::Entity>()
            .delete()
            .filter(webhook_deliveries::Column::EndpointId.eq(id.into_uuid()))
            .exec()
            .await?;
        self.table::<webhook_endpoints::Entity>()
            .delete()
            .filter(webhook_endpoints::Column::Id.eq(id.into_uuid()))
            .exec()
            .await?;
        Ok(())
    }

    /// Disables an endpoint with `reason`; its waiting deliveries fail. False when it was
    /// disabled already.
    pub async fn disable_webhook_endpoint(
        &self,
        id: WebhookEndpointId,
        reason: &str,
    ) -> AppResult<bool> {
        let changed = self
            .table::<webhook_endpoints::Entity>()
            .update()
            .set(webhook_endpoints::Column::Enabled, Expr::value(false))
            .set(
                webhook_endpoints::Column::DisabledReason,
                Expr::value(reason),
            )
            .set(
                webhook_endpoints::Column::UpdatedAt,
                Expr::value(self.now()),
            )
            .filter(webhook_endpoints::Column::Id.eq(id.into_uuid()))
            .filter(webhook_endpoints::Column::Enabled.eq(true))
            .exec()
            .await?;
        self.table::<webhook_deliveries::Entity>()
            .update()
            .set(
                webhook_deliveries::Column::Status,
                Expr::value(DeliveryStatus::Failed.as_str()),
            )
            .set(
                webhook_deliveries::Column::NextAttemptAt,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .set(
                webhook_deliveries::Column::UpdatedAt,
                Expr::value(self.now()),
            )
            .filter(webhook_deliveries::Column::EndpointId.eq(id.into_uuid()))
            .filter(webhook_deliveries::Column::Status.is_in([
                DeliveryStatus::Pending.as_str(),
                DeliveryStatus::Sending.as_str(),
            ]))
            .exec()
            .await?;
        Ok(changed > 0)
    }

    /// Records whether deliveries to an endpoint fail: `since` the first failure of a run
    /// (kept when already set), `None` after a success.
    pub async fn set_webhook_endpoint_failing(
        &self,
        id: WebhookEndpointId,
        since: Option<DateTime<Utc>>,
    ) -> AppResult<()> {
        let mut update = self
            .table::<webhook_endpoints::Entity>()
            .update()
            .set(webhook_endpoints::Column::FailingSince, Expr::value(since))
            .filter(webhook_endpoints::Column::Id.eq(id.into_uuid()));
        if since.is_some() {
            update = update.filter(webhook_endpoints::Column::FailingSince.is_null());
        }
        update.exec().await?;
        Ok(())
    }

    /// Writes an event's delivery to `endpoint`, due now; nothing when that endpoint has
    /// the event already.
    pub async fn insert_webhook_delivery(
        &self,
        endpoint: WebhookEndpointId,
        event_id: &str,
        event_type: &str,
        body: &str,
    ) -> AppResult<()> {
        let now = self.now();
        self.table::<webhook_deliveries::Entity>()
            .insert_new(vec![webhook_deliveries::ActiveModel {
                id: Set(WebhookDeliveryId::new().into_uuid()),
                endpoint_id: Set(endpoint.into_uuid()),
                event_id: Set(event_id.to_owned()),
                event_type: Set(event_type.to_owned()),
                body: Set(body.to_owned()),
                status: Set(DeliveryStatus::Pending.as_str().to_owned()),
                attempts: Set(0),
                last_response_status: Set(None),
                last_error: Set(None),
                next_attempt_at: Set(Some(now)),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            }])
            .await?;
        Ok(())
    }

    /// An endpoint's deliveries, newest first.
    pub async fn webhook_deliveries(
        &self,
        endpoint: WebhookEndpointId,
        page: PageRequest,
    ) -> AppResult<Page<Delivery>> {
        Ok(self
            .table::<webhook_deliveries::Entity>()
            .find()
            .filter(webhook_deliveries::Column::EndpointId.eq(endpoint.into_uuid()))
            .page(webhook_deliveries::Column::Id, page, true)
            .await?
            .map(to_delivery))
    }

    /// One delivery of this tenant.
    pub async fn webhook_delivery(&self, id: WebhookDeliveryId) -> AppResult<Option<Delivery>> {
        Ok(self
            .table::<webhook_deliveries::Entity>()
            .by_id(id.into_uuid())
            .one()
            .await?
            .map(to_delivery))
    }

    /// Makes a delivery due now again (PENDING), keeping its event id and body.
    pub async fn retry_webhook_delivery(&self, id: WebhookDeliveryId) -> AppResult<Delivery> {
        let now = self.now();
        self.table::<webhook_deliveries::Entity>()
            .update()
            .set(
                webhook_deliveries::Column::Status,
                Expr::value(DeliveryStatus::Pending.as_str()),
            )
            .set(webhook_deliveries::Column::NextAttemptAt, Expr::value(now))
            .set(webhook_deliveries::Column::UpdatedAt, Expr::value(now))
            .filter(webhook_deliveries::Column::Id.eq(id.into_uuid()))
            .exec()
            .await?;
        self.webhook_delivery(id).await?.ok_or(AppError::NotFound {
            entity: "webhook delivery",
        })
    }

    /// Records one attempt of a delivery.
    pub async fn record_webhook_attempt(
        &self,
        id: WebhookDeliveryId,
        attempt: &AttemptRecord,
    ) -> AppResult<()> {
        use webhook_deliveries::Column as C;
        self.table::<webhook_deliveries::Entity>()
            .update()
            .set(C::Status, Expr::value(attempt.status.as_str()))
            .set(C::Attempts, Expr::col(C::Attempts).add(1))
            .set(C::LastResponseStatus, Expr::value(attempt.response_status))
            .set(C::LastError, Expr::value(attempt.error.clone()))
            .set(C::NextAttemptAt, Expr::value(attempt.next_attempt_at))
            .set(C::UpdatedAt, Expr::value(self.now()))
            .filter(C::Id.eq(id.into_uuid()))
            .exec()
            .await?;
        Ok(())
    }
}

/// A delivery the dispatcher took, with what sending it needs.
#[derive(Debug, Clone)]
pub struct Claimed {
    /// The delivery.
    pub delivery: Delivery,
    /// Its endpoint.
    pub endpoint: Endpoint,
    /// The endpoint's sealed secret.
    pub sealed_secret: String,
}

impl Db {
    /// Takes due deliveries of enabled endpoints, across tenants, oldest due first: those
    /// `take` accepts are leased until `lease_until` (so another dispatcher, or this one
    /// after a crash, tries them again only after that) and returned. On PostgreSQL rows
    /// another dispatcher is claiming are skipped.
    pub async fn claim_webhook_deliveries(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u64,
        mut take: impl FnMut(&Delivery) -> bool,
    ) -> AppResult<Vec<Claimed>> {
        use webhook_deliveries::Column as C;
        let tx = self
            .platform_write(Access::Task(SystemTask::WebhookDispatch))
            .await?;
        let rows = tx
            .across_tenants::<webhook_deliveries::Entity>()
            .find()
            .filter(C::Status.is_in([
                DeliveryStatus::Pending.as_str(),
                DeliveryStatus::Sending.as_str(),
            ]))
            .filter(C::NextAttemptAt.lte(now))
            .order_by_asc(C::NextAttemptAt)
            .limit(limit)
            .lock_skip_locked()
            .all()
            .await?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let endpoint_ids: Vec<uuid::Uuid> = rows.iter().map(|r| r.endpoint_id).collect();
        let endpoints: std::collections::HashMap<(uuid::Uuid, uuid::Uuid), (Endpoint, String)> = tx
            .across_tenants::<webhook_endpoints::Entity>()
            .find()
            .filter(webhook_endpoints::Column::Id.is_in(endpoint_ids))
            .all()
            .await?
            .into_iter()
            .map(|r| ((r.tenant_id, r.id), to_endpoint(r)))
            .collect();
        let mut claimed = Vec::new();
        for row in rows {
            let Some((endpoint, sealed)) = endpoints.get(&(row.tenant_id, row.endpoint_id)) else {
                continue;
            };
            let delivery = to_delivery(row);
            if !endpoint.enabled || !take(&delivery) {
                continue;
            }
            tx.across_tenants::<webhook_deliveries::Entity>()
                .update()
                .set(C::NextAttemptAt, Expr::value(lease_until))
                .set(C::Status, Expr::value(DeliveryStatus::Sending.as_str()))
                .filter(C::TenantId.eq(delivery.tenant.into_uuid()))
                .filter(C::Id.eq(delivery.id.into_uuid()))
                .exec()
                .await?;
            claimed.push(Claimed {
                delivery,
                endpoint: endpoint.clone(),
                sealed_secret: sealed.clone(),
            });
        }
        tx.commit().await?;
        Ok(claimed)
    }

    /// How many deliveries are due at `now` or in flight (what `advanceClock` waits for).
    pub async fn due_webhook_deliveries(&self, now: DateTime<Utc>) -> AppResult<u64> {
        use sea_orm::Condition;
        use webhook_deliveries::Column as C;
        let tx = self
            .platform_read(Access::Task(SystemTask::WebhookDispatch))
            .await?;
        Ok(tx
            .across_tenants::<webhook_deliveries::Entity>()
            .find()
            .filter(
                Condition::any()
                    .add(
                        Condition::all()
                            .add(C::Status.eq(DeliveryStatus::Pending.as_str()))
                            .add(C::NextAttemptAt.lte(now)),
                    )
                    .add(C::Status.eq(DeliveryStatus::Sending.as_str())),
            )
            .count()
            .await?)
    }
}
