//! Outgoing webhooks: a tenant's endpoints, their delivery log and redelivery.

use async_graphql::{Context, Enum, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use crate::graphql::connection::Connection;
use crate::graphql::{caller, services};
use crate::ids::{WebhookDeliveryId, WebhookEndpointId};
use crate::page::PageRequest;
use crate::webhooks::{
    self, Delivery as DeliveryRecord, DeliveryStatus, Endpoint as EndpointRecord,
};

/// Where a tenant's events are POSTed, signed per the Standard Webhooks spec.
#[derive(SimpleObject)]
pub struct WebhookEndpoint {
    id: ID,
    /// The receiver (https, or any scheme when private URLs are allowed).
    url: String,
    /// The event types it receives, e.g. `invoice.paid`.
    events: Vec<String>,
    /// False once disabled (a 410 answer, or failing for longer than the configured
    /// time); a disabled endpoint gets nothing until created again.
    enabled: bool,
    /// Why it was disabled.
    disabled_reason: Option<String>,
    /// Since when every attempt has failed (null: the last one succeeded).
    failing_since: Option<DateTime<Utc>>,
    /// When it was created.
    created_at: DateTime<Utc>,
}

impl From<EndpointRecord> for WebhookEndpoint {
    fn from(e: EndpointRecord) -> Self {
        Self {
            id: ID(e.id.to_string()),
            url: e.url,
            events: e.events,
            enabled: e.enabled,
            disabled_reason: e.disabled_reason,
            failing_since: e.failing_since,
            created_at: e.created_at,
        }
    }
}

/// A new endpoint and its signing secret.
#[derive(SimpleObject)]
pub struct CreatedWebhookEndpoint {
    /// The endpoint.
    endpoint: WebhookEndpoint,
    /// Shown once: `whsec_<base64>`; verifies the `webhook-signature` of every delivery.
    secret: String,
}

/// Endpoint arguments.
#[derive(InputObject)]
pub struct CreateWebhookEndpointInput {
    /// The receiver; loopback, private and link-local addresses are refused.
    url: String,
    /// Event types, e.g. `["invoice.paid", "payment.failed"]`.
    events: Vec<String>,
}

/// Where a delivery stands.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum WebhookDeliveryStatus {
    /// Waiting for (or in) its next attempt.
    Pending,
    /// The receiver answered 2xx.
    Succeeded,
    /// Every attempt failed, or the endpoint was disabled.
    Failed,
}

impl From<DeliveryStatus> for WebhookDeliveryStatus {
    fn from(s: DeliveryStatus) -> Self {
        match s {
            DeliveryStatus::Pending | DeliveryStatus::Sending => Self::Pending,
            DeliveryStatus::Succeeded => Self::Succeeded,
            DeliveryStatus::Failed => Self::Failed,
        }
    }
}

/// One event sent (or to be sent) to one endpoint.
#[derive(SimpleObject)]
pub struct WebhookDelivery {
    id: ID,
    /// The Standard Webhooks `webhook-id` header: the same for every attempt of one event.
    event_id: String,
    /// e.g. `invoice.paid`.
    event_type: String,
    /// Where it stands.
    status: WebhookDeliveryStatus,
    /// Attempts made.
    attempts: i32,
    /// The HTTP status of the last answer (null: none yet, or no answer).
    last_response_status: Option<i32>,
    /// What went wrong last (a timeout, a refused address, a non-2xx answer).
    last_error: Option<String>,
    /// When the next attempt is due (null once it succeeded or failed for good).
    next_attempt_at: Option<DateTime<Utc>>,
    /// When the event happened.
    created_at: DateTime<Utc>,
}

impl From<DeliveryRecord> for WebhookDelivery {
    fn from(d: DeliveryRecord) -> Self {
        let settled = matches!(d.status, DeliveryStatus::Succeeded | DeliveryStatus::Failed);
        Self {
            id: ID(d.id.to_string()),
            event_id: d.event_id,
            event_type: d.event_type,
            status: d.status.into(),
            attempts: d.attempts,
            last_response_status: d.last_response_status,
            last_error: d.last_error,
            next_attempt_at: if settled { None } else { d.next_attempt_at },
            created_at: d.created_at,
        }
    }
}

crate::graphql::connection::node!(
    WebhookDelivery,
    "WebhookDeliveryConnection",
    "WebhookDeliveryEdge"
);

/// Webhook queries.
#[derive(Default)]
pub struct WebhooksQuery;

#[Object]
impl WebhooksQuery {
    /// The tenant's webhook endpoints, newest first. [P:webhook.manage]
    async fn webhook_endpoints(&self, ctx: &Context<'_>) -> Result<Vec<WebhookEndpoint>> {
        let endpoints = webhooks::list(services(ctx)?, caller(ctx)?).await?;
        Ok(endpoints.into_iter().map(Into::into).collect())
    }

    /// An endpoint's delivery log, newest first (at most 100 per page). [P:webhook.manage]
    async fn webhook_deliveries(
        &self,
        ctx: &Context<'_>,
        endpoint_id: ID,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<WebhookDelivery>> {
        let endpoint = WebhookEndpointId::parse(&endpoint_id, "endpointId")?;
        let page = PageRequest::parse(first, after.as_deref())?
            .counting(ctx.look_ahead().field("totalCount").exists());
        let page = webhooks::deliveries(services(ctx)?, caller(ctx)?, endpoint, page).await?;
        Ok(Connection::of(page, |d: &DeliveryRecord| d.id.into_uuid()))
    }
}

/// Webhook mutations.
#[derive(Default)]
pub struct WebhooksMutation;

#[Object]
impl WebhooksMutation {
    /// Creates an endpoint; the signing secret is shown once. [P:webhook.manage]
    async fn create_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        input: CreateWebhookEndpointInput,
    ) -> Result<CreatedWebhookEndpoint> {
        let input = webhooks::CreateEndpointInput {
            url: input.url,
            events: input.events,
        };
        let (endpoint, secret) = webhooks::create(services(ctx)?, caller(ctx)?, input).await?;
        Ok(CreatedWebhookEndpoint {
            endpoint: endpoint.into(),
            secret,
        })
    }

    /// Deletes an endpoint and its delivery log. [P:webhook.manage]
    async fn delete_webhook_endpoint(&self, ctx: &Context<'_>, id: ID) -> Result<bool> {
        let id = WebhookEndpointId::parse(&id, "id")?;
        Ok(webhooks::delete(services(ctx)?, caller(ctx)?, id).await?)
    }

    /// A new attempt of a delivery now, with the same `eventId` and body.
    /// [P:webhook.manage]
    async fn redeliver_webhook(
        &self,
        ctx: &Context<'_>,
        delivery_id: ID,
    ) -> Result<WebhookDelivery> {
        let id = WebhookDeliveryId::parse(&delivery_id, "deliveryId")?;
        Ok(webhooks::redeliver(services(ctx)?, caller(ctx)?, id)
            .await?
            .into())
    }
}
