//! Data rights: where tenant exports are written, how long their links last, how long a
//! closed tenant's data and its fiscal records are kept.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::ConfigError;
use super::vars::Vars;

/// The data-rights settings.
#[derive(Debug, Clone)]
pub struct RightsConfig {
    /// `MSINGI_EXPORTS_DIR` (default `data/exports`): tenant archives, one folder per
    /// tenant.
    pub exports_dir: PathBuf,
    /// `MSINGI_EXPORT_TTL_HOURS` (default 24): how long an export's download link works;
    /// the archive is deleted after.
    pub export_ttl: Duration,
    /// `MSINGI_CLOSED_RETENTION_DAYS` (default 30): how long a closed tenant's data is
    /// kept (readable by export only) before it is erased.
    pub closed_retention: Duration,
    /// `MSINGI_FISCAL_RETENTION_YEARS` (default 7): how long a closed tenant's invoices and
    /// payments are kept after its closure.
    pub fiscal_retention_years: u32,
}

impl RightsConfig {
    pub(super) fn parse(vars: &Vars<'_>, data_dir: &Path) -> Result<Self, ConfigError> {
        Ok(Self {
            exports_dir: vars
                .get("MSINGI_EXPORTS_DIR")
                .map_or_else(|| data_dir.join("exports"), PathBuf::from),
            export_ttl: Duration::from_secs(
                vars.number("MSINGI_EXPORT_TTL_HOURS", 24, 1)? as u64 * 3600,
            ),
            closed_retention: Duration::from_secs(
                vars.number("MSINGI_CLOSED_RETENTION_DAYS", 30, 0)? as u64 * 86_400,
            ),
            fiscal_retention_years: vars.number("MSINGI_FISCAL_RETENTION_YEARS", 7, 0)? as u32,
        })
    }
}
