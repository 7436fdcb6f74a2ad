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

pub use backend::{
    DEFAULT_LEASE, JobBackend, JobBackendError, QueueStats, Storage, Ticker, ticker,
};
pub use catalogue::{
    BillingSweep, CATALOGUE, CronJob, DataRetention, Dunning, DunningStep, ExportTenant,
    MoveTenant, OutboxCleanup, ProcessMpesaCallback, QueuedJob, ReconcilePayments,
    RenewSubscription, SendEmail, UsageRetention,
};

use std::time::Duration;

use serde::{Serialize, de::DeserializeOwned};

/// What a job promises about its effect when it is delivered more than once (a worker
/// killed after the effect and before the queue heard, a lease that ran out).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// The effect and its record (under the job's id) commit in one database transaction:
    /// a repeat finds the record and does nothing. Exactly once.
    Once,
    /// The effect leaves the database (SMTP, a webhook receiver, Daraja): the record
    /// follows the external call at once, so a repeat happens only when the worker dies
    /// in between, and then the external call carries the job's id (Message-ID,
    /// webhook-id) so the far side can tell. At least once, repeats marked.
    OnceMarkedOutside,
    /// Idempotent by construction (a cleanup, a recomputation): running it twice is the
    /// same as once.
    Idempotent,
}

impl Effect {
    /// How `msingi jobs` names it.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Once => "exactly once (effect and record in one transaction)",
            Self::OnceMarkedOutside => "once, a rare repeat carrying the job id",
            Self::Idempotent => "idempotent",
        }
    }
}

/// A failure no retry mends (a malformed address, a payload that cannot be acted on): the
/// worker files the job as a dead letter at once instead of retrying it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Permanent(pub String);

/// A job payload: what a queue carries and how a failed run is retried.
pub trait Job: Serialize + DeserializeOwned + Clone + Send + Sync + Unpin + 'static {
    /// Stable name, used in the outbox and in logs.
    const NAME: &'static str;
    /// The queue the job travels on; one worker pool per queue.
    const QUEUE: &'static str;
    /// What a repeated delivery does.
    const EFFECT: Effect;
    /// The job's stable id, written into the payload when the job is queued (in the
    /// transaction of the change that causes it), so every delivery carries the same one.
    fn id(&self) -> uuid::Uuid;
    /// The tenant the job acts for, if any.
    fn tenant(&self) -> Option<uuid::Uuid>;
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
