//! Outgoing webhooks, and the key that encrypts secrets at rest.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::ConfigError;
use super::vars::Vars;

/// The webhook settings.
#[derive(Debug, Clone)]
pub struct WebhooksConfig {
    /// `WEBHOOK_ALLOW_PRIVATE_URLS` (default false): endpoints may resolve to loopback,
    /// private or link-local addresses (tests and local development only).
    pub allow_private_urls: bool,
    /// `WEBHOOK_TIMEOUT_SECONDS` (default 10): how long one attempt may take, connection
    /// and answer included.
    pub timeout: Duration,
    /// `WEBHOOK_ENDPOINT_CONCURRENCY` (default 4): attempts in flight to one endpoint at
    /// most, so one slow receiver never holds up the others.
    pub endpoint_concurrency: usize,
    /// `WEBHOOK_DISABLE_AFTER_HOURS` (default 120: five days): an endpoint whose every
    /// attempt failed for this long is disabled and its tenant's owners told.
    pub disable_after: Duration,
}

impl WebhooksConfig {
    pub(super) fn parse(vars: &Vars<'_>) -> Result<Self, ConfigError> {
        Ok(Self {
            allow_private_urls: vars.flag("WEBHOOK_ALLOW_PRIVATE_URLS", false)?,
            timeout: vars.seconds("WEBHOOK_TIMEOUT_SECONDS", 10, 1)?,
            endpoint_concurrency: vars.number("WEBHOOK_ENDPOINT_CONCURRENCY", 4, 1)?,
            disable_after: Duration::from_secs(
                vars.number("WEBHOOK_DISABLE_AFTER_HOURS", 120, 1)? as u64 * 3600,
            ),
        })
    }
}

/// Where the key that encrypts secrets at rest comes from.
#[derive(Debug, Clone)]
pub struct DataKeyConfig {
    /// `MSINGI_DATA_KEY`: 32 bytes, base64.
    pub key: Option<String>,
    /// `MSINGI_DATA_KEYS_OLD`: earlier keys, comma-separated, that still decrypt.
    pub old_keys: Vec<String>,
    /// Where the embedded default generates its key when `MSINGI_DATA_KEY` is unset.
    pub key_file: PathBuf,
}

impl DataKeyConfig {
    pub(super) fn parse(vars: &Vars<'_>, data_dir: &Path) -> Self {
        Self {
            key: vars.get("MSINGI_DATA_KEY"),
            old_keys: vars
                .get("MSINGI_DATA_KEYS_OLD")
                .map(|v| {
                    v.split(',')
                        .map(str::trim)
                        .filter(|k| !k.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
            key_file: data_dir.join("data.key"),
        }
    }
}
