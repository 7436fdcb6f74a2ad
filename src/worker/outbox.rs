//! The outbox drainer: moves committed outbox rows into the job queue, in order.
//!
//! A row is marked dispatched in the same transaction that read it, after the push
//! succeeded; a crash between the push and the commit re-sends the row, never loses it.
//! Handlers are idempotent, so at-least-once is safe.

use std::time::Duration;

use msingi_jobs::JobBackend;
use tokio_util::sync::CancellationToken;

use crate::db::Db;
use crate::error::AppResult;

/// How often the drainer looks for new rows while the outbox is empty.
const IDLE_POLL: Duration = Duration::from_millis(100);
/// Rows taken per transaction.
const BATCH: u64 = 100;

/// Runs until `shutdown` is cancelled.
pub(super) async fn run(db: Db, jobs: JobBackend, shutdown: CancellationToken) {
    loop {
        match drain_once(&db, &jobs).await {
            Ok(n) if n as u64 == BATCH => continue,
            Ok(n) if n > 0 => tracing::debug!(dispatched = n, "outbox drained"),
            Ok(_) => {}
            Err(e) => tracing::error!(error = ?e, "outbox drain failed"),
        }
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(IDLE_POLL) => {}
        }
    }
}

/// Moves one batch of pending rows into the queue; returns how many moved.
pub async fn drain_once(db: &Db, jobs: &JobBackend) -> AppResult<usize> {
    db.drain_outbox(BATCH, |job| async move {
        let result = jobs
            .push_json(&job.queue, job.payload)
            .await
            .map_err(|e| e.to_string());
        match &result {
            Ok(()) => {
                metrics::counter!("msingi_outbox_dispatched_total", "job" => job.job).increment(1);
            }
            Err(error) => {
                tracing::warn!(outbox_id = job.id, job = job.job, error, "enqueue failed")
            }
        }
        result
    })
    .await
}
