//! Stores: units inside a tenant (shop, branch, project). Tenant-owned.

use sea_orm_migration::prelude::*;

use crate::m20261122_000001_create_tenants::Tenants;
use crate::timestamp;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Stores::Table)
                    .col(ColumnDef::new(Stores::TenantId).uuid().not_null())
                    .col(ColumnDef::new(Stores::Id).uuid().not_null())
                    .col(ColumnDef::new(Stores::Name).string_len(200).not_null())
                    .col(ColumnDef::new(Stores::Code).string_len(40).null())
                    .col(
                        ColumnDef::new(Stores::Status)
                            .string_len(16)
                            .not_null()
                            .default("ACTIVE"),
                    )
                    .col(timestamp(Stores::CreatedAt))
                    .col(timestamp(Stores::UpdatedAt))
                    .primary_key(Index::create().col(Stores::TenantId).col(Stores::Id))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_stores_tenant")
                            .from(Stores::Table, Stores::TenantId)
                            .to(Tenants::Table, Tenants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_stores_tenant_code")
                    .table(Stores::Table)
                    .col(Stores::TenantId)
                    .col(Stores::Code)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // Listings walk one tenant by id (UUIDv7, so creation order): the primary key
        // (tenant_id, id) serves the keyset; this index serves ordering by creation time.
        manager
            .create_index(
                Index::create()
                    .name("ix_stores_tenant_created")
                    .table(Stores::Table)
                    .col(Stores::TenantId)
                    .col(Stores::CreatedAt)
                    .col(Stores::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Stores::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
pub(crate) enum Stores {
    Table,
    TenantId,
    Id,
    Name,
    Code,
    Status,
    CreatedAt,
    UpdatedAt,
}
