//! The payloads. Each one is a contract with jobs already queued: add optional fields only.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Effect, Job};

/// A queued job of the catalogue, as operators see it.
#[derive(Debug, Clone, Copy)]
pub struct QueuedJob {
    /// Its name.
    pub name: &'static str,
    /// Its queue.
    pub queue: &'static str,
    /// Retries after the first failed attempt.
    pub retries: usize,
    /// What a repeated delivery does.
    pub effect: Effect,
}

impl QueuedJob {
    const fn of<J: Job>() -> Self {
        Self {
            name: J::NAME,
            queue: J::QUEUE,
            retries: J::RETRIES,
            effect: J::EFFECT,
        }
    }
}

/// Every queued job (one queue each), for `msingi jobs` and `/metrics`.
pub const CATALOGUE: &[QueuedJob] = &[
    QueuedJob::of::<SendEmail>(),
    QueuedJob::of::<RenewSubscription>(),
    QueuedJob::of::<DunningStep>(),
    QueuedJob::of::<ProcessMpesaCallback>(),
    QueuedJob::of::<MoveTenant>(),
    QueuedJob::of::<ExportTenant>(),
];

/// Build one tenant export's archive. Its id is the export's, whose record says where it
/// stands: a repeat after a kill writes the archive again (through a file renamed when
/// whole), and an export already READY or FAILED is left alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportTenant {
    /// The export (`tenant_exports.id`).
    pub export_id: Uuid,
    /// The tenant.
    pub tenant_id: Uuid,
}

impl Job for ExportTenant {
    const NAME: &'static str = "export_tenant";
    const QUEUE: &'static str = "rights";
    const EFFECT: Effect = Effect::Idempotent;
    const RETRIES: usize = 3;
    const TIMEOUT: Duration = Duration::from_secs(3600);
    const CONCURRENCY: usize = 1;
    fn id(&self) -> Uuid {
        self.export_id
    }
    fn tenant(&self) -> Option<Uuid> {
        Some(self.tenant_id)
    }
}

/// Move one tenant's data plane to another isolation tier (copy, verify under a short
/// write freeze, switch). Its id is the move's, and the move's record says where it
/// stands: a repeat after a kill starts the copy again (clearing what the first left),
/// and a move already switched, failed or rolled back is left alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MoveTenant {
    /// The move (`tenant_moves.id`).
    pub move_id: Uuid,
    /// The tenant.
    pub tenant_id: Uuid,
}

impl Job for MoveTenant {
    const NAME: &'static str = "move_tenant";
    const QUEUE: &'static str = "tiers";
    const EFFECT: Effect = Effect::Idempotent;
    const RETRIES: usize = 3;
    const TIMEOUT: Duration = Duration::from_secs(1800);
    const CONCURRENCY: usize = 1;
    fn id(&self) -> Uuid {
        self.move_id
    }
    fn tenant(&self) -> Option<Uuid> {
        Some(self.tenant_id)
    }
}

/// Renew one subscription whose period ended: issue the next period's invoice and move
/// the subscription on. One job per (subscription, period end): its id is derived from
/// them, so however often a sweep queues it, its effect commits once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenewSubscription {
    /// Derived from the subscription and the period end ([`RenewSubscription::new`]).
    pub job_id: Uuid,
    /// The tenant.
    pub tenant_id: Uuid,
    /// The subscription.
    pub subscription_id: Uuid,
    /// The end of the period being renewed; a subscription already past it is left alone.
    pub period_end: chrono::DateTime<chrono::Utc>,
}

impl RenewSubscription {
    /// The renewal of `subscription_id`'s period ending at `period_end`.
    pub fn new(
        tenant_id: Uuid,
        subscription_id: Uuid,
        period_end: chrono::DateTime<chrono::Utc>,
    ) -> Self {
        let key = format!("renew:{subscription_id}:{}", period_end.timestamp_micros());
        Self {
            job_id: Uuid::new_v5(&Uuid::NAMESPACE_OID, key.as_bytes()),
            tenant_id,
            subscription_id,
            period_end,
        }
    }
}

impl Job for RenewSubscription {
    const NAME: &'static str = "renew_subscription";
    const QUEUE: &'static str = "billing";
    const EFFECT: Effect = Effect::Once;
    const RETRIES: usize = 10;
    fn id(&self) -> Uuid {
        self.job_id
    }
    fn tenant(&self) -> Option<Uuid> {
        Some(self.tenant_id)
    }
}

/// One step of collecting what a tenant owes: a dunning step of an open invoice (the first
/// marks the subscription PAST_DUE), the suspension of a subscription whose grace ended, or
/// the cancellation of one suspended for too long. Its id is derived from the step and the
/// moment it is for, so however often a sweep queues it, its effect commits once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DunningStep {
    /// Derived from the step ([`DunningStep::new`]).
    pub job_id: Uuid,
    /// The tenant.
    pub tenant_id: Uuid,
    /// What to do.
    pub step: Dunning,
}

/// What a [`DunningStep`] does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Dunning {
    /// Step `step` (from 0) of an open invoice's dunning.
    Remind {
        /// The invoice.
        invoice_id: Uuid,
        /// The step.
        step: i32,
    },
    /// Suspend a PAST_DUE subscription whose grace ended at `grace_until`.
    Suspend {
        /// The subscription.
        subscription_id: Uuid,
        /// The end of its grace.
        grace_until: chrono::DateTime<chrono::Utc>,
    },
    /// Cancel a subscription suspended at `suspended_at`.
    Cancel {
        /// The subscription.
        subscription_id: Uuid,
        /// When it was suspended.
        suspended_at: chrono::DateTime<chrono::Utc>,
    },
}

impl DunningStep {
    /// The job for `step` in `tenant_id`.
    pub fn new(tenant_id: Uuid, step: Dunning) -> Self {
        let key = match step {
            Dunning::Remind { invoice_id, step } => format!("dun:{invoice_id}:{step}"),
            Dunning::Suspend {
                subscription_id,
                grace_until,
            } => format!(
                "suspend:{subscription_id}:{}",
                grace_until.timestamp_micros()
            ),
            Dunning::Cancel {
                subscription_id,
                suspended_at,
            } => format!(
                "cancel:{subscription_id}:{}",
                suspended_at.timestamp_micros()
            ),
        };
        Self {
            job_id: Uuid::new_v5(&Uuid::NAMESPACE_OID, key.as_bytes()),
            tenant_id,
            step,
        }
    }
}

impl Job for DunningStep {
    const NAME: &'static str = "dunning_step";
    const QUEUE: &'static str = "dunning";
    const EFFECT: Effect = Effect::Once;
    const RETRIES: usize = 10;
    fn id(&self) -> Uuid {
        self.job_id
    }
    fn tenant(&self) -> Option<Uuid> {
        Some(self.tenant_id)
    }
}

/// Process one stored M-Pesa callback: settle, fail or flag its payment. Queued in the
/// transaction that stored the callback; idempotent (what it does depends only on the
/// payment's state, under its lock), so a replay or a second delivery changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessMpesaCallback {
    /// Derived from the callback.
    pub job_id: Uuid,
    /// The stored callback.
    pub callback_id: Uuid,
}

impl ProcessMpesaCallback {
    /// The processing of stored callback `callback_id`.
    pub fn new(callback_id: Uuid) -> Self {
        let key = format!("mpesa-callback:{callback_id}");
        Self {
            job_id: Uuid::new_v5(&Uuid::NAMESPACE_OID, key.as_bytes()),
            callback_id,
        }
    }
}

impl Job for ProcessMpesaCallback {
    const NAME: &'static str = "process_mpesa_callback";
    const QUEUE: &'static str = "payments";
    const EFFECT: Effect = Effect::Idempotent;
    const RETRIES: usize = 12;
    const MIN_BACKOFF: Duration = Duration::from_millis(100);
    const MAX_BACKOFF: Duration = Duration::from_secs(60);
    fn id(&self) -> Uuid {
        self.job_id
    }
    fn tenant(&self) -> Option<Uuid> {
        None
    }
}

/// Finds subscriptions whose period ended and queues their renewals (idempotent: a
/// renewal's id is derived from its subscription and period, so every node may run it).
#[derive(Debug, Clone, Copy)]
pub struct BillingSweep;

impl CronJob for BillingSweep {
    const NAME: &'static str = "billing_sweep";
    const SCHEDULE: &'static str = "0 * * * * *";
}

/// Send one email. The message is rendered when the job is written (in the same
/// transaction as the change that causes it), so a template change never alters a mail
/// that was already promised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendEmail {
    /// Unique per message; becomes the `Message-ID`, so a retried delivery is recognisable.
    pub message_id: Uuid,
    /// The tenant on whose behalf the mail goes out; none for platform mail.
    pub tenant_id: Option<Uuid>,
    /// Recipient address.
    pub to: String,
    /// Subject line.
    pub subject: String,
    /// Plain-text part.
    pub text: String,
    /// HTML part.
    pub html: String,
}

impl Job for SendEmail {
    const NAME: &'static str = "send_email";
    const QUEUE: &'static str = "emails";
    const EFFECT: Effect = Effect::OnceMarkedOutside;
    const RETRIES: usize = 8;
    const TIMEOUT: Duration = Duration::from_secs(30);
    fn id(&self) -> Uuid {
        self.message_id
    }
    fn tenant(&self) -> Option<Uuid> {
        self.tenant_id
    }
}

/// A scheduled job: a payload-less tick on a cron schedule.
pub trait CronJob {
    /// Stable name, also the worker's name.
    const NAME: &'static str;
    /// Cron expression, seconds first (`"0 0 3 * * *"` is daily at 03:00 UTC).
    const SCHEDULE: &'static str;
}

/// Asks STK Query about M-Pesa payments pending too long (a lost callback still settles)
/// and times out those pending past the limit. Idempotent: each payment is re-read under
/// its lock, so every node may run it.
#[derive(Debug, Clone, Copy)]
pub struct ReconcilePayments;

impl CronJob for ReconcilePayments {
    const NAME: &'static str = "reconcile_payments";
    const SCHEDULE: &'static str = "*/15 * * * * *";
}

/// Deletes raw usage events older than `USAGE_RETENTION_DAYS` (rollups stay). Idempotent,
/// so every worker node may run it.
#[derive(Debug, Clone, Copy)]
pub struct UsageRetention;

impl CronJob for UsageRetention {
    const NAME: &'static str = "usage_retention";
    const SCHEDULE: &'static str = "0 41 * * * *";
}

/// Deletes outbox rows dispatched more than a week ago. Idempotent, so it is safe for every
/// worker node to run it.
#[derive(Debug, Clone, Copy)]
pub struct OutboxCleanup;

/// Deletes tenant exports past their link's expiry, and erases closed tenants past their
/// retention (fiscal records past theirs). Idempotent, so every worker node may run it.
#[derive(Debug, Clone, Copy)]
pub struct DataRetention;

impl CronJob for DataRetention {
    const NAME: &'static str = "data_retention";
    const SCHEDULE: &'static str = "0 23 * * * *";
}

impl CronJob for OutboxCleanup {
    const NAME: &'static str = "outbox_cleanup";
    const SCHEDULE: &'static str = "0 17 3 * * *";
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    #[test]
    fn cron_schedules_parse() {
        assert!(cron::Schedule::from_str(OutboxCleanup::SCHEDULE).is_ok());
        assert!(cron::Schedule::from_str(BillingSweep::SCHEDULE).is_ok());
        assert!(cron::Schedule::from_str(UsageRetention::SCHEDULE).is_ok());
        assert!(cron::Schedule::from_str(DataRetention::SCHEDULE).is_ok());
    }

    /// Worker names are built from queue names and cron job names in one namespace (two
    /// workers with one name refuse each other in Redis), and every name is a key segment.
    #[test]
    fn worker_names_are_distinct_key_segments() {
        let workers = [
            SendEmail::QUEUE,
            RenewSubscription::QUEUE,
            OutboxCleanup::NAME,
            BillingSweep::NAME,
            UsageRetention::NAME,
            DataRetention::NAME,
            ExportTenant::QUEUE,
        ];
        let mut sorted = workers.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), workers.len(), "{workers:?}");
        for name in workers
            .iter()
            .chain([&SendEmail::NAME, &RenewSubscription::NAME])
        {
            assert!(
                !name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{name:?} must be lower-case letters and '_'"
            );
        }
    }
}
