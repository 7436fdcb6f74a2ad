//! The repository layer: the only code that speaks SQL or names a table.
//!
//! Promises:
//! - Tenant-owned tables are reachable only through a [`TenantScope`], which can only be
//!   opened from a verified [`TenantContext`](crate::tenancy::TenantContext). The scope
//!   adds the tenant filter to every select, update and delete and sets `tenant_id` on every
//!   insert; the entities module is private, so nothing outside `db` can bypass it.
//! - Every unit of work is one transaction. On PostgreSQL a tenant transaction starts with
//!   `set_config('app.tenant_id', …, true)` (transaction-local, so a pooled connection never
//!   carries a tenant into the next request) for row-level security.
//! - Platform-wide work goes through [`Db::unscoped_system`], which takes a reason and logs
//!   it: one door, easy to grep.

mod api_keys;
mod audit;
mod entities;
mod invitations;
mod memberships;
mod outbox;
mod page;
mod roles;
mod scope;
mod sessions;
mod stores;
mod tenants;
mod user_tokens;
mod users;

use std::time::Duration;

use anyhow::Context as _;
use msingi_migrations::MigratorTrait;
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend};

pub use api_keys::{ApiKey, NewApiKey};
pub use invitations::{Invitation, InvitationStatus, NewInvitation};
pub use memberships::{Membership, MembershipStatus};
pub use outbox::PendingJob;
pub use page::{MAX_PAGE_SIZE, Page, PageRequest, encode_cursor};
pub use scope::{SystemDoor, SystemTx, TenantScope};
pub use sessions::{ClientInfo, RefreshRecord, Session};
pub use user_tokens::TokenPurpose;
pub use users::Credentials;

use crate::clock::SharedClock;
use crate::config::DatabaseKind;
use crate::error::AppResult;
use crate::tenancy::TenantContext;

/// The application's database handle. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Db {
    conn: DatabaseConnection,
    clock: SharedClock,
}

impl Db {
    /// Connects to `url` (SQLite files are created, with their directory, when missing).
    pub async fn connect(url: &str, clock: SharedClock) -> anyhow::Result<Self> {
        let conn = open(url, 16).await?;
        Ok(Self { conn, clock })
    }

    /// Applies every pending migration to the database at `url` (the table owner's URL).
    pub async fn migrate(url: &str) -> anyhow::Result<()> {
        let conn = open(url, 1).await?;
        msingi_migrations::Migrator::up(&conn, None)
            .await
            .context("running migrations")?;
        conn.close().await.ok();
        Ok(())
    }

    /// Names of the migrations not yet applied.
    pub async fn pending_migrations(&self) -> anyhow::Result<Vec<String>> {
        let pending = msingi_migrations::Migrator::get_pending_migrations(&self.conn).await?;
        Ok(pending.iter().map(|m| m.name().to_owned()).collect())
    }

    /// SQLite or PostgreSQL.
    pub fn kind(&self) -> DatabaseKind {
        match self.conn.get_database_backend() {
            DbBackend::Postgres => DatabaseKind::Postgres,
            _ => DatabaseKind::Sqlite,
        }
    }

    /// The clock the repositories stamp rows with.
    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    /// Checks that the database answers (for `/readyz`).
    pub async fn ping(&self) -> AppResult<()> {
        self.conn.execute_unprepared("SELECT 1").await?;
        Ok(())
    }

    /// The PostgreSQL pool, shared with the job store.
    pub fn postgres_pool(&self) -> Option<sqlx::PgPool> {
        (self.kind() == DatabaseKind::Postgres)
            .then(|| self.conn.get_postgres_connection_pool().clone())
    }

    /// Opens a read-only unit of work in the context's tenant.
    pub async fn read(&self, ctx: &TenantContext) -> AppResult<TenantScope> {
        TenantScope::begin(self, ctx.tenant_id(), false).await
    }

    /// Opens a unit of work that may write, in the context's tenant. Nothing is kept unless
    /// [`TenantScope::commit`] is called.
    pub async fn write(&self, ctx: &TenantContext) -> AppResult<TenantScope> {
        TenantScope::begin(self, ctx.tenant_id(), true).await
    }

    /// The one door to platform-wide work (creating tenants, resolving a user's
    /// memberships, draining the outbox). `reason` is logged and should say what the work
    /// is, e.g. `"resolve tenant context"`.
    pub fn unscoped_system(&self, reason: &'static str) -> SystemDoor<'_> {
        tracing::debug!(reason, "unscoped system access");
        SystemDoor::new(self, reason)
    }

    /// Closes the pool.
    pub async fn close(self) {
        self.conn.close().await.ok();
    }
}

async fn open(url: &str, max_connections: u32) -> anyhow::Result<DatabaseConnection> {
    let mut options = ConnectOptions::new(url);
    options
        .max_connections(max_connections)
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false);
    if url.starts_with("sqlite:") {
        if let Some(dir) = sqlite_dir(url) {
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("creating the database directory {}", dir.display()))?;
        }
        options.map_sqlx_sqlite_opts(|o| {
            o.create_if_missing(true)
                .foreign_keys(true)
                .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sqlx::sqlite::SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
        });
    }
    Database::connect(options)
        .await
        .with_context(|| format!("connecting to the {} database", scheme(url)))
}

fn scheme(url: &str) -> &str {
    url.split(':').next().unwrap_or("")
}

/// The directory of a `sqlite://path/file.db?…` URL, when it has one.
fn sqlite_dir(url: &str) -> Option<std::path::PathBuf> {
    let path = url
        .trim_start_matches("sqlite:")
        .trim_start_matches("//")
        .split('?')
        .next()?;
    if path.is_empty() || path == ":memory:" {
        return None;
    }
    std::path::Path::new(path)
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(ToOwned::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_directories_are_found_in_urls() {
        assert_eq!(
            sqlite_dir("sqlite://data/msingi.db?mode=rwc"),
            Some("data".into())
        );
        assert_eq!(sqlite_dir("sqlite:///tmp/x/m.db"), Some("/tmp/x".into()));
        assert_eq!(sqlite_dir("sqlite::memory:"), None);
        assert_eq!(sqlite_dir("sqlite://m.db"), None);
    }
}
