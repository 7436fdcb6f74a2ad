//! Msingi's job catalogue.
//!
//! What lives here: every job's typed payload with its stable name and queue, its retry,
//! backoff and timeout policy, the cron schedules, and the apalis storage backends (SQLite,
//! PostgreSQL, Redis) chosen from configuration. What does not: the handlers. A job's
//! handler lives next to its domain in the `msingi` crate (`src/notify/email.rs` sends the
//! email whose payload is [`SendEmail`]).
//!
//! Promises:
//! - A job's queue name is written here explicitly and never derived from a Rust type path,
//!   so renaming a struct cannot orphan queued jobs.
//! - Every payload that concerns a tenant carries its `tenant_id`; handlers rebuild the
//!   tenant context from it and reload what they need.
//! - Delivery is at least once; handlers are idempotent and guarded by unique constraints.

mod backend;
mod catalogue;

pub use backend::{JobBackend, JobBackendError, Storage, Ticker, ticker};
pub use catalogue::{CronJob, OutboxCleanup, SendEmail};

use std::time::Duration;

use serde::{Serialize, de::DeserializeOwned};

/// A job payload: what a queue carries and how a failed run is retried.
pub trait Job: Serialize + DeserializeOwned + Clone + Send + Sync + Unpin + 'static {
    /// Stable name, used in the outbox and in logs.
    const NAME: &'static str;
    /// The queue the job travels on; one worker pool per queue.
    const QUEUE: &'static str;
    /// Retries after the first failed attempt.
    const RETRIES: usize = 5;
    /// First retry delay; doubles each attempt up to [`Job::MAX_BACKOFF`], with jitter.
    const MIN_BACKOFF: Duration = Duration::from_secs(1);
    /// Longest delay between two attempts.
    const MAX_BACKOFF: Duration = Duration::from_secs(300);
    /// How long one attempt may run before it is abandoned and counted as failed.
    const TIMEOUT: Duration = Duration::from_secs(60);
    /// How many jobs of this kind one worker process runs at once.
    const CONCURRENCY: usize = 4;
}
