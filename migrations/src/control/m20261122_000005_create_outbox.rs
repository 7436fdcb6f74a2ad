//! The transactional outbox: jobs written in the same transaction as the change that causes
//! them, then drained into the job queue. A row is never deleted before it is dispatched, so
//! nothing is lost between commit and enqueue.

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
                    .table(Outbox::Table)
                    .col(
                        ColumnDef::new(Outbox::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    // Which tenant's change produced the job (none for platform work).
                    .col(ColumnDef::new(Outbox::TenantId).uuid().null())
                    .col(ColumnDef::new(Outbox::Job).string_len(100).not_null())
                    .col(ColumnDef::new(Outbox::Queue).string_len(100).not_null())
                    .col(ColumnDef::new(Outbox::Payload).json_binary().not_null())
                    .col(timestamp(Outbox::CreatedAt))
                    .col(
                        ColumnDef::new(Outbox::DispatchedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(Outbox::Attempts)
                            .integer()
                            .not_null()
                            .default(0),
                    )
                    .col(ColumnDef::new(Outbox::LastError).text().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_outbox_pending")
                    .table(Outbox::Table)
                    .col(Outbox::DispatchedAt)
                    .col(Outbox::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Outbox::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Outbox {
    Table,
    Id,
    TenantId,
    Job,
    Queue,
    Payload,
    CreatedAt,
    DispatchedAt,
    Attempts,
    LastError,
}
