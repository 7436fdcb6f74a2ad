//! The GraphQL operations the tests send, kept as `.graphql` files under `graphql/<feature>/`.

pub const TENANT: &str = include_str!("graphql/tenancy/tenant.graphql");
pub const UPDATE_TENANT: &str = include_str!("graphql/tenancy/update_tenant.graphql");
pub const CREATE_STORE: &str = include_str!("graphql/tenancy/create_store.graphql");
pub const UPDATE_STORE: &str = include_str!("graphql/tenancy/update_store.graphql");
pub const ARCHIVE_STORE: &str = include_str!("graphql/tenancy/archive_store.graphql");
pub const STORE: &str = include_str!("graphql/tenancy/store.graphql");
pub const MEMBERS: &str = include_str!("graphql/tenancy/members.graphql");
pub const REMOVE_MEMBER: &str = include_str!("graphql/tenancy/remove_member.graphql");
pub const CREATE_ROLE: &str = include_str!("graphql/tenancy/create_role.graphql");
pub const UPDATE_ROLE: &str = include_str!("graphql/tenancy/update_role.graphql");
pub const DELETE_ROLE: &str = include_str!("graphql/tenancy/delete_role.graphql");
pub const SET_ROLE_PERMISSION: &str = include_str!("graphql/tenancy/set_role_permission.graphql");
pub const ASSIGN_ROLE: &str = include_str!("graphql/tenancy/assign_role.graphql");
pub const REVOKE_ROLE: &str = include_str!("graphql/tenancy/revoke_role.graphql");
pub const AUDIT_LOG: &str = include_str!("graphql/tenancy/audit_log.graphql");
