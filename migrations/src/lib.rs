//! Msingi's schema, as sea-orm migrations, in two migrators with their own migration
//! tables: [`Migrator`] (`control/`: identity, tenancy, RBAC, audit, outbox, and later
//! billing, payments, metering; always in the main database) and [`DataMigrator`]
//! (`data/`: the data-plane tables of domain modules, which the isolation tiers run per
//! tenant schema and per tenant database).
//!
//! One concern per file, named `mYYYYMMDD_HHMMSS_verb_object.rs`, never edited after it
//! lands. Every tenant-owned table follows the same rules so the control plane can later be
//! distributed by tenant (Citus) without schema changes: `tenant_id NOT NULL` is the first
//! column of the primary key and of every foreign key between tenant tables, indexes are led
//! by `tenant_id`, and unique constraints include it.

pub use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

mod control;
mod data;

pub use control::Migrator;
pub use data::DataMigrator;
// Landed migrations name each other from the crate root.
use control::m20261122_000001_create_tenants;
use control::m20261122_000002_create_users;
use control::m20261122_000013_enable_row_level_security;

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
    "tenant_job_effects",
    "subscriptions",
    "invoices",
    "invoice_lines",
    "invoice_counters",
    "payments",
    "usage_events",
    "usage_rollups",
    "usage_alerts",
    "notifications",
    "webhook_endpoints",
    "webhook_deliveries",
    "notification_preferences",
    "tenant_moves",
    "tenant_exports",
    // The data plane's, in the main database (tenants on the SHARED tier).
    "products",
    "stock_levels",
    "stock_movements",
];

/// The data-plane tables ([`DataMigrator`]), in the order a copy fills them (referenced
/// tables first): they live where a tenant's isolation tier says.
pub const DATA_TABLES: &[&str] = &["products", "stock_levels", "stock_movements"];

/// Tables under FORCEd row-level security that are not keyed by `tenant_id`: `tenants`
/// (the current one only), `users` (members of the current tenant only) and the
/// platform's own `sessions`, `refresh_tokens`, `user_tokens`, `job_dead_letters`, `mpesa_callbacks`,
/// `mpesa_tokens` (no tenant policy at all).
pub const GLOBAL_RLS_TABLES: &[&str] = &[
    "tenants",
    "users",
    "sessions",
    "refresh_tokens",
    "user_tokens",
    "job_dead_letters",
    "mpesa_callbacks",
    "mpesa_tokens",
];

/// A column named `name`, to be given its type.
pub(crate) fn col(name: &str) -> ColumnDef {
    ColumnDef::new(Alias::new(name))
}

/// `created_at`/`updated_at` columns, UTC, set by the application.
pub(crate) fn timestamp(name: impl IntoIden) -> ColumnDef {
    ColumnDef::new(name)
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}

/// The current tenant, as every tenant policy reads it (once per statement).
const CURRENT_TENANT: &str = "(SELECT NULLIF(current_setting('app.tenant_id', true), '')::uuid)";

/// Creates a tenant table the one way: `tenant_id` (UUID, NOT NULL) first, referencing
/// `tenants`, then `columns`; the primary key `(tenant_id, key…)`; on PostgreSQL row-level
/// security enabled and FORCEd with the `tenant_isolation` policy. Add the table to
/// [`TENANT_TABLES`] too (the platform role's policies and the isolation tests read it).
pub async fn create_tenant_table(
    manager: &SchemaManager<'_>,
    table: &str,
    key: &[&str],
    columns: Vec<ColumnDef>,
) -> Result<(), DbErr> {
    create_keyed_table(manager, table, key, columns, true).await
}

/// Creates a data-plane table (see [`DataMigrator`]) the one way: as
/// [`create_tenant_table`], `tenant_id` first in the primary key and FORCEd row-level
/// security, but without a foreign key to `tenants`, which stays in the main database
/// while the table may live in a tenant's own schema or database. Add it to
/// [`DATA_TABLES`] (and [`TENANT_TABLES`], for the copy in the main database).
pub async fn create_data_table(
    manager: &SchemaManager<'_>,
    table: &str,
    key: &[&str],
    columns: Vec<ColumnDef>,
) -> Result<(), DbErr> {
    create_keyed_table(manager, table, key, columns, false).await
}

async fn create_keyed_table(
    manager: &SchemaManager<'_>,
    table: &str,
    key: &[&str],
    columns: Vec<ColumnDef>,
    references_tenants: bool,
) -> Result<(), DbErr> {
    let name = Alias::new(table);
    let mut create = Table::create();
    create.table(name.clone()).col(
        ColumnDef::new(Alias::new("tenant_id"))
            .uuid()
            .not_null()
            .to_owned(),
    );
    for mut column in columns {
        create.col(&mut column);
    }
    let mut primary = Index::create();
    primary.col(Alias::new("tenant_id"));
    for column in key {
        primary.col(Alias::new(*column));
    }
    create.primary_key(&mut primary);
    if references_tenants {
        create.foreign_key(
            ForeignKey::create()
                .from(name, Alias::new("tenant_id"))
                .to(Alias::new("tenants"), Alias::new("id"))
                .on_delete(ForeignKeyAction::Cascade),
        );
    }
    manager.create_table(create.to_owned()).await?;
    if manager.get_database_backend() == DbBackend::Postgres {
        let rule = format!("tenant_id = {CURRENT_TENANT}");
        manager
            .get_connection()
            .execute_unprepared(&format!(
                "ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;\n\
                 ALTER TABLE {table} FORCE ROW LEVEL SECURITY;\n\
                 CREATE POLICY tenant_isolation ON {table} USING ({rule}) WITH CHECK ({rule});"
            ))
            .await?;
    }
    Ok(())
}
