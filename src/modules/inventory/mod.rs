//! The bundled inventory module, the data plane's worked example: a tenant's products,
//! their stock per store and every movement of it. Guarded by `inventory.read` /
//! `inventory.manage` (effective only when the tenant's plan or an override includes the
//! `inventory` module); a member scoped to a store (`X-Store-ID`) sees and moves that
//! store's stock only; stock never goes below zero.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::audit::AuditEntry;
use crate::auth::Caller;
use crate::billing::Money;
use crate::error::{AppError, AppResult};
use crate::ids::{ProductId, StockMovementId, StoreId};
use crate::page::{Page, PageRequest};
use crate::rbac::perm;
use crate::services::Services;
use crate::tenancy::{Store, StoreStatus};

/// The currency products are priced in.
const CURRENCY: &str = "KES";

/// A product of the tenant's catalogue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    /// Id.
    pub id: ProductId,
    /// Stock-keeping unit, unique in the tenant.
    pub sku: String,
    /// Display name.
    pub name: String,
    /// Unit price.
    pub price: Money,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// A product with its units on hand in the stores the caller may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductStock {
    /// The product.
    pub product: Product,
    /// Units on hand per store (stores without a level hold none); `None` when the
    /// caller did not ask for stock, so it was not read.
    pub levels: Option<BTreeMap<StoreId, i64>>,
    /// The one store the caller sees, when the request is narrowed to it.
    pub narrowed_to: Option<StoreId>,
}

impl ProductStock {
    /// Units on hand in `store`, or summed over the stores the caller may see; FORBIDDEN
    /// for a store outside the one a narrowed request is bound to.
    pub fn stock(&self, store: Option<StoreId>) -> AppResult<i64> {
        let levels = self.levels.as_ref().ok_or_else(|| {
            AppError::internal(anyhow::anyhow!(
                "stock was asked of a product read without it"
            ))
        })?;
        match (store, self.narrowed_to) {
            (Some(store), Some(only)) if store != only => Err(AppError::forbidden(
                "this request is narrowed to another store (X-Store-ID)",
            )),
            (Some(store), _) => Ok(levels.get(&store).copied().unwrap_or(0)),
            (None, _) => Ok(levels.values().sum()),
        }
    }
}

/// One signed change of a product's stock in one store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockMovement {
    /// Id.
    pub id: StockMovementId,
    /// The product moved.
    pub product: ProductId,
    /// The store it moved in.
    pub store: StoreId,
    /// Signed change: received stock is positive, sold or lost stock negative.
    pub quantity: i64,
    /// Why (a sale, a delivery, a count).
    pub reason: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// A movement with the product (as it stands after it) and the store.
#[derive(Debug, Clone)]
pub struct Adjusted {
    /// The movement.
    pub movement: StockMovement,
    /// The product after the movement.
    pub product: ProductStock,
    /// The store.
    pub store: Store,
}

/// A validated new product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProduct {
    /// SKU.
    pub sku: String,
    /// Name.
    pub name: String,
    /// Unit price.
    pub price: Money,
}

impl NewProduct {
    /// Validates the input; errors name `input.sku`, `input.name`, `input.price`.
    pub fn parse(sku: &str, name: &str, price: &str) -> AppResult<Self> {
        let sku = sku.trim();
        let sku_ok = (1..=64).contains(&sku.len())
            && sku
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/'));
        if !sku_ok {
            return Err(AppError::bad_input(
                "input.sku",
                "use 1 to 64 letters, digits, '-', '_', '.' and '/'",
            ));
        }
        Ok(Self {
            sku: sku.to_owned(),
            name: crate::name::Name::parse(name, "input.name")?.into_string(),
            price: Money::new(
                crate::billing::money::parse_amount(price, "input.price")?,
                CURRENCY,
            ),
        })
    }
}

/// A validated stock adjustment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdjustStock {
    /// The product.
    pub product: ProductId,
    /// The store.
    pub store: StoreId,
    /// Signed change, never zero.
    pub quantity: i64,
    /// Why.
    pub reason: String,
}

impl AdjustStock {
    /// Validates the input; errors name `quantity` and `reason`.
    pub fn parse(
        product: ProductId,
        store: StoreId,
        quantity: i64,
        reason: &str,
    ) -> AppResult<Self> {
        if quantity == 0 {
            return Err(AppError::bad_input("quantity", "must not be zero"));
        }
        Ok(Self {
            product,
            store,
            quantity,
            reason: crate::name::Name::parse(reason, "reason")?.into_string(),
        })
    }
}

/// The tenant's products, a page at a time, with stock in the stores the caller may see;
/// `search` keeps those whose SKU or name contains it; stock is read only `with_stock`
/// (when the caller selected it). [P:inventory.read]
pub async fn list(
    services: &Services,
    caller: &Caller,
    page: PageRequest,
    search: Option<&str>,
    with_stock: bool,
) -> AppResult<Page<ProductStock>> {
    let ctx = caller.tenant()?;
    ctx.require_somewhere(perm::INVENTORY_READ)?;
    let search = search.map(str::trim).filter(|s| !s.is_empty());
    if search.is_some_and(|s| s.chars().count() > 100) {
        return Err(AppError::bad_input("search", "at most 100 characters"));
    }
    let scope = services.db.data(ctx).await?;
    let page = scope.list_products(page, search).await?;
    let mut levels = if with_stock {
        let ids: Vec<ProductId> = page.items.iter().map(|p| p.id).collect();
        Some(scope.stock_levels(&ids).await?)
    } else {
        None
    };
    Ok(page.map(|product| ProductStock {
        levels: levels
            .as_mut()
            .map(|l| l.remove(&product.id).unwrap_or_default()),
        product,
        narrowed_to: ctx.store_id(),
    }))
}

/// One product of the tenant; `None` when it is not in the caller's tenant.
/// [P:inventory.read]
pub async fn get(
    services: &Services,
    caller: &Caller,
    id: ProductId,
) -> AppResult<Option<ProductStock>> {
    let ctx = caller.tenant()?;
    ctx.require_somewhere(perm::INVENTORY_READ)?;
    let scope = services.db.data(ctx).await?;
    with_stock(&scope, ctx, scope.get_product(id).await?).await
}

async fn with_stock(
    scope: &crate::db::DataScope,
    ctx: &crate::tenancy::TenantContext,
    product: Option<Product>,
) -> AppResult<Option<ProductStock>> {
    let Some(product) = product else {
        return Ok(None);
    };
    let mut levels = scope.stock_levels(&[product.id]).await?;
    Ok(Some(ProductStock {
        levels: Some(levels.remove(&product.id).unwrap_or_default()),
        product,
        narrowed_to: ctx.store_id(),
    }))
}

/// Adds a product to the tenant's catalogue. [P:inventory.manage]
pub async fn create(
    services: &Services,
    caller: &Caller,
    new: NewProduct,
) -> AppResult<ProductStock> {
    let ctx = caller.require(perm::INVENTORY_MANAGE)?;
    let scope = services.db.data_write(ctx).await?;
    let product = scope.insert_product(new).await?;
    scope
        .commit(caller.audit(
            AuditEntry::new("product.create", "product", product.id).with_changes(
                serde_json::json!({ "after": { "sku": product.sku, "name": product.name, "price": product.price.decimal() } }),
            ),
        ))
        .await?;
    Ok(ProductStock {
        product,
        levels: Some(BTreeMap::new()),
        narrowed_to: ctx.store_id(),
    })
}

/// Moves a product's stock in one store by a signed quantity, never below zero: in any
/// store with inventory.manage tenant-wide, in the request's store when it is narrowed.
/// [P:inventory.manage]
pub async fn adjust(
    services: &Services,
    caller: &Caller,
    input: AdjustStock,
) -> AppResult<Adjusted> {
    let ctx = caller.tenant()?;
    ctx.require_somewhere(perm::INVENTORY_MANAGE)?;
    // The store is the control plane's: it must be this tenant's (and the narrowed one).
    let store = services
        .db
        .read(ctx)
        .await?
        .get_store(input.store)
        .await?
        .ok_or(AppError::NotFound { entity: "store" })?;
    if !ctx.has_in_store(perm::INVENTORY_MANAGE, store.id) {
        return Err(AppError::forbidden(
            "requires the inventory.manage permission",
        ));
    }
    if store.status == StoreStatus::Archived {
        return Err(AppError::bad_input("storeId", "the store is archived"));
    }
    let scope = services.db.data_write(ctx).await?;
    let product = scope
        .get_product(input.product)
        .await?
        .ok_or(AppError::NotFound { entity: "product" })?;
    let (movement, on_hand) = scope
        .adjust_stock(&product, store.id, input.quantity, &input.reason)
        .await?;
    let mut levels = scope.stock_levels(&[product.id]).await?;
    scope
        .commit(caller.audit(
            AuditEntry::new("stock.adjust", "product", product.id).with_changes(
                serde_json::json!({
                    "store": store.id,
                    "quantity": movement.quantity,
                    "reason": movement.reason,
                    "onHand": on_hand,
                }),
            ),
        ))
        .await?;
    Ok(Adjusted {
        movement,
        product: ProductStock {
            levels: Some(levels.remove(&product.id).unwrap_or_default()),
            product,
            narrowed_to: ctx.store_id(),
        },
        store,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn product_input_is_validated_with_the_field_named() {
        let ok = NewProduct::parse(" UNGA-2KG ", "Unga 2kg", "210.50").unwrap();
        assert_eq!((ok.sku.as_str(), ok.price.minor), ("UNGA-2KG", 21050));
        for (sku, name, price, field) in [
            ("has space", "x", "1", "input.sku"),
            ("", "x", "1", "input.sku"),
            ("A", " ", "1", "input.name"),
            ("A", "x", "-1", "input.price"),
            ("A", "x", "1.234", "input.price"),
        ] {
            let err = NewProduct::parse(sku, name, price).unwrap_err();
            assert!(
                matches!(err, AppError::BadInput { field: ref f, .. } if f == field),
                "{sku:?} {name:?} {price:?}"
            );
        }
    }

    #[test]
    fn stock_is_per_store_or_summed_and_a_narrowed_caller_sees_one_store() {
        let (a, b) = (StoreId::new(), StoreId::new());
        let mut stock = ProductStock {
            product: NewProduct::parse("A", "A", "1")
                .map(|n| Product {
                    id: ProductId::new(),
                    sku: n.sku,
                    name: n.name,
                    price: n.price,
                    created_at: Utc::now(),
                })
                .unwrap(),
            levels: Some(BTreeMap::from([(a, 3), (b, 4)])),
            narrowed_to: None,
        };
        assert_eq!(stock.stock(None).unwrap(), 7);
        assert_eq!(stock.stock(Some(b)).unwrap(), 4);
        assert_eq!(stock.stock(Some(StoreId::new())).unwrap(), 0);
        stock.narrowed_to = Some(a);
        assert!(stock.stock(Some(b)).is_err());
    }

    #[test]
    fn a_zero_or_unexplained_adjustment_is_refused() {
        let (p, s) = (ProductId::new(), StoreId::new());
        let err = AdjustStock::parse(p, s, 0, "count").unwrap_err();
        assert!(matches!(err, AppError::BadInput { ref field, .. } if field == "quantity"));
        let err = AdjustStock::parse(p, s, 2, "  ").unwrap_err();
        assert!(matches!(err, AppError::BadInput { ref field, .. } if field == "reason"));
    }
}
