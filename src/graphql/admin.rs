//! Tenancy and access-control operations: the tenant, stores, members, roles, the audit
//! log, and the platform scope.

use async_graphql::{
    ComplexObject, Context, ID, InputObject, Json, Object, Result, SimpleObject, Subscription,
};
use chrono::{DateTime, Utc};
use futures::Stream;

use super::tenancy::{PageInfo, connection};
use super::types::{Role, RoleAssignment, Store, Tenant, User};
use super::{caller, services};
use crate::db::PageRequest;
use crate::tenancy::TenantStatus;
use crate::tenancy::members::MemberView;
use crate::{audit, rbac, tenancy};

/// A member of the tenant.
#[derive(SimpleObject)]
pub struct Member {
    /// The person.
    user: User,
    /// Membership state.
    status: super::types::MembershipStatus,
    /// Roles held here.
    roles: Vec<RoleAssignment>,
    /// When they joined.
    joined_at: Option<DateTime<Utc>>,
}

impl From<MemberView> for Member {
    fn from(m: MemberView) -> Self {
        Self {
            user: m.member.user.into(),
            status: m.member.status.into(),
            roles: m.roles.into_iter().map(Into::into).collect(),
            joined_at: m.member.joined_at,
        }
    }
}

/// A member in a list.
#[derive(SimpleObject)]
pub struct MemberEdge {
    /// The member.
    node: Member,
    /// Cursor.
    cursor: String,
}

/// A page of members.
#[derive(SimpleObject)]
pub struct MemberConnection {
    /// Members.
    edges: Vec<MemberEdge>,
    /// Paging.
    page_info: PageInfo,
    /// Members in the whole list.
    total_count: i32,
}

/// A tenant in a list.
#[derive(SimpleObject)]
pub struct TenantEdge {
    /// The tenant.
    node: Tenant,
    /// Cursor.
    cursor: String,
}

/// A page of tenants.
#[derive(SimpleObject)]
pub struct TenantConnection {
    /// Tenants.
    edges: Vec<TenantEdge>,
    /// Paging.
    page_info: PageInfo,
    /// Tenants matching.
    total_count: i32,
}

/// One entry of the audit log.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct AuditLogEntry {
    id: ID,
    /// What happened, e.g. `role.permission`.
    action: String,
    #[graphql(skip)]
    actor_id: Option<crate::ids::UserId>,
    /// Kind of object acted on.
    target_type: Option<String>,
    /// Its id.
    target_id: Option<String>,
    /// Before/after, secrets redacted.
    changes: Option<Json<serde_json::Value>>,
    /// Client address.
    ip: Option<String>,
    /// When the action happened.
    created_at: DateTime<Utc>,
}

#[ComplexObject]
impl AuditLogEntry {
    /// Who acted (null for API keys and the system). A platform admin who is not a member
    /// of the tenant shows as "Platform support".
    async fn actor(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let Some(id) = self.actor_id else {
            return Ok(None);
        };
        let tenant = caller(ctx)?.tenant()?.tenant_id();
        let system = services(ctx)?
            .db
            .unscoped_system("audit log: actor")
            .read()
            .await?;
        let Some(user) = system.find_user(id).await? else {
            return Ok(None);
        };
        if user.is_platform_admin && !system.is_active_member(tenant, id).await? {
            return Ok(Some(User::platform_support(self.created_at)));
        }
        Ok(Some(user.into()))
    }
}

impl From<audit::AuditRecord> for AuditLogEntry {
    fn from(r: audit::AuditRecord) -> Self {
        Self {
            id: ID(r.id.to_string()),
            action: r.action,
            actor_id: r.actor_user,
            target_type: r.target_type,
            target_id: r.target_id,
            changes: r.changes.map(Json),
            ip: r.ip,
            created_at: r.created_at,
        }
    }
}

/// An audit entry in a list.
#[derive(SimpleObject)]
pub struct AuditLogEdge {
    /// The entry.
    node: AuditLogEntry,
    /// Cursor.
    cursor: String,
}

/// A page of the audit log.
#[derive(SimpleObject)]
pub struct AuditLogConnection {
    /// Entries, newest first.
    edges: Vec<AuditLogEdge>,
    /// Paging.
    page_info: PageInfo,
    /// Entries matching.
    total_count: i32,
}

/// Tenant changes.
#[derive(InputObject)]
pub struct UpdateTenantInput {
    /// New name.
    name: Option<String>,
    /// New settings (a JSON object; replaces the old).
    settings: Option<Json<serde_json::Value>>,
}

/// A new store.
#[derive(InputObject)]
pub struct CreateStoreInput {
    name: String,
    /// Short code, unique in the tenant.
    code: Option<String>,
}

/// Store changes.
#[derive(InputObject)]
pub struct UpdateStoreInput {
    /// New name.
    name: Option<String>,
    /// New code.
    code: Option<String>,
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

fn tenant_with(tenant: (crate::tenancy::Tenant, Vec<String>)) -> Tenant {
    tenant.into()
}

/// Tenancy and access-control queries.
#[derive(Default)]
pub struct AdminQuery;

#[Object]
impl AdminQuery {
    /// The active tenant.
    async fn tenant(&self, ctx: &Context<'_>) -> Result<Tenant> {
        Ok(tenant_with(
            tenancy::tenants::manage::current(services(ctx)?, caller(ctx)?).await?,
        ))
    }

    /// The active tenant's members. [P:member.read]
    async fn members(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<MemberConnection> {
        let page = PageRequest::parse(first, after.as_deref())?;
        let page = tenancy::members::list(services(ctx)?, caller(ctx)?, page).await?;
        let (edges, page_info, total_count) = connection(
            page,
            |m: &MemberView| m.member.user.id.into_uuid(),
            |node, cursor| MemberEdge { node, cursor },
        );
        Ok(MemberConnection {
            edges,
            page_info,
            total_count,
        })
    }

    /// The active tenant's audit log, newest first. [P:audit.read]
    async fn audit_log(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        action: Option<String>,
    ) -> Result<AuditLogConnection> {
        let page = PageRequest::parse(first, after.as_deref())?;
        let page = audit::list(services(ctx)?, caller(ctx)?, action.as_deref(), page).await?;
        let (edges, page_info, total_count) = connection(
            page,
            |e: &audit::AuditRecord| e.id,
            |node, cursor| AuditLogEdge { node, cursor },
        );
        Ok(AuditLogConnection {
            edges,
            page_info,
            total_count,
        })
    }

    /// Every tenant, for platform administrators; each read is audited. [PA]
    async fn platform_tenants(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        search: Option<String>,
    ) -> Result<TenantConnection> {
        let page = PageRequest::parse(first, after.as_deref())?;
        let page = tenancy::tenants::manage::platform_list(
            services(ctx)?,
            caller(ctx)?,
            page,
            search.as_deref(),
        )
        .await?;
        let (edges, page_info, total_count) = connection(
            page,
            |(t, _): &(crate::tenancy::Tenant, Vec<String>)| t.id.into_uuid(),
            |node, cursor| TenantEdge { node, cursor },
        );
        Ok(TenantConnection {
            edges,
            page_info,
            total_count,
        })
    }
}

/// Tenancy and access-control mutations.
#[derive(Default)]
pub struct AdminMutation;

#[Object]
impl AdminMutation {
    /// Renames the tenant or replaces its settings. [P:tenant.manage]
    async fn update_tenant(&self, ctx: &Context<'_>, input: UpdateTenantInput) -> Result<Tenant> {
        let updated = tenancy::tenants::manage::update(
            services(ctx)?,
            caller(ctx)?,
            input.name.as_deref(),
            input.settings.map(|j| j.0),
        )
        .await?;
        Ok(tenant_with(updated))
    }

    /// Creates a store. [P:store.manage]
    async fn create_store(&self, ctx: &Context<'_>, input: CreateStoreInput) -> Result<Store> {
        let store = tenancy::stores::manage::create(
            services(ctx)?,
            caller(ctx)?,
            &input.name,
            input.code.as_deref(),
        )
        .await?;
        Ok(store.into())
    }

    /// Renames or re-codes a store. [P:store.manage]
    async fn update_store(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateStoreInput,
    ) -> Result<Store> {
        let store = tenancy::stores::manage::update(
            services(ctx)?,
            caller(ctx)?,
            &id,
            input.name.as_deref(),
            input.code.as_deref(),
        )
        .await?;
        Ok(store.into())
    }

    /// Archives a store. [P:store.manage]
    async fn archive_store(&self, ctx: &Context<'_>, id: ID) -> Result<Store> {
        Ok(
            tenancy::stores::manage::archive(services(ctx)?, caller(ctx)?, &id)
                .await?
                .into(),
        )
    }

    /// Removes a member; the last OWNER cannot be removed. [P:member.manage]
    async fn remove_member(&self, ctx: &Context<'_>, user_id: ID) -> Result<bool> {
        Ok(tenancy::members::remove(services(ctx)?, caller(ctx)?, &user_id).await?)
    }

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
        Ok(
            rbac::manage::update(services(ctx)?, caller(ctx)?, &id, input)
                .await?
                .into(),
        )
    }

    /// Deletes a custom role nobody holds. [P:role.manage]
    async fn delete_role(&self, ctx: &Context<'_>, id: ID) -> Result<bool> {
        Ok(rbac::manage::delete(services(ctx)?, caller(ctx)?, &id).await?)
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
            &role_id,
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
            &user_id,
            &role_id,
            store_id.as_ref().map(|s| s.as_str()),
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
            &user_id,
            &role_id,
            store_id.as_ref().map(|s| s.as_str()),
        )
        .await?;
        Ok(member.into())
    }

    /// Suspends a tenant: its members can read, not write. [PA]
    async fn suspend_tenant(
        &self,
        ctx: &Context<'_>,
        tenant_id: ID,
        reason: String,
    ) -> Result<Tenant> {
        let tenant = tenancy::tenants::manage::set_status(
            services(ctx)?,
            caller(ctx)?,
            &tenant_id,
            TenantStatus::Suspended,
            Some(&reason),
        )
        .await?;
        Ok(tenant_with(tenant))
    }

    /// Lifts a suspension. [PA]
    async fn reactivate_tenant(&self, ctx: &Context<'_>, tenant_id: ID) -> Result<Tenant> {
        let tenant = tenancy::tenants::manage::set_status(
            services(ctx)?,
            caller(ctx)?,
            &tenant_id,
            TenantStatus::Active,
            None,
        )
        .await?;
        Ok(tenant_with(tenant))
    }

    /// Turns a module on or off for a tenant (until plans decide). [PA]
    async fn set_tenant_module(
        &self,
        ctx: &Context<'_>,
        tenant_id: ID,
        module: String,
        enabled: bool,
    ) -> Result<Tenant> {
        let tenant = tenancy::tenants::manage::set_module(
            services(ctx)?,
            caller(ctx)?,
            &tenant_id,
            &module,
            enabled,
        )
        .await?;
        Ok(tenant_with(tenant))
    }
}

/// Live events.
#[derive(Default)]
pub struct Subscriptions;

#[Subscription(name = "Subscription")]
impl Subscriptions {
    /// Fires when the caller's effective permissions change (a role toggled, assigned or
    /// revoked), with the new set.
    async fn my_permissions_changed(
        &self,
        ctx: &Context<'_>,
    ) -> Result<impl Stream<Item = Vec<String>> + use<>> {
        let services = services(ctx)?.clone();
        let caller = caller(ctx)?;
        let me = caller.user()?;
        let tenant = caller.tenant()?.clone();
        Ok(rbac::live::permission_changes(services, me, tenant))
    }
}
