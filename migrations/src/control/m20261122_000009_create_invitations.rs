//! Invitations to join a tenant, with the roles (and stores) the invitee will hold.
//! Tenant-owned. The token is stored only as a hash; it is looked up by hash before the
//! tenant is known, hence the index on it alone.

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
                    .table(Invitations::Table)
                    .col(ColumnDef::new(Invitations::TenantId).uuid().not_null())
                    .col(ColumnDef::new(Invitations::Id).uuid().not_null())
                    .col(
                        ColumnDef::new(Invitations::Email)
                            .string_len(254)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Invitations::RoleIds)
                            .json_binary()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Invitations::StoreIds)
                            .json_binary()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Invitations::TokenHash)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Invitations::Status)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(ColumnDef::new(Invitations::InvitedBy).uuid().null())
                    .col(timestamp(Invitations::CreatedAt))
                    .col(timestamp(Invitations::ExpiresAt))
                    .col(
                        ColumnDef::new(Invitations::AcceptedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(Invitations::TenantId)
                            .col(Invitations::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_invitations_tenant")
                            .from(Invitations::Table, Invitations::TenantId)
                            .to(Tenants::Table, Tenants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_invitations_tenant_token")
                    .table(Invitations::Table)
                    .col(Invitations::TenantId)
                    .col(Invitations::TokenHash)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_invitations_token")
                    .table(Invitations::Table)
                    .col(Invitations::TokenHash)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_invitations_tenant_email")
                    .table(Invitations::Table)
                    .col(Invitations::TenantId)
                    .col(Invitations::Email)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Invitations::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Invitations {
    Table,
    TenantId,
    Id,
    Email,
    RoleIds,
    StoreIds,
    TokenHash,
    Status,
    InvitedBy,
    CreatedAt,
    ExpiresAt,
    AcceptedAt,
}
