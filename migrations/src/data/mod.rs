//! The data-plane migrations: the tables of domain modules (inventory first), recorded in
//! `seaql_migrations_data`, so the isolation tiers can apply them to the main database
//! (`SHARED`), to each tenant schema (`SCHEMA`) and to each tenant database (`DATABASE`),
//! each place keeping its own record. No module has a table yet; their migrations go here.

use super::*;

/// The data plane's migrations, in order.
pub struct DataMigrator;

#[async_trait::async_trait]
impl MigratorTrait for DataMigrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        Vec::new()
    }

    fn migration_table_name() -> DynIden {
        Alias::new("seaql_migrations_data").into_iden()
    }
}
