//! In-app notifications: `notifications` (a tenant table), one row per recipient user, with
//! what happened (`kind`), a title and body to show, optional structured `data`, and when the
//! user read it. A user's list is found by `(tenant_id, user_id, id)`; ids are UUIDv7, so
//! that order is the order they were made.

use sea_orm_migration::prelude::*;

use crate::{col, create_tenant_table, timestamp};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_tenant_table(
            manager,
            "notifications",
            &["id"],
            vec![
                col("id").uuid().not_null().to_owned(),
                col("user_id").uuid().not_null().to_owned(),
                col("kind").string_len(60).not_null().to_owned(),
                col("title").string_len(300).not_null().to_owned(),
                col("body").text().not_null().to_owned(),
                col("data").json().null().to_owned(),
                col("read_at").timestamp_with_time_zone().null().to_owned(),
                timestamp(Alias::new("created_at")),
            ],
        )
        .await?;
        manager
            .create_index(
                Index::create()
                    .name("notifications_user")
                    .table(Alias::new("notifications"))
                    .col(Alias::new("tenant_id"))
                    .col(Alias::new("user_id"))
                    .col(Alias::new("id"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP TABLE IF EXISTS notifications")
            .await?;
        Ok(())
    }
}
