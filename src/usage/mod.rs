//! Usage metering: the catalogue of billable metrics, idempotent ingest with rollups kept
//! in the same transaction, quotas from the plan, and reports read from the rollups.
//!
//! An event counts once per tenant by the client's id (a unique key, so a concurrent
//! repeat is a conflict, not a second count). It is rolled up at the hour and the day it
//! occurred in, and in the billing period it counts in: the open one (an event from before
//! it, within `USAGE_LATE_GRACE_MINUTES`, counts in the open period, because the period it
//! occurred in may already be invoiced).

pub mod catalogue;
pub mod ingest;
pub mod meter;
pub mod report;

/// Deletes the raw events recorded more than `USAGE_RETENTION_DAYS` ago, in every tenant
/// (the `usage_retention` cron job); their rollups stay, so reports and invoices do not
/// change. Answers how many went.
pub async fn purge_expired_events(
    db: &crate::db::Db,
    billing: &crate::config::BillingConfig,
) -> crate::error::AppResult<u64> {
    let days = i64::from(billing.usage_retention_days);
    db.purge_usage_events(db.clock().now() - chrono::Duration::days(days))
        .await
}

/// The metrics the platform measures itself (`api_calls` counted per request, `members`
/// and `stores` read as they are now): never recorded by clients.
pub const PLATFORM_METRICS: [&str; 3] = [meter::API_CALLS, "members", "stores"];

use chrono::{DateTime, Datelike, TimeZone, Timelike, Utc};

/// How a metric's events add up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, async_graphql::Enum)]
#[graphql(name = "MetricAggregation")]
pub enum Aggregation {
    /// The sum of the quantities.
    Sum,
    /// The number of events.
    Count,
    /// The largest quantity.
    Max,
}

impl Aggregation {
    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sum => "SUM",
            Self::Count => "COUNT",
            Self::Max => "MAX",
        }
    }

    /// From storage (an unknown value reads as SUM).
    pub fn from_stored(text: &str) -> Self {
        match text {
            "COUNT" => Self::Count,
            "MAX" => Self::Max,
            _ => Self::Sum,
        }
    }

    /// What `rollup` amounts to under this aggregation.
    pub fn value(self, rollup: &Rollup) -> i64 {
        match self {
            Self::Sum => rollup.total,
            Self::Count => rollup.events,
            Self::Max => rollup.maximum,
        }
    }
}

/// A billable metric.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metric {
    /// Its code (`sms_sent`).
    pub code: String,
    /// Display name.
    pub name: String,
    /// What one unit is.
    pub unit: String,
    /// How events add up.
    pub aggregation: Aggregation,
}

/// The sum, count and largest quantity of some events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rollup {
    /// Sum of quantities.
    pub total: i64,
    /// Number of events.
    pub events: i64,
    /// Largest quantity.
    pub maximum: i64,
}

impl Rollup {
    /// One event of `quantity`.
    pub fn of(quantity: i64) -> Self {
        Self {
            total: quantity,
            events: 1,
            maximum: quantity,
        }
    }

    /// Adds `other` in.
    pub fn add(&mut self, other: &Rollup) {
        self.total = self.total.saturating_add(other.total);
        self.events = self.events.saturating_add(other.events);
        self.maximum = self.maximum.max(other.maximum);
    }
}

/// Rollup granularities as stored.
pub const HOUR: &str = "HOUR";
/// A day (UTC).
pub const DAY: &str = "DAY";
/// A billing period (by its start).
pub const PERIOD: &str = "PERIOD";

/// One rollup bucket: a metric at a granularity from a start.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Bucket {
    /// The metric.
    pub metric: String,
    /// `HOUR`, `DAY` or `PERIOD`.
    pub granularity: &'static str,
    /// Its start.
    pub start: DateTime<Utc>,
}

/// The start of `at`'s hour.
pub fn hour_of(at: DateTime<Utc>) -> DateTime<Utc> {
    at.with_minute(0)
        .and_then(|t| t.with_second(0))
        .and_then(|t| t.with_nanosecond(0))
        .unwrap_or(at)
}

/// The start of `at`'s day (UTC).
pub fn day_of(at: DateTime<Utc>) -> DateTime<Utc> {
    Utc.from_utc_datetime(&at.date_naive().and_hms_opt(0, 0, 0).unwrap_or_default())
}

/// The start of `at`'s month (UTC).
pub fn month_of(at: DateTime<Utc>) -> DateTime<Utc> {
    let first = at.date_naive().with_day(1).unwrap_or(at.date_naive());
    Utc.from_utc_datetime(&first.and_hms_opt(0, 0, 0).unwrap_or_default())
}

/// The start of the month after `start`'s.
pub fn next_month(start: DateTime<Utc>) -> DateTime<Utc> {
    let (y, m) = if start.month() == 12 {
        (start.year() + 1, 1)
    } else {
        (start.year(), start.month() + 1)
    };
    Utc.with_ymd_and_hms(y, m, 1, 0, 0, 0)
        .single()
        .unwrap_or(start)
}

/// The billing period usage counts in: the subscription's current one, else the calendar
/// month (UTC).
pub fn open_period(
    subscription: Option<&crate::billing::Subscription>,
    now: DateTime<Utc>,
) -> (DateTime<Utc>, DateTime<Utc>) {
    match subscription {
        Some(s) if s.status != crate::billing::SubscriptionStatus::Canceled => {
            (s.current_period_start, s.current_period_end)
        }
        _ => {
            let start = month_of(now);
            (start, next_month(start))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_start_at_the_hour_the_day_and_the_month() {
        let at = Utc.with_ymd_and_hms(2026, 12, 31, 23, 59, 58).unwrap();
        assert_eq!(
            hour_of(at),
            Utc.with_ymd_and_hms(2026, 12, 31, 23, 0, 0).unwrap()
        );
        assert_eq!(
            day_of(at),
            Utc.with_ymd_and_hms(2026, 12, 31, 0, 0, 0).unwrap()
        );
        assert_eq!(
            month_of(at),
            Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap()
        );
        assert_eq!(
            next_month(month_of(at)),
            Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap()
        );
    }

    #[test]
    fn each_aggregation_reads_its_part_of_a_rollup() {
        let mut r = Rollup::of(5);
        r.add(&Rollup::of(3));
        assert_eq!(Aggregation::Sum.value(&r), 8);
        assert_eq!(Aggregation::Count.value(&r), 2);
        assert_eq!(Aggregation::Max.value(&r), 5);
    }
}
