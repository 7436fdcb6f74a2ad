//! The dispatcher: takes due deliveries (across tenants, through the platform door), sends
//! each signed attempt and records what came of it in its tenant.
//!
//! - At most `WEBHOOK_ENDPOINT_CONCURRENCY` attempts per endpoint are in flight, each
//!   bounded by `WEBHOOK_TIMEOUT_SECONDS`, so one slow receiver holds up only itself.
//! - A claimed delivery is leased (SENDING until the lease ends); if this process dies
//!   mid-attempt another dispatcher tries it again after the lease, under the same
//!   `webhook-id` (receivers deduplicate on it). At least once, never lost.
//! - Redirects are not followed; every connection goes through the SSRF guard's resolver.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use super::{DeliveryStatus, RETRY_SCHEDULE, guard, signing};
use crate::config::WebhooksConfig;
use crate::db::{AttemptRecord, Claimed, Db};
use crate::error::AppResult;
use crate::ids::{WebhookDeliveryId, WebhookEndpointId};
use crate::secrets::DataKeys;

/// How often the dispatcher looks for due deliveries when it found none.
const IDLE_POLL: Duration = Duration::from_millis(200);
/// Deliveries looked at per claim.
const BATCH: u64 = 200;
/// How long an attempt's lease outlives its timeout.
const LEASE_MARGIN: Duration = Duration::from_secs(5);

/// What the dispatcher needs.
#[derive(Clone)]
pub struct Dispatcher {
    db: Db,
    keys: DataKeys,
    config: WebhooksConfig,
    app_url: String,
    client: reqwest::Client,
    in_flight: Arc<Mutex<InFlight>>,
}

#[derive(Default)]
struct InFlight {
    per_endpoint: HashMap<WebhookEndpointId, usize>,
    deliveries: HashSet<WebhookDeliveryId>,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher").finish_non_exhaustive()
    }
}

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The receiver answered with this status.
    Answered(u16),
    /// No answer (refused, timed out, blocked by the guard).
    NoAnswer(String),
}

impl Dispatcher {
    /// A dispatcher for `db`'s deliveries.
    pub fn new(
        db: Db,
        keys: DataKeys,
        config: WebhooksConfig,
        app_url: &str,
    ) -> anyhow::Result<Self> {
        let mut builder = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("Msingi-Webhooks/1");
        if !config.allow_private_urls {
            builder = builder.dns_resolver(Arc::new(guard::PublicOnly));
        }
        Ok(Self {
            db,
            keys,
            config,
            app_url: app_url.to_owned(),
            client: builder.build()?,
            in_flight: Arc::default(),
        })
    }

    /// Runs until `shutdown` is cancelled, then lets attempts in flight finish.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut tasks = tokio::task::JoinSet::new();
        loop {
            while tasks.try_join_next().is_some() {}
            match self.claim().await {
                Ok(claimed) => {
                    let found = !claimed.is_empty();
                    for c in claimed {
                        let this = self.clone();
                        tasks.spawn(async move { this.attempt(c).await });
                    }
                    if found {
                        continue;
                    }
                }
                Err(e) => tracing::error!(error = %e, "webhook dispatch: claim failed"),
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(IDLE_POLL) => {}
            }
        }
        while tasks.join_next().await.is_some() {}
    }

    async fn claim(&self) -> AppResult<Vec<Claimed>> {
        let now = self.db.clock().now();
        let lease = chrono::Duration::from_std(self.config.timeout + LEASE_MARGIN)
            .unwrap_or_else(|_| chrono::Duration::seconds(60));
        let limit = self.config.endpoint_concurrency;
        let mut flight = self
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone_counts();
        let claimed = self
            .db
            .claim_webhook_deliveries(now, now + lease, BATCH, |d| {
                if flight.1.contains(&d.id) {
                    return false;
                }
                let n = flight.0.entry(d.endpoint).or_insert(0);
                if *n >= limit {
                    return false;
                }
                *n += 1;
                flight.1.insert(d.id);
                true
            })
            .await?;
        let mut in_flight = self
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for c in &claimed {
            *in_flight.per_endpoint.entry(c.endpoint.id).or_insert(0) += 1;
            in_flight.deliveries.insert(c.delivery.id);
        }
        Ok(claimed)
    }

    /// Sends one attempt and records it; the in-flight slot is freed either way.
    async fn attempt(&self, claimed: Claimed) {
        let (delivery, endpoint) = (claimed.delivery.id, claimed.endpoint.id);
        let outcome = self.send(&claimed).await;
        if let Err(e) = self.record(&claimed, &outcome).await {
            // The lease runs out and the attempt is made again: at least once.
            tracing::error!(error = %e, delivery = %delivery, "webhook dispatch: could not record an attempt");
        }
        let mut in_flight = self
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        in_flight.deliveries.remove(&delivery);
        if let Some(n) = in_flight.per_endpoint.get_mut(&endpoint) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                in_flight.per_endpoint.remove(&endpoint);
            }
        }
    }

    /// One signed POST of the delivery's body.
    async fn send(&self, claimed: &Claimed) -> Outcome {
        let secret = match self.keys.open(&claimed.sealed_secret) {
            Ok(secret) => secret,
            Err(_) => return Outcome::NoAnswer("the endpoint's secret cannot be opened".into()),
        };
        // Checked again at each attempt: the URL may name an address directly.
        if let Err(e) =
            guard::check(&claimed.endpoint.url, self.config.allow_private_urls, "url").await
        {
            return Outcome::NoAnswer(format!("refused: {e}"));
        }
        let delivery = &claimed.delivery;
        let timestamp = self.db.clock().now().timestamp();
        let signature = signing::sign(&secret, &delivery.event_id, timestamp, &delivery.body);
        let sent = self
            .client
            .post(&claimed.endpoint.url)
            .header("content-type", "application/json")
            .header("webhook-id", &delivery.event_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(delivery.body.clone())
            .send()
            .await;
        match sent {
            Ok(response) => Outcome::Answered(response.status().as_u16()),
            Err(e) if e.is_timeout() => Outcome::NoAnswer(format!(
                "no answer within {} s",
                self.config.timeout.as_secs()
            )),
            Err(e) if e.is_connect() => Outcome::NoAnswer("could not connect".into()),
            Err(_) => Outcome::NoAnswer("the request failed".into()),
        }
    }

    /// Records `outcome` in the delivery's tenant: success, the next retry, or failure;
    /// a 410, or failing past `WEBHOOK_DISABLE_AFTER_HOURS`, disables the endpoint and
    /// tells the tenant's owners.
    async fn record(&self, claimed: &Claimed, outcome: &Outcome) -> AppResult<()> {
        let delivery = &claimed.delivery;
        let ctx = crate::worker::context_for(&self.db, delivery.tenant, "webhook_dispatch").await?;
        let scope = self.db.write(&ctx).await?;
        let now = scope.now();
        let attempts = delivery.attempts + 1;
        let (response_status, error) = match outcome {
            Outcome::Answered(status) => (Some(i32::from(*status)), None),
            Outcome::NoAnswer(why) => (None, Some(why.chars().take(300).collect::<String>())),
        };
        let succeeded = matches!(outcome, Outcome::Answered(s) if (200..300).contains(s));
        let gone = matches!(outcome, Outcome::Answered(410));
        let retry_at = next_attempt(attempts, now).filter(|_| !succeeded && !gone);
        let status = if succeeded {
            DeliveryStatus::Succeeded
        } else if retry_at.is_some() {
            DeliveryStatus::Pending
        } else {
            DeliveryStatus::Failed
        };
        scope
            .record_webhook_attempt(
                delivery.id,
                &AttemptRecord {
                    status,
                    response_status,
                    error,
                    next_attempt_at: retry_at,
                },
            )
            .await?;
        let endpoint = &claimed.endpoint;
        let disable = if succeeded {
            scope
                .set_webhook_endpoint_failing(endpoint.id, None)
                .await?;
            None
        } else if gone {
            Some("the endpoint answered 410 Gone".to_owned())
        } else {
            scope
                .set_webhook_endpoint_failing(endpoint.id, Some(now))
                .await?;
            let since = endpoint.failing_since.unwrap_or(now);
            let limit = chrono::Duration::from_std(self.config.disable_after)
                .unwrap_or_else(|_| chrono::Duration::days(5));
            (now - since >= limit).then(|| {
                format!(
                    "every delivery failed for {} hours",
                    self.config.disable_after.as_secs() / 3600
                )
            })
        };
        if let Some(reason) = disable
            && scope.disable_webhook_endpoint(endpoint.id, &reason).await?
        {
            self.tell_owners(&scope, &endpoint.url, &reason).await?;
            scope
                .commit(crate::audit::Audit::by(
                    Default::default(),
                    crate::audit::AuditEntry::new(
                        "webhook.disable",
                        "webhook_endpoint",
                        endpoint.id,
                    )
                    .with_changes(serde_json::json!({ "reason": reason })),
                ))
                .await?;
            return Ok(());
        }
        scope.commit_unaudited("webhook attempt recorded").await
    }

    async fn tell_owners(
        &self,
        scope: &crate::db::TenantScope,
        url: &str,
        reason: &str,
    ) -> AppResult<()> {
        let Some(tenant) = scope.own_tenant().await? else {
            return Ok(());
        };
        let link = format!("{}/settings/webhooks", self.app_url);
        let mail = crate::billing::mail::webhook_disabled(&tenant, url, reason, &link)?;
        crate::billing::mail::to_owners(
            scope,
            &tenant,
            crate::notify::notifications::kind::WEBHOOK_DISABLED,
            mail,
        )
        .await
    }
}

impl InFlight {
    fn clone_counts(
        &self,
    ) -> (
        HashMap<WebhookEndpointId, usize>,
        HashSet<WebhookDeliveryId>,
    ) {
        (self.per_endpoint.clone(), self.deliveries.clone())
    }
}

/// When the attempt after `attempts` failed ones is due; `None` when they were all.
pub fn next_attempt(attempts: i32, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let index = usize::try_from(attempts).ok()?.checked_sub(1)?;
    RETRY_SCHEDULE
        .get(index)
        .map(|secs| now + chrono::Duration::seconds(*secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eight_attempts_at_the_standard_intervals() {
        let now = Utc::now();
        let delays: Vec<i64> = (1..=8)
            .map_while(|n| next_attempt(n, now).map(|t| (t - now).num_seconds()))
            .collect();
        assert_eq!(delays, [5, 300, 1800, 7200, 18_000, 36_000, 36_000]);
        assert_eq!(next_attempt(8, now), None);
    }
}
