//! sea-orm entities, private to the repository layer: nothing outside `crate::db` can name
//! a table. Written to match the migrations; never used to create the schema.

pub(super) mod api_keys;
pub(super) mod audit_heads;
pub(super) mod audit_log;
pub(super) mod invitations;
pub(super) mod member_profiles;
pub(super) mod memberships;
pub(super) mod outbox;
pub(super) mod refresh_tokens;
pub(super) mod role_assignments;
pub(super) mod role_permissions;
pub(super) mod roles;
pub(super) mod sessions;
pub(super) mod stores;
pub(super) mod tenant_modules;
pub(super) mod tenants;
pub(super) mod user_tokens;
pub(super) mod users;
