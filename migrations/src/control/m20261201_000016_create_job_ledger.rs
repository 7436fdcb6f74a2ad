//! The job runtime's own records:
//! - `tenant_job_effects` (a tenant table): one row per tenant job whose effect committed,
//!   written in the effect's own transaction, so a re-delivered job (a worker killed after
//!   the commit, before the queue heard) finds its work done and returns.
//! - `job_effects` (platform): the same for jobs whose effect leaves the database (mail),
//!   recorded right after the external call.
//! - `job_dead_letters`: jobs that failed their last attempt (or failed in a way no retry
//!   mends), with their payload and error, until an operator retries or discards them.

use sea_orm_migration::prelude::*;

use crate::{create_tenant_table, timestamp};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_tenant_table(
            manager,
            "tenant_job_effects",
            &["job_id"],
            vec![
                ColumnDef::new(Alias::new("job_id"))
                    .uuid()
                    .not_null()
                    .to_owned(),
                ColumnDef::new(Alias::new("job"))
                    .string_len(100)
                    .not_null()
                    .to_owned(),
                timestamp(Alias::new("done_at")),
            ],
        )
        .await?;
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("job_effects"))
                    .col(
                        ColumnDef::new(Alias::new("job_id"))
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Alias::new("job")).string_len(100).not_null())
                    .col(timestamp(Alias::new("done_at")))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("job_dead_letters"))
                    .col(
                        ColumnDef::new(Alias::new("id"))
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Alias::new("job_id")).uuid().not_null())
                    .col(ColumnDef::new(Alias::new("job")).string_len(100).not_null())
                    .col(
                        ColumnDef::new(Alias::new("queue"))
                            .string_len(100)
                            .not_null(),
                    )
                    .col(ColumnDef::new(Alias::new("tenant_id")).uuid().null())
                    .col(
                        ColumnDef::new(Alias::new("payload"))
                            .json_binary()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Alias::new("error")).text().not_null())
                    .col(ColumnDef::new(Alias::new("attempts")).integer().not_null())
                    .col(timestamp(Alias::new("died_at")))
                    .col(
                        ColumnDef::new(Alias::new("resolved_at"))
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(Alias::new("resolution"))
                            .string_len(20)
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        // It names the tenant a job acted for: FORCEd row-level security with no tenant
        // policy, so only the platform door (its `platform_door` policy) sees it.
        if manager.get_database_backend() == sea_orm_migration::sea_orm::DbBackend::Postgres {
            manager
                .get_connection()
                .execute_unprepared(
                    "ALTER TABLE job_dead_letters ENABLE ROW LEVEL SECURITY;\n\
                     ALTER TABLE job_dead_letters FORCE ROW LEVEL SECURITY;",
                )
                .await?;
        }
        // The open dead letters of a queue, oldest first (what `msingi jobs` lists); one
        // open dead letter per job.
        manager
            .create_index(
                Index::create()
                    .name("job_dead_letters_open")
                    .table(Alias::new("job_dead_letters"))
                    .col(Alias::new("queue"))
                    .col(Alias::new("died_at"))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("DROP TABLE IF EXISTS job_dead_letters")
            .await?;
        db.execute_unprepared("DROP TABLE IF EXISTS job_effects")
            .await?;
        db.execute_unprepared("DROP TABLE IF EXISTS tenant_job_effects")
            .await?;
        Ok(())
    }
}
