//! The inventory module's tables (data plane): reached only through a [`DataScope`], so
//! they live wherever the tenant's isolation tier says.

use std::collections::BTreeMap;

use sea_orm::sea_query::{Expr, ExprTrait as _, Func, OnConflict};
use sea_orm::{ActiveValue::Set, ColumnTrait};

use crate::db::entities::{products, stock_levels, stock_movements};
use crate::db::scope::DataScope;
use crate::error::{AppError, AppResult};
use crate::ids::{ProductId, StockMovementId, StoreId};
use crate::modules::inventory::{NewProduct, Product, StockMovement};
use crate::page::{Page, PageRequest};

impl DataScope {
    /// Adds a product to this tenant's catalogue; a SKU in use is `CONFLICT`.
    pub async fn insert_product(&self, new: NewProduct) -> AppResult<Product> {
        let now = self.now();
        let sku = new.sku.clone();
        let row = self
            .table::<products::Entity>()
            .insert(products::ActiveModel {
                id: Set(ProductId::new().into_uuid()),
                sku: Set(new.sku),
                name: Set(new.name),
                price_minor: Set(new.price.minor),
                currency: Set(new.price.currency),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            })
            .await
            .map_err(|e| {
                AppError::conflict_on_unique(e, format!("a product with SKU {sku:?} exists"))
            })?;
        Ok(to_product(row))
    }

    /// A product of this tenant.
    pub async fn get_product(&self, id: ProductId) -> AppResult<Option<Product>> {
        let row = self
            .table::<products::Entity>()
            .by_id(id.into_uuid())
            .one()
            .await?;
        Ok(row.map(to_product))
    }

    /// A page of this tenant's products, oldest first; `search` keeps those whose SKU or
    /// name contains it (any case).
    pub async fn list_products(
        &self,
        page: PageRequest,
        search: Option<&str>,
    ) -> AppResult<Page<Product>> {
        let mut query = self.table::<products::Entity>().find();
        if let Some(search) = search {
            let pattern = format!("%{}%", like_escaped(&search.to_lowercase()));
            let like = |column: products::Column| {
                Expr::expr(Func::lower(Expr::col(column)))
                    .like(sea_orm::sea_query::LikeExpr::new(pattern.clone()).escape('\\'))
            };
            query = query.filter(
                sea_orm::Condition::any()
                    .add(like(products::Column::Sku))
                    .add(like(products::Column::Name)),
            );
        }
        let page = query.page(products::Column::Id, page, false).await?;
        Ok(page.map(to_product))
    }

    /// Units on hand of `products`, per store, in the stores this scope sees (all of the
    /// tenant's, or the one a narrowed request is bound to).
    pub async fn stock_levels(
        &self,
        products: &[ProductId],
    ) -> AppResult<BTreeMap<ProductId, BTreeMap<StoreId, i64>>> {
        let mut levels: BTreeMap<ProductId, BTreeMap<StoreId, i64>> =
            products.iter().map(|p| (*p, BTreeMap::new())).collect();
        if products.is_empty() {
            return Ok(levels);
        }
        let rows = self
            .table::<stock_levels::Entity>()
            .find()
            .filter(stock_levels::Column::ProductId.is_in(products.iter().map(|p| p.into_uuid())))
            .all()
            .await?;
        for row in rows {
            levels
                .entry(ProductId::from_uuid(row.product_id))
                .or_default()
                .insert(StoreId::from_uuid(row.store_id), row.on_hand);
        }
        Ok(levels)
    }

    /// Changes `product`'s stock in `store` by `quantity` (signed) and records the
    /// movement; refuses (BAD_USER_INPUT naming `quantity`) a change that would take it
    /// below zero. The level's row is locked while it is read, and a CHECK keeps it at
    /// zero or above whatever races, so concurrent adjustments never oversell.
    pub async fn adjust_stock(
        &self,
        product: &Product,
        store: StoreId,
        quantity: i64,
        reason: &str,
    ) -> AppResult<(StockMovement, i64)> {
        let levels = self.table::<stock_levels::Entity>();
        let current = levels
            .by_id((product.id.into_uuid(), store.into_uuid()))
            .lock_for_update()
            .one()
            .await?;
        let on_hand = current.as_ref().map_or(0, |row| row.on_hand);
        let level = on_hand.checked_add(quantity).unwrap_or(i64::MIN);
        if level < 0 {
            return Err(below_zero(on_hand));
        }
        let now = self.now();
        let checked = |e: sea_orm::DbErr| {
            if is_check_violation(&e) {
                below_zero(on_hand)
            } else {
                e.into()
            }
        };
        if current.is_some() {
            levels
                .update()
                .filter(stock_levels::Column::ProductId.eq(product.id.into_uuid()))
                .filter(stock_levels::Column::StoreId.eq(store.into_uuid()))
                .set(
                    stock_levels::Column::OnHand,
                    Expr::col(stock_levels::Column::OnHand).add(quantity),
                )
                .set(stock_levels::Column::UpdatedAt, Expr::value(now))
                .exec()
                .await
                .map_err(checked)?;
        } else {
            // The first stock of this product here (so a receipt, quantity > 0); a
            // concurrent first receipt adds to it.
            levels
                .upsert(
                    vec![stock_levels::ActiveModel {
                        product_id: Set(product.id.into_uuid()),
                        store_id: Set(store.into_uuid()),
                        on_hand: Set(quantity),
                        updated_at: Set(now),
                        ..Default::default()
                    }],
                    OnConflict::columns([
                        stock_levels::Column::TenantId,
                        stock_levels::Column::ProductId,
                        stock_levels::Column::StoreId,
                    ])
                    .value(
                        stock_levels::Column::OnHand,
                        Expr::col((stock_levels::Entity, stock_levels::Column::OnHand))
                            .add(Expr::cust("excluded.on_hand")),
                    )
                    .value(
                        stock_levels::Column::UpdatedAt,
                        Expr::cust("excluded.updated_at"),
                    )
                    .to_owned(),
                )
                .await
                .map_err(checked)?;
        }
        let row = self
            .table::<stock_movements::Entity>()
            .insert(stock_movements::ActiveModel {
                id: Set(StockMovementId::new().into_uuid()),
                product_id: Set(product.id.into_uuid()),
                store_id: Set(store.into_uuid()),
                quantity: Set(quantity),
                reason: Set(reason.to_owned()),
                created_at: Set(now),
                ..Default::default()
            })
            .await?;
        Ok((
            StockMovement {
                id: StockMovementId::from_uuid(row.id),
                product: product.id,
                store,
                quantity: row.quantity,
                reason: row.reason,
                created_at: row.created_at,
            },
            level,
        ))
    }
}

fn below_zero(on_hand: i64) -> AppError {
    AppError::bad_input(
        "quantity",
        format!("stock cannot go below zero: {on_hand} on hand in this store"),
    )
}

fn is_check_violation(err: &sea_orm::DbErr) -> bool {
    let text = err.to_string();
    text.contains("check constraint") || text.contains("CHECK constraint")
}

/// `text` with LIKE's wildcards and the escape character escaped.
fn like_escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn to_product(row: products::Model) -> Product {
    Product {
        id: ProductId::from_uuid(row.id),
        sku: row.sku,
        name: row.name,
        price: crate::billing::Money::new(row.price_minor, &row.currency),
        created_at: row.created_at,
    }
}
