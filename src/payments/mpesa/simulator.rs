//! A faithful Daraja for offline work and tests (`MPESA_ENV=simulator`, mounted at
//! `/_daraja`; alone with `msingi daraja-sim`). It checks what Daraja checks (the consumer
//! key and secret, the bearer token, the password formula and timestamp, field lengths,
//! MSISDN and amount rules) and answers in Daraja's shapes. The last four digits of the
//! phone choose the outcome; the callback is POSTed over HTTP to the `CallBackURL` after
//! `MPESA_SIM_CALLBACK_DELAY_MS` (`8888`: twice; `9999`: never, only STK Query tells).
//! `GET /_sim/pushes` and `POST /_sim/pushes/{CheckoutRequestID}/complete` (body
//! `{"ResultCode": n}`) let a tester drive outcomes by hand.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use super::client::password;

/// What the simulator accepts.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The consumer key.
    pub consumer_key: String,
    /// The consumer secret.
    pub consumer_secret: String,
    /// The shortcode.
    pub shortcode: String,
    /// The passkey.
    pub passkey: String,
    /// The customer's answer time.
    pub delay: Duration,
}

impl SimConfig {
    /// The simulator of the configuration.
    pub fn of(config: &crate::config::MpesaConfig) -> Self {
        Self {
            consumer_key: config.consumer_key.clone(),
            consumer_secret: config.consumer_secret.clone(),
            shortcode: config.shortcode.clone(),
            passkey: config.passkey.clone(),
            delay: config.sim_callback_delay,
        }
    }
}

#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
struct SimPush {
    merchant_request_id: String,
    checkout_request_id: String,
    phone_number: String,
    amount: i64,
    account_reference: String,
    call_back_url: String,
    /// Decided outcome (`None` while the customer "thinks").
    result_code: Option<i32>,
    mpesa_receipt_number: Option<String>,
    callbacks_sent: u32,
}

#[derive(Default)]
struct Inner {
    /// The live token (each new one replaces the previous, as on Daraja).
    token: Option<String>,
    /// Tokens handed out so far.
    tokens_issued: u32,
    pushes: HashMap<String, SimPush>,
    order: Vec<String>,
}

/// The simulator's state.
#[derive(Clone)]
pub struct Simulator {
    config: Arc<SimConfig>,
    clock: crate::clock::SharedClock,
    inner: Arc<Mutex<Inner>>,
    http: reqwest::Client,
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!({
            "requestId": uuid::Uuid::new_v4().simple().to_string(),
            "errorCode": code,
            "errorMessage": message,
        })),
    )
        .into_response()
}

fn invalid(field: &str) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "400.002.02",
        &format!("Bad Request - Invalid {field}"),
    )
}

fn random_upper(n: usize) -> String {
    use rand::Rng as _;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut rng = rand::rng();
    (0..n)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

fn digits(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            Some(s.clone())
        }
        Value::Number(n) if n.is_u64() => Some(n.to_string()),
        _ => None,
    }
}

fn is_msisdn(text: &str) -> bool {
    text.len() == 12 && (text.starts_with("2547") || text.starts_with("2541"))
}

/// The outcome a phone's last four digits choose: `None` for "refused at once" (7777).
fn outcome_of(phone: &str) -> Option<i32> {
    match &phone[phone.len().saturating_sub(4)..] {
        "0001" => Some(1),
        "1032" => Some(1032),
        "1037" => Some(1037),
        "2001" => Some(2001),
        "1019" => Some(1019),
        "7777" => None,
        _ => Some(0),
    }
}

fn description(code: i32) -> &'static str {
    match code {
        0 => "The service request is processed successfully.",
        1 => "The balance is insufficient for the transaction.",
        1032 => "Request cancelled by user",
        1037 => "DS timeout user cannot be reached",
        2001 => "The initiator information is invalid.",
        1019 => "Transaction has expired",
        _ => "The transaction failed",
    }
}

impl Simulator {
    /// A simulator accepting `config`, living at `clock`'s time (the server's: with the test
    /// clock, requests carry the moved time).
    pub fn new(config: SimConfig, clock: crate::clock::SharedClock) -> Self {
        Self {
            config: Arc::new(config),
            clock,
            inner: Arc::default(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("an HTTP client"),
        }
    }

    /// Daraja's routes, to mount at `/_daraja` (or at the root of a server of its own).
    pub fn router(self) -> Router {
        Router::new()
            .route("/oauth/v1/generate", get(token))
            .route("/mpesa/stkpush/v1/processrequest", post(stk_push))
            .route("/mpesa/stkpushquery/v1/query", post(stk_query))
            .route("/_sim/pushes", get(list))
            .route("/_sim/tokens", get(tokens))
            .route("/_sim/tokens/revoke", post(revoke_token))
            .route("/_sim/pushes/{id}/complete", post(complete))
            .with_state(self)
    }

    fn authorised(&self, headers: &HeaderMap) -> bool {
        let given = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        given.is_some() && given == inner.token.as_deref()
    }

    /// Checks `Timestamp` (14 digits, within a day of now in Nairobi) and `Password`; the
    /// refusal otherwise.
    fn credentials(&self, body: &Value) -> Option<Response> {
        self.check_credentials(body).err().map(|r| *r)
    }

    fn check_credentials(&self, body: &Value) -> Result<(), Box<Response>> {
        let Some(shortcode) = digits(&body["BusinessShortCode"]) else {
            return Err(Box::new(invalid("BusinessShortCode")));
        };
        if shortcode != self.config.shortcode {
            return Err(Box::new(invalid("BusinessShortCode")));
        }
        let Some(timestamp) = body["Timestamp"].as_str().filter(|t| t.len() == 14) else {
            return Err(Box::new(invalid("Timestamp")));
        };
        let parsed = chrono::NaiveDateTime::parse_from_str(timestamp, "%Y%m%d%H%M%S")
            .ok()
            .and_then(|t| t.and_local_timezone(chrono_tz::Africa::Nairobi).single());
        let Some(at) = parsed else {
            return Err(Box::new(invalid("Timestamp")));
        };
        if (at.with_timezone(&chrono::Utc) - self.clock.now())
            .num_hours()
            .abs()
            > 24
        {
            return Err(Box::new(invalid("Timestamp")));
        }
        if body["Password"].as_str() != Some(&password(&shortcode, &self.config.passkey, timestamp))
        {
            return Err(Box::new(error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "500.001.1001",
                "Wrong credentials",
            )));
        }
        Ok(())
    }

    /// Decides push `id` with `code` (unless it is decided already) and delivers its
    /// callback(s).
    fn decide(&self, id: &str, code: i32) -> bool {
        let (push, times) = {
            let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            let Some(push) = inner.pushes.get_mut(id) else {
                return false;
            };
            if push.result_code.is_some() {
                return false;
            }
            push.result_code = Some(code);
            if code == 0 {
                push.mpesa_receipt_number = Some(random_upper(10));
            }
            let suffix = &push.phone_number[push.phone_number.len() - 4..];
            let times = match suffix {
                "9999" => 0,
                "8888" => 2,
                _ => 1,
            };
            push.callbacks_sent = times;
            (push.clone(), times)
        };
        let body = callback_body(&push, code, self.clock.now());
        let http = self.http.clone();
        tokio::spawn(async move {
            for _ in 0..times {
                if let Err(e) = http.post(&push.call_back_url).json(&body).send().await {
                    tracing::warn!(error = %e, url = %push.call_back_url, "simulator: callback not delivered");
                }
            }
        });
        true
    }
}

fn callback_body(push: &SimPush, code: i32, now: chrono::DateTime<chrono::Utc>) -> Value {
    let mut callback = json!({
        "MerchantRequestID": push.merchant_request_id,
        "CheckoutRequestID": push.checkout_request_id,
        "ResultCode": code,
        "ResultDesc": description(code),
    });
    if code == 0 {
        let date: u64 = now
            .with_timezone(&chrono_tz::Africa::Nairobi)
            .format("%Y%m%d%H%M%S")
            .to_string()
            .parse()
            .unwrap_or_default();
        let phone: u64 = push.phone_number.parse().unwrap_or_default();
        callback["CallbackMetadata"] = json!({ "Item": [
            { "Name": "Amount", "Value": push.amount as f64 },
            { "Name": "MpesaReceiptNumber", "Value": push.mpesa_receipt_number },
            { "Name": "Balance" },
            { "Name": "TransactionDate", "Value": date },
            { "Name": "PhoneNumber", "Value": phone },
        ]});
    }
    json!({ "Body": { "stkCallback": callback } })
}

async fn token(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if query.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return error(
            StatusCode::BAD_REQUEST,
            "400.008.02",
            "Invalid grant type passed",
        );
    }
    let expected = STANDARD.encode(format!(
        "{}:{}",
        sim.config.consumer_key, sim.config.consumer_secret
    ));
    let given = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "));
    if given != Some(expected.as_str()) {
        return error(
            StatusCode::BAD_REQUEST,
            "400.008.01",
            "Invalid Authentication passed",
        );
    }
    let token = random_upper(28);
    let mut inner = sim.inner.lock().unwrap_or_else(|e| e.into_inner());
    inner.token = Some(token.clone());
    inner.tokens_issued += 1;
    drop(inner);
    Json(json!({ "access_token": token, "expires_in": "3599" })).into_response()
}

async fn stk_push(State(sim): State<Simulator>, headers: HeaderMap, body: String) -> Response {
    if !sim.authorised(&headers) {
        return error(StatusCode::NOT_FOUND, "404.001.03", "Invalid Access Token");
    }
    let Ok(body) = serde_json::from_str::<Value>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "400.002.05",
            "Invalid Request Payload",
        );
    };
    if let Some(refused) = sim.credentials(&body) {
        return refused;
    }
    if !matches!(
        body["TransactionType"].as_str(),
        Some("CustomerPayBillOnline" | "CustomerBuyGoodsOnline")
    ) {
        return invalid("TransactionType");
    }
    let amount = match digits(&body["Amount"]).and_then(|a| a.parse::<i64>().ok()) {
        Some(a) if a > 0 => a,
        _ => return invalid("Amount"),
    };
    let Some(phone) = digits(&body["PhoneNumber"]).filter(|p| is_msisdn(p)) else {
        return invalid("PhoneNumber");
    };
    if digits(&body["PartyA"]).is_none_or(|p| !is_msisdn(&p)) {
        return invalid("PartyA");
    }
    if digits(&body["PartyB"]).as_deref() != Some(sim.config.shortcode.as_str()) {
        return invalid("PartyB");
    }
    let callback = body["CallBackURL"].as_str().unwrap_or_default();
    if url::Url::parse(callback).is_err() || !callback.starts_with("http") {
        return invalid("CallBackURL");
    }
    let reference = body["AccountReference"].as_str().unwrap_or_default();
    if reference.is_empty() || reference.chars().count() > 12 {
        return invalid("AccountReference");
    }
    let desc = body["TransactionDesc"].as_str().unwrap_or_default();
    if desc.is_empty() || desc.chars().count() > 13 {
        return invalid("TransactionDesc");
    }
    let Some(code) = outcome_of(&phone) else {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "500.001.1001",
            "Unable to lock subscriber, a transaction is already in process for the current subscriber",
        );
    };
    let checkout = format!(
        "ws_CO_{}{}",
        sim.clock.now().format("%d%m%Y%H%M%S%3f"),
        random_upper(8)
    );
    let push = SimPush {
        merchant_request_id: format!("{}-{}-1", random_upper(5), random_upper(8)),
        checkout_request_id: checkout.clone(),
        phone_number: phone,
        amount,
        account_reference: reference.to_owned(),
        call_back_url: callback.to_owned(),
        result_code: None,
        mpesa_receipt_number: None,
        callbacks_sent: 0,
    };
    let merchant = push.merchant_request_id.clone();
    {
        let mut inner = sim.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.pushes.insert(checkout.clone(), push);
        inner.order.push(checkout.clone());
    }
    // The customer answers after the delay, off the request.
    let delayed = sim.clone();
    let id = checkout.clone();
    tokio::spawn(async move {
        tokio::time::sleep(delayed.config.delay).await;
        delayed.decide(&id, code);
    });
    Json(json!({
        "MerchantRequestID": merchant,
        "CheckoutRequestID": checkout,
        "ResponseCode": "0",
        "ResponseDescription": "Success. Request accepted for processing",
        "CustomerMessage": "Success. Request accepted for processing",
    }))
    .into_response()
}

async fn stk_query(State(sim): State<Simulator>, headers: HeaderMap, body: String) -> Response {
    if !sim.authorised(&headers) {
        return error(StatusCode::NOT_FOUND, "404.001.03", "Invalid Access Token");
    }
    let Ok(body) = serde_json::from_str::<Value>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "400.002.05",
            "Invalid Request Payload",
        );
    };
    if let Some(refused) = sim.credentials(&body) {
        return refused;
    }
    let id = body["CheckoutRequestID"].as_str().unwrap_or_default();
    let push = sim
        .inner
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .pushes
        .get(id)
        .cloned();
    match push {
        None => invalid("CheckoutRequestID"),
        Some(SimPush {
            result_code: None, ..
        }) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "500.001.1001",
            "The transaction is being processed",
        ),
        Some(push) => {
            let code = push.result_code.unwrap_or_default();
            Json(json!({
                "ResponseCode": "0",
                "ResponseDescription": "The service request has been accepted successsfully",
                "MerchantRequestID": push.merchant_request_id,
                "CheckoutRequestID": push.checkout_request_id,
                "ResultCode": code.to_string(),
                "ResultDesc": description(code),
            }))
            .into_response()
        }
    }
}

/// How many tokens were handed out (`{"issued": n}`): one per consumer key while the
/// token is shared, however many nodes push.
async fn tokens(State(sim): State<Simulator>) -> Json<Value> {
    let inner = sim.inner.lock().unwrap_or_else(|e| e.into_inner());
    Json(json!({ "issued": inner.tokens_issued, "live": inner.token.is_some() }))
}

/// Invalidates the live token, as Daraja does when the same keys fetch another elsewhere:
/// the next call with it is 404.001.03 "Invalid Access Token".
async fn revoke_token(State(sim): State<Simulator>) -> StatusCode {
    sim.inner.lock().unwrap_or_else(|e| e.into_inner()).token = None;
    StatusCode::NO_CONTENT
}

async fn list(State(sim): State<Simulator>) -> Json<Value> {
    let inner = sim.inner.lock().unwrap_or_else(|e| e.into_inner());
    let pushes: Vec<&SimPush> = inner
        .order
        .iter()
        .filter_map(|id| inner.pushes.get(id))
        .collect();
    Json(json!({ "pushes": pushes }))
}

async fn complete(
    State(sim): State<Simulator>,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    let Some(code) = body["ResultCode"]
        .as_i64()
        .and_then(|c| i32::try_from(c).ok())
    else {
        return invalid("ResultCode");
    };
    let known = sim
        .inner
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .pushes
        .contains_key(&id);
    if !known {
        return invalid("CheckoutRequestID");
    }
    if sim.decide(&id, code) {
        Json(json!({ "CheckoutRequestID": id, "ResultCode": code })).into_response()
    } else {
        error(
            StatusCode::CONFLICT,
            "409.000.01",
            "The push is already decided",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_phone_suffix_chooses_the_outcome() {
        assert_eq!(outcome_of("254708374149"), Some(0));
        assert_eq!(outcome_of("254708370001"), Some(1));
        assert_eq!(outcome_of("254708371032"), Some(1032));
        assert_eq!(outcome_of("254708377777"), None);
        assert_eq!(outcome_of("254708378888"), Some(0));
        assert_eq!(outcome_of("254708379999"), Some(0));
        assert!(is_msisdn("254112345678"));
        assert!(!is_msisdn("0712345678"));
    }
}
