//! Usage metering:
//! - `metrics` (the platform's catalogue, readable by everyone): a billable metric's code,
//!   name, unit and aggregation (SUM of quantities, COUNT of events, MAX quantity). The
//!   platform's own `api_calls`, `members` and `stores` are seeded.
//! - `usage_events` (a tenant table): every event as recorded, keyed by the client's id, so
//!   a repeat (also a concurrent one) is a conflict, never a second count.
//! - `usage_rollups` (a tenant table): per metric, per HOUR, DAY and billing PERIOD bucket,
//!   the sum, count and maximum of the events in it, kept in the transaction that records
//!   the events. Reports and invoices read these, never the raw events.
//! - `usage_alerts` (a tenant table): that the owner was told of a soft quota's 80% or 100%
//!   in a period, so each is told once.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{DbBackend, Statement};

use crate::{col, create_tenant_table, timestamp};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The seeded metrics: code, name, unit, aggregation.
const DEFAULT_METRICS: &[(&str, &str, &str, &str)] = &[
    ("api_calls", "API calls", "call", "SUM"),
    ("members", "Members", "member", "MAX"),
    ("stores", "Stores", "store", "MAX"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("metrics"))
                    .col(col("code").string_len(40).not_null().primary_key())
                    .col(col("name").string_len(100).not_null())
                    .col(col("unit").string_len(40).not_null())
                    .col(col("aggregation").string_len(5).not_null())
                    .col(timestamp(Alias::new("created_at")))
                    .to_owned(),
            )
            .await?;
        let backend = manager.get_database_backend();
        let sql = if backend == DbBackend::Postgres {
            "INSERT INTO metrics (code, name, unit, aggregation, created_at) VALUES ($1, $2, $3, $4, $5)"
        } else {
            "INSERT INTO metrics (code, name, unit, aggregation, created_at) VALUES (?, ?, ?, ?, ?)"
        };
        let now = chrono::Utc::now();
        for (code, name, unit, aggregation) in DEFAULT_METRICS {
            manager
                .get_connection()
                .execute_raw(Statement::from_sql_and_values(
                    backend,
                    sql,
                    [
                        (*code).into(),
                        (*name).into(),
                        (*unit).into(),
                        (*aggregation).into(),
                        now.into(),
                    ],
                ))
                .await?;
        }

        create_tenant_table(
            manager,
            "usage_events",
            &["id"],
            vec![
                col("id").string_len(128).not_null().to_owned(),
                col("metric").string_len(40).not_null().to_owned(),
                col("quantity").big_integer().not_null().to_owned(),
                col("occurred_at")
                    .timestamp_with_time_zone()
                    .not_null()
                    .to_owned(),
                col("store_id").uuid().null().to_owned(),
                col("properties").json().null().to_owned(),
                col("period_start")
                    .timestamp_with_time_zone()
                    .not_null()
                    .to_owned(),
                timestamp(Alias::new("recorded_at")),
            ],
        )
        .await?;
        // Retention deletes by age; a metric's events in a range are found by time.
        manager
            .create_index(
                Index::create()
                    .name("usage_events_occurred")
                    .table(Alias::new("usage_events"))
                    .col(Alias::new("tenant_id"))
                    .col(Alias::new("metric"))
                    .col(Alias::new("occurred_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("usage_events_recorded")
                    .table(Alias::new("usage_events"))
                    .col(Alias::new("recorded_at"))
                    .to_owned(),
            )
            .await?;
        create_tenant_table(
            manager,
            "usage_rollups",
            &["metric", "granularity", "bucket_start"],
            vec![
                col("metric").string_len(40).not_null().to_owned(),
                col("granularity").string_len(6).not_null().to_owned(),
                col("bucket_start")
                    .timestamp_with_time_zone()
                    .not_null()
                    .to_owned(),
                col("total").big_integer().not_null().to_owned(),
                col("events").big_integer().not_null().to_owned(),
                col("maximum").big_integer().not_null().to_owned(),
            ],
        )
        .await?;
        create_tenant_table(
            manager,
            "usage_alerts",
            &["metric", "period_start", "threshold"],
            vec![
                col("metric").string_len(40).not_null().to_owned(),
                col("period_start")
                    .timestamp_with_time_zone()
                    .not_null()
                    .to_owned(),
                col("threshold").integer().not_null().to_owned(),
                timestamp(Alias::new("created_at")),
            ],
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for table in ["usage_alerts", "usage_rollups", "usage_events", "metrics"] {
            db.execute_unprepared(&format!("DROP TABLE IF EXISTS {table}"))
                .await?;
        }
        Ok(())
    }
}
