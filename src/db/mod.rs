//! The repository layer: the only code that speaks SQL or names a table.
//!
//! Promises:
//! - Three ways in, each with its reason logged: a [`TenantScope`] opened from a verified
//!   [`TenantContext`](crate::tenancy::TenantContext) ([`Db::read`], [`Db::write`]); the
//!   global door for tables that belong to no tenant ([`Db::global_read`], `global.rs`);
//!   the platform door across tenants, opened only with an [`Access`] proof
//!   ([`Db::platform_read`], `platform.rs`).
//! - The raw transaction never leaves `scope.rs`: repositories (the feature folders here,
//!   named like the services) get typed table handles whose queries already carry the
//!   tenant filter, so an unscoped query on a tenant table does not compile. The entities
//!   module is private to `db`, so nothing outside it can name a table.
//! - Every unit of work is one transaction. On PostgreSQL a tenant transaction starts with
//!   `set_config('app.tenant_id', …, true)` (transaction-local, so a pooled connection never
//!   carries a tenant into the next request) for row-level security.

mod archive;
mod audit;
mod billing;
mod clock;
mod data;
mod entities;
mod global;
pub(in crate::db) mod identity;
mod inventory;
mod jobs;
mod notifications;
mod outbox;
mod payments;
mod platform;
mod rbac;
mod rights;
mod scope;
mod tenancy;
mod tiers;
mod usage;
mod webhooks;

use std::time::Duration;

use anyhow::Context as _;
use msingi_migrations::MigratorTrait;
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend};

pub use archive::{
    ArchivedTable, ArchivedTenant, FORMAT, FORMAT_VERSION, ImportReport, Manifest, archived_tables,
};
pub use billing::lifecycle::{DueStep, InvoicePaid};
pub use data::{DataPlaneAdmin, Leg, SchemaState, Switched, onboard};
pub use outbox::PendingJob;
pub use payments::{Flagged, NewPayment, PaymentChange, StoredCallback, TokenLease};
pub use platform::{Access, SystemTask};
pub use rights::{ClosedTenant, Erased, erased_email};
pub use scope::{AfterCommit, DataScope, GlobalTx, PlatformTx, TenantScope};
pub use usage::NewUsageEvent;
pub use webhooks::{AttemptRecord, Claimed};

use crate::clock::SharedClock;
use crate::config::DatabaseKind;
use crate::error::AppResult;
use crate::tenancy::TenantContext;

/// The application's database handle. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Db {
    /// The tenant connection (`DATABASE_URL`) and the doors' (`PLATFORM_DATABASE_URL`),
    /// with the clock and the after-commit hook every unit of work gets.
    pools: scope::Pools,
}

impl Db {
    /// Connects to `url` for tenant work and `platform_url` for the platform door (SQLite
    /// files are created, with their directory, when missing; on SQLite, or when the two
    /// URLs are equal, one pool serves both).
    pub async fn connect(
        url: &str,
        platform_url: &str,
        clock: SharedClock,
    ) -> anyhow::Result<Self> {
        let at_start = crate::config::ConfigError::at_start;
        let conn = open(url, 16)
            .await
            .map_err(|e| at_start("DATABASE_URL", &e))?;
        let platform = if platform_url == url || conn.get_database_backend() != DbBackend::Postgres
        {
            conn.clone()
        } else {
            open(platform_url, 8)
                .await
                .map_err(|e| at_start("PLATFORM_DATABASE_URL", &e))?
        };
        Ok(Self {
            pools: scope::Pools::new(conn, platform, clock)?,
        })
    }

    /// This handle, reaching tenants on the DATABASE tier with `keys` (which open their
    /// databases' sealed URLs).
    pub fn with_tenant_databases(mut self, keys: crate::secrets::DataKeys) -> Self {
        self.pools.databases = Some(std::sync::Arc::new(data::TenantDatabases::new(keys)));
        self
    }

    /// This handle, publishing every unit of work's access changes to `sink` after it
    /// commits.
    pub fn publishing_to(mut self, sink: std::sync::Arc<dyn AfterCommit>) -> Self {
        self.pools.publish_to(sink);
        self
    }

    /// Applies every pending migration as the table owner (`url`). On PostgreSQL it also
    /// prepares the job tables and grants the run-time role (the user of `runtime_url`)
    /// and the platform role (the user of `platform_url`) what each needs: data access,
    /// never ownership; the run-time role only its tenant's rows (row-level security), no
    /// password hash, no session, append-only audit, nothing of the migrations; the platform
    /// role every tenant (a `platform_door` policy), append-only audit.
    pub async fn migrate(url: &str, runtime_url: &str, platform_url: &str) -> anyhow::Result<()> {
        let conn = open(url, 1).await?;
        msingi_migrations::Migrator::up(&conn, None)
            .await
            .context("running migrations")?;
        // The data plane of tenants on the shared tier lives in the main database too.
        msingi_migrations::DataMigrator::up(&conn, None)
            .await
            .context("running data-plane migrations")?;
        if conn.get_database_backend() == DbBackend::Postgres {
            let pool = conn.get_postgres_connection_pool().clone();
            msingi_jobs::JobBackend::prepare_postgres(&pool)
                .await
                .context("preparing the job tables")?;
            let user = url_user;
            let owner = user(url);
            let runtime = user(runtime_url).filter(|r| Some(r) != owner.as_ref());
            let platform = user(platform_url);
            if let Some(platform) = &platform {
                conn.execute_unprepared(&platform_policies(platform))
                    .await
                    .with_context(|| format!("the platform role {platform:?}'s policies"))?;
                if Some(platform) != owner.as_ref() && Some(platform) != runtime.as_ref() {
                    conn.execute_unprepared(&platform_grants(platform))
                        .await
                        .with_context(|| format!("granting the platform role {platform:?}"))?;
                }
            }
            if let Some(runtime) = runtime.filter(|r| Some(r) != platform.as_ref()) {
                conn.execute_unprepared(&grants(&runtime))
                    .await
                    .with_context(|| format!("granting the run-time role {runtime:?}"))?;
            }
        }
        conn.close().await.ok();
        Ok(())
    }

    /// On PostgreSQL, refuses a run-time role that could read past row-level security (a
    /// superuser, a role with BYPASSRLS, or a table owner), unless `allow` (a development
    /// override, which warns).
    pub async fn check_row_level_security(&self, allow: bool) -> anyhow::Result<()> {
        if self.kind() != DatabaseKind::Postgres {
            return Ok(());
        }
        let row = self
            .pools
            .query_one(
                false,
                "SELECT current_user::text AS role, \
                        (SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user) AS bypass, \
                        (SELECT count(*) FROM pg_tables WHERE tableowner = current_user AND schemaname = 'public') AS owned",
            )
            .await?
            .context("reading the run-time role")?;
        let role: String = row.try_get("", "role")?;
        let bypass: bool = row.try_get("", "bypass")?;
        let owned: i64 = row.try_get("", "owned")?;
        if !bypass && owned == 0 {
            return self.check_platform_role(&role, allow).await;
        }
        let why = if bypass {
            "is a superuser or has BYPASSRLS"
        } else {
            "owns tables"
        };
        if allow {
            tracing::warn!(
                role,
                "DATABASE_URL's role {why}: row-level security does not protect tenants. \
                 MSINGI_ALLOW_RLS_BYPASS is for development only"
            );
            return Ok(());
        }
        anyhow::bail!(
            "DATABASE_URL's role {role:?} {why}, so row-level security would not bind it: \
             connect as a role that owns nothing (msingi migrate grants it access), \
             or set MSINGI_ALLOW_RLS_BYPASS=true in development"
        )
    }

    /// The platform door must connect as another role than tenant work, or the run-time
    /// role would hold the `platform_door` policy and see every tenant.
    async fn check_platform_role(&self, runtime: &str, allow: bool) -> anyhow::Result<()> {
        let row = self
            .pools
            .query_one(true, "SELECT current_user::text AS role")
            .await?
            .context("reading the platform role")?;
        let platform: String = row.try_get("", "role")?;
        if platform != runtime {
            return Ok(());
        }
        if allow {
            tracing::warn!(
                role = platform,
                "PLATFORM_DATABASE_URL and DATABASE_URL use one role: it can see every tenant"
            );
            return Ok(());
        }
        anyhow::bail!(
            "PLATFORM_DATABASE_URL connects as {platform:?}, the same role as DATABASE_URL, \
             so tenant work could reach every tenant: give the platform door its own role \
             (the default is MIGRATION_DATABASE_URL's)"
        )
    }

    /// What the tenant pool's idle connections carry between units of work: every one is
    /// read at once, and each answer is the tenant it is still bound to, an empty string
    /// when none (always, or a binding outlived its unit of work). For checks and tests.
    pub async fn bindings_left(&self) -> anyhow::Result<Vec<String>> {
        Ok(self.pools.bindings_left().await?)
    }

    /// The newest data-plane migration applied to the main database's shared tables.
    pub async fn data_plane_version(&self) -> anyhow::Result<Option<String>> {
        let row = self
            .pools
            .query_one(
                true,
                "SELECT max(version) AS version FROM seaql_migrations_data",
            )
            .await?;
        Ok(match row {
            Some(row) => row.try_get::<Option<String>>("", "version")?,
            None => None,
        })
    }

    /// Names of the migrations not yet applied. Reads the migration table only, on the
    /// platform connection (the run-time role may not even read it).
    pub async fn pending_migrations(&self) -> anyhow::Result<Vec<String>> {
        let applied: std::collections::HashSet<String> = match self
            .pools
            .query_all_platform("SELECT version FROM seaql_migrations")
            .await
        {
            Ok(rows) => rows
                .iter()
                .map(|r| r.try_get::<String>("", "version"))
                .collect::<Result<_, _>>()?,
            // No migration table: nothing was ever applied.
            Err(_) => Default::default(),
        };
        Ok(msingi_migrations::Migrator::migrations()
            .iter()
            .map(|m| m.name().to_owned())
            .filter(|name| !applied.contains(name))
            .collect())
    }

    /// SQLite or PostgreSQL.
    pub fn kind(&self) -> DatabaseKind {
        match self.pools.backend() {
            DbBackend::Postgres => DatabaseKind::Postgres,
            _ => DatabaseKind::Sqlite,
        }
    }

    /// The clock the repositories stamp rows with.
    pub fn clock(&self) -> &SharedClock {
        self.pools.clock()
    }

    /// Checks that the database answers (for `/readyz`).
    pub async fn ping(&self) -> AppResult<()> {
        self.pools.ping().await
    }

    /// The platform connection's PostgreSQL pool (shared login counters, cross-node
    /// notifications without Redis).
    pub fn platform_postgres_pool(&self) -> Option<sqlx::PgPool> {
        self.pools.postgres_pools().map(|(_, platform)| platform)
    }

    /// The PostgreSQL pool, shared with the job store.
    pub fn postgres_pool(&self) -> Option<sqlx::PgPool> {
        self.pools.postgres_pools().map(|(tenant, _)| tenant)
    }

    /// Opens a read-only unit of work in the context's tenant.
    pub async fn read(&self, ctx: &TenantContext) -> AppResult<TenantScope> {
        self.pools
            .tenant(ctx.tenant_id(), ctx.store_id(), false)
            .await
    }

    /// Opens a unit of work that may write, in the context's tenant. Nothing is kept unless
    /// [`TenantScope::commit`] is called. A suspended tenant's members' and keys' writes are
    /// refused here, in one place: FORBIDDEN with `reason: TENANT_SUSPENDED`. The system's
    /// own jobs still run in it (a suspended tenant's renewals still issue what it owes).
    pub async fn write(&self, ctx: &TenantContext) -> AppResult<TenantScope> {
        refuse_suspended(ctx)?;
        self.pools
            .tenant(ctx.tenant_id(), ctx.store_id(), true)
            .await
    }

    /// Opens a read-only unit of work on the context's tenant's data plane (the domain
    /// modules' tables), wherever its isolation tier puts them: the one routing point.
    pub async fn data(&self, ctx: &TenantContext) -> AppResult<DataScope> {
        self.pools
            .data(ctx.tenant_id(), ctx.store_id(), false)
            .await
    }

    /// Opens a unit of work that may write on the context's tenant's data plane; a
    /// suspended tenant's writes are refused as [`Db::write`] refuses them. While the
    /// tenant's move switches tiers it waits (the write freeze, this tenant only).
    pub async fn data_write(&self, ctx: &TenantContext) -> AppResult<DataScope> {
        refuse_suspended(ctx)?;
        self.pools.data(ctx.tenant_id(), ctx.store_id(), true).await
    }

    /// Opens a unit of work that may write, in the context's tenant, even when it is
    /// suspended: for what a suspended tenant may always do with its billing (pay, choose
    /// or cancel a plan). Only billing's services call it, after their permission check.
    pub async fn write_billing(&self, ctx: &TenantContext) -> AppResult<TenantScope> {
        self.pools
            .tenant(ctx.tenant_id(), ctx.store_id(), true)
            .await
    }

    /// Opens a unit of work that may write, in the context's tenant, even when it is
    /// suspended: for a member's own bookkeeping (marking their notifications read), which
    /// changes nothing of the tenant's.
    pub async fn write_personal(&self, ctx: &TenantContext) -> AppResult<TenantScope> {
        self.pools
            .tenant(ctx.tenant_id(), ctx.store_id(), true)
            .await
    }

    /// Opens a unit of work that may write, in the context's tenant, even when it is
    /// suspended or closed: for the tenant's rights over its own data (asking for an
    /// export). Only the data-rights services call it, after their permission check.
    pub async fn write_rights(&self, ctx: &TenantContext) -> AppResult<TenantScope> {
        self.pools
            .tenant(ctx.tenant_id(), ctx.store_id(), true)
            .await
    }

    /// Closes the pool.
    pub async fn close(self) {
        self.pools.close().await;
    }
}

/// A suspended tenant's members' and keys' writes are refused (FORBIDDEN with
/// `reason: TENANT_SUSPENDED`); the system's own jobs still run in it.
fn refuse_suspended(ctx: &TenantContext) -> AppResult<()> {
    let system = matches!(ctx.principal(), crate::tenancy::Principal::System { .. });
    match (ctx.write_refusal(), system) {
        (Some(message), false) => Err(crate::error::AppError::Forbidden {
            message: message.into(),
            reason: Some("TENANT_SUSPENDED"),
        }),
        _ => Ok(()),
    }
}

/// The user a connection string logs in as, if it names one.
fn url_user(url: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()
        .map(|u| u.username().to_owned())
        .filter(|n| !n.is_empty())
}

fn quoted(role: &str) -> String {
    format!("\"{}\"", role.replace('"', "\"\""))
}

/// The `platform_door` policy on every table under row-level security: the platform role
/// (and only it) sees and writes every tenant's rows.
fn platform_policies(role: &str) -> String {
    let role = quoted(role);
    msingi_migrations::TENANT_TABLES
        .iter()
        .chain(msingi_migrations::GLOBAL_RLS_TABLES)
        .map(|table| {
            format!(
                "DROP POLICY IF EXISTS platform_door ON {table};\n\
                 CREATE POLICY platform_door ON {table} TO {role} USING (true) WITH CHECK (true);\n"
            )
        })
        .collect()
}

/// What the platform role may do: every table, but the audit log is append-only (but for
/// erasing an entry's personal fields, which its hash covers only as a digest) and the
/// migrations are read-only.
fn platform_grants(role: &str) -> String {
    let role = quoted(role);
    format!(
        "GRANT USAGE ON SCHEMA public TO {role};\n\
         GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role};\n\
         REVOKE UPDATE, DELETE, TRUNCATE ON audit_log, audit_heads FROM {role};\n\
         GRANT UPDATE (ip, user_agent, changes, personal_salt, erased_at) ON audit_log TO {role};\n\
         REVOKE INSERT ON audit_heads FROM {role};\n\
         REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON seaql_migrations, seaql_migrations_data FROM {role};\n\
         GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role};\n"
    )
}

/// The tables whose rows belong to one tenant and that tenant work reads and writes.
const TENANT_WRITABLE: &[&str] = &[
    "tenant_exports",
    "stores",
    "memberships",
    "roles",
    "role_permissions",
    "role_assignments",
    "invitations",
    "api_keys",
    "tenant_modules",
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
    "products",
    "stock_levels",
    "stock_movements",
];

/// What the run-time (tenant-facing) role may do: its tenant's rows (row-level security
/// decides which), append to the audit log and the outbox, read and rename its own tenant,
/// read its members' profiles (never a password hash); nothing of sessions, tokens or the
/// migrations. The job tables it uses in full.
fn grants(role: &str) -> String {
    let role = quoted(role);
    format!(
        "REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {role};\n\
         GRANT USAGE ON SCHEMA public TO {role};\n\
         GRANT SELECT, INSERT, UPDATE, DELETE ON {writable} TO {role};\n\
         GRANT SELECT, INSERT ON audit_log, outbox TO {role};\n\
         GRANT SELECT, UPDATE (name, settings, billing_phone, credit_minor, updated_at) ON tenants TO {role};\n\
         GRANT SELECT (id, email, name, phone, email_verified_at, is_platform_admin, created_at) ON users TO {role};\n\
         GRANT SELECT ON member_profiles TO {role};\n\
         GRANT SELECT ON plans, metrics TO {role};\n\
         GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role};\n\
         GRANT USAGE ON SCHEMA apalis TO {role};\n\
         GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA apalis TO {role};\n\
         GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA apalis TO {role};\n\
         GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA apalis TO {role};",
        writable = TENANT_WRITABLE.join(", ")
    )
}

/// A fingerprint of what `migrate` sets up beyond the migrations (grants and policies), so
/// a test template built from an older set-up is rebuilt.
pub fn setup_fingerprint() -> String {
    format!(
        "{}{}{}",
        grants("r"),
        platform_grants("p"),
        platform_policies("p")
    )
}

async fn open(url: &str, max_connections: u32) -> anyhow::Result<DatabaseConnection> {
    let mut options = ConnectOptions::new(url);
    options
        .max_connections(max_connections)
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(10))
        // A connection in steady use is not pinged on every checkout (a round trip per
        // checkout); one idle for a second is, so after a database restart or a proxy's
        // cut the pool finds out before a request does.
        .test_before_acquire_if_idle_for(Duration::from_secs(1))
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
