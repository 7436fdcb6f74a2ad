//! The platform's own metering of `api_calls`: every authenticated GraphQL request made in
//! a tenant adds one to this node's count for that tenant, in memory (no write per
//! request); a flusher records the counts as ordinary usage events, one per tenant per
//! flush, every `USAGE_FLUSH_SECONDS`, and once more when the server shuts down.
//!
//! A flush's event id names the node and the flush (`api_calls:<node>:<n>`), and a count
//! whose recording failed is kept with that id and recorded again under it, so a retry of
//! a flush that did commit counts once. What a node killed with SIGKILL had counted since
//! its last flush is lost: at most one interval of `api_calls`, never a double count.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use super::ingest::{Quotas, UsageEventInput, record_in};
use crate::config::Config;
use crate::db::Db;
use crate::error::AppResult;
use crate::ids::TenantId;

/// The metric every authenticated GraphQL request in a tenant counts in.
pub const API_CALLS: &str = "api_calls";

/// This node's uncounted `api_calls`.
#[derive(Debug)]
pub struct ApiCallMeter {
    node: uuid::Uuid,
    flushes: AtomicU64,
    counts: Mutex<HashMap<TenantId, u64>>,
    /// Counts whose recording failed, each with the event id it was tried under.
    unrecorded: Mutex<Vec<(TenantId, String, u64)>>,
}

impl Default for ApiCallMeter {
    fn default() -> Self {
        Self {
            node: uuid::Uuid::now_v7(),
            flushes: AtomicU64::new(0),
            counts: Mutex::default(),
            unrecorded: Mutex::default(),
        }
    }
}

impl ApiCallMeter {
    /// Counts `n` requests in `tenant`.
    pub fn count(&self, tenant: TenantId, n: u64) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let count = counts.entry(tenant).or_default();
        *count = count.saturating_add(n);
    }

    /// Records what was counted since the last flush (and what an earlier flush could not
    /// record); answers how many requests were recorded now.
    pub async fn flush(&self, db: &Db, config: &Config) -> u64 {
        let counted = std::mem::take(&mut *self.counts.lock().unwrap_or_else(|e| e.into_inner()));
        let mut batch =
            std::mem::take(&mut *self.unrecorded.lock().unwrap_or_else(|e| e.into_inner()));
        if !counted.is_empty() {
            let flush = self.flushes.fetch_add(1, Ordering::Relaxed);
            batch.extend(
                counted
                    .into_iter()
                    .map(|(tenant, n)| (tenant, format!("{API_CALLS}:{}:{flush}", self.node), n)),
            );
        }
        let mut recorded = 0;
        for (tenant, id, n) in batch {
            match record_one(db, config, tenant, &id, n).await {
                Ok(()) => recorded += n,
                // A tenant that no longer exists has nothing to bill.
                Err(crate::error::AppError::NotFound { .. }) => {}
                Err(e) => {
                    tracing::warn!(%tenant, error = %e, "api_calls not recorded: kept for the next flush");
                    self.unrecorded
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push((tenant, id, n));
                }
            }
        }
        recorded
    }

    /// Flushes every `interval` until `shutdown` resolves, then once more.
    pub async fn run(
        &self,
        db: Db,
        config: std::sync::Arc<Config>,
        interval: std::time::Duration,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = ticks.tick() => { self.flush(&db, &config).await; }
                () = &mut shutdown => break,
            }
        }
        self.flush(&db, &config).await;
    }
}

async fn record_one(db: &Db, config: &Config, tenant: TenantId, id: &str, n: u64) -> AppResult<()> {
    let ctx = crate::worker::context_for(db, tenant, "api_calls metering").await?;
    let event = UsageEventInput {
        id: id.to_owned(),
        metric: API_CALLS.to_owned(),
        quantity: i64::try_from(n).unwrap_or(i64::MAX),
        ..Default::default()
    };
    record_in(db, config, &ctx, vec![event], Quotas::CountOnly).await?;
    Ok(())
}
