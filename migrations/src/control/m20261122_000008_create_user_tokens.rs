//! Single-use tokens mailed to a user: email verification and password reset. Stored only
//! as SHA-256 hashes.

use sea_orm_migration::prelude::*;

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
                    .table(UserTokens::Table)
                    .col(
                        ColumnDef::new(UserTokens::TokenHash)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(UserTokens::UserId).uuid().not_null())
                    .col(
                        ColumnDef::new(UserTokens::Purpose)
                            .string_len(20)
                            .not_null(),
                    )
                    .col(timestamp(UserTokens::CreatedAt))
                    .col(timestamp(UserTokens::ExpiresAt))
                    .col(
                        ColumnDef::new(UserTokens::UsedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_user_tokens_user")
                            .from(UserTokens::Table, UserTokens::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_user_tokens_user")
                    .table(UserTokens::Table)
                    .col(UserTokens::UserId)
                    .col(UserTokens::Purpose)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(UserTokens::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum UserTokens {
    Table,
    TokenHash,
    UserId,
    Purpose,
    CreatedAt,
    ExpiresAt,
    UsedAt,
}
