//! Outgoing webhooks over real HTTP: a receiver on loopback checks each delivery's
//! Standard Webhooks signature with its own implementation of the spec (not the server's),
//! answers what the test tells it, and records what arrived.

mod deliveries;
mod notifications;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::common::TestApp;
use crate::personas::Persona;

pub const CREATE: &str = "mutation($url: String!, $events: [String!]!) { \
    createWebhookEndpoint(input: { url: $url, events: $events }) { secret \
    endpoint { id url events enabled createdAt } } }";
pub const DELIVERIES: &str = "query($id: ID!) { webhookDeliveries(endpointId: $id) { totalCount \
    edges { node { id eventId eventType status attempts lastResponseStatus lastError \
    nextAttemptAt createdAt } } } }";
pub const ENDPOINTS: &str =
    "{ webhookEndpoints { id url events enabled disabledReason failingSince } }";
pub const REDELIVER: &str =
    "mutation($id: ID!) { redeliverWebhook(deliveryId: $id) { id eventId status attempts } }";

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub id: String,
    pub timestamp: String,
    pub signature: String,
    pub body: String,
}

impl Received {
    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }
}

#[derive(Default)]
struct ReceiverState {
    /// Answers to give, in order: status and how long to take; then 200 at once.
    answers: VecDeque<(u16, Duration)>,
    /// Every status from now on, when set (after `answers` run out).
    always: Option<u16>,
    received: Vec<Received>,
}

/// An HTTP server on 127.0.0.1 that webhooks are sent to.
#[derive(Clone)]
pub struct Receiver {
    /// `http://127.0.0.1:<port>/hook`.
    pub url: String,
    state: Arc<Mutex<ReceiverState>>,
}

impl Receiver {
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(ReceiverState::default()));
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, state }
    }

    /// The next answers, in order.
    pub fn answer(&self, answers: &[(u16, Duration)]) {
        self.state
            .lock()
            .unwrap()
            .answers
            .extend(answers.iter().copied());
    }

    /// Answers `status` from now on.
    pub fn always(&self, status: u16) {
        self.state.lock().unwrap().always = Some(status);
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    /// Waits (up to 10 s) until `n` requests arrived; returns them.
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let got = self.received();
            if got.len() >= n || tokio::time::Instant::now() >= deadline {
                assert!(
                    got.len() >= n,
                    "{} of {n} deliveries arrived: {got:?}",
                    got.len()
                );
                return got;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

async fn receive(
    State(state): State<Arc<Mutex<ReceiverState>>>,
    headers: HeaderMap,
    body: String,
) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let (status, delay) = {
        let mut state = state.lock().unwrap();
        let (status, delay) = state
            .answers
            .pop_front()
            .unwrap_or((state.always.unwrap_or(200), Duration::ZERO));
        state.received.push(Received {
            id: header("webhook-id"),
            timestamp: header("webhook-timestamp"),
            signature: header("webhook-signature"),
            body,
        });
        (status, delay)
    };
    tokio::time::sleep(delay).await;
    StatusCode::from_u16(status).unwrap()
}

/// The Standard Webhooks check, as a receiver implements it from the spec: the secret's
/// base64 after `whsec_` is the key; the signed content is `id.timestamp.body`; the header
/// holds space-separated `v1,<base64 HMAC-SHA256>` signatures, any of which may match.
pub fn verifies(secret: &str, id: &str, timestamp: &str, body: &str, header: &str) -> bool {
    let Some(key) = secret
        .strip_prefix("whsec_")
        .and_then(|k| STANDARD.decode(k).ok())
    else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    let expected = STANDARD.encode(mac.finalize().into_bytes());
    header
        .split(' ')
        .filter_map(|s| s.strip_prefix("v1,"))
        .any(|sig| sig == expected)
}

/// Creates an endpoint as `owner`; returns its id and secret.
pub async fn endpoint(
    app: &TestApp,
    owner: &Persona,
    url: &str,
    events: &[&str],
) -> (String, String) {
    let created = owner
        .gql(app, CREATE, json!({ "url": url, "events": events }))
        .await;
    let created = &created.data()["createWebhookEndpoint"];
    (
        created["endpoint"]["id"].as_str().unwrap().to_owned(),
        created["secret"].as_str().unwrap().to_owned(),
    )
}

/// The endpoint's deliveries, newest first.
pub async fn deliveries(app: &TestApp, owner: &Persona, endpoint: &str) -> Vec<Value> {
    let log = owner.gql(app, DELIVERIES, json!({ "id": endpoint })).await;
    log.data()["webhookDeliveries"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"].clone())
        .collect()
}

/// Waits (up to 10 s) until the delivery of `event_type` reaches `status`; returns it.
pub async fn delivery_in(
    app: &TestApp,
    owner: &Persona,
    endpoint: &str,
    event_type: &str,
    status: &str,
) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let found = deliveries(app, owner, endpoint)
            .await
            .into_iter()
            .find(|d| d["eventType"] == event_type);
        if let Some(d) = found.as_ref().filter(|d| d["status"] == status) {
            return d.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the {event_type} delivery did not reach {status}: {found:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
