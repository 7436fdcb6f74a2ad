//! Authentication: token keys and lifetimes, the login throttle, the start-up admin.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::ConfigError;
use super::vars::{Vars, invalid};

/// The authentication settings.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// `JWT_SIGNING_KEY_FILE`: the Ed25519 private key (PKCS#8 PEM) that signs access
    /// tokens; generated when missing (default `data/jwt-signing-key.pem`).
    pub jwt_signing_key_file: PathBuf,
    /// Whether `JWT_SIGNING_KEY_FILE` was set: then the file must exist (a key is generated
    /// only for the default path, never in place of a configured one).
    pub jwt_signing_key_configured: bool,
    /// `JWT_VERIFY_KEY_FILES`: comma-separated public keys (SPKI PEM) still accepted, for
    /// rotation.
    pub jwt_verify_key_files: Vec<PathBuf>,
    /// `ACCESS_TOKEN_TTL_SECS`: access token lifetime (default 15 minutes).
    pub access_token_ttl: Duration,
    /// `REFRESH_TOKEN_TTL_SECS`: session lifetime (default 30 days).
    pub refresh_token_ttl: Duration,
    /// `LOGIN_MAX_FAILURES`: login attempts per (client address, account) before
    /// RATE_LIMITED (and ten times that per account from all addresses), within
    /// `LOGIN_LOCKOUT_SECS`; a success clears the count.
    pub login_max_failures: u32,
    /// `LOGIN_LOCKOUT_SECS`: the window failures are counted in.
    pub login_lockout: Duration,
    /// `MSINGI_ADMIN_EMAIL` and `MSINGI_ADMIN_PASSWORD`: a platform admin ensured at start.
    pub admin: Option<(String, String)>,
}

impl AuthConfig {
    pub(super) fn parse(vars: &Vars<'_>, data_dir: &Path) -> Result<Self, ConfigError> {
        let admin = match (
            vars.get("MSINGI_ADMIN_EMAIL"),
            vars.get("MSINGI_ADMIN_PASSWORD"),
        ) {
            (Some(email), Some(password)) => Some((email, password)),
            (None, None) => None,
            (Some(_), None) => {
                return Err(invalid(
                    "MSINGI_ADMIN_PASSWORD",
                    "required when MSINGI_ADMIN_EMAIL is set",
                ));
            }
            (None, Some(_)) => {
                return Err(invalid(
                    "MSINGI_ADMIN_EMAIL",
                    "required when MSINGI_ADMIN_PASSWORD is set",
                ));
            }
        };
        Ok(Self {
            jwt_signing_key_configured: vars.get("JWT_SIGNING_KEY_FILE").is_some(),
            jwt_signing_key_file: vars
                .get("JWT_SIGNING_KEY_FILE")
                .map_or_else(|| data_dir.join("jwt-signing-key.pem"), PathBuf::from),
            jwt_verify_key_files: vars
                .get("JWT_VERIFY_KEY_FILES")
                .map(|v| {
                    v.split(',')
                        .map(str::trim)
                        .filter(|p| !p.is_empty())
                        .map(PathBuf::from)
                        .collect()
                })
                .unwrap_or_default(),
            access_token_ttl: vars.seconds("ACCESS_TOKEN_TTL_SECS", 15 * 60, 30)?,
            refresh_token_ttl: vars.seconds("REFRESH_TOKEN_TTL_SECS", 30 * 24 * 3600, 300)?,
            login_max_failures: vars.number("LOGIN_MAX_FAILURES", 5, 1)? as u32,
            login_lockout: vars.seconds("LOGIN_LOCKOUT_SECS", 15 * 60, 1)?,
            admin,
        })
    }
}
