//! Invoices (tenant tables):
//! - `invoices`: one per (subscription, period) at most (a unique key, so two sweeps or a
//!   replayed job never issue two); a gap-free `number` per tenant, assigned when the
//!   invoice is finalized (OPEN) and unique in the tenant.
//! - `invoice_lines`: what an invoice charges or credits, in order.
//! - `invoice_counters`: the last number given per tenant, taken under the row's lock in
//!   the finalizing transaction (a rolled-back finalization gives its number back).

use sea_orm_migration::prelude::*;

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
            "invoices",
            &["id"],
            vec![
                col("id").uuid().not_null().to_owned(),
                col("number").string_len(40).null().to_owned(),
                col("status").string_len(13).not_null().to_owned(),
                col("subscription_id").uuid().null().to_owned(),
                optional_time("period_start"),
                optional_time("period_end"),
                col("currency").string_len(3).not_null().to_owned(),
                col("subtotal_minor").big_integer().not_null().to_owned(),
                col("tax_rate_bp").integer().not_null().to_owned(),
                col("tax_minor").big_integer().not_null().to_owned(),
                col("total_minor").big_integer().not_null().to_owned(),
                col("amount_paid_minor").big_integer().not_null().to_owned(),
                optional_time("issued_at"),
                optional_time("due_at"),
                optional_time("paid_at"),
                timestamp(Alias::new("created_at")),
                timestamp(Alias::new("updated_at")),
            ],
        )
        .await?;
        manager
            .create_index(
                Index::create()
                    .name("invoices_one_per_period")
                    .table(Alias::new("invoices"))
                    .col(Alias::new("tenant_id"))
                    .col(Alias::new("subscription_id"))
                    .col(Alias::new("period_start"))
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("invoices_number")
                    .table(Alias::new("invoices"))
                    .col(Alias::new("tenant_id"))
                    .col(Alias::new("number"))
                    .unique()
                    .to_owned(),
            )
            .await?;
        create_tenant_table(
            manager,
            "invoice_lines",
            &["invoice_id", "position"],
            vec![
                col("invoice_id").uuid().not_null().to_owned(),
                col("position").integer().not_null().to_owned(),
                col("description").string_len(300).not_null().to_owned(),
                col("kind").string_len(12).not_null().to_owned(),
                col("quantity").big_integer().not_null().to_owned(),
                col("unit_amount_minor").big_integer().not_null().to_owned(),
                col("amount_minor").big_integer().not_null().to_owned(),
            ],
        )
        .await?;
        create_tenant_table(
            manager,
            "invoice_counters",
            &[],
            vec![col("last_number").big_integer().not_null().to_owned()],
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for table in ["invoice_counters", "invoice_lines", "invoices"] {
            db.execute_unprepared(&format!("DROP TABLE IF EXISTS {table}"))
                .await?;
        }
        Ok(())
    }
}
