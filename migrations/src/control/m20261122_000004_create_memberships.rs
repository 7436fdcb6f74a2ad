//! Memberships: a user's place in a tenant. Tenant-owned; the role assignments of the
//! access-control issue hang off (tenant_id, user_id).

use sea_orm_migration::prelude::*;

use crate::m20261122_000001_create_tenants::Tenants;
use crate::m20261122_000002_create_users::Users;
use crate::timestamp;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Memberships::Table)
                    .col(ColumnDef::new(Memberships::TenantId).uuid().not_null())
                    .col(ColumnDef::new(Memberships::UserId).uuid().not_null())
                    .col(
                        ColumnDef::new(Memberships::Status)
                            .string_len(16)
                            .not_null()
                            .default("ACTIVE"),
                    )
                    .col(
                        ColumnDef::new(Memberships::JoinedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(timestamp(Memberships::CreatedAt))
                    .col(timestamp(Memberships::UpdatedAt))
                    .primary_key(
                        Index::create()
                            .col(Memberships::TenantId)
                            .col(Memberships::UserId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_memberships_tenant")
                            .from(Memberships::Table, Memberships::TenantId)
                            .to(Tenants::Table, Tenants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_memberships_user")
                            .from(Memberships::Table, Memberships::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // The one index not led by tenant_id: "which tenants is this user in" is asked at
        // login and on every request, before any tenant is known.
        manager
            .create_index(
                Index::create()
                    .name("ix_memberships_user")
                    .table(Memberships::Table)
                    .col(Memberships::UserId)
                    .col(Memberships::TenantId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Memberships::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
pub(crate) enum Memberships {
    Table,
    TenantId,
    UserId,
    Status,
    JoinedAt,
    CreatedAt,
    UpdatedAt,
}
