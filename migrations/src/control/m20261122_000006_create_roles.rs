//! Roles, the permissions they grant, and who holds them. Tenant-owned.

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
                    .table(Roles::Table)
                    .col(ColumnDef::new(Roles::TenantId).uuid().not_null())
                    .col(ColumnDef::new(Roles::Id).uuid().not_null())
                    .col(ColumnDef::new(Roles::Name).string_len(60).not_null())
                    .col(ColumnDef::new(Roles::Description).string_len(500).null())
                    .col(
                        ColumnDef::new(Roles::IsSystem)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .col(timestamp(Roles::CreatedAt))
                    .col(timestamp(Roles::UpdatedAt))
                    .primary_key(Index::create().col(Roles::TenantId).col(Roles::Id))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_roles_tenant")
                            .from(Roles::Table, Roles::TenantId)
                            .to(Tenants::Table, Tenants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_roles_tenant_name")
                    .table(Roles::Table)
                    .col(Roles::TenantId)
                    .col(Roles::Name)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(RolePermissions::Table)
                    .col(ColumnDef::new(RolePermissions::TenantId).uuid().not_null())
                    .col(ColumnDef::new(RolePermissions::RoleId).uuid().not_null())
                    .col(
                        ColumnDef::new(RolePermissions::Permission)
                            .string_len(60)
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(RolePermissions::TenantId)
                            .col(RolePermissions::RoleId)
                            .col(RolePermissions::Permission),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_role_permissions_role")
                            .from(
                                RolePermissions::Table,
                                (RolePermissions::TenantId, RolePermissions::RoleId),
                            )
                            .to(Roles::Table, (Roles::TenantId, Roles::Id))
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        // `scope` is the store id, or "tenant" for a tenant-wide assignment: NULLs are
        // distinct in unique constraints, so a nullable store id could not be.
        manager
            .create_table(
                Table::create()
                    .table(RoleAssignments::Table)
                    .col(ColumnDef::new(RoleAssignments::TenantId).uuid().not_null())
                    .col(ColumnDef::new(RoleAssignments::UserId).uuid().not_null())
                    .col(ColumnDef::new(RoleAssignments::RoleId).uuid().not_null())
                    .col(
                        ColumnDef::new(RoleAssignments::Scope)
                            .string_len(40)
                            .not_null(),
                    )
                    .col(ColumnDef::new(RoleAssignments::StoreId).uuid().null())
                    .col(timestamp(RoleAssignments::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(RoleAssignments::TenantId)
                            .col(RoleAssignments::UserId)
                            .col(RoleAssignments::RoleId)
                            .col(RoleAssignments::Scope),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_role_assignments_role")
                            .from(
                                RoleAssignments::Table,
                                (RoleAssignments::TenantId, RoleAssignments::RoleId),
                            )
                            .to(Roles::Table, (Roles::TenantId, Roles::Id))
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_role_assignments_membership")
                            .from(
                                RoleAssignments::Table,
                                (RoleAssignments::TenantId, RoleAssignments::UserId),
                            )
                            .to(
                                Memberships::Table,
                                (Memberships::TenantId, Memberships::UserId),
                            )
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_role_assignments_role")
                    .table(RoleAssignments::Table)
                    .col(RoleAssignments::TenantId)
                    .col(RoleAssignments::RoleId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            RoleAssignments::Table.into_iden(),
            RolePermissions::Table.into_iden(),
            Roles::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
pub(crate) enum Roles {
    Table,
    TenantId,
    Id,
    Name,
    Description,
    IsSystem,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum RolePermissions {
    Table,
    TenantId,
    RoleId,
    Permission,
}

#[derive(DeriveIden)]
enum RoleAssignments {
    Table,
    TenantId,
    UserId,
    RoleId,
    Scope,
    StoreId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Memberships {
    Table,
    TenantId,
    UserId,
}
