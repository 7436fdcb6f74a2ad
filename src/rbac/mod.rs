//! Role-based access control: the permission catalogue every role draws from, and roles.

pub mod live;
pub mod manage;
pub mod roles;

pub use roles::{NewRole, Role, RoleAssignment};

/// One permission of the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permission {
    /// Code, e.g. `store.manage`.
    pub code: &'static str,
    /// The module that must be enabled for the permission to be effective.
    pub module: &'static str,
    /// What it grants.
    pub description: &'static str,
}

const fn p(code: &'static str, module: &'static str, description: &'static str) -> Permission {
    Permission {
        code,
        module,
        description,
    }
}

/// The permissions by name: code checks use these, so a misspelt permission does not
/// compile.
pub mod perm {
    use super::{Permission, p};

    /// Rename the tenant and change its settings.
    pub const TENANT_MANAGE: Permission = p(
        "tenant.manage",
        "core",
        "Rename the tenant and change its settings",
    );
    /// See stores.
    pub const STORE_READ: Permission = p("store.read", "core", "See stores");
    /// Create, edit and archive stores.
    pub const STORE_MANAGE: Permission =
        p("store.manage", "core", "Create, edit and archive stores");
    /// See members.
    pub const MEMBER_READ: Permission = p("member.read", "core", "See members");
    /// Invite members.
    pub const MEMBER_INVITE: Permission = p("member.invite", "core", "Invite members");
    /// Remove members.
    pub const MEMBER_MANAGE: Permission = p("member.manage", "core", "Remove members");
    /// See roles.
    pub const ROLE_READ: Permission = p("role.read", "core", "See roles");
    /// Create, edit and delete roles, toggle permissions, assign and revoke roles.
    pub const ROLE_MANAGE: Permission = p(
        "role.manage",
        "core",
        "Create, edit and delete roles, toggle permissions, assign and revoke roles",
    );
    /// See the subscription, invoices and payments.
    pub const BILLING_READ: Permission = p(
        "billing.read",
        "billing",
        "See the subscription, invoices and payments",
    );
    /// Change plan, cancel, pay invoices.
    pub const BILLING_MANAGE: Permission = p(
        "billing.manage",
        "billing",
        "Change plan, cancel, pay invoices",
    );
    /// See usage.
    pub const USAGE_READ: Permission = p("usage.read", "metering", "See usage");
    /// Record usage.
    pub const USAGE_WRITE: Permission = p("usage.write", "metering", "Record usage");
    /// Read the audit log.
    pub const AUDIT_READ: Permission = p("audit.read", "core", "Read the audit log");
    /// Manage API keys.
    pub const APIKEY_MANAGE: Permission = p("apikey.manage", "core", "Manage API keys");
    /// Manage webhook endpoints.
    pub const WEBHOOK_MANAGE: Permission = p("webhook.manage", "core", "Manage webhook endpoints");
    /// See inventory.
    pub const INVENTORY_READ: Permission = p("inventory.read", "inventory", "See inventory");
    /// Manage inventory.
    pub const INVENTORY_MANAGE: Permission = p("inventory.manage", "inventory", "Manage inventory");
}

/// Every permission, in display order.
pub const CATALOGUE: &[Permission] = &[
    perm::TENANT_MANAGE,
    perm::STORE_READ,
    perm::STORE_MANAGE,
    perm::MEMBER_READ,
    perm::MEMBER_INVITE,
    perm::MEMBER_MANAGE,
    perm::ROLE_READ,
    perm::ROLE_MANAGE,
    perm::BILLING_READ,
    perm::BILLING_MANAGE,
    perm::USAGE_READ,
    perm::USAGE_WRITE,
    perm::AUDIT_READ,
    perm::APIKEY_MANAGE,
    perm::WEBHOOK_MANAGE,
    perm::INVENTORY_READ,
    perm::INVENTORY_MANAGE,
];

/// The catalogue entry for `code`.
pub fn permission(code: &str) -> Option<&'static Permission> {
    CATALOGUE.iter().find(|p| p.code == code)
}

/// A member's permissions, tenant-wide and in one store, apart.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    /// Held tenant-wide.
    pub tenant: std::collections::BTreeSet<String>,
    /// Held only in the store the request is narrowed to.
    pub store: std::collections::BTreeSet<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_prefixed_by_their_area() {
        let mut codes: Vec<_> = CATALOGUE.iter().map(|p| p.code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), CATALOGUE.len());
        assert_eq!(permission("store.read").map(|p| p.module), Some("core"));
        assert!(permission("store.delete").is_none());
    }
}
