//! The HTTP server: where it listens, its public URLs, CORS, limits, proxies, timeouts.

use std::net::SocketAddr;
use std::time::Duration;

use super::ConfigError;
use super::vars::{Vars, http_url, invalid};

/// Which browser origins may call the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsOrigins {
    /// Any origin (`*`), without credentials.
    Any,
    /// Exactly these origins.
    List(Vec<String>),
}

/// The HTTP server's settings.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// `MSINGI_BIND`: listen address.
    pub bind: SocketAddr,
    /// `PUBLIC_URL`: base of URLs sent to others.
    pub public_url: String,
    /// `APP_URL`: the SPA's base URL, for links in emails.
    pub app_url: String,
    /// Whether `APP_URL` was set (an SPA handles the links in emails); otherwise the
    /// server's own pages at `/verify-email`, `/reset-password`, `/accept-invitation` do.
    pub app_url_configured: bool,
    /// `CORS_ORIGINS`: `*` or a comma-separated list of origins.
    pub cors_origins: CorsOrigins,
    /// `MAX_BODY_BYTES`: largest request body accepted.
    pub max_body_bytes: usize,
    /// `REQUEST_TIMEOUT_SECS`: a request running longer is answered 408.
    pub request_timeout: Duration,
    /// `SHUTDOWN_TIMEOUT_SECS`: how long in-flight requests and running jobs get on stop.
    pub shutdown_timeout: Duration,
    /// `MSINGI_BASE_DOMAIN`: with `acme.example.com`, a request to
    /// `duka.acme.example.com` acts in the tenant whose slug is `duka`.
    pub base_domain: Option<String>,
    /// `TRUSTED_PROXIES`: addresses or CIDR ranges of reverse proxies whose
    /// `X-Forwarded-For` names the client; from anyone else the header is ignored.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// `METRICS_TOKEN`: when set, `/metrics` answers only `Authorization: Bearer <token>`.
    pub metrics_token: Option<String>,
}

impl HttpConfig {
    pub(super) fn parse(vars: &Vars<'_>) -> Result<Self, ConfigError> {
        let bind = match vars.get("MSINGI_BIND") {
            Some(v) => v
                .parse()
                .map_err(|_| invalid("MSINGI_BIND", format!("expected host:port, got {v:?}")))?,
            None => SocketAddr::from(([127, 0, 0, 1], 8080)),
        };
        let public_url = http_url(
            "PUBLIC_URL",
            vars.get("PUBLIC_URL"),
            "http://127.0.0.1:8080",
        )?;
        let app_url = http_url("APP_URL", vars.get("APP_URL"), &public_url)?;
        let cors_origins = match vars.get("CORS_ORIGINS").as_deref() {
            None | Some("*") => CorsOrigins::Any,
            Some(list) => CorsOrigins::List(
                list.split(',')
                    .map(str::trim)
                    .filter(|o| !o.is_empty())
                    .map(|o| http_url("CORS_ORIGINS", Some(o.to_owned()), ""))
                    .collect::<Result<_, _>>()?,
            ),
        };
        Ok(Self {
            bind,
            public_url,
            app_url_configured: vars.get("APP_URL").is_some(),
            app_url,
            cors_origins,
            max_body_bytes: vars.number("MAX_BODY_BYTES", 1024 * 1024, 1024)?,
            request_timeout: vars.seconds("REQUEST_TIMEOUT_SECS", 30, 1)?,
            shutdown_timeout: vars.seconds("SHUTDOWN_TIMEOUT_SECS", 30, 1)?,
            base_domain: vars
                .get("MSINGI_BASE_DOMAIN")
                .map(|d| d.trim_start_matches('.').to_lowercase()),
            trusted_proxies: vars
                .get("TRUSTED_PROXIES")
                .map(|list| trusted_proxies(&list))
                .transpose()?
                .unwrap_or_default(),
            metrics_token: vars.get("METRICS_TOKEN"),
        })
    }
}

/// `TRUSTED_PROXIES`: comma-separated addresses (`10.0.0.1`) or ranges (`10.0.0.0/8`).
fn trusted_proxies(list: &str) -> Result<Vec<ipnet::IpNet>, ConfigError> {
    address_ranges("TRUSTED_PROXIES", list)
}

/// `var`'s comma-separated addresses (`10.0.0.1`) or ranges (`10.0.0.0/8`).
pub(super) fn address_ranges(
    var: &'static str,
    list: &str,
) -> Result<Vec<ipnet::IpNet>, ConfigError> {
    list.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| {
            item.parse::<ipnet::IpNet>()
                .or_else(|_| item.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| invalid(var, format!("{item:?} is not an IP address or CIDR range")))
        })
        .collect()
}
