//! Outgoing webhooks:
//! - `webhook_endpoints` (a tenant table): where a tenant wants events sent, which event
//!   types, the signing secret (encrypted with `MSINGI_DATA_KEY`, never stored in clear),
//!   whether it is enabled and, while deliveries to it fail, since when.
//! - `webhook_deliveries` (a tenant table): one event for one endpoint, written in the
//!   transaction of the change that caused it, so a committed change yields its event once
//!   per endpoint (unique `(tenant_id, endpoint_id, event_id)`) and a rolled-back one never.
//!   The body is fixed when the event is made; every attempt sends the same bytes under the
//!   same `webhook-id`. The dispatcher finds due rows by `next_attempt_at`.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

use crate::{col, create_tenant_table, timestamp};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_tenant_table(
            manager,
            "webhook_endpoints",
            &["id"],
            vec![
                col("id").uuid().not_null().to_owned(),
                col("url").string_len(2048).not_null().to_owned(),
                col("events").json().not_null().to_owned(),
                col("secret_encrypted").text().not_null().to_owned(),
                col("enabled").boolean().not_null().to_owned(),
                col("disabled_reason").string_len(300).null().to_owned(),
                col("failing_since")
                    .timestamp_with_time_zone()
                    .null()
                    .to_owned(),
                timestamp(Alias::new("created_at")),
                timestamp(Alias::new("updated_at")),
            ],
        )
        .await?;
        create_tenant_table(
            manager,
            "webhook_deliveries",
            &["id"],
            vec![
                col("id").uuid().not_null().to_owned(),
                col("endpoint_id").uuid().not_null().to_owned(),
                col("event_id").string_len(80).not_null().to_owned(),
                col("event_type").string_len(60).not_null().to_owned(),
                col("body").text().not_null().to_owned(),
                col("status").string_len(10).not_null().to_owned(),
                col("attempts").integer().not_null().to_owned(),
                col("last_response_status").integer().null().to_owned(),
                col("last_error").string_len(300).null().to_owned(),
                col("next_attempt_at")
                    .timestamp_with_time_zone()
                    .null()
                    .to_owned(),
                timestamp(Alias::new("created_at")),
                timestamp(Alias::new("updated_at")),
            ],
        )
        .await?;
        // SQLite cannot add a constraint to an existing table; there, deleting an endpoint
        // deletes its deliveries in the same transaction.
        if manager.get_database_backend() == DbBackend::Postgres {
            manager
                .create_foreign_key(
                    ForeignKey::create()
                        .name("webhook_deliveries_endpoint")
                        .from(
                            Alias::new("webhook_deliveries"),
                            (Alias::new("tenant_id"), Alias::new("endpoint_id")),
                        )
                        .to(
                            Alias::new("webhook_endpoints"),
                            (Alias::new("tenant_id"), Alias::new("id")),
                        )
                        .on_delete(ForeignKeyAction::Cascade)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("webhook_deliveries_event")
                    .table(Alias::new("webhook_deliveries"))
                    .unique()
                    .col(Alias::new("tenant_id"))
                    .col(Alias::new("endpoint_id"))
                    .col(Alias::new("event_id"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("webhook_deliveries_log")
                    .table(Alias::new("webhook_deliveries"))
                    .col(Alias::new("tenant_id"))
                    .col(Alias::new("endpoint_id"))
                    .col(Alias::new("id"))
                    .to_owned(),
            )
            .await?;
        // The dispatcher's sweep across tenants: the due attempts, oldest first.
        manager
            .create_index(
                Index::create()
                    .name("webhook_deliveries_due")
                    .table(Alias::new("webhook_deliveries"))
                    .col(Alias::new("next_attempt_at"))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for table in ["webhook_deliveries", "webhook_endpoints"] {
            db.execute_unprepared(&format!("DROP TABLE IF EXISTS {table}"))
                .await?;
        }
        Ok(())
    }
}
