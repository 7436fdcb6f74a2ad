//! Roles: named sets of permissions, held tenant-wide or inside one store.

use crate::ids::{RoleId, StoreId};
use crate::rbac::{CATALOGUE, Permission, perm};

/// The role every tenant's creator holds: every permission, not editable.
pub const OWNER: &str = "OWNER";
/// Everything but `tenant.manage`.
pub const ADMIN: &str = "ADMIN";
/// Day-to-day management of a store.
pub const MANAGER: &str = "MANAGER";
/// Works in a store.
pub const EMPLOYEE: &str = "EMPLOYEE";

/// A role as the services see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    /// Id.
    pub id: RoleId,
    /// Name, unique in the tenant.
    pub name: String,
    /// What it is for.
    pub description: Option<String>,
    /// System roles cannot be deleted; OWNER cannot be edited.
    pub is_system: bool,
    /// Permission codes it grants.
    pub permissions: Vec<String>,
}

impl Role {
    /// Whether this is the tenant's OWNER role.
    pub fn is_owner(&self) -> bool {
        self.is_system && self.name == OWNER
    }

    /// What holding the role grants: every permission for OWNER, its list otherwise.
    pub fn grants(&self) -> Vec<String> {
        if self.is_owner() {
            all_permissions()
        } else {
            self.permissions.clone()
        }
    }
}

/// A role held by a member, tenant-wide or in one store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleAssignment {
    /// The role.
    pub role: Role,
    /// The store it is limited to; `None` is the whole tenant.
    pub store: Option<StoreId>,
}

/// What creating a role needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRole {
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Whether it is one of the four system roles.
    pub is_system: bool,
    /// Permission codes.
    pub permissions: Vec<String>,
}

/// The four roles every tenant starts with. OWNER's permissions are not stored: it holds
/// the whole catalogue, including permissions added after the tenant was created.
pub fn system_roles() -> Vec<NewRole> {
    let all_but = |excluded: &[Permission]| {
        CATALOGUE
            .iter()
            .filter(|p| !excluded.contains(p))
            .map(|p| p.code.to_owned())
            .collect::<Vec<_>>()
    };
    let only = |codes: &[Permission]| codes.iter().map(|p| p.code.to_owned()).collect::<Vec<_>>();
    vec![
        NewRole {
            name: OWNER.into(),
            description: Some("Everything, including the tenant's own settings".into()),
            is_system: true,
            permissions: Vec::new(),
        },
        NewRole {
            name: ADMIN.into(),
            description: Some("Everything but the tenant's own settings".into()),
            is_system: true,
            permissions: all_but(&[perm::TENANT_MANAGE]),
        },
        NewRole {
            name: MANAGER.into(),
            description: Some(
                "Runs stores: sees members, usage and billing; manages inventory".into(),
            ),
            is_system: true,
            permissions: only(&[
                perm::STORE_READ,
                perm::MEMBER_READ,
                perm::USAGE_READ,
                perm::BILLING_READ,
                perm::INVENTORY_READ,
                perm::INVENTORY_MANAGE,
            ]),
        },
        NewRole {
            name: EMPLOYEE.into(),
            description: Some("Works in a store: sees stores and inventory".into()),
            is_system: true,
            permissions: only(&[perm::STORE_READ, perm::INVENTORY_READ]),
        },
    ]
}

/// Every permission code, for OWNER.
pub fn all_permissions() -> Vec<String> {
    CATALOGUE.iter().map(|p| p.code.to_owned()).collect()
}

/// The tenant's roles, system roles first. [P:role.read]
pub async fn list(
    services: &crate::services::Services,
    caller: &crate::auth::Caller,
) -> crate::error::AppResult<Vec<Role>> {
    let ctx = caller.require(perm::ROLE_READ)?;
    services.db.read(ctx).await?.list_roles().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_roles_follow_the_catalogue() {
        let roles = system_roles();
        let admin = roles.iter().find(|r| r.name == ADMIN).unwrap();
        assert!(!admin.permissions.contains(&"tenant.manage".to_owned()));
        assert!(admin.permissions.contains(&"role.manage".to_owned()));
        let employee = roles.iter().find(|r| r.name == EMPLOYEE).unwrap();
        assert_eq!(employee.permissions, ["store.read", "inventory.read"]);
        for role in &roles {
            for p in &role.permissions {
                assert!(crate::rbac::permission(p).is_some(), "{p}");
            }
        }
    }
}
