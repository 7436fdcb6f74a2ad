//! Configuration, read once at start from the environment (and `.env` when present).
//!
//! Promise: every variable is validated before anything starts. A bad value becomes one
//! [`ConfigError`] naming the variable; `main` prints it on one line and exits with status 2.
//! Values are never echoed back when they may hold credentials.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

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

fn invalid(var: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        var,
        message: message.into(),
    }
}

/// `TRUSTED_PROXIES`: comma-separated addresses (`10.0.0.1`) or ranges (`10.0.0.0/8`).
fn trusted_proxies(list: &str) -> Result<Vec<ipnet::IpNet>, ConfigError> {
    list.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| {
            item.parse::<ipnet::IpNet>()
                .or_else(|_| item.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| {
                    invalid(
                        "TRUSTED_PROXIES",
                        format!("{item:?} is not an IP address or CIDR range"),
                    )
                })
        })
        .collect()
}

/// Which database the server talks to; decides the embedded behaviours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseKind {
    /// A SQLite file (the embedded default).
    Sqlite,
    /// PostgreSQL.
    Postgres,
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

/// Which browser origins may call the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsOrigins {
    /// Any origin (`*`), without credentials.
    Any,
    /// Exactly these origins.
    List(Vec<String>),
}

/// Limits that keep one GraphQL request from consuming the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GraphqlLimits {
    /// Deepest selection nesting accepted.
    pub max_depth: usize,
    /// Largest complexity (fields, weighted) accepted.
    pub max_complexity: usize,
    /// Most operations in one batched request.
    pub max_batch: usize,
    /// Most lexical tokens in one document (checked before parsing).
    pub max_tokens: usize,
    /// Most aliases in one document.
    pub max_aliases: usize,
    /// Most selections of one operation once fragments are expanded.
    pub max_selections: usize,
    /// How long one operation may execute before it is cancelled.
    pub execution_timeout_ms: u64,
}

impl Default for GraphqlLimits {
    fn default() -> Self {
        Self {
            max_depth: 12,
            max_complexity: 1000,
            max_batch: 10,
            max_tokens: 2000,
            max_aliases: 15,
            max_selections: 2000,
            execution_timeout_ms: 10_000,
        }
    }
}

/// Everything the server and workers are configured with.
#[derive(Debug, Clone)]
pub struct Config {
    /// `MSINGI_BIND`: listen address.
    pub bind: SocketAddr,
    /// `PUBLIC_URL`: base of URLs sent to others.
    pub public_url: String,
    /// `APP_URL`: the SPA's base URL, for links in emails.
    pub app_url: String,
    /// Whether `APP_URL` was set (an SPA handles the links in emails); otherwise the
    /// server's own pages at `/verify-email`, `/reset-password`, `/accept-invitation` do.
    pub app_url_configured: bool,
    /// `DATABASE_URL`: the run-time connection.
    pub database_url: String,
    /// `MIGRATION_DATABASE_URL`: the table owner, for migrations.
    pub migration_database_url: String,
    /// `PLATFORM_DATABASE_URL`: the connection of the platform door (work across tenants:
    /// authentication, platform admin, the outbox drainer). On PostgreSQL its role is the
    /// only one row-level security lets past a tenant; default `MIGRATION_DATABASE_URL`.
    pub platform_database_url: String,
    /// `REDIS_URL`: jobs, caches and pub/sub go to Redis when set.
    pub redis_url: Option<String>,
    /// `MSINGI_DATA_DIR`: generated keys, the embedded job store, the email outbox.
    pub data_dir: PathBuf,
    /// `MSINGI_JOBS_NAMESPACE`: prefix of every queue name, so several deployments (or
    /// test runs) can share one Redis.
    pub jobs_namespace: String,
    /// `SMTP_URL`: emails go out over SMTP when set, to `.eml` files otherwise.
    pub smtp_url: Option<String>,
    /// `MAIL_FROM`: the sender of every email.
    pub mail_from: String,
    /// `MSINGI_ADMIN_EMAIL` and `MSINGI_ADMIN_PASSWORD`: a platform admin ensured at start.
    pub admin: Option<(String, String)>,
    /// `MSINGI_ENV`: `development` or `production`.
    pub environment: Environment,
    /// `LOG_FORMAT`: `pretty` or `json`.
    pub log_format: LogFormat,
    /// `CORS_ORIGINS`: `*` or a comma-separated list of origins.
    pub cors_origins: CorsOrigins,
    /// `MAX_BODY_BYTES`: largest request body accepted.
    pub max_body_bytes: usize,
    /// `GRAPHQL_MAX_DEPTH`, `GRAPHQL_MAX_COMPLEXITY`, `GRAPHQL_MAX_BATCH`.
    pub graphql: GraphqlLimits,
    /// `REQUEST_TIMEOUT_SECS`: a request running longer is answered 408.
    pub request_timeout: Duration,
    /// `SHUTDOWN_TIMEOUT_SECS`: how long in-flight requests and running jobs get on stop.
    pub shutdown_timeout: Duration,
    /// `MSINGI_IN_PROCESS_WORKERS`: whether `serve` also runs the job workers (default: on
    /// SQLite, yes).
    pub in_process_workers: bool,
    /// `MSINGI_AUTO_MIGRATE`: whether `serve` migrates at start (default: on SQLite, yes).
    pub auto_migrate: bool,
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
    /// `MSINGI_ALLOW_RLS_BYPASS`: start even when the PostgreSQL run-time role could read
    /// past row-level security (development only; warns loudly).
    pub allow_rls_bypass: bool,
    /// `MSINGI_BASE_DOMAIN`: with `acme.example.com`, a request to
    /// `duka.acme.example.com` acts in the tenant whose slug is `duka`.
    pub base_domain: Option<String>,
    /// `TRUSTED_PROXIES`: addresses or CIDR ranges of reverse proxies whose
    /// `X-Forwarded-For` names the client; from anyone else the header is ignored.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// `GRAPHQL_INTROSPECTION`: whether the schema answers introspection (default: on in
    /// development, off in production).
    pub introspection: bool,
    /// `METRICS_TOKEN`: when set, `/metrics` answers only `Authorization: Bearer <token>`.
    pub metrics_token: Option<String>,
    /// `GRAPHQL_PERSISTED_ONLY`: only the operations of `GRAPHQL_PERSISTED_QUERIES_FILE` run.
    pub persisted_only: bool,
    /// `GRAPHQL_PERSISTED_QUERIES_FILE`: the allow-list (an Apollo persisted-query manifest,
    /// or `{"<sha256>": "<query>"}`).
    pub persisted_queries_file: Option<PathBuf>,
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
        let var = |name: &str| {
            get(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };

        let bind = match var("MSINGI_BIND") {
            Some(v) => v
                .parse()
                .map_err(|_| invalid("MSINGI_BIND", format!("expected host:port, got {v:?}")))?,
            None => SocketAddr::from(([127, 0, 0, 1], 8080)),
        };
        let public_url = http_url("PUBLIC_URL", var("PUBLIC_URL"), "http://127.0.0.1:8080")?;
        let app_url = http_url("APP_URL", var("APP_URL"), &public_url)?;

        let data_dir = PathBuf::from(var("MSINGI_DATA_DIR").unwrap_or_else(|| "data".into()));
        let default_db = format!("sqlite://{}/msingi.db?mode=rwc", data_dir.display());
        let database_url = var("DATABASE_URL").unwrap_or(default_db);
        let kind = database_kind("DATABASE_URL", &database_url)?;
        let migration_database_url =
            var("MIGRATION_DATABASE_URL").unwrap_or_else(|| database_url.clone());
        if database_kind("MIGRATION_DATABASE_URL", &migration_database_url)? != kind {
            return Err(invalid(
                "MIGRATION_DATABASE_URL",
                "must point at the same kind of database as DATABASE_URL",
            ));
        }
        let platform_database_url =
            var("PLATFORM_DATABASE_URL").unwrap_or_else(|| migration_database_url.clone());
        if database_kind("PLATFORM_DATABASE_URL", &platform_database_url)? != kind {
            return Err(invalid(
                "PLATFORM_DATABASE_URL",
                "must point at the same kind of database as DATABASE_URL",
            ));
        }

        let redis_url = var("REDIS_URL")
            .map(|v| {
                if v.starts_with("redis://") || v.starts_with("rediss://") {
                    Ok(v)
                } else {
                    Err(invalid("REDIS_URL", "expected a redis:// or rediss:// URL"))
                }
            })
            .transpose()?;
        let jobs_namespace = var("MSINGI_JOBS_NAMESPACE").unwrap_or_else(|| "msingi".into());
        if !jobs_namespace
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(invalid(
                "MSINGI_JOBS_NAMESPACE",
                "use letters, digits, '-' and '_' only",
            ));
        }

        let smtp_url = var("SMTP_URL")
            .map(|v| {
                if v.starts_with("smtp://") || v.starts_with("smtps://") {
                    Ok(v)
                } else {
                    Err(invalid("SMTP_URL", "expected an smtp:// or smtps:// URL"))
                }
            })
            .transpose()?;
        let mail_from = var("MAIL_FROM").unwrap_or_else(|| "Msingi <no-reply@localhost>".into());
        if mail_from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(invalid(
                "MAIL_FROM",
                format!(
                    "expected an address like \"Msingi <no-reply@example.com>\", got {mail_from:?}"
                ),
            ));
        }

        let admin = match (var("MSINGI_ADMIN_EMAIL"), var("MSINGI_ADMIN_PASSWORD")) {
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

        let environment = match var("MSINGI_ENV").as_deref() {
            None | Some("development") => Environment::Development,
            Some("production") => Environment::Production,
            Some(other) => {
                return Err(invalid(
                    "MSINGI_ENV",
                    format!("expected development or production, got {other:?}"),
                ));
            }
        };
        let log_format = match var("LOG_FORMAT").as_deref() {
            None | Some("pretty") => LogFormat::Pretty,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(invalid(
                    "LOG_FORMAT",
                    format!("expected pretty or json, got {other:?}"),
                ));
            }
        };
        let cors_origins = match var("CORS_ORIGINS").as_deref() {
            None | Some("*") => CorsOrigins::Any,
            Some(list) => CorsOrigins::List(
                list.split(',')
                    .map(str::trim)
                    .filter(|o| !o.is_empty())
                    .map(|o| http_url("CORS_ORIGINS", Some(o.to_owned()), ""))
                    .collect::<Result<_, _>>()?,
            ),
        };

        let number =
            |name: &'static str, default: usize, min: usize| -> Result<usize, ConfigError> {
                match var(name) {
                    None => Ok(default),
                    Some(v) => match v.parse::<usize>() {
                        Ok(n) if n >= min => Ok(n),
                        _ => Err(invalid(
                            name,
                            format!("expected a whole number of at least {min}, got {v:?}"),
                        )),
                    },
                }
            };
        let flag = |name: &'static str, default: bool| -> Result<bool, ConfigError> {
            match var(name).as_deref() {
                None => Ok(default),
                Some("1" | "true" | "yes" | "on") => Ok(true),
                Some("0" | "false" | "no" | "off") => Ok(false),
                Some(other) => Err(invalid(
                    name,
                    format!("expected true or false, got {other:?}"),
                )),
            }
        };
        let embedded = kind == DatabaseKind::Sqlite;
        let jwt_signing_key_configured = var("JWT_SIGNING_KEY_FILE").is_some();
        let jwt_signing_key_file = var("JWT_SIGNING_KEY_FILE")
            .map_or_else(|| data_dir.join("jwt-signing-key.pem"), PathBuf::from);
        let jwt_verify_key_files = var("JWT_VERIFY_KEY_FILES")
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .map(PathBuf::from)
                    .collect()
            })
            .unwrap_or_default();

        if flag("GRAPHQL_PERSISTED_ONLY", false)? && var("GRAPHQL_PERSISTED_QUERIES_FILE").is_none()
        {
            return Err(invalid(
                "GRAPHQL_PERSISTED_QUERIES_FILE",
                "must name the allow-list when GRAPHQL_PERSISTED_ONLY=true",
            ));
        }
        Ok(Self {
            bind,
            public_url,
            app_url_configured: var("APP_URL").is_some(),
            app_url,
            database_url,
            migration_database_url,
            platform_database_url,
            redis_url,
            data_dir,
            jobs_namespace,
            smtp_url,
            mail_from,
            admin,
            environment,
            log_format,
            cors_origins,
            max_body_bytes: number("MAX_BODY_BYTES", 1024 * 1024, 1024)?,
            graphql: GraphqlLimits {
                max_depth: number("GRAPHQL_MAX_DEPTH", 12, 2)?,
                max_complexity: number("GRAPHQL_MAX_COMPLEXITY", 1000, 10)?,
                max_batch: number("GRAPHQL_MAX_BATCH", 10, 1)?,
                max_tokens: number("GRAPHQL_MAX_TOKENS", 2000, 100)?,
                max_aliases: number("GRAPHQL_MAX_ALIASES", 15, 0)?,
                max_selections: number("GRAPHQL_MAX_SELECTIONS", 2000, 10)?,
                execution_timeout_ms: number("GRAPHQL_EXECUTION_TIMEOUT_MS", 10_000, 10)? as u64,
            },
            request_timeout: Duration::from_secs(number("REQUEST_TIMEOUT_SECS", 30, 1)? as u64),
            shutdown_timeout: Duration::from_secs(number("SHUTDOWN_TIMEOUT_SECS", 30, 1)? as u64),
            in_process_workers: flag("MSINGI_IN_PROCESS_WORKERS", embedded)?,
            auto_migrate: flag("MSINGI_AUTO_MIGRATE", embedded)?,
            jwt_signing_key_file,
            jwt_signing_key_configured,
            jwt_verify_key_files,
            access_token_ttl: Duration::from_secs(
                number("ACCESS_TOKEN_TTL_SECS", 15 * 60, 30)? as u64
            ),
            refresh_token_ttl: Duration::from_secs(number(
                "REFRESH_TOKEN_TTL_SECS",
                30 * 24 * 3600,
                300,
            )? as u64),
            login_max_failures: number("LOGIN_MAX_FAILURES", 5, 1)? as u32,
            login_lockout: Duration::from_secs(number("LOGIN_LOCKOUT_SECS", 15 * 60, 1)? as u64),
            allow_rls_bypass: flag("MSINGI_ALLOW_RLS_BYPASS", false)?,
            base_domain: var("MSINGI_BASE_DOMAIN")
                .map(|d| d.trim_start_matches('.').to_lowercase()),
            introspection: flag(
                "GRAPHQL_INTROSPECTION",
                environment == Environment::Development,
            )?,
            metrics_token: var("METRICS_TOKEN"),
            persisted_only: flag("GRAPHQL_PERSISTED_ONLY", false)?,
            persisted_queries_file: var("GRAPHQL_PERSISTED_QUERIES_FILE").map(PathBuf::from),
            trusted_proxies: var("TRUSTED_PROXIES")
                .map(|list| trusted_proxies(&list))
                .transpose()?
                .unwrap_or_default(),
        })
    }

    /// The kind of database `DATABASE_URL` names (validated at load).
    pub fn database_kind(&self) -> DatabaseKind {
        database_kind("DATABASE_URL", &self.database_url).unwrap_or(DatabaseKind::Sqlite)
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

fn http_url(
    var: &'static str,
    value: Option<String>,
    default: &str,
) -> Result<String, ConfigError> {
    let value = value.unwrap_or_else(|| default.to_owned());
    match url::Url::parse(&value) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {
            Ok(value.trim_end_matches('/').to_owned())
        }
        _ => Err(invalid(
            var,
            format!("expected an http(s) URL, got {value:?}"),
        )),
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
    fn the_embedded_default_needs_no_variables() {
        let config = load(&[]).expect("defaults are valid");
        assert_eq!(config.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(config.database_url, "sqlite://data/msingi.db?mode=rwc");
        assert_eq!(config.database_kind(), DatabaseKind::Sqlite);
        assert!(config.in_process_workers && config.auto_migrate);
        assert_eq!(config.app_url, config.public_url);
        assert_eq!(config.cors_origins, CorsOrigins::Any);
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
        assert!(!config.in_process_workers && !config.auto_migrate);
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
}
