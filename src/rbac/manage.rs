//! Role management. Rules: OWNER cannot be edited; system roles cannot be deleted; a role
//! in use is deleted only after its assignments go; nobody grants a permission they do not
//! hold tenant-wide, nor takes away one they do not hold (removing it from a role, or
//! revoking a role that grants it); a system role is edited only by someone holding all of
//! its permissions; only an OWNER demotes an OWNER; the last OWNER cannot be demoted. Every change takes effect on the holders' next
//! request and fires `myPermissionsChanged`.

use crate::audit::AuditEntry;
use crate::auth::Caller;
use crate::db::TenantScope;
use crate::error::{AppError, AppResult};
use crate::ids::{RoleId, StoreId, UserId};
use crate::rbac::perm;
use crate::rbac::{NewRole, Role, permission};
use crate::services::Services;
use crate::tenancy::TenantContext;
use crate::tenancy::members::{MemberView, view};

/// Role arguments, as sent.
#[derive(Debug, Clone, Default)]
pub struct RoleInput {
    /// Name.
    pub name: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Permission codes.
    pub permissions: Option<Vec<String>>,
}

fn role_name(name: &str) -> AppResult<String> {
    Ok(crate::name::Name::parse_at_most(name, "input.name", 60)?.into_string())
}

/// Validates codes against the catalogue and the caller's own permissions.
fn grantable(ctx: &TenantContext, codes: &[String], field: &str) -> AppResult<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for code in codes {
        let code = code.trim();
        if permission(code).is_none() {
            return Err(AppError::bad_input(
                field,
                format!("unknown permission {code:?}"),
            ));
        }
        if !out.iter().any(|c| c == code) {
            out.push(code.to_owned());
        }
    }
    if let Some(missing) = ctx.beyond_own(&out) {
        return Err(AppError::forbidden(format!(
            "you cannot grant {missing}, which you do not hold"
        )));
    }
    Ok(out)
}

async fn editable(ctx: &TenantContext, scope: &TenantScope, id: RoleId) -> AppResult<Role> {
    let role = scope
        .get_role(id)
        .await?
        .ok_or(AppError::NotFound { entity: "role" })?;
    if role.is_owner() {
        return Err(AppError::forbidden("the OWNER role cannot be edited"));
    }
    if role.is_system
        && let Some(missing) = ctx.beyond_own(&role.permissions)
    {
        return Err(AppError::forbidden(format!(
            "the system role {} grants {missing}, which you do not hold: only holders of all \
             its permissions may edit it",
            role.name
        )));
    }
    Ok(role)
}

/// FORBIDDEN when `removed` holds a permission the caller does not hold tenant-wide.
fn removable(ctx: &TenantContext, removed: &[String], what: &str) -> AppResult<()> {
    match ctx.beyond_own(removed) {
        Some(missing) => Err(AppError::forbidden(format!(
            "{what} would take away {missing}, which you do not hold"
        ))),
        None => Ok(()),
    }
}

/// Creates a role. [P:role.manage]
pub async fn create(services: &Services, caller: &Caller, input: RoleInput) -> AppResult<Role> {
    let ctx = caller.require(perm::ROLE_MANAGE)?;
    let name = role_name(input.name.as_deref().unwrap_or_default())?;
    let permissions = grantable(
        ctx,
        &input.permissions.unwrap_or_default(),
        "input.permissions",
    )?;
    let scope = services.db.write(ctx).await?;
    let role = scope
        .insert_role(NewRole {
            name,
            description: input.description.filter(|d| !d.trim().is_empty()),
            is_system: false,
            permissions,
        })
        .await?;
    scope
        .commit(caller.audit(
            AuditEntry::new("role.create", "role", role.id).with_changes(
                serde_json::json!({ "name": role.name, "permissions": role.permissions }),
            ),
        ))
        .await?;
    Ok(role)
}

/// Changes a role. System roles keep their names. [P:role.manage]
pub async fn update(
    services: &Services,
    caller: &Caller,
    id: RoleId,
    input: RoleInput,
) -> AppResult<Role> {
    let ctx = caller.require(perm::ROLE_MANAGE)?;
    let scope = services.db.write(ctx).await?;
    let before = editable(ctx, &scope, id).await?;
    let name = input.name.as_deref().map(role_name).transpose()?;
    if before.is_system && name.as_ref().is_some_and(|n| *n != before.name) {
        return Err(AppError::forbidden("system roles keep their names"));
    }
    let permissions = match &input.permissions {
        Some(codes) => {
            let codes = grantable(ctx, codes, "input.permissions")?;
            let removed: Vec<String> = before
                .permissions
                .iter()
                .filter(|p| !codes.contains(p))
                .cloned()
                .collect();
            removable(ctx, &removed, "this change")?;
            Some(codes)
        }
        None => None,
    };
    let after = scope
        .update_role(
            id,
            name,
            input
                .description
                .map(|d| Some(d).filter(|d| !d.trim().is_empty())),
            permissions,
        )
        .await?
        .ok_or(AppError::NotFound { entity: "role" })?;
    scope.invalidates_access();
    scope
        .commit(
            caller.audit(AuditEntry::new("role.update", "role", id).with_changes(
                serde_json::json!({
                    "before": { "name": before.name, "permissions": before.permissions },
                    "after": { "name": after.name, "permissions": after.permissions },
                }),
            )),
        )
        .await?;

    Ok(after)
}

/// Deletes a custom role that nobody holds. [P:role.manage]
pub async fn delete(services: &Services, caller: &Caller, id: RoleId) -> AppResult<bool> {
    let ctx = caller.require(perm::ROLE_MANAGE)?;
    let scope = services.db.write(ctx).await?;
    let role = scope
        .get_role(id)
        .await?
        .ok_or(AppError::NotFound { entity: "role" })?;
    if role.is_system {
        return Err(AppError::forbidden("system roles cannot be deleted"));
    }
    let holders = scope.count_role_assignments(id).await?;
    if holders > 0 {
        return Err(AppError::Conflict(format!(
            "the role {} is assigned {holders} time(s): revoke it first",
            role.name
        )));
    }
    scope.delete_role(id).await?;
    scope
        .commit(
            caller.audit(
                AuditEntry::new("role.delete", "role", id)
                    .with_changes(serde_json::json!({ "name": role.name })),
            ),
        )
        .await?;
    Ok(true)
}

/// The real-time toggle: grants or withdraws one permission of a role. [P:role.manage]
pub async fn set_permission(
    services: &Services,
    caller: &Caller,
    id: RoleId,
    code: &str,
    granted: bool,
) -> AppResult<Role> {
    let ctx = caller.require(perm::ROLE_MANAGE)?;
    let code = if granted {
        grantable(ctx, &[code.to_owned()], "permission")?.remove(0)
    } else {
        let code = permission(code.trim())
            .ok_or_else(|| {
                AppError::bad_input("permission", format!("unknown permission {code:?}"))
            })?
            .code
            .to_owned();
        removable(ctx, std::slice::from_ref(&code), "withdrawing it")?;
        code
    };
    let scope = services.db.write(ctx).await?;
    editable(ctx, &scope, id).await?;
    scope.set_role_permission(id, &code, granted).await?;
    let role = scope
        .get_role(id)
        .await?
        .ok_or(AppError::NotFound { entity: "role" })?;
    scope.invalidates_access();
    scope
        .commit(
            caller.audit(
                AuditEntry::new("role.permission", "role", id)
                    .with_changes(serde_json::json!({ "permission": code, "granted": granted })),
            ),
        )
        .await?;

    Ok(role)
}

/// Whether an assignment is being made or withdrawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    Assign,
    Revoke,
}

/// Gives a member a role, tenant-wide or in one store. [P:role.manage]
pub async fn assign(
    services: &Services,
    caller: &Caller,
    user: UserId,
    role: RoleId,
    store: Option<StoreId>,
) -> AppResult<MemberView> {
    change_assignment(services, caller, user, role, store, Change::Assign).await
}

/// Withdraws a role from a member (the last OWNER keeps theirs). [P:role.manage]
pub async fn revoke(
    services: &Services,
    caller: &Caller,
    user: UserId,
    role: RoleId,
    store: Option<StoreId>,
) -> AppResult<MemberView> {
    change_assignment(services, caller, user, role, store, Change::Revoke).await
}

async fn change_assignment(
    services: &Services,
    caller: &Caller,
    user: UserId,
    role_id: RoleId,
    store: Option<StoreId>,
    change: Change,
) -> AppResult<MemberView> {
    let ctx = caller.require(perm::ROLE_MANAGE)?;
    let scope = services.db.write(ctx).await?;
    scope
        .get_member(user)
        .await?
        .ok_or(AppError::NotFound { entity: "member" })?;
    let role = scope
        .get_role(role_id)
        .await?
        .ok_or(AppError::NotFound { entity: "role" })?;
    if let Some(store) = store {
        scope
            .get_store(store)
            .await?
            .ok_or(AppError::NotFound { entity: "store" })?;
    }
    let action = match change {
        Change::Assign => {
            if let Some(missing) = ctx.beyond_own(&role.grants()) {
                return Err(AppError::forbidden(format!(
                    "the role {} grants {missing}, which you do not hold",
                    role.name
                )));
            }
            scope.assign_role(user, role_id, store).await?;
            "role.assign"
        }
        Change::Revoke => {
            if role.is_owner() && !ctx.has(perm::TENANT_MANAGE) {
                return Err(AppError::forbidden("only an OWNER can demote an OWNER"));
            }
            removable(ctx, &role.grants(), &format!("revoking {}", role.name))?;
            if role.is_owner() && store.is_none() && scope.owner_ids_locked().await? == [user] {
                return Err(AppError::Conflict(
                    "the last OWNER cannot be demoted".into(),
                ));
            }
            scope.revoke_role(user, role_id, store).await?;
            "role.revoke"
        }
    };
    let audit = caller.audit(AuditEntry::new(action, "user", user).with_changes(
        serde_json::json!({ "role": role.name, "store": store.map(|s| s.to_string()) }),
    ));
    let member = view(&scope, user)
        .await?
        .ok_or(AppError::NotFound { entity: "member" })?;
    let (verb, title) = match change {
        Change::Assign => ("given", format!("You were given the role {}", role.name)),
        Change::Revoke => (
            "withdrawn",
            format!("The role {} was withdrawn from you", role.name),
        ),
    };
    let place = store.map_or("across the team".to_owned(), |s| format!("in store {s}"));
    crate::notify::notifications::to_user(
        &scope,
        user,
        &crate::notify::notifications::NewNotification {
            kind: crate::notify::notifications::kind::ROLE_CHANGED,
            title,
            body: format!(
                "The role {} was {verb} {place}; what you may do changed with it.",
                role.name
            ),
            data: Some(serde_json::json!({
                "roleId": role_id,
                "storeId": store,
                "change": action,
            })),
        },
    )
    .await?;
    scope.invalidates_access();
    scope.commit(audit).await?;

    Ok(member)
}
