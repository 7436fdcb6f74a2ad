//! Outgoing webhooks: a tenant's endpoints, the events it can subscribe them to, and their
//! signed deliveries (Standard Webhooks).
//!
//! Promises:
//! - An event is written in the unit of work of the change that causes it, one delivery row
//!   per subscribed endpoint, unique per (endpoint, event id): a committed change yields
//!   its event exactly once per endpoint, a rolled-back one never. Event ids are derived
//!   from what happened, so a job that runs twice makes the same event, not a second one.
//! - Every attempt of a delivery sends the same body under the same `webhook-id`, signed
//!   with the endpoint's secret, which is shown once and stored sealed with
//!   `MSINGI_DATA_KEY`.
//! - Attempts follow [`RETRY_SCHEDULE`]; a 410 disables the endpoint at once, failing for
//!   longer than `WEBHOOK_DISABLE_AFTER_HOURS` disables it too, and its owners are told.
//! - URLs that resolve to private networks are refused at creation and at each connection
//!   ([`guard`]).

pub mod dispatch;
pub mod guard;
pub mod signing;

use chrono::{DateTime, Utc};

use crate::audit::AuditEntry;
use crate::auth::Caller;
use crate::db::TenantScope;
use crate::error::{AppError, AppResult};
use crate::ids::{TenantId, WebhookDeliveryId, WebhookEndpointId};
use crate::page::{Page, PageRequest};
use crate::rbac::perm;
use crate::services::Services;

/// The event types an endpoint may subscribe to.
pub const EVENT_TYPES: &[&str] = &[
    "invoice.created",
    "invoice.paid",
    "payment.succeeded",
    "payment.failed",
    "subscription.updated",
    "member.added",
    "usage.threshold",
];

/// Delays before each retry of a failed attempt: the first attempt is immediate, then
/// 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h (eight attempts in all, as Svix).
pub const RETRY_SCHEDULE: &[i64] = &[5, 300, 1800, 7200, 18_000, 36_000, 36_000];

/// Endpoints a tenant may have.
pub const MAX_ENDPOINTS: usize = 20;

/// A webhook endpoint (never its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Id.
    pub id: WebhookEndpointId,
    /// Its tenant.
    pub tenant: TenantId,
    /// Where deliveries go.
    pub url: String,
    /// The event types it receives.
    pub events: Vec<String>,
    /// Whether deliveries are made to it.
    pub enabled: bool,
    /// Why it was disabled.
    pub disabled_reason: Option<String>,
    /// Since when every attempt to it failed.
    pub failing_since: Option<DateTime<Utc>>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// Where a delivery is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Waiting for its next attempt.
    Pending,
    /// An attempt is in flight (shown as PENDING); leased until `next_attempt_at`, after
    /// which a dispatcher that crashed mid-attempt is presumed dead and it is tried again.
    Sending,
    /// A 2xx answer.
    Succeeded,
    /// Every attempt failed, or the endpoint was disabled.
    Failed,
}

impl DeliveryStatus {
    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Sending => "SENDING",
            Self::Succeeded => "SUCCEEDED",
            Self::Failed => "FAILED",
        }
    }

    /// From storage.
    pub fn parse(s: &str) -> Self {
        match s {
            "SUCCEEDED" => Self::Succeeded,
            "SENDING" => Self::Sending,
            "FAILED" => Self::Failed,
            _ => Self::Pending,
        }
    }
}

/// One event's delivery to one endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Id.
    pub id: WebhookDeliveryId,
    /// Its tenant.
    pub tenant: TenantId,
    /// Its endpoint.
    pub endpoint: WebhookEndpointId,
    /// The `webhook-id` of every attempt.
    pub event_id: String,
    /// The event type.
    pub event_type: String,
    /// The exact body every attempt sends.
    pub body: String,
    /// Where it is.
    pub status: DeliveryStatus,
    /// Attempts made.
    pub attempts: i32,
    /// The last answer's HTTP status.
    pub last_response_status: Option<i32>,
    /// Why the last attempt failed, without an answer.
    pub last_error: Option<String>,
    /// When the next attempt is due.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// When the event was made.
    pub created_at: DateTime<Utc>,
}

/// Endpoint arguments, as sent.
#[derive(Debug, Clone)]
pub struct CreateEndpointInput {
    /// Where to deliver.
    pub url: String,
    /// Event types.
    pub events: Vec<String>,
}

/// Checks the event types: at least one, each of [`EVENT_TYPES`], without repeats.
fn parse_events(events: &[String]) -> AppResult<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for event in events {
        let event = event.trim();
        if !EVENT_TYPES.contains(&event) {
            return Err(AppError::bad_input(
                "input.events",
                format!(
                    "unknown event type {event:?}; known: {}",
                    EVENT_TYPES.join(", ")
                ),
            ));
        }
        if !out.iter().any(|e| e == event) {
            out.push(event.to_owned());
        }
    }
    if out.is_empty() {
        return Err(AppError::bad_input(
            "input.events",
            "name at least one event type",
        ));
    }
    Ok(out)
}

/// Creates an endpoint; returns it and its signing secret (shown this once).
/// [P:webhook.manage]
pub async fn create(
    services: &Services,
    caller: &Caller,
    input: CreateEndpointInput,
) -> AppResult<(Endpoint, String)> {
    let ctx = caller.require(perm::WEBHOOK_MANAGE)?;
    let events = parse_events(&input.events)?;
    let url = guard::check(
        &input.url,
        services.config.webhooks.allow_private_urls,
        "input.url",
    )
    .await?;
    let secret = signing::new_secret();
    let sealed = services.data_keys.seal(&secret)?;
    let scope = services.db.write(ctx).await?;
    if scope.webhook_endpoints().await?.len() >= MAX_ENDPOINTS {
        return Err(AppError::Conflict(format!(
            "a tenant has at most {MAX_ENDPOINTS} webhook endpoints; delete one first"
        )));
    }
    let endpoint = scope
        .insert_webhook_endpoint(url.as_str(), &events, &sealed)
        .await?;
    scope
        .commit(caller.audit(
            AuditEntry::new("webhook.create", "webhook_endpoint", endpoint.id).with_changes(
                serde_json::json!({ "url": endpoint.url, "events": endpoint.events }),
            ),
        ))
        .await?;
    Ok((endpoint, secret))
}

/// Deletes an endpoint and its delivery log. [P:webhook.manage]
pub async fn delete(
    services: &Services,
    caller: &Caller,
    id: WebhookEndpointId,
) -> AppResult<bool> {
    let ctx = caller.require(perm::WEBHOOK_MANAGE)?;
    let scope = services.db.write(ctx).await?;
    let Some(endpoint) = scope.webhook_endpoint(id).await? else {
        return Err(AppError::NotFound {
            entity: "webhook endpoint",
        });
    };
    scope.delete_webhook_endpoint(id).await?;
    scope
        .commit(
            caller.audit(
                AuditEntry::new("webhook.delete", "webhook_endpoint", id)
                    .with_changes(serde_json::json!({ "url": endpoint.url })),
            ),
        )
        .await?;
    Ok(true)
}

/// The tenant's endpoints, newest first. [P:webhook.manage]
pub async fn list(services: &Services, caller: &Caller) -> AppResult<Vec<Endpoint>> {
    let ctx = caller.require(perm::WEBHOOK_MANAGE)?;
    services.db.read(ctx).await?.webhook_endpoints().await
}

/// An endpoint's deliveries, newest first. NOT_FOUND for another tenant's endpoint.
/// [P:webhook.manage]
pub async fn deliveries(
    services: &Services,
    caller: &Caller,
    endpoint: WebhookEndpointId,
    page: PageRequest,
) -> AppResult<Page<Delivery>> {
    let ctx = caller.require(perm::WEBHOOK_MANAGE)?;
    let scope = services.db.read(ctx).await?;
    if scope.webhook_endpoint(endpoint).await?.is_none() {
        return Err(AppError::NotFound {
            entity: "webhook endpoint",
        });
    }
    scope.webhook_deliveries(endpoint, page).await
}

/// Queues a new attempt of a delivery now, with the same `webhook-id` and body. CONFLICT
/// when its endpoint is disabled. [P:webhook.manage]
pub async fn redeliver(
    services: &Services,
    caller: &Caller,
    id: WebhookDeliveryId,
) -> AppResult<Delivery> {
    let ctx = caller.require(perm::WEBHOOK_MANAGE)?;
    let scope = services.db.write(ctx).await?;
    let Some(delivery) = scope.webhook_delivery(id).await? else {
        return Err(AppError::NotFound {
            entity: "webhook delivery",
        });
    };
    let endpoint = scope
        .webhook_endpoint(delivery.endpoint)
        .await?
        .ok_or(AppError::NotFound {
            entity: "webhook delivery",
        })?;
    if !endpoint.enabled {
        return Err(AppError::Conflict(
            "the endpoint is disabled; create it again to receive deliveries".into(),
        ));
    }
    let delivery = scope.retry_webhook_delivery(id).await?;
    scope
        .commit(
            caller.audit(
                AuditEntry::new("webhook.redeliver", "webhook_delivery", id)
                    .with_changes(serde_json::json!({ "eventId": delivery.event_id })),
            ),
        )
        .await?;
    Ok(delivery)
}

/// Makes event `event_type` about `data` in the scope's tenant: one delivery for each
/// enabled endpoint subscribed to it, written in the scope's unit of work. `key` names what
/// happened (e.g. the invoice's id); the event id is derived from it, so the same
/// happening makes the same event, once.
pub async fn emit(
    scope: &TenantScope,
    event_type: &'static str,
    key: &str,
    data: serde_json::Value,
) -> AppResult<()> {
    debug_assert!(EVENT_TYPES.contains(&event_type), "{event_type}");
    let endpoints: Vec<Endpoint> = scope
        .webhook_endpoints()
        .await?
        .into_iter()
        .filter(|e| e.enabled && e.events.iter().any(|t| t == event_type))
        .collect();
    if endpoints.is_empty() {
        return Ok(());
    }
    let name = format!("{}:{event_type}:{key}", scope.tenant_id());
    let event_id = format!(
        "msg_{}",
        uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, name.as_bytes()).simple()
    );
    let now = scope.now();
    let body = serde_json::json!({
        "type": event_type,
        "timestamp": now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "tenantId": scope.tenant_id(),
        "data": data,
    })
    .to_string();
    for endpoint in endpoints {
        scope
            .insert_webhook_delivery(endpoint.id, &event_id, event_type, &body)
            .await?;
    }
    Ok(())
}

/// The `data` of events, built in one place so every event about a thing describes it the
/// same way (amounts in minor units and as decimal strings, times in RFC 3339).
pub mod data {
    use crate::billing::invoices::Invoice;
    use crate::billing::money::decimal;
    use crate::payments::Payment;

    /// An invoice.
    pub fn invoice(invoice: &Invoice) -> serde_json::Value {
        serde_json::json!({
            "id": invoice.id,
            "number": invoice.number,
            "status": invoice.status.as_str(),
            "currency": invoice.currency,
            "total": decimal(invoice.total_minor),
            "amountPaid": decimal(invoice.amount_paid_minor),
            "amountDue": decimal(invoice.amount_due_minor()),
            "dueAt": invoice.due_at,
            "paidAt": invoice.paid_at,
        })
    }

    /// A payment, after the change the event is about.
    pub fn payment(payment: &Payment) -> serde_json::Value {
        serde_json::json!({
            "id": payment.id,
            "invoiceId": payment.invoice_id,
            "provider": "MPESA",
            "status": payment.status.as_str(),
            "currency": payment.currency,
            "amount": decimal(payment.amount_minor),
            "phoneNumber": payment.phone,
            "receiptNumber": payment.receipt_number,
            "resultCode": payment.result_code,
            "resultDescription": payment.result_desc,
        })
    }
}
