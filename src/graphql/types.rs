//! Output types and queries that need no tenant: the permission catalogue.

use async_graphql::{Object, SimpleObject};

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

/// Queries over the permission catalogue.
#[derive(Default)]
pub struct CatalogueQuery;

#[Object]
impl CatalogueQuery {
    /// The permission catalogue: every permission a role can grant.
    async fn permissions(&self) -> Vec<PermissionObject> {
        rbac::CATALOGUE.iter().map(PermissionObject::from).collect()
    }
}
