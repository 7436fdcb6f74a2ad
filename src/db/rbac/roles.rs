//! Roles, their permissions and assignments: tenant-owned.

use std::collections::{BTreeMap, BTreeSet};

use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait};

use crate::db::entities::{role_assignments, role_permissions, roles};
use crate::db::scope::{PlatformTx, TenantScope};
use crate::error::{AppError, AppResult};
use crate::ids::{RoleId, StoreId, TenantId, UserId};
use crate::rbac::roles::{OWNER, all_permissions};
use crate::rbac::{Grants, NewRole, Role, RoleAssignment};

/// The `scope` of a tenant-wide assignment.
const TENANT_SCOPE: &str = "tenant";

fn scope_of(store: Option<StoreId>) -> String {
    store.map_or_else(|| TENANT_SCOPE.to_owned(), |s| s.to_string())
}

impl TenantScope {
    /// Creates a role with its permissions; a taken name is `CONFLICT`.
    pub async fn insert_role(&self, new: NewRole) -> AppResult<Role> {
        let now = self.now();
        let id = RoleId::new();
        let name = new.name.clone();
        self.table::<roles::Entity>()
            .insert(roles::ActiveModel {
                id: Set(id.into_uuid()),
                name: Set(new.name),
                description: Set(new.description),
                is_system: Set(new.is_system),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            })
            .await
            .map_err(|e| {
                AppError::conflict_on_unique(e, format!("a role named {name:?} exists"))
            })?;
        for permission in &new.permissions {
            self.table::<role_permissions::Entity>()
                .insert(role_permissions::ActiveModel {
                    role_id: Set(id.into_uuid()),
                    permission: Set(permission.clone()),
                    ..Default::default()
                })
                .await?;
        }
        self.get_role(id)
            .await?
            .ok_or_else(|| AppError::internal(anyhow::anyhow!("role vanished after insert")))
    }

    /// Every role of this tenant, system roles first.
    pub async fn list_roles(&self) -> AppResult<Vec<Role>> {
        let rows = self
            .table::<roles::Entity>()
            .find()
            .order_by_desc(roles::Column::IsSystem)
            .order_by_asc(roles::Column::CreatedAt)
            .all()
            .await?;
        self.with_permissions(rows).await
    }

    /// A role of this tenant.
    pub async fn get_role(&self, id: RoleId) -> AppResult<Option<Role>> {
        let rows = self
            .table::<roles::Entity>()
            .by_id(id.into_uuid())
            .all()
            .await?;
        Ok(self.with_permissions(rows).await?.pop())
    }

    /// Gives `user` the role, tenant-wide or in one store; holding it already is fine.
    pub async fn assign_role(
        &self,
        user: UserId,
        role: RoleId,
        store: Option<StoreId>,
    ) -> AppResult<()> {
        let exists = self
            .table::<role_assignments::Entity>()
            .find()
            .filter(role_assignments::Column::UserId.eq(user.into_uuid()))
            .filter(role_assignments::Column::RoleId.eq(role.into_uuid()))
            .filter(role_assignments::Column::Scope.eq(scope_of(store)))
            .one()
            .await?;
        if exists.is_none() {
            self.table::<role_assignments::Entity>()
                .insert(role_assignments::ActiveModel {
                    user_id: Set(user.into_uuid()),
                    role_id: Set(role.into_uuid()),
                    scope: Set(scope_of(store)),
                    store_id: Set(store.map(StoreId::into_uuid)),
                    created_at: Set(self.now()),
                    ..Default::default()
                })
                .await?;
        }
        Ok(())
    }

    /// The roles `user` holds in this tenant.
    pub async fn member_roles(&self, user: UserId) -> AppResult<Vec<RoleAssignment>> {
        let assignments = self
            .table::<role_assignments::Entity>()
            .find()
            .filter(role_assignments::Column::UserId.eq(user.into_uuid()))
            .order_by_asc(role_assignments::Column::CreatedAt)
            .all()
            .await?;
        let ids: Vec<_> = assignments.iter().map(|a| a.role_id).collect();
        let roles: BTreeMap<_, _> = self
            .with_permissions(
                self.table::<roles::Entity>()
                    .find()
                    .filter(roles::Column::Id.is_in(ids))
                    .all()
                    .await?,
            )
            .await?
            .into_iter()
            .map(|r| (r.id, r))
            .collect();
        Ok(assignments
            .into_iter()
            .filter_map(|a| {
                roles
                    .get(&RoleId::from_uuid(a.role_id))
                    .map(|role| RoleAssignment {
                        role: role.clone(),
                        store: a.store_id.map(StoreId::from_uuid),
                    })
            })
            .collect())
    }

    async fn with_permissions(&self, rows: Vec<roles::Model>) -> AppResult<Vec<Role>> {
        let ids: Vec<_> = rows.iter().map(|r| r.id).collect();
        let mut granted: BTreeMap<uuid::Uuid, Vec<String>> = BTreeMap::new();
        for p in self
            .table::<role_permissions::Entity>()
            .find()
            .filter(role_permissions::Column::RoleId.is_in(ids))
            .order_by_asc(role_permissions::Column::Permission)
            .all()
            .await?
        {
            granted.entry(p.role_id).or_default().push(p.permission);
        }
        Ok(rows
            .into_iter()
            .map(|r| {
                let permissions = granted.remove(&r.id).unwrap_or_default();
                to_role(r, permissions)
            })
            .collect())
    }
}

impl PlatformTx {
    /// The permissions `user` holds in `tenant`: tenant-wide, and (when a store is given)
    /// those held in that store only. The two are kept apart: a store grant never
    /// authorises tenant-level work.
    pub async fn member_permissions(
        &self,
        tenant: TenantId,
        user: UserId,
        store: Option<StoreId>,
    ) -> AppResult<Grants> {
        let mut scopes = vec![TENANT_SCOPE.to_owned()];
        if let Some(store) = store {
            scopes.push(store.to_string());
        }
        let assignments = self
            .across_tenants::<role_assignments::Entity>()
            .find()
            .filter(role_assignments::Column::TenantId.eq(tenant.into_uuid()))
            .filter(role_assignments::Column::UserId.eq(user.into_uuid()))
            .filter(role_assignments::Column::Scope.is_in(scopes))
            .all()
            .await?;
        if assignments.is_empty() {
            return Ok(Grants::default());
        }
        let role_ids: Vec<uuid::Uuid> = assignments.iter().map(|a| a.role_id).collect();
        let owner_role = self
            .across_tenants::<roles::Entity>()
            .find()
            .filter(roles::Column::TenantId.eq(tenant.into_uuid()))
            .filter(roles::Column::Id.is_in(role_ids.clone()))
            .filter(roles::Column::IsSystem.eq(true))
            .filter(roles::Column::Name.eq(OWNER))
            .one()
            .await?
            .map(|r| r.id);
        let mut by_role: BTreeMap<uuid::Uuid, BTreeSet<String>> = BTreeMap::new();
        for p in self
            .across_tenants::<role_permissions::Entity>()
            .find()
            .filter(role_permissions::Column::TenantId.eq(tenant.into_uuid()))
            .filter(role_permissions::Column::RoleId.is_in(role_ids))
            .all()
            .await?
        {
            by_role.entry(p.role_id).or_default().insert(p.permission);
        }
        let mut grants = Grants::default();
        for a in assignments {
            let held: BTreeSet<String> = if Some(a.role_id) == owner_role {
                all_permissions().into_iter().collect()
            } else {
                by_role.get(&a.role_id).cloned().unwrap_or_default()
            };
            if a.scope == TENANT_SCOPE {
                grants.tenant.extend(held);
            } else {
                grants.store.extend(held);
            }
        }
        Ok(grants)
    }
}

fn to_role(row: roles::Model, permissions: Vec<String>) -> Role {
    let permissions = if row.is_system && row.name == OWNER {
        all_permissions()
    } else {
        permissions
    };
    Role {
        id: RoleId::from_uuid(row.id),
        name: row.name,
        description: row.description,
        is_system: row.is_system,
        permissions,
    }
}

impl TenantScope {
    /// Renames a role, changes its description and/or replaces its permissions; `None`
    /// when it is not in this tenant. A taken name is `CONFLICT`.
    pub async fn update_role(
        &self,
        id: RoleId,
        name: Option<String>,
        description: Option<Option<String>>,
        permissions: Option<Vec<String>>,
    ) -> AppResult<Option<Role>> {
        if self.get_role(id).await?.is_none() {
            return Ok(None);
        }
        let mut update = self
            .table::<roles::Entity>()
            .update()
            .filter(roles::Column::Id.eq(id.into_uuid()))
            .set(roles::Column::UpdatedAt, Expr::value(self.now()));
        if let Some(name) = &name {
            update = update.set(roles::Column::Name, Expr::value(name.clone()));
        }
        if let Some(description) = description {
            update = update.set(roles::Column::Description, Expr::value(description));
        }
        update.exec().await.map_err(|e| {
            AppError::conflict_on_unique(
                e,
                format!("a role named {:?} exists", name.unwrap_or_default()),
            )
        })?;
        if let Some(permissions) = permissions {
            self.table::<role_permissions::Entity>()
                .delete()
                .filter(role_permissions::Column::RoleId.eq(id.into_uuid()))
                .exec()
                .await?;
            for permission in permissions {
                self.table::<role_permissions::Entity>()
                    .insert(role_permissions::ActiveModel {
                        role_id: Set(id.into_uuid()),
                        permission: Set(permission),
                        ..Default::default()
                    })
                    .await?;
            }
        }
        self.get_role(id).await
    }

    /// Grants or withdraws one permission of a role (idempotent).
    pub async fn set_role_permission(
        &self,
        id: RoleId,
        permission: &str,
        granted: bool,
    ) -> AppResult<()> {
        let held = self
            .table::<role_permissions::Entity>()
            .find()
            .filter(role_permissions::Column::RoleId.eq(id.into_uuid()))
            .filter(role_permissions::Column::Permission.eq(permission))
            .one()
            .await?
            .is_some();
        if granted && !held {
            self.table::<role_permissions::Entity>()
                .insert(role_permissions::ActiveModel {
                    role_id: Set(id.into_uuid()),
                    permission: Set(permission.to_owned()),
                    ..Default::default()
                })
                .await?;
        } else if !granted && held {
            self.table::<role_permissions::Entity>()
                .delete()
                .filter(role_permissions::Column::RoleId.eq(id.into_uuid()))
                .filter(role_permissions::Column::Permission.eq(permission))
                .exec()
                .await?;
        }
        Ok(())
    }

    /// How many assignments a role has.
    pub async fn count_role_assignments(&self, id: RoleId) -> AppResult<u64> {
        Ok(self
            .table::<role_assignments::Entity>()
            .find()
            .filter(role_assignments::Column::RoleId.eq(id.into_uuid()))
            .count()
            .await?)
    }

    /// Deletes a role and its permissions; false when it is not in this tenant.
    pub async fn delete_role(&self, id: RoleId) -> AppResult<bool> {
        self.table::<role_permissions::Entity>()
            .delete()
            .filter(role_permissions::Column::RoleId.eq(id.into_uuid()))
            .exec()
            .await?;
        let deleted = self
            .table::<roles::Entity>()
            .delete()
            .filter(roles::Column::Id.eq(id.into_uuid()))
            .exec()
            .await?;
        Ok(deleted > 0)
    }

    /// Withdraws a role from `user` (tenant-wide or in one store); false when not held.
    pub async fn revoke_role(
        &self,
        user: UserId,
        role: RoleId,
        store: Option<StoreId>,
    ) -> AppResult<bool> {
        let deleted = self
            .table::<role_assignments::Entity>()
            .delete()
            .filter(role_assignments::Column::UserId.eq(user.into_uuid()))
            .filter(role_assignments::Column::RoleId.eq(role.into_uuid()))
            .filter(role_assignments::Column::Scope.eq(scope_of(store)))
            .exec()
            .await?;
        Ok(deleted > 0)
    }
}
