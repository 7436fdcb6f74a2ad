//! `tenants.tax_rate_bp`: a tenant's own tax rate, set by platform admins (a VAT-exempt or
//! zero-rated customer); null: its plan's, else `BILLING_TAX_RATE`. The run-time role's
//! column grants on `tenants` leave it out, so no tenant changes its own.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("tenants"))
                    .add_column(ColumnDef::new(Alias::new("tax_rate_bp")).integer().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("tenants"))
                    .drop_column(Alias::new("tax_rate_bp"))
                    .to_owned(),
            )
            .await
    }
}
