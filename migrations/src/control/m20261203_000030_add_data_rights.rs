//! Data rights (issue 17):
//!
//! - `tenant_exports` (a tenant table): each export of a tenant's data, its status
//!   (PENDING, READY, FAILED; EXPIRED once past `expires_at`), the archive's file, size,
//!   rows and SHA-256, who asked, and why it failed.
//! - `audit_log.personal_salt`, `personal_digest`, `erased_at`: an entry's personal fields
//!   (client address, `User-Agent`, changes) enter its chain hash as a salted SHA-256
//!   digest, so erasing them (the salt with them) leaves the chain verifiable; entries
//!   written before this migration have no digest and keep hashing their fields in clear.
//! - `users.erased_at`: a pseudonymised user.
//! - `tenants.closed_at`, `purged_at`: a closed tenant, kept for its retention period, and
//!   when its data was erased (fiscal records stay for theirs).

use sea_orm_migration::prelude::*;

use crate::{col, create_tenant_table, timestamp};

#[derive(DeriveMigrationName)]
pub struct Migration;

const ADDED: &[(&str, &str, bool)] = &[
    ("audit_log", "personal_salt", false),
    ("audit_log", "personal_digest", false),
    ("audit_log", "erased_at", true),
    ("users", "erased_at", true),
    ("tenants", "closed_at", true),
    ("tenants", "purged_at", true),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_tenant_table(
            manager,
            "tenant_exports",
            &["id"],
            vec![
                col("id").uuid().not_null().to_owned(),
                col("status").string_len(16).not_null().to_owned(),
                col("requested_by").uuid().null().to_owned(),
                col("file").text().null().to_owned(),
                col("size_bytes").big_integer().null().to_owned(),
                col("rows").big_integer().null().to_owned(),
                col("sha256").string_len(64).null().to_owned(),
                col("error").text().null().to_owned(),
                timestamp(Alias::new("created_at")),
                col("finished_at")
                    .timestamp_with_time_zone()
                    .null()
                    .to_owned(),
                col("expires_at")
                    .timestamp_with_time_zone()
                    .null()
                    .to_owned(),
            ],
        )
        .await?;
        for (table, column, time) in ADDED {
            let mut def = col(column);
            if *time {
                def.timestamp_with_time_zone();
            } else {
                def.string_len(64);
            }
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new(*table))
                        .add_column(def.null().to_owned())
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (table, column, _) in ADDED {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new(*table))
                        .drop_column(Alias::new(*column))
                        .to_owned(),
                )
                .await?;
        }
        manager
            .get_connection()
            .execute_unprepared("DROP TABLE IF EXISTS tenant_exports")
            .await?;
        Ok(())
    }
}
