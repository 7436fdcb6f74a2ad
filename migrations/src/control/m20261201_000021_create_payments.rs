//! Payments:
//! - `payments` (a tenant table): one M-Pesa STK push for an invoice and what came of it.
//!   `checkout_request_id` (Daraja's correlation id) and `receipt_number` (M-Pesa's) are
//!   unique, so a callback delivered twice, or a query and a callback, settle once.
//! - `mpesa_callbacks` (the platform's): every callback body as it arrived, stored before
//!   anything else is done with it, and what processing made of it (settled, or flagged for
//!   review with the reason). FORCEd row-level security with no tenant policy: only the
//!   platform door reads it.
//! - `mpesa_tokens` (the platform's): the one Daraja access token per consumer key that
//!   every node and worker shares (each new token invalidates the previous one).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

use crate::{col, create_tenant_table, timestamp};

#[derive(DeriveMigrationName)]
pub struct Migration;

fn optional_time(name: &str) -> ColumnDef {
    col(name).timestamp_with_time_zone().null().to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_tenant_table(
            manager,
            "payments",
            &["id"],
            vec![
                col("id").uuid().not_null().to_owned(),
                col("invoice_id").uuid().not_null().to_owned(),
                col("provider").string_len(10).not_null().to_owned(),
                col("status").string_len(10).not_null().to_owned(),
                col("currency").string_len(3).not_null().to_owned(),
                col("amount_minor").big_integer().not_null().to_owned(),
                col("rounding_minor").big_integer().not_null().to_owned(),
                col("phone").string_len(15).not_null().to_owned(),
                col("merchant_request_id").string_len(100).null().to_owned(),
                col("checkout_request_id").string_len(100).null().to_owned(),
                col("receipt_number").string_len(40).null().to_owned(),
                col("result_code").integer().null().to_owned(),
                col("result_desc").string_len(300).null().to_owned(),
                col("paid_amount_minor").big_integer().null().to_owned(),
                col("paid_phone").string_len(15).null().to_owned(),
                col("flag").string_len(300).null().to_owned(),
                col("initiated_by").string_len(20).not_null().to_owned(),
                timestamp(Alias::new("created_at")),
                timestamp(Alias::new("updated_at")),
                optional_time("completed_at"),
                optional_time("queried_at"),
            ],
        )
        .await?;
        for (name, columns) in [
            (
                "payments_checkout",
                &["tenant_id", "checkout_request_id"][..],
            ),
            ("payments_receipt", &["tenant_id", "receipt_number"][..]),
        ] {
            let mut index = Index::create();
            index.name(name).table(Alias::new("payments")).unique();
            for column in columns {
                index.col(Alias::new(*column));
            }
            manager.create_index(index.to_owned()).await?;
        }
        // The payments of an invoice, and the pending ones the sweeper asks about.
        manager
            .create_index(
                Index::create()
                    .name("payments_invoice")
                    .table(Alias::new("payments"))
                    .col(Alias::new("tenant_id"))
                    .col(Alias::new("invoice_id"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("payments_pending")
                    .table(Alias::new("payments"))
                    .col(Alias::new("status"))
                    .col(Alias::new("created_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("mpesa_callbacks"))
                    .col(col("id").uuid().not_null().primary_key())
                    .col(timestamp(Alias::new("received_at")))
                    .col(col("tenant_id").uuid().null())
                    .col(col("payment_id").uuid().null())
                    .col(col("source").string_len(60).null())
                    .col(col("body").text().not_null())
                    .col(col("status").string_len(12).not_null())
                    .col(col("flag").string_len(300).null())
                    .col(optional_time("processed_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("mpesa_callbacks_status")
                    .table(Alias::new("mpesa_callbacks"))
                    .col(Alias::new("status"))
                    .col(Alias::new("received_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("mpesa_tokens"))
                    .col(col("consumer").string_len(64).not_null().primary_key())
                    .col(col("access_token").string_len(500).not_null())
                    .col(timestamp(Alias::new("expires_at")))
                    .col(timestamp(Alias::new("updated_at")))
                    .to_owned(),
            )
            .await?;
        if manager.get_database_backend() == DbBackend::Postgres {
            manager
                .get_connection()
                .execute_unprepared(
                    "ALTER TABLE mpesa_callbacks ENABLE ROW LEVEL SECURITY;\n\
                     ALTER TABLE mpesa_callbacks FORCE ROW LEVEL SECURITY;\n\
                     ALTER TABLE mpesa_tokens ENABLE ROW LEVEL SECURITY;\n\
                     ALTER TABLE mpesa_tokens FORCE ROW LEVEL SECURITY;",
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for table in ["mpesa_tokens", "mpesa_callbacks", "payments"] {
            db.execute_unprepared(&format!("DROP TABLE IF EXISTS {table}"))
                .await?;
        }
        Ok(())
    }
}
