//! PostgreSQL row-level security on every tenant-owned table (SQLite has none; there the
//! tenant-scoped repository handle is the only guard).
//!
//! A row is visible when its `tenant_id` is the transaction's `app.tenant_id`, or when the
//! transaction was opened through the platform door (`app.platform = 'on'`; migration
//! `m20261201_000014` replaced that flag with a `platform_door` policy for the platform's
//! own role, so the flag no longer opens anything). No tenant set
//! means no rows. Each setting sits in a scalar sub-select so PostgreSQL evaluates it once
//! per statement (an InitPlan), not once per row. FORCE makes the policies bind the table
//! owner too.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

/// The tenant-owned tables of this migration. A later tenant table enables row-level
/// security in its own migration (this list is never extended); the crate's
/// `TENANT_TABLES` lists them all.
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
];

pub(crate) fn policy_sql(table: &str) -> String {
    let rule = "tenant_id = (SELECT NULLIF(current_setting('app.tenant_id', true), '')::uuid) \
                OR (SELECT current_setting('app.platform', true)) = 'on'";
    format!(
        "ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;\n\
         ALTER TABLE {table} FORCE ROW LEVEL SECURITY;\n\
         CREATE POLICY tenant_isolation ON {table} USING ({rule}) WITH CHECK ({rule});"
    )
}

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        for table in TENANT_TABLES {
            db.execute_unprepared(&policy_sql(table)).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        for table in TENANT_TABLES {
            db.execute_unprepared(&format!(
                "DROP POLICY IF EXISTS tenant_isolation ON {table};\n\
                 ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY;\n\
                 ALTER TABLE {table} DISABLE ROW LEVEL SECURITY;"
            ))
            .await?;
        }
        Ok(())
    }
}
