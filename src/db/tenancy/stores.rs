//! Stores: tenant-owned, reached only through a [`TenantScope`].

use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait};

use crate::db::entities::stores;
use crate::db::scope::{PlatformTx, TenantScope};
use crate::error::{AppError, AppResult};
use crate::ids::{StoreId, TenantId};
use crate::page::{Page, PageRequest};
use crate::tenancy::{NewStore, Store, StorePatch, StoreStatus};

impl TenantScope {
    /// Creates a store in this tenant; a taken code is `CONFLICT`.
    pub async fn insert_store(&self, new: NewStore) -> AppResult<Store> {
        let now = self.now();
        let code = new.code.clone();
        let row = self
            .table::<stores::Entity>()
            .insert(stores::ActiveModel {
                id: Set(StoreId::new().into_uuid()),
                name: Set(new.name),
                code: Set(new.code),
                status: Set(StoreStatus::Active.as_str().to_owned()),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            })
            .await
            .map_err(|e| code_conflict(e, code.as_deref()))?;
        Ok(to_store(row))
    }

    /// A store of this tenant.
    pub async fn get_store(&self, id: StoreId) -> AppResult<Option<Store>> {
        let row = self
            .table::<stores::Entity>()
            .by_id(id.into_uuid())
            .one()
            .await?;
        Ok(row.map(to_store))
    }

    /// A page of this tenant's stores, oldest first.
    pub async fn list_stores(&self, page: PageRequest) -> AppResult<Page<Store>> {
        let page = self
            .table::<stores::Entity>()
            .find()
            .page(stores::Column::Id, page, false)
            .await?;
        Ok(page.map(to_store))
    }

    /// Applies `patch` to a store of this tenant; `None` when it is not in this tenant.
    pub async fn update_store(&self, id: StoreId, patch: StorePatch) -> AppResult<Option<Store>> {
        let code = patch.code.clone();
        let mut update = self
            .table::<stores::Entity>()
            .update()
            .filter(stores::Column::Id.eq(id.into_uuid()))
            .set(stores::Column::UpdatedAt, Expr::value(self.now()));
        if let Some(name) = patch.name {
            update = update.set(stores::Column::Name, Expr::value(name));
        }
        if let Some(code) = patch.code {
            update = update.set(stores::Column::Code, Expr::value(code));
        }
        if let Some(status) = patch.status {
            update = update.set(stores::Column::Status, Expr::value(status.as_str()));
        }
        let result = update
            .exec()
            .await
            .map_err(|e| code_conflict(e, code.as_deref()))?;
        if result == 0 {
            return Ok(None);
        }
        self.get_store(id).await
    }
}

impl PlatformTx {
    /// Whether `store` belongs to `tenant` and is in use (resolving `X-Store-ID`: an
    /// archived store cannot be entered).
    pub async fn store_is_active(&self, tenant: TenantId, store: StoreId) -> AppResult<bool> {
        let count = self
            .across_tenants::<stores::Entity>()
            .find()
            .filter(stores::Column::TenantId.eq(tenant.into_uuid()))
            .filter(stores::Column::Id.eq(store.into_uuid()))
            .filter(stores::Column::Status.eq(crate::tenancy::StoreStatus::Active.as_str()))
            .count()
            .await?;
        Ok(count > 0)
    }
}

fn code_conflict(err: sea_orm::DbErr, code: Option<&str>) -> AppError {
    AppError::conflict_on_unique(
        err,
        format!("a store with code {:?} exists", code.unwrap_or_default()),
    )
}

fn to_store(row: stores::Model) -> Store {
    Store {
        id: StoreId::from_uuid(row.id),
        name: row.name,
        code: row.code,
        status: StoreStatus::from_stored(&row.status),
        created_at: row.created_at,
    }
}
