//! Tenant-level rows a tenant or the platform changes: the tenant's own record, its
//! modules, its members.

use std::collections::HashMap;

use sea_orm::sea_query::{Expr, ExprTrait as _};
use sea_orm::{ActiveValue::Set, ColumnTrait};

use super::tenants::to_tenant;
use crate::db::entities::{
    member_profiles, memberships, role_assignments, roles, tenant_modules, tenants,
};
use crate::db::scope::{PlatformTx, TenantScope};
use crate::error::AppResult;
use crate::ids::{TenantId, UserId};
use crate::page::{Page, PageRequest};
use crate::rbac::roles::OWNER;
use crate::tenancy::{CORE, MemberRecord, MembershipStatus, Tenant, TenantStatus};

impl TenantScope {
    /// This tenant's own record.
    pub async fn own_tenant(&self) -> AppResult<Option<Tenant>> {
        Ok(self
            .table::<tenants::Entity>()
            .find()
            .one()
            .await?
            .map(to_tenant))
    }

    /// Renames this tenant and/or replaces its settings.
    pub async fn update_own_tenant(
        &self,
        name: Option<String>,
        settings: Option<serde_json::Value>,
        billing_phone: Option<Option<String>>,
    ) -> AppResult<Option<Tenant>> {
        let mut update = self
            .table::<tenants::Entity>()
            .update()
            .set(tenants::Column::UpdatedAt, Expr::value(self.now()));
        if let Some(name) = name {
            update = update.set(tenants::Column::Name, Expr::value(name));
        }
        if let Some(settings) = settings {
            update = update.set(tenants::Column::Settings, Expr::value(settings));
        }
        if let Some(phone) = billing_phone {
            update = update.set(tenants::Column::BillingPhone, Expr::value(phone));
        }
        update.exec().await?;
        self.own_tenant().await
    }

    /// A page of members, in joining order.
    pub async fn list_members(&self, page: PageRequest) -> AppResult<Page<MemberRecord>> {
        let page = self
            .table::<memberships::Entity>()
            .find()
            .page(memberships::Column::UserId, page, false)
            .await?;
        let ids: Vec<_> = page.items.iter().map(|m| m.user_id).collect();
        let people: HashMap<_, _> = self
            .table::<member_profiles::Entity>()
            .find()
            .filter(member_profiles::Column::Id.is_in(ids))
            .all()
            .await?
            .into_iter()
            .map(|u| (u.id, crate::db::identity::profile_to_user(u)))
            .collect();
        Ok(Page {
            items: page
                .items
                .into_iter()
                .filter_map(|m| {
                    people.get(&m.user_id).map(|user| MemberRecord {
                        user: user.clone(),
                        status: MembershipStatus::from_stored(&m.status),
                        joined_at: m.joined_at,
                    })
                })
                .collect(),
            has_next: page.has_next,
            has_previous: page.has_previous,
            total: page.total,
        })
    }

    /// Which of `users` are active members of this tenant.
    pub async fn active_member_ids(&self, users: &[UserId]) -> AppResult<Vec<UserId>> {
        Ok(self
            .table::<memberships::Entity>()
            .find()
            .filter(memberships::Column::UserId.is_in(users.iter().map(|u| u.into_uuid())))
            .filter(memberships::Column::Status.eq(MembershipStatus::Active.as_stored()))
            .all()
            .await?
            .into_iter()
            .map(|m| UserId::from_uuid(m.user_id))
            .collect())
    }

    /// One member of this tenant.
    pub async fn get_member(&self, user: UserId) -> AppResult<Option<MemberRecord>> {
        let Some(m) = self
            .table::<memberships::Entity>()
            .find()
            .filter(memberships::Column::UserId.eq(user.into_uuid()))
            .one()
            .await?
        else {
            return Ok(None);
        };
        let user = self
            .table::<member_profiles::Entity>()
            .by_id(m.user_id)
            .one()
            .await?;
        Ok(user.map(|u| MemberRecord {
            user: crate::db::identity::profile_to_user(u),
            status: MembershipStatus::from_stored(&m.status),
            joined_at: m.joined_at,
        }))
    }

    /// Removes a member and every role they hold here; false when not a member.
    pub async fn remove_member(&self, user: UserId) -> AppResult<bool> {
        self.table::<role_assignments::Entity>()
            .delete()
            .filter(role_assignments::Column::UserId.eq(user.into_uuid()))
            .exec()
            .await?;
        let removed = self
            .table::<memberships::Entity>()
            .delete()
            .filter(memberships::Column::UserId.eq(user.into_uuid()))
            .exec()
            .await?;
        Ok(removed > 0)
    }

    /// Members holding OWNER tenant-wide, read under a lock on the tenant's row (PostgreSQL
    /// `FOR UPDATE`; SQLite writers are serialised already), so two owners demoting or
    /// removing each other at once cannot both see the other as the one who stays: the
    /// second waits for the first to commit and then sees one owner.
    pub async fn owner_ids_locked(&self) -> AppResult<Vec<UserId>> {
        self.table::<tenants::Entity>()
            .find()
            .lock_for_update()
            .one()
            .await?;
        self.owner_ids().await
    }

    /// Members holding OWNER tenant-wide.
    pub async fn owner_ids(&self) -> AppResult<Vec<UserId>> {
        let Some(owner) = self
            .table::<roles::Entity>()
            .find()
            .filter(roles::Column::Name.eq(OWNER))
            .filter(roles::Column::IsSystem.eq(true))
            .one()
            .await?
        else {
            return Ok(Vec::new());
        };
        Ok(self
            .table::<role_assignments::Entity>()
            .find()
            .filter(role_assignments::Column::RoleId.eq(owner.id))
            .filter(role_assignments::Column::StoreId.is_null())
            .all()
            .await?
            .into_iter()
            .map(|a| UserId::from_uuid(a.user_id))
            .collect())
    }
}

impl PlatformTx {
    /// Switches a module on or off for a tenant over what its plan says (`core` cannot be
    /// turned off).
    pub async fn set_tenant_module(
        &self,
        tenant: TenantId,
        module: &str,
        enabled: bool,
    ) -> AppResult<()> {
        if module == CORE {
            return Ok(());
        }
        self.across_tenants::<tenant_modules::Entity>()
            .delete()
            .filter(tenant_modules::Column::TenantId.eq(tenant.into_uuid()))
            .filter(tenant_modules::Column::Module.eq(module))
            .exec()
            .await?;
        self.across_tenants::<tenant_modules::Entity>()
            .insert(tenant_modules::ActiveModel {
                tenant_id: Set(tenant.into_uuid()),
                module: Set(module.to_owned()),
                enabled: Set(enabled),
                created_at: Set(self.now()),
            })
            .await?;
        Ok(())
    }

    /// Sets a tenant's own tax rate; `None` when there is no such tenant.
    pub async fn set_tenant_tax_rate(
        &self,
        tenant: TenantId,
        rate_bp: Option<i32>,
    ) -> AppResult<Option<Tenant>> {
        use crate::db::entities::tenants;
        self.across_tenants::<tenants::Entity>()
            .update()
            .set(tenants::Column::TaxRateBp, Expr::value(rate_bp))
            .set(tenants::Column::UpdatedAt, Expr::value(self.now()))
            .filter(tenants::Column::Id.eq(tenant.into_uuid()))
            .exec()
            .await?;
        self.find_tenant(tenant).await
    }

    /// Sets a tenant's lifecycle state; `None` when there is no such tenant.
    pub async fn set_tenant_status(
        &self,
        tenant: TenantId,
        status: TenantStatus,
    ) -> AppResult<Option<Tenant>> {
        self.across_tenants::<tenants::Entity>()
            .update()
            .set(tenants::Column::Status, Expr::value(status.as_str()))
            .set(tenants::Column::UpdatedAt, Expr::value(self.now()))
            .filter(tenants::Column::Id.eq(tenant.into_uuid()))
            .exec()
            .await?;
        self.find_tenant(tenant).await
    }

    /// A page of every tenant, oldest first, optionally those whose name or slug contains
    /// `search`.
    pub async fn list_tenants(
        &self,
        page: PageRequest,
        search: Option<&str>,
    ) -> AppResult<Page<Tenant>> {
        let mut query = self.across_tenants::<tenants::Entity>().find();
        if let Some(search) = search.map(str::trim).filter(|s| !s.is_empty()) {
            let pattern = format!("%{}%", search.to_lowercase().replace(['%', '_'], ""));
            query = query.filter(
                sea_orm::Condition::any()
                    .add(Expr::col(tenants::Column::Slug).like(pattern.clone()))
                    .add(
                        Expr::expr(sea_orm::sea_query::Func::lower(Expr::col(
                            tenants::Column::Name,
                        )))
                        .like(pattern),
                    ),
            );
        }
        Ok(query
            .page(tenants::Column::Id, page, false)
            .await?
            .map(to_tenant))
    }
}
