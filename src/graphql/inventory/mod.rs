//! The inventory module: products, their stock per store, stock movements.

use async_graphql::{ComplexObject, Context, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use crate::graphql::billing::{Decimal, Money};
use crate::graphql::connection::Connection;
use crate::graphql::tenancy::stores::Store;
use crate::graphql::{caller, services};
use crate::ids::{ProductId, StoreId};
use crate::modules::inventory::{self, AdjustStock, NewProduct, ProductStock};
use crate::page::PageRequest;

/// A product of the tenant's inventory, with its units on hand.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Product {
    id: ID,
    /// Stock-keeping unit, unique in the tenant.
    sku: String,
    name: String,
    /// Unit price.
    price: Money,
    created_at: DateTime<Utc>,
    #[graphql(skip)]
    stock: ProductStock,
}

#[ComplexObject]
impl Product {
    /// units on hand: in storeId, or summed over the stores the caller may see
    async fn stock(&self, store_id: Option<ID>) -> Result<i32> {
        let store = store_id
            .map(|id| StoreId::parse(&id, "storeId"))
            .transpose()?;
        let units = self.stock.stock(store)?;
        Ok(i32::try_from(units).unwrap_or(i32::MAX))
    }
}

impl From<ProductStock> for Product {
    fn from(p: ProductStock) -> Self {
        Self {
            id: ID(p.product.id.to_string()),
            sku: p.product.sku.clone(),
            name: p.product.name.clone(),
            price: p.product.price.clone().into(),
            created_at: p.product.created_at,
            stock: p,
        }
    }
}

crate::graphql::connection::node!(Product, "ProductConnection", "ProductEdge");

/// One signed change of a product's stock in one store.
#[derive(SimpleObject)]
pub struct StockMovement {
    id: ID,
    /// The product, as it stands after the movement.
    product: Product,
    store: Store,
    /// signed change
    quantity: i32,
    /// Why: a sale, a delivery, a count.
    reason: String,
    created_at: DateTime<Utc>,
}

/// A new product.
#[derive(InputObject)]
pub struct CreateProductInput {
    /// Stock-keeping unit, unique in the tenant.
    sku: String,
    name: String,
    /// Unit price (KES).
    price: Decimal,
}

/// Inventory queries.
#[derive(Default)]
pub struct InventoryQuery;

#[Object]
impl InventoryQuery {
    /// The tenant's products, oldest first (at most 100 per page); `search` keeps those
    /// whose SKU or name contains it, in any case. [P:inventory.read]
    async fn products(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        search: Option<String>,
    ) -> Result<Connection<Product>> {
        let page = PageRequest::parse(first, after.as_deref())?
            .counting(ctx.look_ahead().field("totalCount").exists());
        let with_stock = ctx
            .look_ahead()
            .field("edges")
            .field("node")
            .field("stock")
            .exists();
        let page = inventory::list(
            services(ctx)?,
            caller(ctx)?,
            page,
            search.as_deref(),
            with_stock,
        )
        .await?;
        Ok(Connection::of(page, |p: &ProductStock| {
            p.product.id.into_uuid()
        }))
    }

    /// One product of the tenant; null when there is no such product in it.
    /// [P:inventory.read]
    async fn product(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Product>> {
        let id = ProductId::parse(&id, "id")?;
        Ok(inventory::get(services(ctx)?, caller(ctx)?, id)
            .await?
            .map(Into::into))
    }
}

/// Inventory mutations.
#[derive(Default)]
pub struct InventoryMutation;

#[Object]
impl InventoryMutation {
    /// Adds a product to the tenant's catalogue. [P:inventory.manage]
    async fn create_product(
        &self,
        ctx: &Context<'_>,
        input: CreateProductInput,
    ) -> Result<Product> {
        let new = NewProduct::parse(&input.sku, &input.name, &input.price.0)?;
        Ok(inventory::create(services(ctx)?, caller(ctx)?, new)
            .await?
            .into())
    }

    /// quantity is signed; stock never goes below zero (BAD_USER_INPUT naming quantity)
    async fn adjust_stock(
        &self,
        ctx: &Context<'_>,
        product_id: ID,
        store_id: ID,
        quantity: i32,
        reason: String,
    ) -> Result<StockMovement> {
        let input = AdjustStock::parse(
            ProductId::parse(&product_id, "productId")?,
            StoreId::parse(&store_id, "storeId")?,
            i64::from(quantity),
            &reason,
        )?;
        let done = inventory::adjust(services(ctx)?, caller(ctx)?, input).await?;
        Ok(StockMovement {
            id: ID(done.movement.id.to_string()),
            product: done.product.into(),
            store: done.store.into(),
            quantity: i32::try_from(done.movement.quantity).unwrap_or(i32::MAX),
            reason: done.movement.reason,
            created_at: done.movement.created_at,
        })
    }
}
