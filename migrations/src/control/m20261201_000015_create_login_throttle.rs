//! Login throttle counters shared by every API node when there is no Redis: one row per
//! key (`login:pair:<address>:<email>`, `login:account:<email>`, …) with its count in the
//! current window. On PostgreSQL the table is UNLOGGED (counters need no crash safety).
//! A platform table: no tenant, and the tenant-facing role has no access to it.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let unlogged = if manager.get_database_backend() == DbBackend::Postgres {
            "UNLOGGED "
        } else {
            ""
        };
        let timestamp = if manager.get_database_backend() == DbBackend::Postgres {
            "timestamptz"
        } else {
            "text"
        };
        db.execute_unprepared(&format!(
            "CREATE {unlogged}TABLE login_throttle (\
               key varchar(400) NOT NULL PRIMARY KEY, \
               count integer NOT NULL, \
               window_start {timestamp} NOT NULL)"
        ))
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP TABLE IF EXISTS login_throttle")
            .await?;
        Ok(())
    }
}
