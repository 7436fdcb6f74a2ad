//! Msingi's schema, as sea-orm migrations.
//!
//! One concern per file, named `mYYYYMMDD_HHMMSS_verb_object.rs`, never edited after it
//! lands. Every tenant-owned table follows the same rules so the control plane can later be
//! distributed by tenant (Citus) without schema changes: `tenant_id NOT NULL` is the first
//! column of the primary key and of every foreign key between tenant tables, indexes are led
//! by `tenant_id`, and unique constraints include it.

pub use sea_orm_migration::prelude::*;

mod m20261122_000001_create_tenants;
mod m20261122_000002_create_users;
mod m20261122_000003_create_stores;
mod m20261122_000004_create_memberships;
mod m20261122_000005_create_outbox;
mod m20261122_000006_create_roles;
mod m20261122_000007_create_sessions;
mod m20261122_000008_create_user_tokens;
mod m20261122_000009_create_invitations;
mod m20261122_000010_create_api_keys;
mod m20261122_000011_create_audit_log;
mod m20261122_000012_create_tenant_modules;
mod m20261122_000013_enable_row_level_security;
mod m20261201_000014_enforce_isolation_in_the_database;
mod m20261201_000015_create_login_throttle;

/// Every table whose rows belong to one tenant (`tenant_id`), under FORCEd row-level
/// security with the `tenant_isolation` policy.
pub const TENANT_TABLES: &[&str] = &[
    "stores",
    "memberships",
    "roles",
    "role_permissions",
    "role_assignments",
    "invitations",
    "api_keys",
    "audit_log",
    "tenant_modules",
    "outbox",
];

/// Tables under FORCEd row-level security that are not keyed by `tenant_id`: `tenants`
/// (the current one only), `users` (members of the current tenant only) and the
/// platform's own `sessions`, `refresh_tokens`, `user_tokens` (no tenant policy at all).
pub const GLOBAL_RLS_TABLES: &[&str] = &[
    "tenants",
    "users",
    "sessions",
    "refresh_tokens",
    "user_tokens",
];

/// The ordered list of Msingi's migrations.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_create_tenants::Migration),
            Box::new(m20261122_000002_create_users::Migration),
            Box::new(m20261122_000003_create_stores::Migration),
            Box::new(m20261122_000004_create_memberships::Migration),
            Box::new(m20261122_000005_create_outbox::Migration),
            Box::new(m20261122_000006_create_roles::Migration),
            Box::new(m20261122_000007_create_sessions::Migration),
            Box::new(m20261122_000008_create_user_tokens::Migration),
            Box::new(m20261122_000009_create_invitations::Migration),
            Box::new(m20261122_000010_create_api_keys::Migration),
            Box::new(m20261122_000011_create_audit_log::Migration),
            Box::new(m20261122_000012_create_tenant_modules::Migration),
            Box::new(m20261122_000013_enable_row_level_security::Migration),
            Box::new(m20261201_000014_enforce_isolation_in_the_database::Migration),
            Box::new(m20261201_000015_create_login_throttle::Migration),
        ]
    }
}

/// `created_at`/`updated_at` columns, UTC, set by the application.
pub(crate) fn timestamp(name: impl IntoIden) -> ColumnDef {
    ColumnDef::new(name)
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}
