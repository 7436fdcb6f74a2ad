//! The data-plane migrations: the tables of domain modules (inventory first), recorded in
//! `seaql_migrations_data`, so the isolation tiers can apply them to the main database
//! (`SHARED`), to each tenant schema (`SCHEMA`) and to each tenant database (`DATABASE`),
//! each place keeping its own record. Their tables are made with [`create_data_table`](crate::create_data_table).

use super::*;

mod m20261203_000001_create_inventory;

/// The data plane's migrations, in order.
pub struct DataMigrator;

#[async_trait::async_trait]
impl MigratorTrait for DataMigrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(m20261203_000001_create_inventory::Migration)]
    }

    fn migration_table_name() -> DynIden {
        Alias::new("seaql_migrations_data").into_iden()
    }
}
