//! The test clock's shared offset (platform door, `SystemTask::TestClock`).

use chrono::Duration;
use sea_orm::ActiveValue::Set;

use super::Db;
use super::entities::test_clock;
use super::platform::{Access, SystemTask};
use crate::error::AppResult;

impl Db {
    /// The shared offset (zero until the clock was first advanced).
    pub async fn test_clock_offset(&self) -> AppResult<Duration> {
        let tx = self
            .platform_read(Access::Task(SystemTask::TestClock))
            .await?;
        Ok(tx
            .across_tenants::<test_clock::Entity>()
            .by_id(1)
            .one()
            .await?
            .map_or(Duration::zero(), |row| {
                Duration::microseconds(row.offset_micros)
            }))
    }

    /// Adds `by` to the shared offset, serialised with other advances; returns the new one.
    pub async fn advance_test_clock(&self, by: Duration) -> AppResult<Duration> {
        let tx = self
            .platform_write(Access::Task(SystemTask::TestClock))
            .await?;
        let table = tx.across_tenants::<test_clock::Entity>();
        table.advisory_lock("test_clock").await?;
        let current = table.by_id(1).lock_for_update().one().await?;
        let offset = current
            .as_ref()
            .map_or(0, |row| row.offset_micros)
            .saturating_add(by.num_microseconds().unwrap_or(i64::MAX));
        let row = test_clock::ActiveModel {
            id: Set(1),
            offset_micros: Set(offset),
            updated_at: Set(chrono::Utc::now()),
        };
        if current.is_some() {
            table.save(row).await?;
        } else {
            table.insert(row).await?;
        }
        tx.commit().await?;
        Ok(Duration::microseconds(offset))
    }
}
