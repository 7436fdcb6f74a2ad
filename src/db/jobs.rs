//! The job runtime's records: the effects ledger and the dead letters (platform tables,
//! through the platform door as [`SystemTask::Jobs`]).

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait};
use uuid::Uuid;

use super::Db;
use super::entities::{job_dead_letters, job_effects, outbox, tenant_job_effects};
use super::platform::{Access, SystemTask};
use super::scope::TenantScope;
use crate::error::{AppError, AppResult};
use crate::worker::dead_letters::{DeadLetter, NewDeadLetter, Resolution};

fn to_dead_letter(row: job_dead_letters::Model) -> DeadLetter {
    DeadLetter {
        id: row.id,
        job_id: row.job_id,
        job: row.job,
        queue: row.queue,
        tenant_id: row.tenant_id,
        payload: row.payload,
        error: row.error,
        attempts: row.attempts,
        died_at: row.died_at,
        resolved_at: row.resolved_at,
        resolution: row.resolution,
    }
}

impl TenantScope {
    /// Claims job `job_id`'s effect for this unit of work: false when a committed unit of
    /// work already did it (the job then has nothing to do). The claim commits, or rolls
    /// back, with the effect itself; a concurrent delivery of the same job waits for this
    /// one and then finds it done.
    pub async fn claim_job_effect(&self, job_id: Uuid, job: &str) -> AppResult<bool> {
        let table = self.table::<tenant_job_effects::Entity>();
        if table.by_id(job_id).one().await?.is_some() {
            return Ok(false);
        }
        let inserted = table
            .insert(tenant_job_effects::ActiveModel {
                job_id: Set(job_id),
                job: Set(job.to_owned()),
                done_at: Set(self.now()),
                ..Default::default()
            })
            .await;
        match inserted {
            Ok(_) => Ok(true),
            Err(e) => match AppError::conflict_on_unique(e, "done") {
                AppError::Conflict(_) => Ok(false),
                other => Err(other),
            },
        }
    }
}

impl Db {
    /// Whether the effect of job `job_id` is recorded as done.
    pub async fn job_effect_done(&self, job_id: Uuid) -> AppResult<bool> {
        let tx = self.platform_read(Access::Task(SystemTask::Jobs)).await?;
        Ok(tx
            .across_tenants::<job_effects::Entity>()
            .by_id(job_id)
            .one()
            .await?
            .is_some())
    }

    /// Records that the effect of job `job_id` is done; false when it already was.
    pub async fn record_job_effect(&self, job_id: Uuid, job: &str) -> AppResult<bool> {
        let tx = self.platform_write(Access::Task(SystemTask::Jobs)).await?;
        let inserted = tx
            .across_tenants::<job_effects::Entity>()
            .insert(job_effects::ActiveModel {
                job_id: Set(job_id),
                job: Set(job.to_owned()),
                done_at: Set(tx.now()),
            })
            .await;
        match inserted {
            Ok(_) => {
                tx.commit().await?;
                Ok(true)
            }
            Err(e) => match AppError::conflict_on_unique(e, "done") {
                AppError::Conflict(_) => Ok(false),
                other => Err(other),
            },
        }
    }

    /// Files a dead letter.
    pub async fn record_dead_letter(&self, new: NewDeadLetter) -> AppResult<DeadLetter> {
        let tx = self.platform_write(Access::Task(SystemTask::Jobs)).await?;
        let row = tx
            .across_tenants::<job_dead_letters::Entity>()
            .insert(job_dead_letters::ActiveModel {
                id: Set(Uuid::now_v7()),
                job_id: Set(new.job_id),
                job: Set(new.job.to_owned()),
                queue: Set(new.queue.to_owned()),
                tenant_id: Set(new.tenant_id),
                payload: Set(new.payload),
                error: Set(new.error.chars().take(4000).collect()),
                attempts: Set(i32::try_from(new.attempts).unwrap_or(i32::MAX)),
                died_at: Set(tx.now()),
                resolved_at: Set(None),
                resolution: Set(None),
            })
            .await?;
        tx.commit().await?;
        Ok(to_dead_letter(row))
    }

    /// Dead letters, newest first: the open ones, or all of them.
    pub async fn dead_letters(&self, include_resolved: bool) -> AppResult<Vec<DeadLetter>> {
        let tx = self.platform_read(Access::Task(SystemTask::Jobs)).await?;
        let mut query = tx.across_tenants::<job_dead_letters::Entity>().find();
        if !include_resolved {
            query = query.filter(job_dead_letters::Column::ResolvedAt.is_null());
        }
        Ok(query
            .order_by_desc(job_dead_letters::Column::DiedAt)
            .all()
            .await?
            .into_iter()
            .map(to_dead_letter)
            .collect())
    }

    /// One dead letter.
    pub async fn dead_letter(&self, id: Uuid) -> AppResult<Option<DeadLetter>> {
        let tx = self.platform_read(Access::Task(SystemTask::Jobs)).await?;
        Ok(tx
            .across_tenants::<job_dead_letters::Entity>()
            .by_id(id)
            .one()
            .await?
            .map(to_dead_letter))
    }

    /// Resolves an open dead letter: retried (its payload queued again through the outbox,
    /// in the same transaction) or discarded. NOT_FOUND when there is no such letter,
    /// CONFLICT when it was already resolved.
    pub async fn resolve_dead_letter(
        &self,
        id: Uuid,
        resolution: Resolution,
    ) -> AppResult<DeadLetter> {
        let tx = self.platform_write(Access::Task(SystemTask::Jobs)).await?;
        let table = tx.across_tenants::<job_dead_letters::Entity>();
        let Some(letter) = table.by_id(id).lock_for_update().one().await? else {
            return Err(AppError::NotFound {
                entity: "dead letter",
            });
        };
        if letter.resolved_at.is_some() {
            return Err(AppError::Conflict(format!(
                "dead letter {id} was already {}",
                letter.resolution.as_deref().unwrap_or("resolved")
            )));
        }
        let now = tx.now();
        table
            .update()
            .set(job_dead_letters::Column::ResolvedAt, Expr::value(now))
            .set(
                job_dead_letters::Column::Resolution,
                Expr::value(resolution.as_str()),
            )
            .filter(job_dead_letters::Column::Id.eq(id))
            .exec()
            .await?;
        if resolution == Resolution::Retried {
            tx.across_tenants::<outbox::Entity>()
                .insert(outbox::ActiveModel {
                    tenant_id: Set(letter.tenant_id),
                    job: Set(letter.job.clone()),
                    queue: Set(letter.queue.clone()),
                    payload: Set(letter.payload.clone()),
                    created_at: Set(now),
                    dispatched_at: Set(None),
                    attempts: Set(0),
                    last_error: Set(None),
                    ..Default::default()
                })
                .await?;
        }
        tx.commit().await?;
        let mut resolved = to_dead_letter(letter);
        resolved.resolved_at = Some(now);
        resolved.resolution = Some(resolution.as_str().to_owned());
        Ok(resolved)
    }

    /// Open dead letters per queue.
    pub async fn open_dead_letters_by_queue(
        &self,
    ) -> AppResult<std::collections::BTreeMap<String, (u64, Option<DateTime<Utc>>)>> {
        let mut counts = std::collections::BTreeMap::new();
        for letter in self.dead_letters(false).await? {
            let entry = counts.entry(letter.queue).or_insert((0u64, None));
            entry.0 += 1;
            if entry.1.is_none_or(|oldest| letter.died_at < oldest) {
                entry.1 = Some(letter.died_at);
            }
        }
        Ok(counts)
    }
}
