//! M-Pesa (Daraja): where it is, the credentials, the callback secret, the simulator.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::ConfigError;
use super::vars::{Vars, invalid};

/// Which Daraja the server talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MpesaEnv {
    /// The bundled simulator, mounted at `/_daraja` on this server (the embedded default).
    Simulator,
    /// Safaricom's sandbox.
    Sandbox,
    /// Safaricom's production API.
    Production,
}

/// Safaricom's published sandbox credentials: the simulator checks the same ones.
pub const SANDBOX_SHORTCODE: &str = "174379";
/// The sandbox passkey.
pub const SANDBOX_PASSKEY: &str =
    "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919";
/// The simulator's consumer key.
pub const SIMULATOR_KEY: &str = "msingi-simulator-key";
/// The simulator's consumer secret.
pub const SIMULATOR_SECRET: &str = "msingi-simulator-secret";

/// The M-Pesa settings.
#[derive(Clone)]
pub struct MpesaConfig {
    /// `MPESA_ENV` (default `simulator`).
    pub env: MpesaEnv,
    /// `MPESA_BASE_URL`: Daraja's base URL (by `MPESA_ENV` when unset; the simulator's is
    /// `PUBLIC_URL/_daraja`).
    pub base_url: Option<String>,
    /// `MPESA_CONSUMER_KEY`.
    pub consumer_key: String,
    /// `MPESA_CONSUMER_SECRET`.
    pub consumer_secret: String,
    /// `MPESA_SHORTCODE`: the paybill (or till) payments go to.
    pub shortcode: String,
    /// `MPESA_PASSKEY`.
    pub passkey: String,
    /// `MPESA_TRANSACTION_TYPE`: `CustomerPayBillOnline` (default) or
    /// `CustomerBuyGoodsOnline`.
    pub transaction_type: String,
    /// `MPESA_CALLBACK_SECRET`, else a secret generated once into `callback_secret_file`.
    pub callback_secret: Option<String>,
    /// Where the generated callback secret lives (`data/mpesa-callback-secret`).
    pub callback_secret_file: PathBuf,
    /// `MPESA_CALLBACK_ALLOW`: addresses or ranges callbacks may come from (none: any).
    pub callback_allow: Vec<ipnet::IpNet>,
    /// `MPESA_SIM_CALLBACK_DELAY_MS` (default 3000): the simulated customer's answer time.
    pub sim_callback_delay: Duration,
    /// `MPESA_PENDING_QUERY_SECS` (default 90): a payment pending this long is asked of STK
    /// Query.
    pub query_after: Duration,
    /// `MPESA_PENDING_TIMEOUT_SECS` (default 600): a payment still pending this long is
    /// TIMED_OUT.
    pub timeout_after: Duration,
}

impl std::fmt::Debug for MpesaConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MpesaConfig")
            .field("env", &self.env)
            .field("base_url", &self.base_url)
            .field("shortcode", &self.shortcode)
            .finish_non_exhaustive()
    }
}

impl MpesaConfig {
    pub(super) fn parse(vars: &Vars<'_>, data_dir: &Path) -> Result<Self, ConfigError> {
        let env = match vars.get("MPESA_ENV").as_deref() {
            None | Some("simulator") => MpesaEnv::Simulator,
            Some("sandbox") => MpesaEnv::Sandbox,
            Some("production") => MpesaEnv::Production,
            Some(other) => {
                return Err(invalid(
                    "MPESA_ENV",
                    format!("expected simulator, sandbox or production, got {other:?}"),
                ));
            }
        };
        let base_url = vars.url_of("MPESA_BASE_URL", &["http", "https"], "an http(s) URL")?;
        let needed = |name: &'static str, simulator: &str| match (vars.get(name), env) {
            (Some(value), _) => Ok(value),
            (None, MpesaEnv::Simulator) => Ok(simulator.to_owned()),
            (None, MpesaEnv::Sandbox) if name == "MPESA_SHORTCODE" => {
                Ok(SANDBOX_SHORTCODE.to_owned())
            }
            (None, MpesaEnv::Sandbox) if name == "MPESA_PASSKEY" => Ok(SANDBOX_PASSKEY.to_owned()),
            (None, _) => Err(invalid(name, "required unless MPESA_ENV=simulator")),
        };
        let shortcode = needed("MPESA_SHORTCODE", SANDBOX_SHORTCODE)?;
        if !(5..=7).contains(&shortcode.len()) || !shortcode.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid("MPESA_SHORTCODE", "5 to 7 digits"));
        }
        let transaction_type = vars
            .get("MPESA_TRANSACTION_TYPE")
            .unwrap_or_else(|| "CustomerPayBillOnline".into());
        if !matches!(
            transaction_type.as_str(),
            "CustomerPayBillOnline" | "CustomerBuyGoodsOnline"
        ) {
            return Err(invalid(
                "MPESA_TRANSACTION_TYPE",
                "CustomerPayBillOnline or CustomerBuyGoodsOnline",
            ));
        }
        let callback_allow = match vars.get("MPESA_CALLBACK_ALLOW") {
            Some(list) => super::http::address_ranges("MPESA_CALLBACK_ALLOW", &list)?,
            None => Vec::new(),
        };
        let callback_secret = vars.get("MPESA_CALLBACK_SECRET");
        if env == MpesaEnv::Production && callback_secret.is_none() {
            return Err(invalid(
                "MPESA_CALLBACK_SECRET",
                "required with MPESA_ENV=production (the same on every node)",
            ));
        }
        Ok(Self {
            env,
            base_url,
            consumer_key: needed("MPESA_CONSUMER_KEY", SIMULATOR_KEY)?,
            consumer_secret: needed("MPESA_CONSUMER_SECRET", SIMULATOR_SECRET)?,
            shortcode,
            passkey: needed("MPESA_PASSKEY", SANDBOX_PASSKEY)?,
            transaction_type,
            callback_secret,
            callback_secret_file: data_dir.join("mpesa-callback-secret"),
            callback_allow,
            sim_callback_delay: Duration::from_millis(vars.number(
                "MPESA_SIM_CALLBACK_DELAY_MS",
                3000,
                0,
            )? as u64),
            query_after: vars.seconds("MPESA_PENDING_QUERY_SECS", 90, 1)?,
            timeout_after: vars.seconds("MPESA_PENDING_TIMEOUT_SECS", 600, 1)?,
        })
    }

    /// Daraja's base URL: `MPESA_BASE_URL`, else Safaricom's for the environment, else (the
    /// simulator) this server's `/_daraja`.
    pub fn base_url(&self, public_url: &str) -> String {
        match (&self.base_url, self.env) {
            (Some(url), _) => url.trim_end_matches('/').to_owned(),
            (None, MpesaEnv::Sandbox) => "https://sandbox.safaricom.co.ke".into(),
            (None, MpesaEnv::Production) => "https://api.safaricom.co.ke".into(),
            (None, MpesaEnv::Simulator) => {
                format!("{}/_daraja", public_url.trim_end_matches('/'))
            }
        }
    }
}
