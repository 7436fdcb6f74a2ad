//! The DATABASE tier's credentials, sealed (AES-256-GCM under `MSINGI_DATA_KEY`, never in
//! clear): `tenants.data_url_sealed`, the connection string of the tenant's own database
//! while it is on that tier (read with the tier by every data-plane unit of work), and
//! `tenant_moves.sealed_url`, the database a move to or from that tier involves.

use sea_orm_migration::prelude::*;

use crate::col;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (table, column) in [
            ("tenants", "data_url_sealed"),
            ("tenant_moves", "sealed_url"),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new(table))
                        .add_column(col(column).text().null())
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (table, column) in [
            ("tenants", "data_url_sealed"),
            ("tenant_moves", "sealed_url"),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new(table))
                        .drop_column(Alias::new(column))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
