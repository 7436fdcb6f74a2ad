//! Per-user email preferences: `notification_preferences` (a tenant table), one row per
//! (user, kind) the user chose for; a kind without a row goes by email (the default).

use sea_orm_migration::prelude::*;

use crate::{col, create_tenant_table, timestamp};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_tenant_table(
            manager,
            "notification_preferences",
            &["user_id", "kind"],
            vec![
                col("user_id").uuid().not_null().to_owned(),
                col("kind").string_len(60).not_null().to_owned(),
                col("email").boolean().not_null().to_owned(),
                timestamp(Alias::new("updated_at")),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP TABLE IF EXISTS notification_preferences")
            .await?;
        Ok(())
    }
}
