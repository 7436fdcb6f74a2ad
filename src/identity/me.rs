//! `me`: the caller, their memberships with roles, the active tenant and its permissions.

use crate::auth::Caller;
use crate::db::TenantScope;
use crate::db::{Access, SystemTask};
use crate::error::{AppError, AppResult};
use crate::identity::User;
use crate::rbac::Role;
use crate::services::Services;
use crate::tenancy::{Membership, Principal, Store, Tenant, TenantContext};

/// A role held, with its store resolved.
#[derive(Debug, Clone)]
pub struct HeldRole {
    /// The role.
    pub role: Role,
    /// The store it is limited to.
    pub store: Option<Store>,
}

/// One membership with its roles.
#[derive(Debug, Clone)]
pub struct MembershipView {
    /// The membership.
    pub membership: Membership,
    /// The tenant's modules.
    pub modules: Vec<String>,
    /// Roles held in that tenant.
    pub roles: Vec<HeldRole>,
}

/// What `me` answers.
#[derive(Debug, Clone)]
pub struct MeView {
    /// The user.
    pub user: User,
    /// Memberships.
    pub memberships: Vec<MembershipView>,
    /// The tenant the request acts in.
    pub active_tenant: Option<(Tenant, Vec<String>)>,
    /// Effective permissions there, sorted.
    pub permissions: Vec<String>,
}

/// Roles `user` holds in the scope's tenant, with stores resolved.
pub async fn held_roles(scope: &TenantScope, user: crate::ids::UserId) -> AppResult<Vec<HeldRole>> {
    let mut out = Vec::new();
    for assignment in scope.member_roles(user).await? {
        let store = match assignment.store {
            Some(id) => scope.get_store(id).await?,
            None => None,
        };
        out.push(HeldRole {
            role: assignment.role,
            store,
        });
    }
    Ok(out)
}

/// The caller's view of themselves.
pub async fn me(services: &Services, caller: &Caller) -> AppResult<MeView> {
    let me = caller.user()?;
    let system = services
        .db
        .platform_read(Access::Task(SystemTask::Memberships))
        .await?;
    let user = system
        .find_user(me.id)
        .await?
        .ok_or(AppError::Unauthenticated)?;
    let principal = Principal::User {
        user_id: me.id,
        platform_admin: me.platform_admin,
    };
    // Everything the platform door answers first, then its connection goes back: a
    // request never holds one pooled connection while it waits for another.
    let mut entered = Vec::new();
    for membership in system.memberships_of(me.id).await? {
        // The context read the tenant's modules already; only a tenant the caller cannot
        // enter (suspended membership, closed tenant) needs them read here.
        match TenantContext::for_member_in(&system, principal.clone(), membership.tenant.id, None)
            .await
        {
            Ok(ctx) => entered.push((membership, Ok(ctx))),
            Err(AppError::NotFound { .. }) => {
                let modules = system.tenant_modules(membership.tenant.id).await?;
                entered.push((membership, Err(modules.into_iter().collect())));
            }
            Err(other) => return Err(other),
        }
    }
    let (active_tenant, permissions) = match caller.active_tenant() {
        Some(ctx) => (
            system
                .find_tenant(ctx.tenant_id())
                .await?
                .map(|t| (t, ctx.modules().iter().cloned().collect())),
            ctx.permissions().iter().cloned().collect(),
        ),
        None => (None, Vec::new()),
    };
    drop(system);
    let mut memberships = Vec::new();
    for (membership, entered) in entered {
        let (roles, modules) = match entered {
            Ok(ctx) => (
                held_roles(&services.db.read(&ctx).await?, me.id).await?,
                ctx.modules().iter().cloned().collect(),
            ),
            Err(modules) => (Vec::new(), modules),
        };
        memberships.push(MembershipView {
            membership,
            modules,
            roles,
        });
    }
    Ok(MeView {
        user,
        memberships,
        active_tenant,
        permissions,
    })
}
