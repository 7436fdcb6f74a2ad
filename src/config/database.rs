//! The database: the run-time, migration and platform connections, and what the embedded
//! default (SQLite) turns on.

use std::path::Path;

use super::ConfigError;
use super::vars::{Vars, invalid};

/// Which database the server talks to; decides the embedded behaviours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseKind {
    /// A SQLite file (the embedded default).
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// The database settings.
#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    /// `DATABASE_URL`: the run-time connection.
    pub url: String,
    /// `MIGRATION_DATABASE_URL`: the table owner, for migrations.
    pub migration_url: String,
    /// `PLATFORM_DATABASE_URL`: the connection of the global and platform doors (work
    /// across tenants: authentication, platform admin, the outbox drainer). On PostgreSQL
    /// its role is the only one row-level security lets past a tenant; default
    /// `MIGRATION_DATABASE_URL`.
    pub platform_url: String,
    /// SQLite or PostgreSQL (all three URLs agree).
    pub kind: DatabaseKind,
    /// `MSINGI_AUTO_MIGRATE`: whether `serve` migrates at start (default: on SQLite, yes).
    pub auto_migrate: bool,
    /// `MSINGI_ALLOW_RLS_BYPASS`: start even when the PostgreSQL run-time role could read
    /// past row-level security (development only; warns loudly).
    pub allow_rls_bypass: bool,
}

impl DatabaseConfig {
    pub(super) fn parse(vars: &Vars<'_>, data_dir: &Path) -> Result<Self, ConfigError> {
        let default_db = format!("sqlite://{}/msingi.db?mode=rwc", data_dir.display());
        let url = vars.get("DATABASE_URL").unwrap_or(default_db);
        let kind = database_kind("DATABASE_URL", &url)?;
        let migration_url = vars
            .get("MIGRATION_DATABASE_URL")
            .unwrap_or_else(|| url.clone());
        same_kind("MIGRATION_DATABASE_URL", &migration_url, kind)?;
        let platform_url = vars
            .get("PLATFORM_DATABASE_URL")
            .unwrap_or_else(|| migration_url.clone());
        same_kind("PLATFORM_DATABASE_URL", &platform_url, kind)?;
        let embedded = kind == DatabaseKind::Sqlite;
        Ok(Self {
            url,
            migration_url,
            platform_url,
            kind,
            auto_migrate: vars.flag("MSINGI_AUTO_MIGRATE", embedded)?,
            allow_rls_bypass: vars.flag("MSINGI_ALLOW_RLS_BYPASS", false)?,
        })
    }
}

fn same_kind(var: &'static str, url: &str, kind: DatabaseKind) -> Result<(), ConfigError> {
    if database_kind(var, url)? != kind {
        return Err(invalid(
            var,
            "must point at the same kind of database as DATABASE_URL",
        ));
    }
    Ok(())
}

fn database_kind(var: &'static str, url: &str) -> Result<DatabaseKind, ConfigError> {
    if url.starts_with("sqlite:") {
        Ok(DatabaseKind::Sqlite)
    } else if (url.starts_with("postgres://") || url.starts_with("postgresql://"))
        && url::Url::parse(url).is_ok_and(|u| u.host_str().is_some() || u.query().is_some())
    {
        Ok(DatabaseKind::Postgres)
    } else {
        Err(invalid(
            var,
            "expected sqlite://path/to/file.db or postgres://user:password@host/database",
        ))
    }
}
