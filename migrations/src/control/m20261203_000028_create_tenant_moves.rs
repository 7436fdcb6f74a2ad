//! `tenant_moves` (a tenant table the platform door alone reaches): each move of a
//! tenant's data plane between isolation tiers, its status (COPYING, VERIFYING, SWITCHED,
//! FAILED, ROLLED_BACK), rows copied, the error of a failed one, and when the old copy was
//! dropped (`confirmed_at`). At most one move per tenant is under way (a partial unique
//! index), so two admins or a replayed job never run two.

use sea_orm_migration::prelude::*;

use crate::{col, create_tenant_table, timestamp};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_tenant_table(
            manager,
            "tenant_moves",
            &["id"],
            vec![
                col("id").uuid().not_null().to_owned(),
                col("from_tier").string_len(16).not_null().to_owned(),
                col("to_tier").string_len(16).not_null().to_owned(),
                col("status").string_len(16).not_null().to_owned(),
                col("rows_copied")
                    .big_integer()
                    .not_null()
                    .default(0)
                    .to_owned(),
                col("freeze_ms").big_integer().null().to_owned(),
                col("error").text().null().to_owned(),
                col("requested_by").uuid().null().to_owned(),
                timestamp(Alias::new("started_at")),
                col("finished_at")
                    .timestamp_with_time_zone()
                    .null()
                    .to_owned(),
                col("confirmed_at")
                    .timestamp_with_time_zone()
                    .null()
                    .to_owned(),
            ],
        )
        .await?;
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX tenant_moves_one_under_way ON tenant_moves (tenant_id) \
                 WHERE status IN ('COPYING', 'VERIFYING')",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP TABLE IF EXISTS tenant_moves")
            .await?;
        Ok(())
    }
}
