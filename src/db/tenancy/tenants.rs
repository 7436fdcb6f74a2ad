//! Tenants: platform-level rows (the tenant itself is the root of tenancy).

use sea_orm::{ActiveValue::Set, ColumnTrait};

use crate::db::entities::tenants;
use crate::db::scope::{GlobalTx, PlatformTx};
use crate::error::{AppError, AppResult};
use crate::ids::TenantId;
use crate::tenancy::{IsolationTier, NewTenant, Slug, Tenant, TenantStatus};

impl GlobalTx {
    /// A tenant by slug.
    pub async fn find_tenant_by_slug(&self, slug: &str) -> AppResult<Option<Tenant>> {
        let row = self
            .global::<tenants::Entity>()
            .find()
            .filter(tenants::Column::Slug.eq(slug))
            .one()
            .await?;
        Ok(row.map(to_tenant))
    }

    /// A tenant by id.
    pub async fn find_tenant(&self, id: TenantId) -> AppResult<Option<Tenant>> {
        let row = self
            .global::<tenants::Entity>()
            .by_id(id.into_uuid())
            .one()
            .await?;
        Ok(row.map(to_tenant))
    }
}

impl PlatformTx {
    /// Creates a tenant; a taken slug is `CONFLICT`.
    pub async fn insert_tenant(&self, new: NewTenant) -> AppResult<Tenant> {
        let now = self.now();
        let row = self
            .across_tenants::<tenants::Entity>()
            .insert(tenants::ActiveModel {
                id: Set(TenantId::new().into_uuid()),
                slug: Set(new.slug.as_str().to_owned()),
                name: Set(new.name),
                status: Set(TenantStatus::Active.as_str().to_owned()),
                isolation: Set(IsolationTier::Shared.as_str().to_owned()),
                settings: Set(serde_json::json!({})),
                billing_phone: Set(None),
                credit_minor: Set(0),
                tax_rate_bp: Set(None),
                data_url_sealed: Set(None),
                closed_at: Set(None),
                purged_at: Set(None),
                created_at: Set(now),
                updated_at: Set(now),
            })
            .await
            .map_err(|e| {
                AppError::conflict_on_unique(
                    e,
                    format!("the slug {:?} is taken", new.slug.as_str()),
                )
            })?;
        Ok(to_tenant(row))
    }
}

pub(in crate::db) fn to_tenant(row: tenants::Model) -> Tenant {
    Tenant {
        id: TenantId::from_uuid(row.id),
        slug: Slug::parse(&row.slug, "slug")
            .unwrap_or_else(|_| Slug::derive("tenant").expect("constant slug")),
        name: row.name,
        status: TenantStatus::from_stored(&row.status),
        isolation: IsolationTier::from_stored(&row.isolation),
        settings: row.settings,
        billing_phone: row.billing_phone,
        credit_minor: row.credit_minor,
        tax_rate_bp: row.tax_rate_bp,
        created_at: row.created_at,
    }
}

impl crate::db::Db {
    /// The id of the tenant with this slug (subdomain routing). Read outside a
    /// transaction: the tenants table is the root of tenancy, not tenant-owned.
    pub async fn tenant_id_by_slug(&self, slug: &str) -> AppResult<Option<TenantId>> {
        Ok(self
            .pools
            .global_now::<tenants::Entity>()
            .find()
            .filter(tenants::Column::Slug.eq(slug))
            .one()
            .await?
            .map(|t| TenantId::from_uuid(t.id)))
    }
}
