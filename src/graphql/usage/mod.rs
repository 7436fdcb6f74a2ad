//! Metering: `metrics`, `createMetric`, `recordUsage`, `usage`, `usageSummary`.

use async_graphql::{Context, ID, InputObject, Json, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use crate::graphql::{caller, services};
use crate::usage::report::{self, Granularity};
use crate::usage::{Aggregation, catalogue, ingest};

/// A billable metric.
#[derive(SimpleObject)]
pub struct Metric {
    /// What events and plans name it by.
    code: String,
    name: String,
    /// What one unit is.
    unit: String,
    /// How its events add up: SUM of quantities, COUNT of events, MAX quantity.
    aggregation: Aggregation,
}

impl From<crate::usage::Metric> for Metric {
    fn from(m: crate::usage::Metric) -> Self {
        Self {
            code: m.code,
            name: m.name,
            unit: m.unit,
            aggregation: m.aggregation,
        }
    }
}

/// One usage event.
#[derive(InputObject)]
pub struct UsageEventInput {
    /// client-chosen idempotency key, unique per tenant: a repeat is accepted and counted once
    id: String,
    metric: String,
    quantity: i32,
    occurred_at: Option<DateTime<Utc>>,
    store_id: Option<ID>,
    properties: Option<Json<serde_json::Value>>,
}

impl From<UsageEventInput> for ingest::UsageEventInput {
    fn from(e: UsageEventInput) -> Self {
        Self {
            id: e.id,
            metric: e.metric,
            quantity: i64::from(e.quantity),
            occurred_at: e.occurred_at,
            store_id: e.store_id.map(|s| s.0),
            properties: e.properties.map(|p| p.0),
        }
    }
}

/// What a batch did.
#[derive(SimpleObject)]
pub struct RecordUsageResult {
    /// Events recorded now.
    accepted: i32,
    /// Events whose id was recorded before: counted once.
    duplicates: i32,
}

/// A step of a series.
#[derive(SimpleObject)]
pub struct UsagePoint {
    start: DateTime<Utc>,
    value: i32,
}

/// A metric over time.
#[derive(SimpleObject)]
pub struct UsageSeries {
    metric: String,
    points: Vec<UsagePoint>,
    total: i32,
}

/// A metric in the open billing period against the plan's limit.
#[derive(SimpleObject)]
pub struct UsageSummary {
    metric: String,
    used: i32,
    /// null: unlimited
    limit: Option<i32>,
    period_start: DateTime<Utc>,
    period_end: DateTime<Utc>,
}

/// A new metric.
#[derive(InputObject)]
pub struct CreateMetricInput {
    code: String,
    name: String,
    unit: String,
    aggregation: Aggregation,
}

fn int(n: i64) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// Metering queries.
#[derive(Default)]
pub struct UsageQuery;

#[Object]
impl UsageQuery {
    /// the billable metric catalogue
    async fn metrics(&self, ctx: &Context<'_>) -> Result<Vec<Metric>> {
        Ok(catalogue::list(services(ctx)?)
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// `metric` of the active tenant from `from` to `to` in steps of `granularity`, every
    /// step present (empty ones at 0), answered from rollups. [P:usage.read]
    async fn usage(
        &self,
        ctx: &Context<'_>,
        metric: String,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        granularity: Granularity,
    ) -> Result<UsageSeries> {
        let series = report::series(
            services(ctx)?,
            caller(ctx)?,
            &metric,
            (from, to),
            granularity,
        )
        .await?;
        Ok(UsageSeries {
            metric: series.metric,
            points: series
                .points
                .into_iter()
                .map(|p| UsagePoint {
                    start: p.start,
                    value: int(p.value),
                })
                .collect(),
            total: int(series.total),
        })
    }

    /// Each metric the plan limits or prices (and any used) in the open billing period,
    /// against its limit. [P:usage.read]
    async fn usage_summary(&self, ctx: &Context<'_>) -> Result<Vec<UsageSummary>> {
        Ok(report::summary(services(ctx)?, caller(ctx)?)
            .await?
            .into_iter()
            .map(|s| UsageSummary {
                metric: s.metric,
                used: int(s.used),
                limit: s.limit.map(int),
                period_start: s.period_start,
                period_end: s.period_end,
            })
            .collect())
    }
}

/// Metering mutations.
#[derive(Default)]
pub struct UsageMutation;

#[Object]
impl UsageMutation {
    /// Records up to 1,000 usage events at once, all or none: a bad event refuses the batch
    /// naming it (`events[17].quantity`). An id recorded before counts once and is
    /// reported in `duplicates`. Past a hard quota of the plan: PLAN_LIMIT_EXCEEDED, nothing
    /// recorded. [P:usage.write] also for API keys
    async fn record_usage(
        &self,
        ctx: &Context<'_>,
        events: Vec<UsageEventInput>,
    ) -> Result<RecordUsageResult> {
        let events = events.into_iter().map(Into::into).collect();
        let recorded = ingest::record(services(ctx)?, caller(ctx)?, events).await?;
        Ok(RecordUsageResult {
            accepted: int(recorded.accepted as i64),
            duplicates: int(recorded.duplicates as i64),
        })
    }

    /// Adds a billable metric to the catalogue. [PA]
    async fn create_metric(&self, ctx: &Context<'_>, input: CreateMetricInput) -> Result<Metric> {
        Ok(catalogue::create(
            services(ctx)?,
            caller(ctx)?,
            &input.code,
            &input.name,
            &input.unit,
            input.aggregation,
        )
        .await?
        .into())
    }
}
