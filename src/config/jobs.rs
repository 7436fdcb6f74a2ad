//! Jobs, caches and pub/sub: Redis or the SQL database, and where workers run.

use super::ConfigError;
use super::vars::{Vars, invalid};

/// The job settings.
#[derive(Debug, Clone)]
pub struct JobsConfig {
    /// `REDIS_URL`: jobs, caches and pub/sub go to Redis when set.
    pub redis_url: Option<String>,
    /// `MSINGI_JOBS_NAMESPACE`: prefix of every queue name, so several deployments (or
    /// test runs) can share one Redis.
    pub namespace: String,
    /// `MSINGI_IN_PROCESS_WORKERS`: whether `serve` also runs the job workers (default: on
    /// SQLite, yes).
    pub in_process_workers: bool,
    /// `JOBS_LEASE_SECS` (default 15, at least 3): how long a worker that stopped
    /// heart-beating keeps its running jobs before live workers take them.
    pub lease: std::time::Duration,
}

impl JobsConfig {
    pub(super) fn parse(vars: &Vars<'_>, embedded: bool) -> Result<Self, ConfigError> {
        let redis_url = vars.url_of(
            "REDIS_URL",
            &["redis", "rediss"],
            "a redis:// or rediss:// URL",
        )?;
        let namespace = vars
            .get("MSINGI_JOBS_NAMESPACE")
            .unwrap_or_else(|| "msingi".into());
        if !namespace
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(invalid(
                "MSINGI_JOBS_NAMESPACE",
                "use letters, digits, '-' and '_' only",
            ));
        }
        Ok(Self {
            redis_url,
            namespace,
            in_process_workers: vars.flag("MSINGI_IN_PROCESS_WORKERS", embedded)?,
            lease: vars.seconds("JOBS_LEASE_SECS", msingi_jobs::DEFAULT_LEASE.as_secs(), 3)?,
        })
    }
}
