//! Configuration, read once at start from the environment (and `.env` when present), one
//! file per concern: `http`, `database`, `jobs`, `mail`, `auth`, `graphql`.
//!
//! Promise: every variable is validated before anything starts. A bad value becomes one
//! [`ConfigError`] naming the variable; `main` prints it on one line and exits with status 2.
//! Values are never echoed back when they may hold credentials.

mod auth;
mod billing;
mod database;
mod graphql;
mod http;
mod jobs;
mod mail;
mod mpesa;
mod rights;
mod vars;
mod webhooks;

use std::path::PathBuf;

pub use auth::AuthConfig;
pub use billing::BillingConfig;
pub use database::{DatabaseConfig, DatabaseKind};
pub use graphql::{GraphqlConfig, GraphqlLimits};
pub use http::{CorsOrigins, HttpConfig};
pub use jobs::JobsConfig;
pub use mail::MailConfig;
pub use mpesa::{
    MpesaConfig, MpesaEnv, SANDBOX_PASSKEY, SANDBOX_SHORTCODE, SIMULATOR_KEY, SIMULATOR_SECRET,
};
pub use rights::RightsConfig;
use vars::{Vars, invalid};
pub use webhooks::{DataKeyConfig, WebhooksConfig};

/// A configuration value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{var}: {message}")]
pub struct ConfigError {
    /// The environment variable at fault.
    pub var: &'static str,
    /// What is wrong with it.
    pub message: String,
}

impl ConfigError {
    /// A value that failed when the server started using it (a database that cannot be
    /// reached, a key file that is missing): one line naming the variable and the cause.
    pub fn at_start(var: &'static str, error: &anyhow::Error) -> Self {
        Self {
            var,
            message: error.root_cause().to_string(),
        }
    }
}

/// The deployment flavour: production hides field suggestions in GraphQL errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    /// Local work: suggestions on.
    Development,
    /// Real traffic.
    Production,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Everything the server and workers are configured with.
#[derive(Debug, Clone)]
pub struct Config {
    /// `MSINGI_ENV`: `development` or `production`.
    pub environment: Environment,
    /// `LOG_FORMAT`: `pretty` or `json`.
    pub log_format: LogFormat,
    /// `MSINGI_DATA_DIR`: generated keys, the embedded job store, the email outbox.
    pub data_dir: PathBuf,
    /// The HTTP server.
    pub http: HttpConfig,
    /// The database connections.
    pub database: DatabaseConfig,
    /// Jobs, caches and pub/sub.
    pub jobs: JobsConfig,
    /// Outgoing mail.
    pub mail: MailConfig,
    /// Tokens, the login throttle, the start-up admin.
    pub auth: AuthConfig,
    /// The GraphQL endpoint.
    pub graphql: GraphqlConfig,
    /// Plans and subscriptions.
    pub billing: BillingConfig,
    /// M-Pesa (Daraja).
    pub mpesa: MpesaConfig,
    /// Outgoing webhooks.
    pub webhooks: WebhooksConfig,
    /// The key that encrypts secrets at rest.
    pub data_key: DataKeyConfig,
    /// Tenant exports, closure and retention.
    pub rights: RightsConfig,
    /// `MSINGI_TEST_CLOCK` (default off; refused with `MSINGI_ENV=production`): the clock
    /// is the test clock, which `advanceClock` moves forward.
    pub test_clock: bool,
}

impl Config {
    /// Reads `.env` when present, then the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        match dotenvy::dotenv() {
            Ok(_) => {}
            Err(e) if e.not_found() => {}
            Err(e) => return Err(invalid(".env", e.to_string())),
        }
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Builds the configuration from any source of variables (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let vars = Vars::new(&get);
        let environment = match vars.get("MSINGI_ENV").as_deref() {
            None | Some("development") => Environment::Development,
            Some("production") => Environment::Production,
            Some(other) => {
                return Err(invalid(
                    "MSINGI_ENV",
                    format!("expected development or production, got {other:?}"),
                ));
            }
        };
        let log_format = match vars.get("LOG_FORMAT").as_deref() {
            None | Some("pretty") => LogFormat::Pretty,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(invalid(
                    "LOG_FORMAT",
                    format!("expected pretty or json, got {other:?}"),
                ));
            }
        };
        let data_dir = PathBuf::from(vars.get("MSINGI_DATA_DIR").unwrap_or_else(|| "data".into()));
        let http = HttpConfig::parse(&vars)?;
        let database = DatabaseConfig::parse(&vars, &data_dir)?;
        let jobs = JobsConfig::parse(&vars, database.kind == DatabaseKind::Sqlite)?;
        let mail = MailConfig::parse(&vars)?;
        let auth = AuthConfig::parse(&vars, &data_dir)?;
        let graphql = GraphqlConfig::parse(&vars, environment)?;
        let billing = BillingConfig::parse(&vars)?;
        let mpesa = MpesaConfig::parse(&vars, &data_dir)?;
        let webhooks = WebhooksConfig::parse(&vars)?;
        let data_key = DataKeyConfig::parse(&vars, &data_dir);
        let rights = RightsConfig::parse(&vars, &data_dir)?;
        let test_clock = vars.flag("MSINGI_TEST_CLOCK", false)?;
        if test_clock && environment == Environment::Production {
            return Err(invalid(
                "MSINGI_TEST_CLOCK",
                "the test clock is refused with MSINGI_ENV=production",
            ));
        }
        Ok(Self {
            environment,
            log_format,
            data_dir,
            http,
            database,
            jobs,
            mail,
            auth,
            graphql,
            billing,
            mpesa,
            webhooks,
            data_key,
            rights,
            test_clock,
        })
    }

    /// The kind of database `DATABASE_URL` names.
    pub fn database_kind(&self) -> DatabaseKind {
        self.database.kind
    }

    /// Where the embedded job store lives when jobs use SQLite.
    pub fn sqlite_jobs_url(&self) -> String {
        format!("sqlite://{}/jobs.db?mode=rwc", self.data_dir.display())
    }

    /// Where emails are written when no SMTP server is configured.
    pub fn mail_outbox_dir(&self) -> PathBuf {
        self.data_dir.join("outbox")
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn load(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn the_test_clock_is_refused_in_production() {
        assert!(!load(&[]).unwrap().test_clock);
        assert!(load(&[("MSINGI_TEST_CLOCK", "true")]).unwrap().test_clock);
        let refused = load(&[("MSINGI_TEST_CLOCK", "true"), ("MSINGI_ENV", "production")]);
        assert_eq!(refused.unwrap_err().var, "MSINGI_TEST_CLOCK");
    }

    #[test]
    fn the_embedded_default_needs_no_variables() {
        let config = load(&[]).expect("defaults are valid");
        assert_eq!(config.http.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(config.database.url, "sqlite://data/msingi.db?mode=rwc");
        assert_eq!(config.database_kind(), DatabaseKind::Sqlite);
        assert!(config.jobs.in_process_workers && config.database.auto_migrate);
        assert_eq!(config.http.app_url, config.http.public_url);
        assert_eq!(config.http.cors_origins, CorsOrigins::Any);
    }

    #[test]
    fn a_nonsense_database_url_names_the_variable() {
        let err = load(&[("DATABASE_URL", "nonsense")]).unwrap_err();
        assert_eq!(err.var, "DATABASE_URL");
    }

    #[test]
    fn postgres_turns_off_the_embedded_behaviours() {
        let config = load(&[("DATABASE_URL", "postgres://app:secret@db/msingi")]).unwrap();
        assert_eq!(config.database_kind(), DatabaseKind::Postgres);
        assert!(!config.jobs.in_process_workers && !config.database.auto_migrate);
        let err = load(&[
            ("DATABASE_URL", "postgres://app:secret@db/msingi"),
            ("MIGRATION_DATABASE_URL", "sqlite://x.db"),
        ])
        .unwrap_err();
        assert_eq!(err.var, "MIGRATION_DATABASE_URL");
    }

    #[test]
    fn bad_values_name_their_variable_without_echoing_secrets() {
        for (name, value) in [
            ("MSINGI_BIND", "localhost"),
            ("PUBLIC_URL", "ftp://x"),
            ("REDIS_URL", "http://secret@x"),
            ("SMTP_URL", "mail.example.com"),
            ("MAIL_FROM", "not an address"),
            ("MSINGI_ENV", "staging"),
            ("GRAPHQL_MAX_DEPTH", "1"),
            ("MAX_BODY_BYTES", "-5"),
            ("MSINGI_IN_PROCESS_WORKERS", "maybe"),
            ("CORS_ORIGINS", "example.com"),
            ("BILLING_DUNNING_DAYS", "3,1"),
            ("BILLING_DUNNING_DAYS", "0,x"),
            ("BILLING_GRACE_DAYS", "-1"),
            ("BILLING_CANCEL_AFTER_DAYS", "soon"),
        ] {
            let err = load(&[(name, value)]).unwrap_err();
            assert_eq!(err.var, name, "{value}");
        }
        let err = load(&[("REDIS_URL", "http://user:hunter2@x")]).unwrap_err();
        assert!(!err.to_string().contains("hunter2"));
        assert_eq!(
            load(&[("MSINGI_ADMIN_EMAIL", "a@b.c")]).unwrap_err().var,
            "MSINGI_ADMIN_PASSWORD"
        );
    }

    #[test]
    fn dunning_days_are_read_in_order() {
        let config = load(&[("BILLING_DUNNING_DAYS", " 0, 2 ,9")]).unwrap();
        assert_eq!(config.billing.dunning_days, vec![0, 2, 9]);
        let config = load(&[]).unwrap();
        assert_eq!(config.billing.dunning_days, vec![0, 1, 3, 5]);
        assert_eq!(config.billing.grace_days, 7);
        assert_eq!(config.billing.cancel_after_days, 30);
    }
}
