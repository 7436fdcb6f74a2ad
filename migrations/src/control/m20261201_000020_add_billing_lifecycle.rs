//! What the billing lifecycle keeps:
//! - `plans.grace_days`, `plans.tax_rate_bp`: a plan's own grace period and tax rate (null:
//!   the deployment's `BILLING_GRACE_DAYS` and `BILLING_TAX_RATE`).
//! - `subscriptions.pending_plan_id`: a downgrade that takes effect at the period's end;
//!   `subscriptions.suspended_at`: when grace ran out (cancellation follows a further period).
//! - `invoices.dunning_step` and `invoices.next_dunning_at`: how many dunning steps an open
//!   invoice has had and when the next one falls due (null: none left);
//!   `invoices.credit_applied_minor`: the part of `amount_paid_minor` paid from the tenant's
//!   credit balance.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

fn columns() -> Vec<(&'static str, ColumnDef)> {
    let col = |name: &str| ColumnDef::new(Alias::new(name));
    vec![
        ("plans", col("grace_days").integer().null().to_owned()),
        ("plans", col("tax_rate_bp").integer().null().to_owned()),
        (
            "subscriptions",
            col("pending_plan_id").uuid().null().to_owned(),
        ),
        (
            "subscriptions",
            col("suspended_at")
                .timestamp_with_time_zone()
                .null()
                .to_owned(),
        ),
        (
            "invoices",
            col("dunning_step")
                .integer()
                .not_null()
                .default(0)
                .to_owned(),
        ),
        (
            "invoices",
            col("next_dunning_at")
                .timestamp_with_time_zone()
                .null()
                .to_owned(),
        ),
        (
            "invoices",
            col("credit_applied_minor")
                .big_integer()
                .not_null()
                .default(0)
                .to_owned(),
        ),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite adds one at a time.
        for (table, mut column) in columns() {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new(table))
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        // The dunning sweep reads open invoices by their next step.
        manager
            .create_index(
                Index::create()
                    .name("invoices_next_dunning")
                    .table(Alias::new("invoices"))
                    .col(Alias::new("next_dunning_at"))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("invoices_next_dunning")
                    .table(Alias::new("invoices"))
                    .to_owned(),
            )
            .await?;
        for (table, column) in columns().into_iter().rev() {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new(table))
                        .drop_column(Alias::new(column.get_column_name()))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
