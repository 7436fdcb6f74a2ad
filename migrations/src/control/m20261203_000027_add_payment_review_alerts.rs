//! `review_alerted_at` on `payments` and `mpesa_callbacks`: when platform admins were told
//! that the row was flagged for review. Null on a flagged row: not told yet. The alert
//! sweep sets it in the transaction that queues the admins' email, so each flag is told
//! once.

use sea_orm_migration::prelude::*;

use crate::col;

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLES: [&str; 2] = ["payments", "mpesa_callbacks"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in TABLES {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new(table))
                        .add_column(col("review_alerted_at").timestamp_with_time_zone().null())
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in TABLES {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new(table))
                        .drop_column(Alias::new("review_alerted_at"))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
