//! Dead letters: jobs that failed their last attempt, or failed in a way no retry mends
//! ([`msingi_jobs::Permanent`]). The worker files them here (the queue then forgets the
//! job, so it never blocks its queue) and operators list, show, retry or discard them
//! with `msingi jobs`.

use chrono::{DateTime, Utc};
use msingi_jobs::{CATALOGUE, JobBackend, QueueStats};
use serde::Serialize;
use uuid::Uuid;

use crate::db::Db;
use crate::error::AppResult;

/// A dead letter as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetter {
    /// The letter's id.
    pub id: Uuid,
    /// The job's stable id (the same on every delivery).
    pub job_id: Uuid,
    /// Job name.
    pub job: String,
    /// Queue (without namespace).
    pub queue: String,
    /// The tenant the job acted for.
    pub tenant_id: Option<Uuid>,
    /// The payload, as queued.
    pub payload: serde_json::Value,
    /// The last error.
    pub error: String,
    /// Attempts made.
    pub attempts: i32,
    /// When it was filed.
    pub died_at: DateTime<Utc>,
    /// When an operator resolved it.
    pub resolved_at: Option<DateTime<Utc>>,
    /// `retried` or `discarded`.
    pub resolution: Option<String>,
}

/// What the worker files.
#[derive(Debug, Clone)]
pub struct NewDeadLetter {
    /// The job's stable id.
    pub job_id: Uuid,
    /// Job name.
    pub job: &'static str,
    /// Queue.
    pub queue: &'static str,
    /// Its tenant.
    pub tenant_id: Option<Uuid>,
    /// The payload.
    pub payload: serde_json::Value,
    /// The last error.
    pub error: String,
    /// Attempts made.
    pub attempts: usize,
}

/// What an operator does with a dead letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// Queued again (with the same job id, so an effect already done is not repeated).
    Retried,
    /// Dropped for good.
    Discarded,
}

impl Resolution {
    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Retried => "retried",
            Self::Discarded => "discarded",
        }
    }
}

/// One queue as `msingi jobs` and `/metrics` show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueReport {
    /// Queue name (without namespace).
    pub queue: &'static str,
    /// The job it carries.
    pub job: &'static str,
    /// What a repeated delivery does.
    pub effect: &'static str,
    /// Retries after the first failed attempt.
    pub retries: usize,
    /// Waiting to run.
    pub pending: u64,
    /// Running, or waiting between retries in a worker.
    pub running: u64,
    /// Failed attempts the queue still holds (to be retried).
    pub retrying: u64,
    /// Open dead letters.
    pub dead: u64,
    /// Seconds since the oldest waiting job was due.
    pub oldest_pending_secs: Option<u64>,
    /// Seconds since the oldest open dead letter was filed.
    pub oldest_dead_secs: Option<i64>,
}

/// Every queue of the catalogue, now.
pub async fn report(db: &Db, jobs: &JobBackend) -> AppResult<Vec<QueueReport>> {
    let dead = db.open_dead_letters_by_queue().await?;
    let now = db.clock().now();
    let mut reports = Vec::with_capacity(CATALOGUE.len());
    for entry in CATALOGUE {
        let stats: QueueStats = jobs
            .queue_stats(entry.queue)
            .await
            .map_err(crate::error::AppError::internal)?;
        let (dead_count, oldest_dead) = dead.get(entry.queue).copied().unwrap_or((0, None));
        let unix_now = u64::try_from(now.timestamp()).unwrap_or(0);
        reports.push(QueueReport {
            queue: entry.queue,
            job: entry.name,
            effect: entry.effect.describe(),
            retries: entry.retries,
            pending: stats.pending,
            running: stats.running,
            retrying: stats.failed,
            dead: dead_count,
            oldest_pending_secs: stats.oldest_pending.map(|t| unix_now.saturating_sub(t)),
            oldest_dead_secs: oldest_dead.map(|t| (now - t).num_seconds().max(0)),
        });
    }
    Ok(reports)
}

/// Sets the per-queue gauges of `/metrics` from `reports`.
pub fn export(reports: &[QueueReport]) {
    for r in reports {
        let queue = r.queue;
        metrics::gauge!("msingi_jobs_pending", "queue" => queue).set(r.pending as f64);
        metrics::gauge!("msingi_jobs_running", "queue" => queue).set(r.running as f64);
        metrics::gauge!("msingi_jobs_retrying", "queue" => queue).set(r.retrying as f64);
        metrics::gauge!("msingi_jobs_dead", "queue" => queue).set(r.dead as f64);
        metrics::gauge!("msingi_jobs_oldest_pending_seconds", "queue" => queue)
            .set(r.oldest_pending_secs.unwrap_or(0) as f64);
    }
}
