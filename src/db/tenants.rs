//! Tenants: platform-level rows (the tenant itself is the root of tenancy).

use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait};

use super::entities::tenants;
use super::scope::SystemTx;
use crate::error::{AppError, AppResult};
use crate::ids::TenantId;
use crate::tenancy::{IsolationTier, NewTenant, Slug, Tenant, TenantStatus};

impl SystemTx {
    /// A tenant by slug.
    pub async fn find_tenant_by_slug(&self, slug: &str) -> AppResult<Option<Tenant>> {
        use sea_orm::{ColumnTrait, QueryFilter};
        let row = tenants::Entity::find()
            .filter(tenants::Column::Slug.eq(slug))
            .one(self.conn())
            .await?;
        Ok(row.map(to_tenant))
    }

    /// A tenant by id.
    pub async fn find_tenant(&self, id: TenantId) -> AppResult<Option<Tenant>> {
        let row = tenants::Entity::find_by_id(id.into_uuid())
            .one(self.conn())
            .await?;
        Ok(row.map(to_tenant))
    }
}

impl SystemTx {
    /// Creates a tenant; a taken slug is `CONFLICT`.
    pub async fn insert_tenant(&self, new: NewTenant) -> AppResult<Tenant> {
        let now = self.now();
        let row = tenants::ActiveModel {
            id: Set(TenantId::new().into_uuid()),
            slug: Set(new.slug.as_str().to_owned()),
            name: Set(new.name),
            status: Set(TenantStatus::Active.as_str().to_owned()),
            isolation: Set(IsolationTier::Shared.as_str().to_owned()),
            settings: Set(serde_json::json!({})),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(self.conn())
        .await
        .map_err(|e| {
            AppError::conflict_on_unique(e, format!("the slug {:?} is taken", new.slug.as_str()))
        })?;
        Ok(to_tenant(row))
    }
}

pub(super) fn to_tenant(row: tenants::Model) -> Tenant {
    Tenant {
        id: TenantId::from_uuid(row.id),
        slug: Slug::parse(&row.slug, "slug")
            .unwrap_or_else(|_| Slug::derive("tenant").expect("constant slug")),
        name: row.name,
        status: TenantStatus::from_stored(&row.status),
        isolation: IsolationTier::from_stored(&row.isolation),
        settings: row.settings,
        created_at: row.created_at,
    }
}

impl super::Db {
    /// The id of the tenant with this slug (subdomain routing). Read outside a
    /// transaction: the tenants table is the root of tenancy, not tenant-owned.
    pub async fn tenant_id_by_slug(&self, slug: &str) -> AppResult<Option<TenantId>> {
        use sea_orm::{ColumnTrait, QueryFilter};
        Ok(tenants::Entity::find()
            .filter(tenants::Column::Slug.eq(slug))
            .one(&self.platform)
            .await?
            .map(|t| TenantId::from_uuid(t.id)))
    }
}
