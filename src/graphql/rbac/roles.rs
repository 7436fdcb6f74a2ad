//! Roles and the permission catalogue.

use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};

use super::super::tenancy::members::Member;
use super::super::tenancy::stores::Store;
use crate::graphql::{caller, services};
use crate::identity::me::HeldRole;
use crate::ids::{RoleId, StoreId, UserId};
use crate::rbac;

/// A permission a role can grant.
#[derive(SimpleObject)]
#[graphql(name = "Permission")]
pub struct PermissionObject {
    /// Code, e.g. `store.manage`.
    code: String,
    /// The module that must be enabled for the permission to be effective.
    module: String,
    /// What it grants.
    description: String,
}

impl From<&rbac::Permission> for PermissionObject {
    fn from(p: &rbac::Permission) -> Self {
        Self {
            code: p.code.to_owned(),
            module: p.module.to_owned(),
            description: p.description.to_owned(),
        }
    }
}

/// A named set of permissions.
#[derive(SimpleObject)]
pub struct Role {
    id: ID,
    /// Name, unique in the tenant.
    name: String,
    /// What it is for.
    description: Option<String>,
    /// System roles (OWNER, ADMIN, MANAGER, EMPLOYEE) cannot be deleted; OWNER cannot be
    /// edited.
    is_system: bool,
    /// Permission codes it grants.
    permissions: Vec<String>,
}

impl From<rbac::Role> for Role {
    fn from(r: rbac::Role) -> Self {
        Self {
            id: ID(r.id.to_string()),
            name: r.name,
            description: r.description,
            is_system: r.is_system,
            permissions: r.permissions,
        }
    }
}

/// A role held by a member.
#[derive(SimpleObject)]
pub struct RoleAssignment {
    /// The role.
    role: Role,
    /// The store it is limited to; null: the whole tenant.
    store: Option<Store>,
}

impl From<HeldRole> for RoleAssignment {
    fn from(h: HeldRole) -> Self {
        Self {
            role: h.role.into(),
            store: h.store.map(Into::into),
        }
    }
}

/// A new role.
#[derive(InputObject)]
pub struct CreateRoleInput {
    /// Name, unique in the tenant.
    name: String,
    /// What it is for.
    description: Option<String>,
    /// Permission codes (each one you hold).
    permissions: Vec<String>,
}

/// Role changes.
#[derive(InputObject)]
pub struct UpdateRoleInput {
    /// New name (not for system roles).
    name: Option<String>,
    /// New description.
    description: Option<String>,
    /// The complete new permission set.
    permissions: Option<Vec<String>>,
}

/// Roles queries.
#[derive(Default)]
pub struct RolesQuery;

#[Object]
impl RolesQuery {
    /// The permission catalogue: every permission a role can grant.
    async fn permissions(&self) -> Vec<PermissionObject> {
        rbac::CATALOGUE.iter().map(PermissionObject::from).collect()
    }

    /// The active tenant's roles, system roles first. [P:role.read]
    async fn roles(&self, ctx: &Context<'_>) -> Result<Vec<Role>> {
        Ok(rbac::roles::list(services(ctx)?, caller(ctx)?)
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }
}

/// Roles mutations.
#[derive(Default)]
pub struct RolesMutation;

#[Object]
impl RolesMutation {
    /// Creates a role from permissions you hold. [P:role.manage]
    async fn create_role(&self, ctx: &Context<'_>, input: CreateRoleInput) -> Result<Role> {
        let input = rbac::manage::RoleInput {
            name: Some(input.name),
            description: input.description,
            permissions: Some(input.permissions),
        };
        Ok(rbac::manage::create(services(ctx)?, caller(ctx)?, input)
            .await?
            .into())
    }

    /// Changes a role (not OWNER). [P:role.manage]
    async fn update_role(&self, ctx: &Context<'_>, id: ID, input: UpdateRoleInput) -> Result<Role> {
        let input = rbac::manage::RoleInput {
            name: input.name,
            description: input.description,
            permissions: input.permissions,
        };
        Ok(rbac::manage::update(
            services(ctx)?,
            caller(ctx)?,
            RoleId::parse(&id, "id")?,
            input,
        )
        .await?
        .into())
    }

    /// Deletes a custom role nobody holds. [P:role.manage]
    async fn delete_role(&self, ctx: &Context<'_>, id: ID) -> Result<bool> {
        Ok(rbac::manage::delete(services(ctx)?, caller(ctx)?, RoleId::parse(&id, "id")?).await?)
    }

    /// The real-time toggle: takes effect on the holder's next request.
    async fn set_role_permission(
        &self,
        ctx: &Context<'_>,
        role_id: ID,
        permission: String,
        granted: bool,
    ) -> Result<Role> {
        Ok(rbac::manage::set_permission(
            services(ctx)?,
            caller(ctx)?,
            RoleId::parse(&role_id, "roleId")?,
            &permission,
            granted,
        )
        .await?
        .into())
    }

    /// Gives a member a role, tenant-wide or in one store. [P:role.manage]
    async fn assign_role(
        &self,
        ctx: &Context<'_>,
        user_id: ID,
        role_id: ID,
        store_id: Option<ID>,
    ) -> Result<Member> {
        let member = rbac::manage::assign(
            services(ctx)?,
            caller(ctx)?,
            UserId::parse(&user_id, "userId")?,
            RoleId::parse(&role_id, "roleId")?,
            store_id
                .map(|s| StoreId::parse(&s, "storeId"))
                .transpose()?,
        )
        .await?;
        Ok(member.into())
    }

    /// Withdraws a role from a member. [P:role.manage]
    async fn revoke_role(
        &self,
        ctx: &Context<'_>,
        user_id: ID,
        role_id: ID,
        store_id: Option<ID>,
    ) -> Result<Member> {
        let member = rbac::manage::revoke(
            services(ctx)?,
            caller(ctx)?,
            UserId::parse(&user_id, "userId")?,
            RoleId::parse(&role_id, "roleId")?,
            store_id
                .map(|s| StoreId::parse(&s, "storeId"))
                .transpose()?,
        )
        .await?;
        Ok(member.into())
    }
}
