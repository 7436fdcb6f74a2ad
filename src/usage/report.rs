//! `usage` and `usageSummary`, answered from the rollups (never the raw events), and the
//! USAGE lines of a period's invoice.

use chrono::{DateTime, Duration, Utc};

use super::{Aggregation, DAY, HOUR, Rollup, day_of, hour_of, month_of, next_month, open_period};
use crate::auth::Caller;
use crate::billing::Plan;
use crate::billing::invoices::{InvoiceLine, LineKind};
use crate::db::TenantScope;
use crate::error::{AppError, AppResult};
use crate::rbac::perm;
use crate::services::Services;

/// The most points one `usage` answer has.
pub const MAX_POINTS: i64 = 1000;

/// A series' step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, async_graphql::Enum)]
pub enum Granularity {
    /// Hours (UTC).
    Hour,
    /// Days (UTC).
    Day,
    /// Calendar months (UTC).
    Month,
}

/// One step of a series.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsagePoint {
    /// Its start.
    pub start: DateTime<Utc>,
    /// The metric's value in it.
    pub value: i64,
}

/// A metric over time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageSeries {
    /// The metric.
    pub metric: String,
    /// Every step from `from` to `to`, empty ones at 0.
    pub points: Vec<UsagePoint>,
    /// The metric's value over the whole range.
    pub total: i64,
}

/// A metric in the open billing period against the plan's limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageSummary {
    /// The metric.
    pub metric: String,
    /// Used so far (for `members` and `stores`: now).
    pub used: i64,
    /// The plan's limit (`None`: unlimited).
    pub limit: Option<i64>,
    /// The period.
    pub period_start: DateTime<Utc>,
    /// Its end.
    pub period_end: DateTime<Utc>,
}

/// `metric` from `from` to `to` in steps of `granularity`. [P:usage.read]
pub async fn series(
    services: &Services,
    caller: &Caller,
    metric: &str,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    granularity: Granularity,
) -> AppResult<UsageSeries> {
    let ctx = caller.require(perm::USAGE_READ)?;
    if to <= from {
        return Err(AppError::bad_input("to", "must be after `from`"));
    }
    let (first, step): (DateTime<Utc>, Step) = match granularity {
        Granularity::Hour => (hour_of(from), |t| t + Duration::hours(1)),
        Granularity::Day => (day_of(from), |t| t + Duration::days(1)),
        Granularity::Month => (month_of(from), next_month),
    };
    let span = to - first;
    let points = match granularity {
        Granularity::Hour => span.num_hours(),
        Granularity::Day => span.num_days(),
        Granularity::Month => span.num_days() / 28,
    };
    if points > MAX_POINTS {
        return Err(AppError::bad_input(
            "to",
            format!("at most {MAX_POINTS} points a series; choose a coarser granularity"),
        ));
    }
    let scope = services.db.read(ctx).await?;
    let catalogue = scope.metric_catalogue().await?;
    let Some(known) = catalogue.get(metric) else {
        return Err(AppError::bad_input(
            "metric",
            format!("no metric {metric:?} (see `metrics`)"),
        ));
    };
    let stored = match granularity {
        Granularity::Hour => HOUR,
        Granularity::Day | Granularity::Month => DAY,
    };
    let rollups = scope.usage_rollups(metric, stored, first, to).await?;
    Ok(fold(metric, known.aggregation, &rollups, first, to, step))
}

/// From a step's start to the next one's.
type Step = fn(DateTime<Utc>) -> DateTime<Utc>;

/// Steps from `first` to `to`, each the rollups that start in it.
fn fold(
    metric: &str,
    aggregation: Aggregation,
    rollups: &[(DateTime<Utc>, Rollup)],
    first: DateTime<Utc>,
    to: DateTime<Utc>,
    step: Step,
) -> UsageSeries {
    let mut points = Vec::new();
    let mut whole = Rollup::default();
    let mut rest = rollups.iter().peekable();
    let mut start = first;
    while start < to {
        let end = step(start);
        let mut bucket = Rollup::default();
        while let Some((at, rollup)) = rest.peek() {
            if *at >= end {
                break;
            }
            bucket.add(rollup);
            rest.next();
        }
        whole.add(&bucket);
        points.push(UsagePoint {
            start,
            value: aggregation.value(&bucket),
        });
        start = end;
    }
    UsageSeries {
        metric: metric.to_owned(),
        points,
        total: aggregation.value(&whole),
    }
}

/// Every metric the plan limits or prices, and any used this period, against its limit.
/// [P:usage.read]
pub async fn summary(services: &Services, caller: &Caller) -> AppResult<Vec<UsageSummary>> {
    let ctx = caller.require(perm::USAGE_READ)?;
    let scope = services.db.read(ctx).await?;
    let subscription = scope.subscription().await?;
    let (start, end) = open_period(subscription.as_ref(), scope.now());
    let catalogue = scope.metric_catalogue().await?;
    let used = scope.period_usage(start).await?;
    let plan = subscription.as_ref().map(|s| &s.plan);
    let mut names: std::collections::BTreeSet<String> = used.keys().cloned().collect();
    if let Some(plan) = plan {
        names.extend(plan.limits.keys().cloned());
        names.extend(plan.metered_prices.iter().map(|p| p.metric.clone()));
    }
    let mut out = Vec::new();
    for name in names {
        let value = match name.as_str() {
            "stores" => i64::try_from(scope.count_active_stores().await?).unwrap_or(i64::MAX),
            "members" => i64::try_from(scope.count_seats(None).await?).unwrap_or(i64::MAX),
            other => match catalogue.get(other) {
                Some(metric) => used.get(other).map_or(0, |r| metric.aggregation.value(r)),
                None => continue,
            },
        };
        out.push(UsageSummary {
            limit: plan.and_then(|p| p.limits.get(&name).copied()),
            metric: name,
            used: value,
            period_start: start,
            period_end: end,
        });
    }
    Ok(out)
}

/// The USAGE lines for the period that started at `period_start` on `plan`: per metered
/// price, the units above those included at the unit price (exact in minor units).
pub async fn invoice_lines(
    scope: &TenantScope,
    plan: &Plan,
    period_start: DateTime<Utc>,
) -> AppResult<Vec<InvoiceLine>> {
    if plan.metered_prices.is_empty() {
        return Ok(Vec::new());
    }
    let catalogue = scope.metric_catalogue().await?;
    let used = scope.period_usage(period_start).await?;
    let mut lines = Vec::new();
    for price in &plan.metered_prices {
        let aggregation = catalogue
            .get(&price.metric)
            .map_or(Aggregation::Sum, |m| m.aggregation);
        let value = used.get(&price.metric).map_or(0, |r| aggregation.value(r));
        let over = value - price.included_units;
        if over <= 0 || price.unit_price_minor == 0 {
            continue;
        }
        let amount = over.checked_mul(price.unit_price_minor).ok_or_else(|| {
            AppError::internal(anyhow::anyhow!("usage of {} overflows", price.metric))
        })?;
        let name = catalogue
            .get(&price.metric)
            .map_or(price.metric.as_str(), |m| m.name.as_str());
        lines.push(InvoiceLine {
            description: format!(
                "{name}: {value} used, {} included, {over} over",
                price.included_units
            ),
            kind: LineKind::Usage,
            quantity: over,
            unit_amount_minor: price.unit_price_minor,
            amount_minor: amount,
        });
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_series_has_every_step_with_empty_ones_at_zero() {
        let at = |d, h| Utc.with_ymd_and_hms(2026, 12, d, h, 0, 0).unwrap();
        let rollups = [
            (at(1, 0), Rollup::of(3)),
            (at(1, 5), Rollup::of(4)),
            (at(3, 0), Rollup::of(10)),
        ];
        let series = fold("sms", Aggregation::Sum, &rollups, at(1, 0), at(4, 0), |t| {
            t + Duration::days(1)
        });
        let values: Vec<i64> = series.points.iter().map(|p| p.value).collect();
        assert_eq!(values, [7, 0, 10]);
        assert_eq!(series.total, 17);
        let max = fold("sms", Aggregation::Max, &rollups, at(1, 0), at(4, 0), |t| {
            t + Duration::days(1)
        });
        assert_eq!(max.total, 10);
    }
}
