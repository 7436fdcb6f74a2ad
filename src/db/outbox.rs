//! The transactional outbox: jobs are rows written in the caller's transaction, then moved
//! to the job queue by the drainer (`crate::worker::outbox`).

use chrono::{DateTime, Utc};
use msingi_jobs::Job;
use sea_orm::{ActiveValue::Set, ColumnTrait};

use super::Db;
use super::entities::outbox;
use super::platform::{Access, SystemTask};
use super::scope::{PlatformTx, TenantScope};
use crate::error::{AppError, AppResult};

/// An undispatched outbox row.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingJob {
    /// Row id (also the job's position).
    pub id: i64,
    /// Job name.
    pub job: String,
    /// Queue (without namespace).
    pub queue: String,
    /// Serialised payload.
    pub payload: serde_json::Value,
}

fn row<J: Job>(
    job: &J,
    tenant: Option<uuid::Uuid>,
    now: DateTime<Utc>,
) -> AppResult<outbox::ActiveModel> {
    Ok(outbox::ActiveModel {
        tenant_id: Set(tenant),
        job: Set(J::NAME.to_owned()),
        queue: Set(J::QUEUE.to_owned()),
        payload: Set(serde_json::to_value(job).map_err(AppError::internal)?),
        created_at: Set(now),
        dispatched_at: Set(None),
        attempts: Set(0),
        last_error: Set(None),
        ..Default::default()
    })
}

impl TenantScope {
    /// Queues `job` for this tenant; it leaves only if this unit of work commits.
    pub async fn enqueue<J: Job>(&self, job: &J) -> AppResult<()> {
        let row = row(job, Some(self.tenant_id().into_uuid()), self.now())?;
        self.table::<outbox::Entity>().insert(row).await?;
        Ok(())
    }
}

impl PlatformTx {
    /// Queues `job` for `tenant` from across tenants (a sweep); it leaves only if this
    /// transaction commits.
    pub async fn enqueue_for<J: Job>(
        &self,
        tenant: crate::ids::TenantId,
        job: &J,
    ) -> AppResult<()> {
        let row = row(job, Some(tenant.into_uuid()), self.now())?;
        self.across_tenants::<outbox::Entity>().insert(row).await?;
        Ok(())
    }

    /// Queues platform `job`; it leaves only if this transaction commits.
    pub async fn enqueue<J: Job>(&self, job: &J) -> AppResult<()> {
        let row = row(job, None, self.now())?;
        self.across_tenants::<outbox::Entity>().insert(row).await?;
        Ok(())
    }
}

impl Db {
    /// Takes up to `limit` undispatched jobs, hands them to `dispatch` in order, and marks
    /// each one dispatched (or records its error) in the same transaction. On PostgreSQL
    /// the rows are locked with `SKIP LOCKED`, so several drainers share the work without
    /// taking the same row; SQLite has one writer at a time anyway. Returns how many were
    /// dispatched.
    pub async fn drain_outbox<F, Fut>(&self, limit: u64, mut dispatch: F) -> AppResult<usize>
    where
        F: FnMut(PendingJob) -> Fut,
        Fut: std::future::Future<Output = Result<(), String>>,
    {
        let tx = self
            .platform_write(Access::Task(SystemTask::OutboxDrain))
            .await?;
        let table = tx.across_tenants::<outbox::Entity>();
        let rows = table
            .find()
            .filter(outbox::Column::DispatchedAt.is_null())
            .order_by_asc(outbox::Column::Id)
            .limit(limit)
            .lock_skip_locked()
            .all()
            .await?;
        let mut dispatched = 0;
        for r in rows {
            let pending = PendingJob {
                id: r.id,
                job: r.job.clone(),
                queue: r.queue.clone(),
                payload: r.payload.clone(),
            };
            let mut update: outbox::ActiveModel = r.into();
            update.attempts = Set(*update.attempts.as_ref() + 1);
            match dispatch(pending).await {
                Ok(()) => {
                    update.dispatched_at = Set(Some(tx.now()));
                    dispatched += 1;
                }
                Err(error) => {
                    update.last_error = Set(Some(error));
                    table.save(update).await?;
                    break; // keep order: later rows wait for this one
                }
            }
            table.save(update).await?;
        }
        tx.commit().await?;
        Ok(dispatched)
    }

    /// Deletes rows dispatched before `cutoff`; returns how many.
    pub async fn purge_dispatched_outbox(&self, cutoff: DateTime<Utc>) -> AppResult<u64> {
        let tx = self
            .platform_write(Access::Task(SystemTask::OutboxDrain))
            .await?;
        let result = tx
            .across_tenants::<outbox::Entity>()
            .delete()
            .filter(outbox::Column::DispatchedAt.lt(cutoff))
            .exec()
            .await?;
        tx.commit().await?;
        Ok(result)
    }

    /// How many jobs wait in the outbox (for metrics and tests).
    pub async fn outbox_backlog(&self) -> AppResult<u64> {
        let tx = self
            .platform_read(Access::Task(SystemTask::OutboxDrain))
            .await?;
        Ok(tx
            .across_tenants::<outbox::Entity>()
            .find()
            .filter(outbox::Column::DispatchedAt.is_null())
            .count()
            .await?)
    }
}
