//! Metering: the metric catalogue (the platform's, public), a tenant's usage events and
//! their rollups, and the quota alerts already sent.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ActiveValue::Set, ColumnTrait, DbBackend};

use super::entities::{metrics, stores, usage_alerts, usage_events, usage_rollups};
use super::scope::{PlatformTx, TenantScope};
use crate::error::{AppError, AppResult};
use crate::usage::{Aggregation, Bucket, Metric, Rollup};

fn to_metric(row: metrics::Model) -> Metric {
    Metric {
        code: row.code,
        name: row.name,
        unit: row.unit,
        aggregation: Aggregation::from_stored(&row.aggregation),
    }
}

fn to_rollup(row: &usage_rollups::Model) -> Rollup {
    Rollup {
        total: row.total,
        events: row.events,
        maximum: row.maximum,
    }
}

/// An event to record, validated.
#[derive(Debug, Clone)]
pub struct NewUsageEvent {
    /// The client's idempotency key.
    pub id: String,
    /// The metric's code.
    pub metric: String,
    /// How much.
    pub quantity: i64,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// The store it happened in.
    pub store_id: Option<uuid::Uuid>,
    /// The client's extra data.
    pub properties: Option<serde_json::Value>,
    /// The billing period it counts in (the open one).
    pub period_start: DateTime<Utc>,
}

impl crate::db::Db {
    /// Deletes raw usage events recorded before `cutoff`, in every tenant; returns how
    /// many. Their rollups stay (reports and invoices read those).
    pub async fn purge_usage_events(&self, cutoff: DateTime<Utc>) -> AppResult<u64> {
        let tx = self
            .platform_write(super::Access::Task(super::SystemTask::UsageRetention))
            .await?;
        let purged = tx
            .across_tenants::<usage_events::Entity>()
            .delete()
            .filter(usage_events::Column::RecordedAt.lt(cutoff))
            .exec()
            .await?;
        tx.commit().await?;
        Ok(purged)
    }

    /// The metric catalogue, by code.
    pub async fn metrics(&self) -> AppResult<Vec<Metric>> {
        let tx = self.global_read("metrics").await?;
        Ok(tx
            .global::<metrics::Entity>()
            .find()
            .order_by_asc(metrics::Column::Code)
            .all()
            .await?
            .into_iter()
            .map(to_metric)
            .collect())
    }
}

impl PlatformTx {
    /// Adds `metric` to the catalogue; CONFLICT when its code is taken.
    pub async fn insert_metric(&self, metric: Metric) -> AppResult<Metric> {
        let row = self
            .across_tenants::<metrics::Entity>()
            .insert(metrics::ActiveModel {
                code: Set(metric.code.clone()),
                name: Set(metric.name),
                unit: Set(metric.unit),
                aggregation: Set(metric.aggregation.as_str().to_owned()),
                created_at: Set(self.now()),
            })
            .await
            .map_err(|e| {
                AppError::conflict_on_unique(e, format!("metric {} exists", metric.code))
            })?;
        Ok(to_metric(row))
    }
}

impl TenantScope {
    /// The metric catalogue as this scope reads it, by code.
    pub async fn metric_catalogue(&self) -> AppResult<BTreeMap<String, Metric>> {
        Ok(self
            .catalogue::<metrics::Entity>()
            .find()
            .all()
            .await?
            .into_iter()
            .map(|row| (row.code.clone(), to_metric(row)))
            .collect())
    }

    /// Which of `ids` are this tenant's stores.
    pub async fn existing_stores(&self, ids: Vec<uuid::Uuid>) -> AppResult<Vec<uuid::Uuid>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(self
            .table::<stores::Entity>()
            .find()
            .filter(stores::Column::Id.is_in(ids))
            .values(stores::Column::Id, false)
            .await?)
    }

    /// Records those of `events` whose id is new to the tenant (in one statement);
    /// returns the ids it recorded.
    pub async fn insert_usage_events(&self, events: Vec<NewUsageEvent>) -> AppResult<Vec<String>> {
        let now = self.now();
        let models = events
            .into_iter()
            .map(|e| usage_events::ActiveModel {
                tenant_id: Set(uuid::Uuid::nil()),
                id: Set(e.id),
                metric: Set(e.metric),
                quantity: Set(e.quantity),
                occurred_at: Set(e.occurred_at),
                store_id: Set(e.store_id),
                properties: Set(e.properties),
                period_start: Set(e.period_start),
                recorded_at: Set(now),
            })
            .collect();
        Ok(self
            .table::<usage_events::Entity>()
            .insert_new(models)
            .await?
            .into_iter()
            .map(|(_, id)| id)
            .collect())
    }

    /// Adds each delta to its rollup bucket (created at the delta when new), in one
    /// statement, in key order (so two writers never wait on each other in a cycle);
    /// returns the buckets as they now are.
    pub async fn add_usage(
        &self,
        deltas: &BTreeMap<Bucket, Rollup>,
    ) -> AppResult<Vec<(Bucket, Rollup)>> {
        let table = self.table::<usage_rollups::Entity>();
        let greatest = match table.backend() {
            DbBackend::Postgres => "GREATEST",
            _ => "MAX",
        };
        let models = deltas
            .iter()
            .map(|(bucket, delta)| usage_rollups::ActiveModel {
                tenant_id: Set(uuid::Uuid::nil()),
                metric: Set(bucket.metric.clone()),
                granularity: Set(bucket.granularity.to_owned()),
                bucket_start: Set(bucket.start),
                total: Set(delta.total),
                events: Set(delta.events),
                maximum: Set(delta.maximum),
            })
            .collect();
        let on_conflict = OnConflict::columns([
            usage_rollups::Column::TenantId,
            usage_rollups::Column::Metric,
            usage_rollups::Column::Granularity,
            usage_rollups::Column::BucketStart,
        ])
        .values([
            (
                usage_rollups::Column::Total,
                Expr::cust("usage_rollups.total + excluded.total"),
            ),
            (
                usage_rollups::Column::Events,
                Expr::cust("usage_rollups.events + excluded.events"),
            ),
            (
                usage_rollups::Column::Maximum,
                Expr::cust(format!(
                    "{greatest}(usage_rollups.maximum, excluded.maximum)"
                )),
            ),
        ])
        .to_owned();
        Ok(table
            .upsert(models, on_conflict)
            .await?
            .iter()
            .map(|row| {
                (
                    Bucket {
                        metric: row.metric.clone(),
                        granularity: granularity_name(&row.granularity),
                        start: row.bucket_start,
                    },
                    to_rollup(row),
                )
            })
            .collect())
    }

    /// The rollups of `metric` at `granularity` whose bucket starts in `[from, to)`, by
    /// start.
    pub async fn usage_rollups(
        &self,
        metric: &str,
        granularity: &'static str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> AppResult<Vec<(DateTime<Utc>, Rollup)>> {
        Ok(self
            .table::<usage_rollups::Entity>()
            .find()
            .filter(usage_rollups::Column::Metric.eq(metric))
            .filter(usage_rollups::Column::Granularity.eq(granularity))
            .filter(usage_rollups::Column::BucketStart.gte(from))
            .filter(usage_rollups::Column::BucketStart.lt(to))
            .order_by_asc(usage_rollups::Column::BucketStart)
            .all()
            .await?
            .iter()
            .map(|row| (row.bucket_start, to_rollup(row)))
            .collect())
    }

    /// What was used of each metric in the billing period that starts at `start`.
    pub async fn period_usage(&self, start: DateTime<Utc>) -> AppResult<BTreeMap<String, Rollup>> {
        Ok(self
            .table::<usage_rollups::Entity>()
            .find()
            .filter(usage_rollups::Column::Granularity.eq(crate::usage::PERIOD))
            .filter(usage_rollups::Column::BucketStart.eq(start))
            .all()
            .await?
            .iter()
            .map(|row| (row.metric.clone(), to_rollup(row)))
            .collect())
    }

    /// Claims the alert that `metric` reached `threshold` % of its quota in the period
    /// starting at `period_start`: true the first time only.
    pub async fn claim_usage_alert(
        &self,
        metric: &str,
        period_start: DateTime<Utc>,
        threshold: i32,
    ) -> AppResult<bool> {
        let claimed = self
            .table::<usage_alerts::Entity>()
            .insert_new(vec![usage_alerts::ActiveModel {
                tenant_id: Set(uuid::Uuid::nil()),
                metric: Set(metric.to_owned()),
                period_start: Set(period_start),
                threshold: Set(threshold),
                created_at: Set(self.now()),
            }])
            .await?;
        Ok(!claimed.is_empty())
    }
}

/// The granularity names a rollup row is stored under.
fn granularity_name(stored: &str) -> &'static str {
    match stored {
        crate::usage::HOUR => crate::usage::HOUR,
        crate::usage::DAY => crate::usage::DAY,
        _ => crate::usage::PERIOD,
    }
}
