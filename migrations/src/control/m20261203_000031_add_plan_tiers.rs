//! `plans.isolation`: the isolation tier a plan puts its tenants on (SHARED or SCHEMA;
//! DATABASE is per tenant, with its own database). Every existing plan stays SHARED: a
//! deployment that wants, say, `pro` tenants in their own schema makes a new version of
//! the plan with `isolation: SCHEMA`, and its tenants move as they choose it.

use sea_orm_migration::prelude::*;

use crate::col;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("plans"))
                    .add_column(
                        col("isolation")
                            .string_len(16)
                            .not_null()
                            .default("SHARED")
                            .to_owned(),
                    )
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("plans"))
                    .drop_column(Alias::new("isolation"))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}
