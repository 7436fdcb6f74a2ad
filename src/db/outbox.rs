//! The transactional outbox: jobs are rows written in the caller's transaction, then moved
//! to the job queue by the drainer (`crate::worker::outbox`).

use chrono::{DateTime, Utc};
use msingi_jobs::Job;
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::{LockBehavior, LockType},
};

use super::Db;
use super::entities::outbox;
use super::scope::{SystemTx, TenantScope};
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
        row(job, Some(self.tenant_id().into_uuid()), self.now())?
            .insert(self.conn())
            .await?;
        Ok(())
    }
}

impl SystemTx {
    /// Queues platform `job`; it leaves only if this transaction commits.
    pub async fn enqueue<J: Job>(&self, job: &J) -> AppResult<()> {
        row(job, None, self.now())?.insert(self.conn()).await?;
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
        let tx = self.unscoped_system("drain outbox").begin().await?;
        let conn = tx.conn();
        let mut query = outbox::Entity::find()
            .filter(outbox::Column::DispatchedAt.is_null())
            .order_by_asc(outbox::Column::Id)
            .limit(limit);
        if conn.get_database_backend() == DbBackend::Postgres {
            query = query.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
        }
        let rows = query.all(conn).await?;
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
                    update.update(conn).await?;
                    break; // keep order: later rows wait for this one
                }
            }
            update.update(conn).await?;
        }
        tx.commit().await?;
        Ok(dispatched)
    }

    /// Deletes rows dispatched before `cutoff`; returns how many.
    pub async fn purge_dispatched_outbox(&self, cutoff: DateTime<Utc>) -> AppResult<u64> {
        let tx = self.unscoped_system("outbox cleanup").begin().await?;
        let result = outbox::Entity::delete_many()
            .filter(outbox::Column::DispatchedAt.lt(cutoff))
            .exec(tx.conn())
            .await?;
        tx.commit().await?;
        Ok(result.rows_affected)
    }

    /// How many jobs wait in the outbox (for metrics and tests).
    pub async fn outbox_backlog(&self) -> AppResult<u64> {
        use sea_orm::PaginatorTrait;
        let system = self.unscoped_system("outbox backlog").read().await?;
        Ok(outbox::Entity::find()
            .filter(outbox::Column::DispatchedAt.is_null())
            .count(system.conn())
            .await?)
    }
}
