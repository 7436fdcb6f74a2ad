//! `recordUsage` and `POST /api/v1/usage`: a batch of events, validated whole (the first
//! bad event refuses the batch, naming its index and field), recorded in one transaction
//! with its rollups, under the plan's quotas.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};

use super::{Bucket, DAY, HOUR, PERIOD, Rollup, day_of, hour_of, open_period};
use crate::auth::Caller;
use crate::config::Config;
use crate::db::{Db, NewUsageEvent, TenantScope};
use crate::error::{AppError, AppResult};
use crate::rbac::perm;
use crate::services::Services;
use crate::tenancy::TenantContext;

/// Events one request may carry.
pub const MAX_BATCH: usize = 1000;
/// How far in the future an event may be dated (clock skew).
const MAX_AHEAD: Duration = Duration::minutes(5);
/// The longest idempotency key.
const MAX_ID: usize = 128;
/// The largest `properties`, as JSON.
const MAX_PROPERTIES: usize = 4096;
/// The soft-quota thresholds the owner is told of, in percent.
const THRESHOLDS: [i32; 2] = [80, 100];

/// Whether a batch past a hard quota is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quotas {
    /// A client's batch: past a hard quota, PLAN_LIMIT_EXCEEDED and nothing recorded.
    Enforce,
    /// What the platform measured itself (`api_calls`): already spent, so always
    /// recorded; a hard quota is then treated as a soft one (the owner is told).
    CountOnly,
}

/// One event as a client sent it.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UsageEventInput {
    /// The client's idempotency key, unique per tenant.
    pub id: String,
    /// The metric's code.
    pub metric: String,
    /// How much (≥ 0).
    pub quantity: i64,
    /// When it happened (default: now).
    #[serde(default)]
    pub occurred_at: Option<DateTime<Utc>>,
    /// The store it happened in.
    #[serde(default)]
    pub store_id: Option<String>,
    /// Anything else the client keeps with it.
    #[serde(default)]
    pub properties: Option<serde_json::Value>,
}

/// What a batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Recorded {
    /// Events recorded now.
    pub accepted: usize,
    /// Events whose id was recorded before (or earlier in the batch): counted once.
    pub duplicates: usize,
}

/// Records `events` for the caller's tenant. [P:usage.write]
pub async fn record(
    services: &Services,
    caller: &Caller,
    events: Vec<UsageEventInput>,
) -> AppResult<Recorded> {
    let ctx = caller.require(perm::USAGE_WRITE)?;
    record_in(&services.db, &services.config, ctx, events, Quotas::Enforce).await
}

/// Records `events` in `ctx`'s tenant (a caller's, or the platform's own metering).
pub async fn record_in(
    db: &Db,
    config: &Config,
    ctx: &TenantContext,
    events: Vec<UsageEventInput>,
    quotas: Quotas,
) -> AppResult<Recorded> {
    if events.len() > MAX_BATCH {
        return Err(AppError::bad_input(
            "events",
            format!("at most {MAX_BATCH} events a request, got {}", events.len()),
        ));
    }
    if events.is_empty() {
        return Ok(Recorded::default());
    }
    let now = db.clock().now();
    let checked = events
        .into_iter()
        .enumerate()
        .map(|(i, e)| check(i, e, now))
        .collect::<AppResult<Vec<_>>>()?;
    let scope = db.write(ctx).await?;
    let catalogue = scope.metric_catalogue().await?;
    let subscription = scope.subscription().await?;
    let (period_start, _) = open_period(subscription.as_ref(), now);
    let grace = Duration::minutes(i64::from(config.billing.usage_late_grace_minutes));
    for (i, (event, _)) in checked.iter().enumerate() {
        if !catalogue.contains_key(&event.metric) {
            return Err(AppError::bad_input(
                format!("events[{i}].metric"),
                format!("no metric {:?} (see `metrics`)", event.metric),
            ));
        }
        if quotas == Quotas::Enforce && super::PLATFORM_METRICS.contains(&event.metric.as_str()) {
            return Err(AppError::bad_input(
                format!("events[{i}].metric"),
                format!("{:?} is measured by the platform itself", event.metric),
            ));
        }
        if event.occurred_at < period_start && now - event.occurred_at > grace {
            return Err(AppError::bad_input(
                format!("events[{i}].occurredAt"),
                format!(
                    "before the open billing period (from {}) and more than {} minutes late",
                    period_start.to_rfc3339(),
                    grace.num_minutes()
                ),
            ));
        }
    }
    check_stores(&scope, &checked).await?;

    let total = checked.len();
    // A repeat within the batch is a duplicate of its first occurrence; the rest go in
    // by id, so two batches that share ids never wait on each other in a cycle.
    let mut seen = BTreeSet::new();
    let mut fresh: Vec<NewUsageEvent> = checked
        .into_iter()
        .filter_map(|(mut event, _)| {
            event.period_start = period_start;
            seen.insert(event.id.clone()).then_some(event)
        })
        .collect();
    fresh.sort_by(|a, b| a.id.cmp(&b.id));
    let by_id: BTreeMap<String, (String, i64, DateTime<Utc>)> = fresh
        .iter()
        .map(|e| (e.id.clone(), (e.metric.clone(), e.quantity, e.occurred_at)))
        .collect();
    let inserted = scope.insert_usage_events(fresh).await?;
    let mut deltas: BTreeMap<Bucket, Rollup> = BTreeMap::new();
    for id in &inserted {
        let Some((metric, quantity, at)) = by_id.get(id) else {
            continue;
        };
        for (granularity, start) in [
            (HOUR, hour_of(*at)),
            (DAY, day_of(*at)),
            (PERIOD, period_start),
        ] {
            deltas
                .entry(Bucket {
                    metric: metric.clone(),
                    granularity,
                    start,
                })
                .or_default()
                .add(&Rollup::of(*quantity));
        }
    }
    let buckets = scope.add_usage(&deltas).await?;
    if let Some(subscription) = &subscription {
        let plan = &subscription.plan;
        for (bucket, rollup) in buckets.iter().filter(|(b, _)| b.granularity == PERIOD) {
            let (Some(&max), Some(metric)) = (
                plan.limits.get(&bucket.metric),
                catalogue.get(&bucket.metric),
            ) else {
                continue;
            };
            let used = metric.aggregation.value(rollup);
            if quotas == Quotas::Enforce && !plan.soft_limits.contains(&bucket.metric) {
                if used > max {
                    // Dropping the scope rolls the whole batch back.
                    return Err(AppError::PlanLimitExceeded {
                        limit: bucket.metric.clone(),
                        max,
                        plan: plan.name.clone(),
                    });
                }
                continue;
            }
            for threshold in THRESHOLDS {
                if i128::from(used) * 100 >= i128::from(max) * i128::from(threshold)
                    && scope
                        .claim_usage_alert(&bucket.metric, period_start, threshold)
                        .await?
                {
                    let link = format!("{}/billing/usage", config.http.app_url);
                    tell_owners(&scope, metric, (used, max, threshold), &link).await?;
                    crate::webhooks::emit(
                        &scope,
                        "usage.threshold",
                        &format!("{}:{}:{threshold}", bucket.metric, period_start.timestamp()),
                        serde_json::json!({
                            "metric": bucket.metric,
                            "used": used,
                            "max": max,
                            "threshold": threshold,
                            "periodStart": period_start,
                        }),
                    )
                    .await?;
                }
            }
        }
    }
    scope.commit_unaudited("usage recorded").await?;
    Ok(Recorded {
        accepted: inserted.len(),
        duplicates: total - inserted.len(),
    })
}

/// The checks that need nothing but the event: the event as it will be stored (its
/// period set later) and its store, if it names one.
fn check(
    i: usize,
    event: UsageEventInput,
    now: DateTime<Utc>,
) -> AppResult<(NewUsageEvent, Option<uuid::Uuid>)> {
    let field = |name: &str| format!("events[{i}].{name}");
    if event.id.is_empty() || event.id.len() > MAX_ID || event.id.chars().any(char::is_control) {
        return Err(AppError::bad_input(
            field("id"),
            format!("1 to {MAX_ID} characters, no control characters"),
        ));
    }
    if event.quantity < 0 {
        return Err(AppError::bad_input(
            field("quantity"),
            "must not be negative",
        ));
    }
    let occurred_at = event.occurred_at.unwrap_or(now);
    if occurred_at > now + MAX_AHEAD {
        return Err(AppError::bad_input(
            field("occurredAt"),
            "more than 5 minutes in the future",
        ));
    }
    let store = match &event.store_id {
        Some(text) => Some(
            uuid::Uuid::parse_str(text)
                .map_err(|_| AppError::bad_input(field("storeId"), "not a store id"))?,
        ),
        None => None,
    };
    if let Some(properties) = &event.properties {
        if !properties.is_object() {
            return Err(AppError::bad_input(
                field("properties"),
                "must be a JSON object",
            ));
        }
        if properties.to_string().len() > MAX_PROPERTIES {
            return Err(AppError::bad_input(
                field("properties"),
                format!("at most {MAX_PROPERTIES} bytes of JSON"),
            ));
        }
    }
    Ok((
        NewUsageEvent {
            id: event.id,
            metric: event.metric,
            quantity: event.quantity,
            occurred_at,
            store_id: store,
            properties: event.properties,
            period_start: occurred_at,
        },
        store,
    ))
}

/// Every named store is one of the tenant's (one query for the batch).
async fn check_stores(
    scope: &TenantScope,
    checked: &[(NewUsageEvent, Option<uuid::Uuid>)],
) -> AppResult<()> {
    let named: BTreeSet<uuid::Uuid> = checked.iter().filter_map(|(_, s)| *s).collect();
    if named.is_empty() {
        return Ok(());
    }
    let known: BTreeSet<uuid::Uuid> = scope
        .existing_stores(named.into_iter().collect())
        .await?
        .into_iter()
        .collect();
    match checked
        .iter()
        .position(|(_, s)| s.is_some_and(|s| !known.contains(&s)))
    {
        Some(i) => Err(AppError::bad_input(
            format!("events[{i}].storeId"),
            "no such store in this tenant",
        )),
        None => Ok(()),
    }
}

/// Mails the owners that a soft quota reached `threshold` %.
async fn tell_owners(
    scope: &TenantScope,
    metric: &super::Metric,
    reached: (i64, i64, i32),
    link: &str,
) -> AppResult<()> {
    let Some(tenant) = scope.own_tenant().await? else {
        return Ok(());
    };
    let mail = crate::billing::mail::usage_threshold(&tenant, metric, reached, link)?;
    crate::billing::mail::to_owners(
        scope,
        &tenant,
        crate::notify::notifications::kind::USAGE_THRESHOLD,
        mail,
    )
    .await
}
