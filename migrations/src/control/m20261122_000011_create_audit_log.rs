//! The audit log: append-only, hash-chained per tenant. Each entry stores SHA-256 over the
//! previous entry's hash and its own content, so an edited or deleted row breaks the chain.
//! Platform entries use the nil tenant id (no foreign key, so a chain outlives its tenant).

use sea_orm_migration::prelude::*;

use crate::timestamp;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AuditLog::Table)
                    .col(ColumnDef::new(AuditLog::TenantId).uuid().not_null())
                    .col(ColumnDef::new(AuditLog::Seq).big_integer().not_null())
                    .col(ColumnDef::new(AuditLog::Id).uuid().not_null())
                    .col(ColumnDef::new(AuditLog::ActorUserId).uuid().null())
                    .col(ColumnDef::new(AuditLog::ActorApiKeyId).uuid().null())
                    .col(ColumnDef::new(AuditLog::Action).string_len(80).not_null())
                    .col(ColumnDef::new(AuditLog::TargetType).string_len(40).null())
                    .col(ColumnDef::new(AuditLog::TargetId).string_len(80).null())
                    .col(ColumnDef::new(AuditLog::Changes).json_binary().null())
                    .col(ColumnDef::new(AuditLog::Ip).string_len(64).null())
                    .col(ColumnDef::new(AuditLog::UserAgent).string_len(400).null())
                    .col(ColumnDef::new(AuditLog::RequestId).string_len(128).null())
                    .col(timestamp(AuditLog::CreatedAt))
                    .col(ColumnDef::new(AuditLog::PrevHash).string_len(64).not_null())
                    .col(ColumnDef::new(AuditLog::Hash).string_len(64).not_null())
                    .primary_key(Index::create().col(AuditLog::TenantId).col(AuditLog::Seq))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_audit_log_tenant_id")
                    .table(AuditLog::Table)
                    .col(AuditLog::TenantId)
                    .col(AuditLog::Id)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_audit_log_tenant_action")
                    .table(AuditLog::Table)
                    .col(AuditLog::TenantId)
                    .col(AuditLog::Action)
                    .col(AuditLog::Seq)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AuditLog::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum AuditLog {
    Table,
    TenantId,
    Seq,
    Id,
    ActorUserId,
    ActorApiKeyId,
    Action,
    TargetType,
    TargetId,
    Changes,
    Ip,
    UserAgent,
    RequestId,
    CreatedAt,
    PrevHash,
    Hash,
}
