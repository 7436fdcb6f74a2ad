//! The bundled inventory module: `products` (a tenant's catalogue, SKU unique per tenant),
//! `stock_levels` (units on hand per product and store, never below zero: a CHECK, so no
//! race can take it there) and `stock_movements` (every signed change, with its reason;
//! append-only). Store ids name the control plane's stores without a foreign key, which
//! could not cross to a tenant's own database.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

use crate::{col, create_data_table, timestamp};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_data_table(
            manager,
            "products",
            &["id"],
            vec![
                col("id").uuid().not_null().to_owned(),
                col("sku").string_len(64).not_null().to_owned(),
                col("name").string_len(200).not_null().to_owned(),
                col("price_minor").big_integer().not_null().to_owned(),
                col("currency").string_len(3).not_null().to_owned(),
                timestamp(Alias::new("created_at")),
                timestamp(Alias::new("updated_at")),
            ],
        )
        .await?;
        manager
            .create_index(
                Index::create()
                    .name("products_sku")
                    .table(Alias::new("products"))
                    .col(Alias::new("tenant_id"))
                    .col(Alias::new("sku"))
                    .unique()
                    .to_owned(),
            )
            .await?;
        create_data_table(
            manager,
            "stock_levels",
            &["product_id", "store_id"],
            vec![
                col("product_id").uuid().not_null().to_owned(),
                col("store_id").uuid().not_null().to_owned(),
                col("on_hand")
                    .big_integer()
                    .not_null()
                    .check(Expr::col(Alias::new("on_hand")).gte(0))
                    .to_owned(),
                timestamp(Alias::new("updated_at")),
            ],
        )
        .await?;
        create_data_table(
            manager,
            "stock_movements",
            &["id"],
            vec![
                col("id").uuid().not_null().to_owned(),
                col("product_id").uuid().not_null().to_owned(),
                col("store_id").uuid().not_null().to_owned(),
                col("quantity").big_integer().not_null().to_owned(),
                col("reason").string_len(200).not_null().to_owned(),
                timestamp(Alias::new("created_at")),
            ],
        )
        .await?;
        manager
            .create_index(
                Index::create()
                    .name("stock_movements_product")
                    .table(Alias::new("stock_movements"))
                    .col(Alias::new("tenant_id"))
                    .col(Alias::new("product_id"))
                    .col(Alias::new("id"))
                    .to_owned(),
            )
            .await?;
        if manager.get_database_backend() == DbBackend::Postgres {
            for table in ["stock_levels", "stock_movements"] {
                manager
                    .create_foreign_key(
                        ForeignKey::create()
                            .name(format!("{table}_product"))
                            .from(
                                Alias::new(table),
                                (Alias::new("tenant_id"), Alias::new("product_id")),
                            )
                            .to(
                                Alias::new("products"),
                                (Alias::new("tenant_id"), Alias::new("id")),
                            )
                            .to_owned(),
                    )
                    .await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "DROP TABLE IF EXISTS stock_movements; DROP TABLE IF EXISTS stock_levels; \
                 DROP TABLE IF EXISTS products",
            )
            .await?;
        Ok(())
    }
}
