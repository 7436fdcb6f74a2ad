//! Which modules a tenant has beyond `core` (always on). Until plans exist, platform admins
//! set them; a permission of a module the tenant lacks is never effective. Tenant-owned.

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
                    .table(TenantModules::Table)
                    .col(ColumnDef::new(TenantModules::TenantId).uuid().not_null())
                    .col(
                        ColumnDef::new(TenantModules::Module)
                            .string_len(40)
                            .not_null(),
                    )
                    .col(timestamp(TenantModules::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(TenantModules::TenantId)
                            .col(TenantModules::Module),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_tenant_modules_tenant")
                            .from(TenantModules::Table, TenantModules::TenantId)
                            .to(Tenants::Table, Tenants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(TenantModules::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum TenantModules {
    Table,
    TenantId,
    Module,
    CreatedAt,
}
