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

/// Every permission, in display order.
pub const CATALOGUE: &[Permission] = &[
    p(
        "tenant.manage",
        "core",
        "Rename the tenant and change its settings",
    ),
    p("store.read", "core", "See stores"),
    p("store.manage", "core", "Create, edit and archive stores"),
    p("member.read", "core", "See members"),
    p("member.invite", "core", "Invite members"),
    p("member.manage", "core", "Remove members"),
    p("role.read", "core", "See roles"),
    p(
        "role.manage",
        "core",
        "Create, edit and delete roles, toggle permissions, assign and revoke roles",
    ),
    p(
        "billing.read",
        "billing",
        "See the subscription, invoices and payments",
    ),
    p(
        "billing.manage",
        "billing",
        "Change plan, cancel, pay invoices",
    ),
    p("usage.read", "metering", "See usage"),
    p("usage.write", "metering", "Record usage"),
    p("audit.read", "core", "Read the audit log"),
    p("apikey.manage", "core", "Manage API keys"),
    p("webhook.manage", "core", "Manage webhook endpoints"),
    p("inventory.read", "inventory", "See inventory"),
    p("inventory.manage", "inventory", "Manage inventory"),
];

/// The catalogue entry for `code`.
pub fn permission(code: &str) -> Option<&'static Permission> {
    CATALOGUE.iter().find(|p| p.code == code)
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
