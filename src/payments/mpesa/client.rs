//! The Daraja client: OAuth with one token per consumer key shared by every node (kept in
//! the database, refreshed under a lock five minutes early, refreshed once more when Daraja
//! says `404.001.03`), STK push and STK Query, typed errors from Daraja's `errorCode`s,
//! timeouts, and retries with backoff only where Daraja's table says retry.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::config::MpesaConfig;
use crate::db::Db;

/// How long one Daraja call may take.
const TIMEOUT: Duration = Duration::from_secs(15);
/// A token is replaced this long before it expires.
const REFRESH_EARLY: chrono::Duration = chrono::Duration::minutes(5);
/// Attempts of a call Daraja says to retry (rate limits, internal errors).
const ATTEMPTS: u32 = 3;

/// What went wrong talking to Daraja.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DarajaError {
    /// `400.002.02`: a field is wrong (named in the message).
    #[error("Daraja refused a field: {0}")]
    InvalidField(String),
    /// `404.001.03`: the access token is not (or no longer) valid.
    #[error("Daraja refused the access token")]
    InvalidToken,
    /// `500.001.1001` about credentials or the merchant: a configuration error.
    #[error("Daraja refused the credentials: {0}")]
    Credentials(String),
    /// `500.001.1001` "unable to lock subscriber" (another transaction on the phone) or
    /// "being processed": try again later.
    #[error("Daraja is busy with this subscriber: {0}")]
    Busy(String),
    /// `500.003.02` (spike arrest), `500.003.03` (quota): back off.
    #[error("Daraja rate-limited the request: {0}")]
    RateLimited(String),
    /// `500.003.1001` or any other server-side failure.
    #[error("Daraja failed: {0}")]
    Internal(String),
    /// No answer (connection refused, timeout) or one that is not Daraja's.
    #[error("Daraja could not be reached: {0}")]
    Unreachable(String),
    /// The OAuth call failed (wrong consumer key or secret).
    #[error("Daraja refused the consumer key and secret")]
    Unauthorized,
}

impl DarajaError {
    /// The error of an answer `{"errorCode", "errorMessage"}` (HTTP `status`).
    pub fn from_answer(status: u16, body: &Value) -> Self {
        let code = body["errorCode"].as_str().unwrap_or_default();
        let message = body["errorMessage"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| format!("HTTP {status}: {body}"));
        let lower = message.to_ascii_lowercase();
        match code {
            "400.002.02" => Self::InvalidField(message),
            "404.001.03" => Self::InvalidToken,
            "500.001.1001" if lower.contains("lock") || lower.contains("being processed") => {
                Self::Busy(message)
            }
            "500.001.1001" => Self::Credentials(message),
            "500.003.02" | "500.003.03" => Self::RateLimited(message),
            _ if status == 401 => Self::Unauthorized,
            _ => Self::Internal(message),
        }
    }

    /// Whether Daraja's table says to retry the same call after a pause.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::RateLimited(_) | Self::Internal(_) | Self::Unreachable(_)
        )
    }
}

/// A push to ask for.
#[derive(Debug, Clone)]
pub struct Push {
    /// Whole shillings.
    pub amount: i64,
    /// The MSISDN (`2547…`).
    pub phone: String,
    /// Where Safaricom posts the result.
    pub callback_url: String,
    /// Shown in the prompt (≤ 12 characters): the invoice number's end.
    pub account_reference: String,
    /// ≤ 13 characters.
    pub description: String,
}

/// Daraja accepted the push for processing (not paid: the callback tells).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// `MerchantRequestID`.
    pub merchant_request_id: String,
    /// `CheckoutRequestID`, the correlation id of the callback and of STK Query.
    pub checkout_request_id: String,
}

/// What STK Query says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Queried {
    /// The customer has not answered yet (or Daraja asks to be asked later).
    Pending,
    /// The outcome.
    Done {
        /// `ResultCode` (a string in Daraja's answer).
        result_code: i32,
        /// `ResultDesc`.
        result_desc: String,
    },
}

/// The `Timestamp` of a request at `now`: `YYYYMMDDHHmmss` in Africa/Nairobi time.
/// Computed once per request and used for both `Timestamp` and `Password`.
pub fn timestamp(now: DateTime<Utc>) -> String {
    now.with_timezone(&chrono_tz::Africa::Nairobi)
        .format("%Y%m%d%H%M%S")
        .to_string()
}

/// `base64(shortcode + passkey + timestamp)`.
pub fn password(shortcode: &str, passkey: &str, timestamp: &str) -> String {
    STANDARD.encode(format!("{shortcode}{passkey}{timestamp}"))
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    /// A string in older answers, a number in newer ones.
    expires_in: Value,
}

/// A Daraja client for one consumer key.
#[derive(Clone)]
pub struct Daraja {
    http: reqwest::Client,
    base: String,
    key: String,
    secret: String,
    shortcode: String,
    passkey: String,
    transaction_type: String,
    db: Db,
}

impl std::fmt::Debug for Daraja {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Daraja")
            .field("base", &self.base)
            .field("shortcode", &self.shortcode)
            .finish_non_exhaustive()
    }
}

impl Daraja {
    /// The client the configuration asks for; tokens are shared through `db`.
    pub fn new(config: &MpesaConfig, public_url: &str, db: Db) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .connect_timeout(Duration::from_secs(5))
            .build()?;
        Ok(Self {
            http,
            base: config.base_url(public_url),
            key: config.consumer_key.clone(),
            secret: config.consumer_secret.clone(),
            shortcode: config.shortcode.clone(),
            passkey: config.passkey.clone(),
            transaction_type: config.transaction_type.clone(),
            db,
        })
    }

    /// Asks Daraja to prompt `push.phone` for `push.amount` shillings.
    pub async fn stk_push(&self, push: &Push) -> Result<Accepted, DarajaError> {
        let now = self.db.clock().now();
        let timestamp = timestamp(now);
        let body = json!({
            "BusinessShortCode": self.shortcode,
            "Password": password(&self.shortcode, &self.passkey, &timestamp),
            "Timestamp": timestamp,
            "TransactionType": self.transaction_type,
            "Amount": push.amount.to_string(),
            "PartyA": push.phone,
            "PartyB": self.shortcode,
            "PhoneNumber": push.phone,
            "CallBackURL": push.callback_url,
            "AccountReference": push.account_reference,
            "TransactionDesc": push.description,
        });
        let answer = self.call("/mpesa/stkpush/v1/processrequest", &body).await?;
        match (
            answer["ResponseCode"].as_str(),
            answer["CheckoutRequestID"].as_str(),
            answer["MerchantRequestID"].as_str(),
        ) {
            (Some("0"), Some(checkout), Some(merchant)) => Ok(Accepted {
                merchant_request_id: merchant.to_owned(),
                checkout_request_id: checkout.to_owned(),
            }),
            _ => Err(DarajaError::Internal(format!(
                "unexpected STK push answer: {answer}"
            ))),
        }
    }

    /// Asks Daraja what became of push `checkout_request_id`.
    pub async fn stk_query(&self, checkout_request_id: &str) -> Result<Queried, DarajaError> {
        let timestamp = timestamp(self.db.clock().now());
        let body = json!({
            "BusinessShortCode": self.shortcode,
            "Password": password(&self.shortcode, &self.passkey, &timestamp),
            "Timestamp": timestamp,
            "CheckoutRequestID": checkout_request_id,
        });
        match self.call("/mpesa/stkpushquery/v1/query", &body).await {
            Ok(answer) => {
                let code = match &answer["ResultCode"] {
                    Value::String(s) => s.parse().ok(),
                    Value::Number(n) => n.as_i64().and_then(|n| i32::try_from(n).ok()),
                    _ => None,
                };
                match code {
                    Some(result_code) => Ok(Queried::Done {
                        result_code,
                        result_desc: answer["ResultDesc"].as_str().unwrap_or_default().to_owned(),
                    }),
                    None => Ok(Queried::Pending),
                }
            }
            // "The transaction is being processed", or a rate limit: not yet.
            Err(DarajaError::Busy(_) | DarajaError::RateLimited(_)) => Ok(Queried::Pending),
            Err(e) => Err(e),
        }
    }

    /// POSTs `body` to `path` with the shared token: once more with a fresh token when
    /// Daraja says the token is invalid, and up to [`ATTEMPTS`] times with backoff when it
    /// says to retry.
    async fn call(&self, path: &str, body: &Value) -> Result<Value, DarajaError> {
        let mut refused: Option<String> = None;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let token = self.token(refused.as_deref()).await?;
            let result = self.post(path, &token, body).await;
            match result {
                Err(DarajaError::InvalidToken) if refused.is_none() => refused = Some(token),
                Err(e) if e.is_retryable() && attempt < ATTEMPTS => {
                    tokio::time::sleep(Duration::from_millis(250 * 2u64.pow(attempt))).await;
                }
                other => return other,
            }
        }
    }

    async fn post(&self, path: &str, token: &str, body: &Value) -> Result<Value, DarajaError> {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .map_err(|e| DarajaError::Unreachable(e.to_string()))?;
        let status = response.status().as_u16();
        let answer: Value = response
            .json()
            .await
            .map_err(|e| DarajaError::Unreachable(format!("HTTP {status}, not JSON: {e}")))?;
        if (200..300).contains(&status) && answer.get("errorCode").is_none() {
            Ok(answer)
        } else {
            Err(DarajaError::from_answer(status, &answer))
        }
    }

    /// The consumer key's shared token: the stored one while it has five minutes left
    /// (unless it is the one Daraja just `refused`), else a new one, fetched under the key's
    /// lock so two nodes never both fetch (each fetch invalidates the previous token).
    async fn token(&self, refused: Option<&str>) -> Result<String, DarajaError> {
        let consumer = self.consumer();
        let now = self.db.clock().now();
        if refused.is_none()
            && let Some(token) = self
                .db
                .daraja_token(&consumer, now + REFRESH_EARLY)
                .await
                .map_err(|e| DarajaError::Internal(e.to_string()))?
        {
            return Ok(token);
        }
        let lease = self
            .db
            .lock_daraja_token(&consumer)
            .await
            .map_err(|e| DarajaError::Internal(e.to_string()))?;
        // Another node may have fetched one while this one waited for the lock.
        if let Some(token) = lease
            .current(now + REFRESH_EARLY, refused)
            .await
            .map_err(|e| DarajaError::Internal(e.to_string()))?
        {
            return Ok(token);
        }
        let response = self
            .http
            .get(format!("{}/oauth/v1/generate", self.base))
            .query(&[("grant_type", "client_credentials")])
            .basic_auth(&self.key, Some(&self.secret))
            .send()
            .await
            .map_err(|e| DarajaError::Unreachable(e.to_string()))?;
        if response.status().as_u16() == 400 || response.status().as_u16() == 401 {
            return Err(DarajaError::Unauthorized);
        }
        let answer: TokenAnswer = response
            .json()
            .await
            .map_err(|e| DarajaError::Unreachable(format!("token answer: {e}")))?;
        let seconds = match &answer.expires_in {
            Value::String(s) => s.parse().unwrap_or(3599),
            Value::Number(n) => n.as_i64().unwrap_or(3599),
            _ => 3599,
        };
        lease
            .store(
                &answer.access_token,
                now + chrono::Duration::seconds(seconds),
            )
            .await
            .map_err(|e| DarajaError::Internal(e.to_string()))?;
        Ok(answer.access_token)
    }

    /// The stored form of the consumer key: its SHA-256 (the key itself is a credential).
    fn consumer(&self) -> String {
        use sha2::Digest as _;
        hex::encode(sha2::Sha256::digest(self.key.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_timestamp_is_nairobi_time_and_the_password_follows_the_formula() {
        let now = DateTime::parse_from_rfc3339("2021-06-28T06:24:08Z")
            .unwrap()
            .with_timezone(&Utc);
        let ts = timestamp(now);
        assert_eq!(ts, "20210628092408", "UTC+3");
        // Safaricom's sample request (samples/stk_push_request.json).
        assert_eq!(
            password("174379", crate::config::SANDBOX_PASSKEY, &ts),
            "MTc0Mzc5YmZiMjc5ZjlhYTliZGJjZjE1OGU5N2RkNzFhNDY3Y2QyZTBjODkzMDU5YjEwZjc4ZTZiNzJhZGExZWQyYzkxOTIwMjEwNjI4MDkyNDA4"
        );
    }

    #[test]
    fn errors_are_typed_by_daraja_code() {
        let e = |code: &str, message: &str| {
            DarajaError::from_answer(500, &json!({ "errorCode": code, "errorMessage": message }))
        };
        assert!(matches!(
            DarajaError::from_answer(
                400,
                &json!({"errorCode": "400.002.02", "errorMessage": "Bad Request - Invalid BusinessShortCode"})
            ),
            DarajaError::InvalidField(m) if m.contains("BusinessShortCode")
        ));
        assert_eq!(
            e("404.001.03", "Invalid Access Token"),
            DarajaError::InvalidToken
        );
        assert!(matches!(
            e("500.001.1001", "Unable to lock subscriber"),
            DarajaError::Busy(_)
        ));
        assert!(matches!(
            e("500.001.1001", "Wrong credentials"),
            DarajaError::Credentials(_)
        ));
        assert!(e("500.003.02", "Spike arrest").is_retryable());
        assert!(e("500.003.1001", "Internal").is_retryable());
        assert!(!e("500.001.1001", "Wrong credentials").is_retryable());
        assert!(!e("400.002.02", "Invalid Amount").is_retryable());
    }
}
