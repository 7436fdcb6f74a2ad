//! Tenant-level rows a tenant or the platform changes: the tenant's own record, its
//! modules, its members.

use std::collections::{BTreeSet, HashMap};

use sea_orm::sea_query::{Expr, ExprTrait as _};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait as _, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};

use super::entities::{
    member_profiles, memberships, role_assignments, roles, tenant_modules, tenants,
};
use super::memberships::MembershipStatus;
use super::page::{Page, PageRequest};
use super::scope::{SystemTx, TenantScope};
use super::tenants::to_tenant;
use crate::error::AppResult;
use crate::identity::User;
use crate::ids::{TenantId, UserId};
use crate::rbac::roles::OWNER;
use crate::tenancy::{Tenant, TenantStatus};

/// A member of a tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRecord {
    /// The user.
    pub user: User,
    /// Membership state.
    pub status: MembershipStatus,
    /// When they joined.
    pub joined_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// The modules every tenant has.
pub const CORE: &str = "core";

async fn modules_of<C: sea_orm::ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
) -> AppResult<BTreeSet<String>> {
    let mut modules: BTreeSet<String> = tenant_modules::Entity::find()
        .filter(tenant_modules::Column::TenantId.eq(tenant.into_uuid()))
        .all(conn)
        .await?
        .into_iter()
        .map(|m| m.module)
        .collect();
    modules.insert(CORE.to_owned());
    Ok(modules)
}

impl TenantScope {
    /// This tenant's own record.
    pub async fn own_tenant(&self) -> AppResult<Option<Tenant>> {
        Ok(tenants::Entity::find_by_id(self.tenant_id().into_uuid())
            .one(self.conn())
            .await?
            .map(to_tenant))
    }

    /// Renames this tenant and/or replaces its settings.
    pub async fn update_own_tenant(
        &self,
        name: Option<String>,
        settings: Option<serde_json::Value>,
    ) -> AppResult<Option<Tenant>> {
        let mut update = tenants::Entity::update_many()
            .col_expr(tenants::Column::UpdatedAt, Expr::value(self.now()))
            .filter(tenants::Column::Id.eq(self.tenant_id().into_uuid()));
        if let Some(name) = name {
            update = update.col_expr(tenants::Column::Name, Expr::value(name));
        }
        if let Some(settings) = settings {
            update = update.col_expr(tenants::Column::Settings, Expr::value(settings));
        }
        update.exec(self.conn()).await?;
        self.own_tenant().await
    }

    /// This tenant's modules (`core` always).
    pub async fn modules(&self) -> AppResult<BTreeSet<String>> {
        modules_of(self.conn(), self.tenant_id()).await
    }

    /// A page of members, in joining order.
    pub async fn list_members(&self, page: PageRequest) -> AppResult<Page<MemberRecord>> {
        let total = self
            .select::<memberships::Entity>()
            .count(self.conn())
            .await?;
        let mut query = self.select::<memberships::Entity>();
        if let Some(after) = page.after {
            query = query.filter(memberships::Column::UserId.gt(after));
        }
        let mut rows = query
            .order_by_asc(memberships::Column::UserId)
            .limit(page.first + 1)
            .all(self.conn())
            .await?;
        let has_next = rows.len() as u64 > page.first;
        rows.truncate(page.first as usize);
        let ids: Vec<_> = rows.iter().map(|m| m.user_id).collect();
        let people: HashMap<_, _> = member_profiles::Entity::find()
            .filter(member_profiles::Column::Id.is_in(ids))
            .all(self.conn())
            .await?
            .into_iter()
            .map(|u| (u.id, super::users::profile_to_user(u)))
            .collect();
        Ok(Page {
            items: rows
                .into_iter()
                .filter_map(|m| {
                    people.get(&m.user_id).map(|user| MemberRecord {
                        user: user.clone(),
                        status: MembershipStatus::from_stored(&m.status),
                        joined_at: m.joined_at,
                    })
                })
                .collect(),
            has_next,
            has_previous: page.after.is_some(),
            total,
        })
    }

    /// One member of this tenant.
    pub async fn get_member(&self, user: UserId) -> AppResult<Option<MemberRecord>> {
        let Some(m) = self
            .select::<memberships::Entity>()
            .filter(memberships::Column::UserId.eq(user.into_uuid()))
            .one(self.conn())
            .await?
        else {
            return Ok(None);
        };
        let user = member_profiles::Entity::find_by_id(m.user_id)
            .one(self.conn())
            .await?;
        Ok(user.map(|u| MemberRecord {
            user: super::users::profile_to_user(u),
            status: MembershipStatus::from_stored(&m.status),
            joined_at: m.joined_at,
        }))
    }

    /// Removes a member and every role they hold here; false when not a member.
    pub async fn remove_member(&self, user: UserId) -> AppResult<bool> {
        self.delete_many::<role_assignments::Entity>()
            .filter(role_assignments::Column::UserId.eq(user.into_uuid()))
            .exec(self.conn())
            .await?;
        let removed = self
            .delete_many::<memberships::Entity>()
            .filter(memberships::Column::UserId.eq(user.into_uuid()))
            .exec(self.conn())
            .await?;
        Ok(removed.rows_affected > 0)
    }

    /// Members holding OWNER tenant-wide, read under a lock on the tenant's row (PostgreSQL
    /// `FOR UPDATE`; SQLite writers are serialised already), so two owners demoting or
    /// removing each other at once cannot both see the other as the one who stays: the
    /// second waits for the first to commit and then sees one owner.
    pub async fn owner_ids_locked(&self) -> AppResult<Vec<UserId>> {
        if self.conn().get_database_backend() == sea_orm::DbBackend::Postgres {
            self.conn()
                .execute_raw(sea_orm::Statement::from_sql_and_values(
                    sea_orm::DbBackend::Postgres,
                    "SELECT id FROM tenants WHERE id = $1 FOR UPDATE",
                    [self.tenant_id().into_uuid().into()],
                ))
                .await?;
        }
        self.owner_ids().await
    }

    /// Members holding OWNER tenant-wide.
    pub async fn owner_ids(&self) -> AppResult<Vec<UserId>> {
        let Some(owner) = self
            .select::<roles::Entity>()
            .filter(roles::Column::Name.eq(OWNER))
            .filter(roles::Column::IsSystem.eq(true))
            .one(self.conn())
            .await?
        else {
            return Ok(Vec::new());
        };
        Ok(self
            .select::<role_assignments::Entity>()
            .filter(role_assignments::Column::RoleId.eq(owner.id))
            .filter(role_assignments::Column::StoreId.is_null())
            .all(self.conn())
            .await?
            .into_iter()
            .map(|a| UserId::from_uuid(a.user_id))
            .collect())
    }
}

impl SystemTx {
    /// A tenant's modules (`core` always).
    pub async fn tenant_modules(&self, tenant: TenantId) -> AppResult<BTreeSet<String>> {
        modules_of(self.conn(), tenant).await
    }

    /// Turns a module on or off for a tenant (`core` cannot be turned off).
    pub async fn set_tenant_module(
        &self,
        tenant: TenantId,
        module: &str,
        enabled: bool,
    ) -> AppResult<()> {
        if module == CORE {
            return Ok(());
        }
        tenant_modules::Entity::delete_many()
            .filter(tenant_modules::Column::TenantId.eq(tenant.into_uuid()))
            .filter(tenant_modules::Column::Module.eq(module))
            .exec(self.conn())
            .await?;
        if enabled {
            tenant_modules::ActiveModel {
                tenant_id: Set(tenant.into_uuid()),
                module: Set(module.to_owned()),
                created_at: Set(self.now()),
            }
            .insert(self.conn())
            .await?;
        }
        Ok(())
    }

    /// Sets a tenant's lifecycle state; `None` when there is no such tenant.
    pub async fn set_tenant_status(
        &self,
        tenant: TenantId,
        status: TenantStatus,
    ) -> AppResult<Option<Tenant>> {
        tenants::Entity::update_many()
            .col_expr(tenants::Column::Status, Expr::value(status.as_str()))
            .col_expr(tenants::Column::UpdatedAt, Expr::value(self.now()))
            .filter(tenants::Column::Id.eq(tenant.into_uuid()))
            .exec(self.conn())
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
        let mut query = tenants::Entity::find();
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
        let total = query.clone().count(self.conn()).await?;
        if let Some(after) = page.after {
            query = query.filter(tenants::Column::Id.gt(after));
        }
        let mut rows = query
            .order_by_asc(tenants::Column::Id)
            .limit(page.first + 1)
            .all(self.conn())
            .await?;
        let has_next = rows.len() as u64 > page.first;
        rows.truncate(page.first as usize);
        Ok(Page {
            items: rows.into_iter().map(to_tenant).collect(),
            has_next,
            has_previous: page.after.is_some(),
            total,
        })
    }
}
