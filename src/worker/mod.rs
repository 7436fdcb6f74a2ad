//! The job runtime: apalis workers for every queue of the catalogue, the cron schedules,
//! and the outbox drainer. `msingi worker` runs this alone; the embedded `msingi serve` runs
//! it beside the API.
//!
//! Promise: on shutdown the drainer stops taking rows and every running job gets
//! `SHUTDOWN_TIMEOUT_SECS` to finish; a job cut short is retried from the queue later.

pub mod dead_letters;
mod outbox;

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context as _;
use apalis::layers::retry::HasherRng;
use apalis::layers::retry::backoff::{ExponentialBackoff, ExponentialBackoffMaker, MakeBackoff};
use apalis::prelude::{
    Attempt, BackoffRetryPolicy, BoxDynError, Data, Monitor, WorkerBuilder, WorkerBuilderExt,
};
use apalis_cron::{CronScheduler, Tick};
use msingi_jobs::{
    BillingSweep, CronJob, DunningStep, Job, JobBackend, OutboxCleanup, Permanent,
    ProcessMpesaCallback, ReconcilePayments, RenewSubscription, SendEmail, UsageRetention,
    register_worker,
};
use tokio_util::sync::CancellationToken;

use crate::db::Db;
use crate::notify::email::{EmailDeps, Mailer, send_email};
use dead_letters::NewDeadLetter;

pub use outbox::drain_once;

/// The worker's proof, required to build a job's tenant context
/// ([`TenantContext::for_job`](crate::tenancy::TenantContext::for_job)): only this module
/// makes one, so no request path can act as the system inside a tenant.
#[derive(Debug)]
pub struct JobRunner(());

/// The context a tenant job runs in: the server acting for `tenant`, which must exist
/// (NOT_FOUND otherwise). Tenant jobs rebuild it from their payload's tenant id, here.
pub async fn context_for(
    db: &Db,
    tenant: crate::ids::TenantId,
    job: &'static str,
) -> crate::error::AppResult<crate::tenancy::TenantContext> {
    crate::tenancy::TenantContext::for_job(&JobRunner(()), db, tenant, job).await
}

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
    /// Tax rate, due days and dunning of the invoices renewals issue.
    pub billing: crate::config::BillingConfig,
    /// What signs the invoice links billing's emails carry.
    pub links: crate::billing::invoices::Links,
    /// M-Pesa (STK Query for the sweeper, pushes for dunning).
    pub mpesa: crate::payments::pay::Mpesa,
    /// M-Pesa's settings (the sweeper's timings).
    pub mpesa_config: crate::config::MpesaConfig,
    /// Outgoing webhook deliveries.
    pub webhooks: crate::webhooks::dispatch::Dispatcher,
    /// What tenant moves between isolation tiers connect as.
    pub tiers: crate::tiers::TierAdmin,
    /// Where tenant exports go, how long they and closed tenants are kept.
    pub rights: crate::config::RightsConfig,
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

/// A queued job of the catalogue with its handler: the worker registers one pool per
/// queue for it, generically ([`queue_worker`]). Handlers are idempotent (delivery is at
/// least once) and live next to their domain.
pub trait Handled: Job {
    /// What the handler is given.
    type Deps: Clone + Send + Sync + 'static;
    /// Picks the handler's dependencies from the worker's.
    fn deps(worker: &WorkerDeps) -> Self::Deps;
    /// Runs one delivery.
    fn handle(
        self,
        deps: Self::Deps,
    ) -> impl std::future::Future<Output = Result<(), BoxDynError>> + Send;
}

/// A cron job of the catalogue with its handler, registered by [`cron_worker`].
pub trait Scheduled: CronJob + Send + Sync + 'static {
    /// What the handler is given.
    type Deps: Clone + Send + Sync + 'static;
    /// Picks the handler's dependencies from the worker's.
    fn deps(worker: &WorkerDeps) -> Self::Deps;
    /// Runs one tick; every node may run it, so it must be safe to run twice.
    fn tick(deps: Self::Deps) -> impl std::future::Future<Output = Result<(), BoxDynError>> + Send;
}

/// A job that acts inside one tenant: the worker rebuilds the tenant's context from the
/// payload's tenant id ([`context_for`]; copied data in the payload is never trusted), opens
/// a writing scope in it and hands it to [`TenantJob::run`] ([`run_tenant_job`]). The
/// handler reloads what it needs by id and commits the scope with its audit entry. The
/// scope already holds the claim on the job's effect (under [`Job::id`]), so the effect
/// commits exactly once however often the job is delivered. Its [`Handled::handle`] is
/// `run_tenant_job(&db, self, deps)`.
pub trait TenantJob: Job {
    /// What the handler is given besides the scope.
    type Deps: Send;
    /// The tenant the job acts in.
    fn acts_in(&self) -> crate::ids::TenantId;
    /// Does the work in `scope`.
    fn run(
        self,
        scope: crate::db::TenantScope,
        deps: Self::Deps,
    ) -> impl std::future::Future<Output = Result<(), BoxDynError>> + Send;
}

/// Runs one delivery of a tenant job. A job whose tenant no longer exists is dropped (with
/// a warning), not retried; any other failure is retried by the queue.
pub async fn run_tenant_job<J: TenantJob>(
    db: &Db,
    job: J,
    deps: J::Deps,
) -> Result<(), BoxDynError> {
    let ctx = match context_for(db, job.acts_in(), J::NAME).await {
        Ok(ctx) => ctx,
        Err(crate::error::AppError::NotFound { .. }) => {
            tracing::warn!(job = J::NAME, tenant = %job.acts_in(), "the job's tenant is gone: dropped");
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    let scope = db.write(&ctx).await?;
    if !scope.claim_job_effect(job.id(), J::NAME).await? {
        tracing::info!(job = J::NAME, job_id = %job.id(), "the job's effect is already done");
        return Ok(());
    }
    job.run(scope, deps).await
}

impl Handled for SendEmail {
    type Deps = EmailDeps;
    fn deps(worker: &WorkerDeps) -> EmailDeps {
        EmailDeps {
            mailer: worker.mailer.clone(),
            db: worker.db.clone(),
        }
    }
    async fn handle(self, deps: EmailDeps) -> Result<(), BoxDynError> {
        send_email(self, &deps).await
    }
}

/// What billing's jobs need besides their scope.
#[derive(Debug, Clone)]
pub struct BillingDeps {
    /// The database (and its clock).
    pub db: Db,
    /// Tax rate, due days and dunning.
    pub billing: crate::config::BillingConfig,
    /// What signs invoice links.
    pub links: crate::billing::invoices::Links,
    /// M-Pesa: dunning prompts by STK push, the sweeper asks STK Query.
    pub mpesa: crate::payments::pay::Mpesa,
    /// M-Pesa's timings.
    pub mpesa_config: crate::config::MpesaConfig,
}

impl BillingDeps {
    fn of(worker: &WorkerDeps) -> Self {
        Self {
            db: worker.db.clone(),
            billing: worker.billing.clone(),
            links: worker.links.clone(),
            mpesa: worker.mpesa.clone(),
            mpesa_config: worker.mpesa_config.clone(),
        }
    }
}

impl Handled for ProcessMpesaCallback {
    type Deps = BillingDeps;
    fn deps(worker: &WorkerDeps) -> BillingDeps {
        BillingDeps::of(worker)
    }
    async fn handle(self, deps: BillingDeps) -> Result<(), BoxDynError> {
        crate::payments::callbacks::process(&deps.db, &deps.links, self.callback_id).await?;
        Ok(())
    }
}

impl Handled for msingi_jobs::MoveTenant {
    type Deps = (Db, crate::tiers::TierAdmin);
    fn deps(worker: &WorkerDeps) -> Self::Deps {
        (worker.db.clone(), worker.tiers.clone())
    }
    async fn handle(self, (db, tiers): Self::Deps) -> Result<(), BoxDynError> {
        crate::tiers::moves::run(&db, &tiers, self.move_id).await?;
        Ok(())
    }
}

impl Handled for msingi_jobs::ExportTenant {
    type Deps = (Db, crate::config::RightsConfig);
    fn deps(worker: &WorkerDeps) -> Self::Deps {
        (worker.db.clone(), worker.rights.clone())
    }
    async fn handle(self, (db, rights): Self::Deps) -> Result<(), BoxDynError> {
        let tenant = crate::ids::TenantId::from_uuid(self.tenant_id);
        crate::rights::exports::build(&db, &rights, tenant, self.export_id).await?;
        Ok(())
    }
}

impl Scheduled for msingi_jobs::DataRetention {
    type Deps = (Db, crate::config::RightsConfig);
    fn deps(worker: &WorkerDeps) -> Self::Deps {
        (worker.db.clone(), worker.rights.clone())
    }
    async fn tick((db, rights): Self::Deps) -> Result<(), BoxDynError> {
        let swept = crate::rights::retention::sweep(&db, &rights).await?;
        tracing::info!(?swept, "data retention");
        Ok(())
    }
}

impl Scheduled for ReconcilePayments {
    type Deps = BillingDeps;
    fn deps(worker: &WorkerDeps) -> BillingDeps {
        BillingDeps::of(worker)
    }
    async fn tick(deps: BillingDeps) -> Result<(), BoxDynError> {
        let changed = crate::payments::reconcile::sweep(
            &deps.db,
            &deps.mpesa,
            &deps.mpesa_config,
            &deps.links,
        )
        .await?;
        if changed > 0 {
            tracing::info!(changed, "pending M-Pesa payments reconciled");
        }
        crate::payments::reconcile::alert_reviews(&deps.db, &deps.links).await?;
        Ok(())
    }
}

impl Handled for RenewSubscription {
    type Deps = BillingDeps;
    fn deps(worker: &WorkerDeps) -> BillingDeps {
        BillingDeps::of(worker)
    }
    async fn handle(self, deps: BillingDeps) -> Result<(), BoxDynError> {
        let db = deps.db.clone();
        run_tenant_job(&db, self, deps).await
    }
}

impl TenantJob for RenewSubscription {
    type Deps = BillingDeps;
    fn acts_in(&self) -> crate::ids::TenantId {
        crate::ids::TenantId::from_uuid(self.tenant_id)
    }
    async fn run(
        self,
        scope: crate::db::TenantScope,
        deps: BillingDeps,
    ) -> Result<(), BoxDynError> {
        let tenant = self.acts_in();
        crate::billing::renewals::renew(scope, self, &deps.billing, &deps.links).await?;
        // A downgrade applied at the period end may put the tenant on another tier.
        crate::tiers::moves::follow_plan(&deps.db, tenant).await?;
        Ok(())
    }
}

impl Handled for DunningStep {
    type Deps = BillingDeps;
    fn deps(worker: &WorkerDeps) -> BillingDeps {
        BillingDeps::of(worker)
    }
    async fn handle(self, deps: BillingDeps) -> Result<(), BoxDynError> {
        let db = deps.db.clone();
        run_tenant_job(&db, self, deps).await
    }
}

impl TenantJob for DunningStep {
    type Deps = BillingDeps;
    fn acts_in(&self) -> crate::ids::TenantId {
        crate::ids::TenantId::from_uuid(self.tenant_id)
    }
    async fn run(
        self,
        scope: crate::db::TenantScope,
        deps: BillingDeps,
    ) -> Result<(), BoxDynError> {
        let db = deps.db.clone();
        if let Some(prompt) =
            crate::billing::dunning::run(scope, self, &deps.billing, &deps.links).await?
        {
            crate::payments::dunning::prompt(&db, &deps.mpesa, prompt).await?;
        }
        Ok(())
    }
}

impl Scheduled for BillingSweep {
    type Deps = BillingDeps;
    fn deps(worker: &WorkerDeps) -> BillingDeps {
        BillingDeps::of(worker)
    }
    async fn tick(deps: BillingDeps) -> Result<(), BoxDynError> {
        let queued = crate::billing::sweep(&deps.db, &deps.billing).await?;
        if queued > 0 {
            tracing::info!(queued, "billing steps queued");
        }
        Ok(())
    }
}

impl Scheduled for UsageRetention {
    type Deps = BillingDeps;
    fn deps(worker: &WorkerDeps) -> BillingDeps {
        BillingDeps::of(worker)
    }
    async fn tick(deps: BillingDeps) -> Result<(), BoxDynError> {
        let purged = crate::usage::purge_expired_events(&deps.db, &deps.billing).await?;
        tracing::info!(purged, "usage retention");
        Ok(())
    }
}

impl Scheduled for OutboxCleanup {
    type Deps = Db;
    fn deps(worker: &WorkerDeps) -> Db {
        worker.db.clone()
    }
    async fn tick(db: Db) -> Result<(), BoxDynError> {
        outbox_cleanup(&db).await
    }
}

/// Runs every worker until `shutdown` is cancelled, then waits for running jobs: the outbox
/// drainer, one pool per queued job, one scheduler per cron job.
pub async fn run(deps: WorkerDeps, shutdown: CancellationToken) -> anyhow::Result<()> {
    let drainer = tokio::spawn(outbox::run(
        deps.db.clone(),
        deps.jobs.clone(),
        shutdown.clone(),
    ));
    let webhooks = tokio::spawn(deps.webhooks.clone().run(shutdown.clone()));
    let (
        email,
        renewals,
        dunning,
        callbacks,
        moves,
        exports,
        cleanup,
        sweep,
        reconcile,
        retention,
        rights,
    ) = tokio::join!(
        queue_worker::<SendEmail>(&deps, shutdown.clone()),
        queue_worker::<RenewSubscription>(&deps, shutdown.clone()),
        queue_worker::<DunningStep>(&deps, shutdown.clone()),
        queue_worker::<ProcessMpesaCallback>(&deps, shutdown.clone()),
        queue_worker::<msingi_jobs::MoveTenant>(&deps, shutdown.clone()),
        queue_worker::<msingi_jobs::ExportTenant>(&deps, shutdown.clone()),
        cron_worker::<OutboxCleanup>(&deps, shutdown.clone()),
        cron_worker::<BillingSweep>(&deps, shutdown.clone()),
        cron_worker::<ReconcilePayments>(&deps, shutdown.clone()),
        cron_worker::<UsageRetention>(&deps, shutdown.clone()),
        cron_worker::<msingi_jobs::DataRetention>(&deps, shutdown.clone()),
    );
    drainer.await.context("outbox drainer")?;
    webhooks.await.context("webhook dispatcher")?;
    email.context("email workers")?;
    renewals.context("renewal workers")?;
    dunning.context("dunning workers")?;
    callbacks.context("M-Pesa callback workers")?;
    moves.context("tenant move workers")?;
    exports.context("tenant export workers")?;
    rights.context("data retention")?;
    reconcile.context("payment sweeper")?;
    cleanup.context("cron workers")?;
    retention.context("usage retention")?;
    sweep.context("billing sweep")
}

/// The database the worker files dead letters in (its own type, so a handler whose
/// dependencies are the database too keeps its own `Data`).
#[derive(Clone)]
struct Ledger(Db);

/// One delivery of `J`: the handler, then, when it failed for good (its last attempt, or a
/// [`Permanent`] failure), a dead letter. A filed job is done as far as the queue is
/// concerned, so it never blocks its queue and is never silently dropped; a job whose dead
/// letter could not be filed stays failed in the queue.
async fn handle<J: Handled>(
    job: J,
    deps: Data<J::Deps>,
    ledger: Data<Ledger>,
    attempt: Attempt,
) -> Result<(), BoxDynError> {
    let (job_id, tenant_id) = (job.id(), job.tenant());
    let payload = serde_json::to_value(&job)?;
    let Err(error) = job.handle((*deps).clone()).await else {
        return Ok(());
    };
    let attempts = attempt.current();
    let permanent = error.downcast_ref::<Permanent>().is_some();
    if !permanent && attempts <= J::RETRIES {
        tracing::info!(job = J::NAME, %job_id, attempts, error = %error, "job failed; it will be retried");
        return Err(error);
    }
    let letter = NewDeadLetter {
        job_id,
        job: J::NAME,
        queue: J::QUEUE,
        tenant_id,
        payload,
        error: error.to_string(),
        attempts,
    };
    let Ledger(db) = &*ledger;
    match db.record_dead_letter(letter).await {
        Ok(letter) => {
            metrics::counter!("msingi_jobs_dead_lettered_total", "queue" => J::QUEUE).increment(1);
            tracing::error!(job = J::NAME, %job_id, dead_letter = %letter.id, attempts, permanent, error = %error, "job dead-lettered");
            Ok(())
        }
        Err(e) => {
            tracing::error!(job = J::NAME, %job_id, error = %e, "could not file a dead letter; the job stays failed in its queue");
            Err(error)
        }
    }
}

async fn tick<C: Scheduled>(_tick: Tick, deps: Data<C::Deps>) -> Result<(), BoxDynError> {
    C::tick((*deps).clone()).await
}

/// The supervised pool of `J`'s queue: its concurrency, retry policy and timeout from the
/// catalogue.
pub async fn queue_worker<J: Handled>(
    deps: &WorkerDeps,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let retry = retry_policy::<J>()?;
    let handler_deps = J::deps(deps);
    let ledger = Ledger(deps.db.clone());
    let jobs = deps.jobs.clone();
    let timeout = deps.shutdown_timeout;
    let monitor_shutdown = shutdown.clone();
    supervise(J::QUEUE, shutdown, Backoff::default(), move || {
        let handler_deps = handler_deps.clone();
        let ledger = ledger.clone();
        let retry = retry.clone();
        let monitor = register_worker!(Monitor::new(), jobs.storage::<J>(), |backend| {
            WorkerBuilder::new(worker_name(J::QUEUE))
                .backend(backend)
                .data(handler_deps.clone())
                .data(ledger.clone())
                .concurrency(J::CONCURRENCY)
                .retry(retry.clone())
                .catch_panic()
                .timeout(J::TIMEOUT)
                .enable_tracing()
                .build(handle::<J>)
        });
        let jobs = jobs.clone();
        let shutdown = monitor_shutdown.clone();
        async move {
            // A restart follows a monitor that ended (its backend failed): the jobs it held
            // under this process's worker name would never be orphaned, since the new one
            // heart-beats under the same name, so they go back to the queue first.
            hand_back::<J>(&jobs, "a restarted worker").await;
            let result = run_monitor(monitor, timeout, shutdown.clone()).await;
            if shutdown.is_cancelled() {
                // Jobs cut off by the shutdown timeout go back to the queue now, not when
                // this worker's lease runs out.
                hand_back::<J>(&jobs, "shutdown").await;
            }
            result
        }
    })
    .await
}

/// Returns the jobs this process's worker of `J` holds to their queue.
async fn hand_back<J: Job>(jobs: &JobBackend, why: &'static str) {
    match jobs.hand_back(J::QUEUE, &worker_name(J::QUEUE)).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(
            queue = J::QUEUE,
            jobs = n,
            why,
            "jobs handed back to the queue"
        ),
        Err(e) => {
            tracing::warn!(queue = J::QUEUE, why, error = %e, "could not hand jobs back; they return when the lease runs out")
        }
    }
}

/// The supervised scheduler of cron job `C`.
pub async fn cron_worker<C: Scheduled>(
    deps: &WorkerDeps,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let schedule = cron::Schedule::from_str(C::SCHEDULE)
        .with_context(|| format!("cron schedule of {}", C::NAME))?;
    let handler_deps = C::deps(deps);
    let timeout = deps.shutdown_timeout;
    let monitor_shutdown = shutdown.clone();
    supervise(C::NAME, shutdown, Backoff::default(), move || {
        let handler_deps = handler_deps.clone();
        let schedule = schedule.clone();
        let monitor = Monitor::new().register(move |_| {
            WorkerBuilder::new(worker_name(C::NAME))
                .backend(CronScheduler::new(schedule.clone()))
                .data(handler_deps.clone())
                .catch_panic()
                .enable_tracing()
                .build(tick::<C>)
        });
        run_monitor(monitor, timeout, monitor_shutdown.clone())
    })
    .await
}

/// Runs one monitor until `shutdown`, then gives running jobs `timeout`. A worker that
/// fails ends its monitor (no restart inside apalis, which would restart at once, in a
/// hot loop): [`supervise`] restarts it after a backoff.
async fn run_monitor(
    monitor: Monitor,
    timeout: Duration,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    monitor
        .on_event(|worker, event| {
            if let apalis::prelude::Event::Error(error) = event {
                tracing::warn!(worker = worker.name(), error = %error, "job worker error");
            }
        })
        .shutdown_timeout(timeout)
        .run_with_signal(async move {
            shutdown.cancelled().await;
            Ok(())
        })
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))
}

/// Restart delays: doubling from `min` to `max`; a run longer than `healthy` resets them.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    /// First delay.
    pub min: Duration,
    /// Ceiling.
    pub max: Duration,
    /// A run at least this long counts as healthy.
    pub healthy: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            min: Duration::from_millis(500),
            max: Duration::from_secs(60),
            healthy: Duration::from_secs(60),
        }
    }
}

impl Backoff {
    /// The delay after the `failures`-th failure in a row (1-based).
    pub fn delay(&self, failures: u32) -> Duration {
        let factor = 2u32.saturating_pow(failures.saturating_sub(1).min(16));
        self.min.saturating_mul(factor).min(self.max)
    }
}

/// Runs `run_once` until `shutdown`; each time it ends (or fails) before that, waits a
/// doubling delay and starts it again. Restarts are counted in `/metrics`
/// (`msingi_worker_restarts_total`) and a worker in backoff shows in `/readyz`.
pub async fn supervise<F, Fut>(
    name: &'static str,
    shutdown: CancellationToken,
    backoff: Backoff,
    mut run_once: F,
) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let mut failures = 0u32;
    loop {
        let started = tokio::time::Instant::now();
        let result = run_once().await;
        if shutdown.is_cancelled() {
            health::recovered(name);
            return result;
        }
        failures = if started.elapsed() >= backoff.healthy {
            1
        } else {
            failures.saturating_add(1)
        };
        let delay = backoff.delay(failures);
        match &result {
            Err(e) => {
                tracing::warn!(worker = name, failures, ?delay, error = %e, "job worker failed; restarting after a delay")
            }
            Ok(()) => tracing::warn!(
                worker = name,
                failures,
                ?delay,
                "job worker stopped; restarting after a delay"
            ),
        }
        metrics::counter!("msingi_worker_restarts_total", "worker" => name).increment(1);
        health::restarting(name, failures);
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = shutdown.cancelled() => {
                health::recovered(name);
                return Ok(());
            }
        }
    }
}

/// Which workers are restarting, for `/readyz`.
pub mod health {
    use std::collections::BTreeMap;
    use std::sync::{Mutex, PoisonError};

    static RESTARTING: Mutex<BTreeMap<&'static str, u32>> = Mutex::new(BTreeMap::new());

    /// After this many failures in a row a worker makes the node unready.
    pub const UNREADY_AFTER: u32 = 3;

    pub(super) fn restarting(name: &'static str, failures: u32) {
        RESTARTING
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name, failures);
    }

    pub(super) fn recovered(name: &'static str) {
        RESTARTING
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(name);
    }

    /// Workers in backoff, with their failures in a row.
    pub fn restarting_workers() -> BTreeMap<&'static str, u32> {
        RESTARTING
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// How long dispatched outbox rows are kept (for inspection) before the cleanup deletes them.
const OUTBOX_RETENTION: chrono::Duration = chrono::Duration::days(7);

async fn outbox_cleanup(db: &Db) -> Result<(), BoxDynError> {
    let cutoff = db.clock().now() - OUTBOX_RETENTION;
    let purged = db.purge_dispatched_outbox(cutoff).await?;
    tracing::info!(purged, "outbox cleanup");
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_failing_worker_restarts_with_a_doubling_delay_not_in_a_hot_loop() {
        let runs = Arc::new(AtomicU32::new(0));
        let shutdown = CancellationToken::new();
        let counted = runs.clone();
        let backoff = Backoff::default();
        let supervisor = tokio::spawn(supervise(
            "test-failing",
            shutdown.clone(),
            backoff,
            move || {
                counted.fetch_add(1, Ordering::SeqCst);
                async { Err(anyhow::anyhow!("backend refused")) }
            },
        ));
        // 0.5 + 1 + 2 + 4 + 8 + 16 = 31.5 s of delays: seven runs in 40 s, not thousands.
        tokio::time::sleep(Duration::from_secs(40)).await;
        assert_eq!(runs.load(Ordering::SeqCst), 7);
        assert_eq!(health::restarting_workers().get("test-failing"), Some(&7));
        shutdown.cancel();
        supervisor.await.unwrap().unwrap();
        assert!(!health::restarting_workers().contains_key("test-failing"));
        assert_eq!(backoff.delay(30), backoff.max);
    }
}
