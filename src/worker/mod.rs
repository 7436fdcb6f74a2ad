//! The job runtime: apalis workers for every queue of the catalogue, the cron schedules,
//! and the outbox drainer. `msingi worker` runs this alone; the embedded `msingi serve` runs
//! it beside the API.
//!
//! Promise: on shutdown the drainer stops taking rows and every running job gets
//! `SHUTDOWN_TIMEOUT_SECS` to finish; a job cut short is retried from the queue later.

mod outbox;

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context as _;
use apalis::layers::retry::HasherRng;
use apalis::layers::retry::backoff::{ExponentialBackoff, ExponentialBackoffMaker, MakeBackoff};
use apalis::prelude::{
    BackoffRetryPolicy, BoxDynError, Data, Monitor, WorkerBuilder, WorkerBuilderExt,
};
use apalis_cron::{CronScheduler, Tick};
use msingi_jobs::{CronJob, Job, JobBackend, OutboxCleanup, SendEmail, register_worker};
use tokio_util::sync::CancellationToken;

use crate::db::Db;
use crate::notify::email::{Mailer, send_email};

pub use outbox::drain_once;

/// What the workers need.
#[derive(Debug, Clone)]
pub struct WorkerDeps {
    /// The application database.
    pub db: Db,
    /// The job store.
    pub jobs: JobBackend,
    /// Where mail goes.
    pub mailer: Mailer,
    /// How long running jobs get on shutdown.
    pub shutdown_timeout: Duration,
}

/// A name unique to this process, so two worker processes never share one (apalis-redis
/// refuses a name that is still alive).
fn worker_name(queue: &str) -> String {
    static INSTANCE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let instance =
        INSTANCE.get_or_init(|| uuid::Uuid::new_v4().simple().to_string()[..8].to_owned());
    format!("{queue}-{instance}")
}

fn retry_policy<J: Job>() -> anyhow::Result<BackoffRetryPolicy<ExponentialBackoff>> {
    let backoff =
        ExponentialBackoffMaker::new(J::MIN_BACKOFF, J::MAX_BACKOFF, 0.5, HasherRng::default())
            .map_err(|e| anyhow::anyhow!("backoff of {}: {e}", J::NAME))?
            .make_backoff();
    Ok(BackoffRetryPolicy::new(J::RETRIES, backoff))
}

/// Runs every worker until `shutdown` is cancelled, then waits for running jobs.
pub async fn run(deps: WorkerDeps, shutdown: CancellationToken) -> anyhow::Result<()> {
    let drainer = tokio::spawn(outbox::run(
        deps.db.clone(),
        deps.jobs.clone(),
        shutdown.clone(),
    ));

    let email_retry = retry_policy::<SendEmail>()?;
    let mailer = deps.mailer.clone();
    // A worker whose backend fails (a dropped connection, a deadlock under load) is
    // restarted rather than left dead: the queue must keep moving.
    let monitor = Monitor::new()
        .should_restart(|worker, error| {
            tracing::warn!(worker = worker.name(), error = %error, "job worker failed; restarting");
            true
        })
        .on_event(|worker, event| {
            if let apalis::prelude::Event::Error(error) = event {
                tracing::warn!(worker = worker.name(), error = %error, "job worker error");
            }
        });
    let monitor = register_worker!(monitor, deps.jobs.storage::<SendEmail>(), |backend| {
        WorkerBuilder::new(worker_name(SendEmail::QUEUE))
            .backend(backend)
            .data(mailer.clone())
            .concurrency(SendEmail::CONCURRENCY)
            .retry(email_retry.clone())
            .catch_panic()
            .timeout(SendEmail::TIMEOUT)
            .enable_tracing()
            .build(send_email)
    });

    let schedule = cron::Schedule::from_str(OutboxCleanup::SCHEDULE)
        .with_context(|| format!("cron schedule of {}", OutboxCleanup::NAME))?;
    let db = deps.db.clone();
    let monitor = monitor.register(move |_| {
        WorkerBuilder::new(worker_name(OutboxCleanup::NAME))
            .backend(CronScheduler::new(schedule.clone()))
            .data(db.clone())
            .catch_panic()
            .enable_tracing()
            .build(outbox_cleanup)
    });

    let signal = shutdown.clone();
    let result = monitor
        .shutdown_timeout(deps.shutdown_timeout)
        .run_with_signal(async move {
            signal.cancelled().await;
            Ok(())
        })
        .await;
    drainer.await.context("outbox drainer")?;
    result.context("job workers")
}

/// How long dispatched outbox rows are kept (for inspection) before the cleanup deletes them.
const OUTBOX_RETENTION: chrono::Duration = chrono::Duration::days(7);

async fn outbox_cleanup(_tick: Tick, db: Data<Db>) -> Result<(), BoxDynError> {
    let cutoff = db.clock().now() - OUTBOX_RETENTION;
    let purged = db.purge_dispatched_outbox(cutoff).await?;
    tracing::info!(purged, "outbox cleanup");
    Ok(())
}
