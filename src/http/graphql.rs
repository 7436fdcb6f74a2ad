//! GraphQL over HTTP and WebSocket.
//!
//! - `POST /graphql`: JSON only (`application/json`), single or batched (up to
//!   `GRAPHQL_MAX_BATCH` operations).
//! - `GET /graphql`: queries from the query string; a mutation is refused with 405, so a
//!   link or an image tag can never change anything. With `Upgrade: websocket` it is the
//!   subscription endpoint, like `/graphql/ws`.
//! - WebSocket: `graphql-transport-ws` (and the legacy `graphql-ws`).

use std::net::SocketAddr;

use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql::parser::types::{DocumentOperations, OperationType};
use async_graphql::{BatchRequest, Data};
use async_graphql_axum::{GraphQLProtocol, GraphQLResponse, GraphQLWebSocket};
use axum::body::Bytes;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::{HeaderMap, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{AppState, REQUEST_ID};
use std::sync::{Arc, PoisonError};

use axum::extract::ws::Message;

use crate::auth::{Caller, Credentials, Lost, SocketCredentials};
use crate::request::RequestMeta;
use crate::tenancy::access::AccessEvent;

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(ToOwned::to_owned)
}

/// `Authorization: Bearer …`, `X-Tenant-ID`, `X-Store-ID`.
pub(super) fn credentials(headers: &HeaderMap) -> Credentials {
    let bearer = header(headers, "authorization").and_then(|v| {
        let (scheme, token) = v.split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim().to_owned())
    });
    Credentials {
        bearer,
        tenant: header(headers, "x-tenant-id"),
        store: header(headers, "x-store-id"),
        host: header(headers, "host"),
    }
}

/// `application/json` (or `application/graphql-response+json`), with optional parameters
/// (`; charset=utf-8`): the media type itself must match exactly.
pub(super) fn is_json_media_type(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("application/json")
        || essence.eq_ignore_ascii_case("application/graphql-response+json")
}

/// What is wrong with a body, in the client's terms (never the parser's internals).
fn body_error(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    match e.classify() {
        Category::Syntax | Category::Eof | Category::Io => format!(
            "the body is not valid JSON (line {}, column {})",
            e.line(),
            e.column()
        ),
        Category::Data => "the body is JSON but not a GraphQL request: send an object with a \
                           \"query\" string (and optional \"variables\" object and \
                           \"operationName\"), or a list of them"
            .to_owned(),
    }
}

/// Resolves the caller, or answers INTERNAL when the database cannot be asked.
pub(super) async fn authenticate(
    state: &AppState,
    meta: &RequestMeta,
    credentials: Credentials,
) -> Result<Caller, Response> {
    let caller = Caller::authenticate(&state.services, meta.clone(), credentials)
        .await
        .map_err(|e| {
            tracing::error!(request_id = %meta.request_id, error = ?e, "authentication failed");
            refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL",
                crate::graphql::INTERNAL_MESSAGE,
                &meta.request_id,
            )
        })?;
    // The request's span (opened by the trace layer) learns who and where.
    let span = tracing::Span::current();
    if let Ok(user) = caller.user() {
        span.record("user_id", tracing::field::display(user.id));
    }
    if let Some(ctx) = caller.active_tenant() {
        span.record("tenant_id", tracing::field::display(ctx.tenant_id()));
    }
    Ok(caller)
}

/// The client's address: the peer's, unless the peer is a trusted proxy; then the
/// right-most `X-Forwarded-For` entry that is not itself a trusted proxy.
pub(super) fn client_ip(
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
    trusted: &[ipnet::IpNet],
) -> Option<std::net::IpAddr> {
    let peer = peer?.ip();
    let is_trusted = |ip: &std::net::IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return Some(peer);
    }
    let forwarded: Vec<std::net::IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|item| item.trim().parse().ok())
        .collect();
    Some(
        forwarded
            .into_iter()
            .rev()
            .find(|ip| !is_trusted(ip))
            .unwrap_or(peer),
    )
}

pub(super) fn meta(state: &AppState, parts: &Parts) -> RequestMeta {
    let headers = &parts.headers;
    let request_id = headers
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let client_request_id = parts
        .extensions
        .get::<super::middleware::ClientRequestId>()
        .and_then(|c| c.0.clone());
    let server_request_id = if client_request_id.is_some() {
        uuid::Uuid::new_v4().to_string()
    } else {
        request_id.clone()
    };
    RequestMeta {
        request_id,
        server_request_id,
        client_request_id,
        client_ip: client_ip(
            headers,
            client_addr(parts),
            &state.config.http.trusted_proxies,
        ),
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(ToOwned::to_owned),
    }
}

/// A transport-level refusal, shaped like a GraphQL error.
fn refuse(status: StatusCode, code: &str, message: &str, request_id: &str) -> Response {
    let body = json!({
        "errors": [{ "message": message, "extensions": { "code": code, "requestId": request_id } }]
    });
    (status, axum::Json(body)).into_response()
}

/// The client's address, when the server was started with connection info.
pub(super) fn client_addr(parts: &Parts) -> Option<SocketAddr> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
}

/// `POST /graphql`.
pub(super) async fn post(State(state): State<AppState>, parts: Parts, body: Bytes) -> Response {
    let meta = meta(&state, &parts);
    let headers = &parts.headers;
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(is_json_media_type);
    if !json {
        return refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "BAD_USER_INPUT",
            "send the request as application/json",
            &meta.request_id,
        );
    }
    let batch: BatchRequest = match serde_json::from_slice(&body) {
        Ok(batch) => batch,
        Err(e) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "BAD_USER_INPUT",
                &body_error(&e),
                &meta.request_id,
            );
        }
    };
    if let BatchRequest::Batch(list) = &batch {
        let max = state.config.graphql.limits.max_batch;
        if list.len() > max {
            return refuse(
                StatusCode::BAD_REQUEST,
                "BAD_USER_INPUT",
                &format!("a batch may hold at most {max} operations"),
                &meta.request_id,
            );
        }
        if list.is_empty() {
            return refuse(
                StatusCode::BAD_REQUEST,
                "BAD_USER_INPUT",
                "the batch is empty",
                &meta.request_id,
            );
        }
    }
    let caller = match authenticate(&state, &meta, credentials(headers)).await {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    let operations = match &batch {
        async_graphql::BatchRequest::Single(_) => 1,
        async_graphql::BatchRequest::Batch(all) => all.len(),
    };
    count_api_calls(&state, &caller, operations);
    let batch = batch.data(meta).data(caller);
    respond(state.schema.execute_batch(batch).await, headers)
}

/// Counts `operations` authenticated GraphQL operations in the caller's tenant, if it
/// acts in one (`api_calls`, recorded in batches by the node's meter).
fn count_api_calls(state: &AppState, caller: &Caller, operations: usize) {
    if let Some(ctx) = caller.active_tenant() {
        state.services.api_calls.count(
            ctx.tenant_id(),
            u64::try_from(operations).unwrap_or(u64::MAX),
        );
    }
}

/// Whether the client asked for `application/graphql-response+json` ahead of (or
/// instead of) `application/json`. Without an `Accept` header, or with `*/*`, a client
/// gets `application/json`, as the GraphQL-over-HTTP spec asks for older clients.
fn wants_graphql_response(headers: &HeaderMap) -> bool {
    let accept = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|item| {
            item.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
        .collect::<Vec<_>>();
    let position = |media: &str| accept.iter().position(|a| a == media);
    match (
        position("application/graphql-response+json"),
        position("application/json"),
    ) {
        (Some(g), Some(j)) => g < j,
        (Some(_), None) => true,
        _ => false,
    }
}

/// The HTTP answer for a GraphQL result, in the media type the client accepts. With
/// `application/graphql-response+json` a request error (the document does not parse or
/// validate: no data and no error with a path) is a 400; with `application/json` every
/// well-formed request is a 200, as the spec requires.
fn respond(response: async_graphql::BatchResponse, headers: &HeaderMap) -> Response {
    let graphql_response = wants_graphql_response(headers);
    let request_error = match &response {
        async_graphql::BatchResponse::Single(r) => {
            r.data == async_graphql::Value::Null
                && !r.errors.is_empty()
                && r.errors.iter().all(|e| e.path.is_empty())
        }
        async_graphql::BatchResponse::Batch(_) => false,
    };
    if graphql_response && request_error {
        // A request error has no `data` entry at all (the spec's SHOULD).
        let mut body = serde_json::to_value(&response).unwrap_or_default();
        if let Some(object) = body.as_object_mut() {
            object.remove("data");
        }
        return (
            StatusCode::BAD_REQUEST,
            [(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("application/graphql-response+json"),
            )],
            axum::Json(body),
        )
            .into_response();
    }
    let mut answer = GraphQLResponse::from(response).into_response();
    let media = if graphql_response {
        "application/graphql-response+json"
    } else {
        "application/json"
    };
    answer.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(media),
    );
    if graphql_response && request_error {
        *answer.status_mut() = StatusCode::BAD_REQUEST;
    }
    answer
}

/// `GET /graphql`: a query from the query string, or a WebSocket upgrade.
pub(super) async fn get(State(state): State<AppState>, request: Request) -> Response {
    let (mut parts, _) = request.into_parts();
    if is_websocket(&parts) {
        return upgrade(state, &mut parts).await;
    }
    let meta = meta(&state, &parts);
    let request =
        match async_graphql::http::parse_query_string(parts.uri.query().unwrap_or_default()) {
            Ok(request) => request,
            Err(e) => {
                return refuse(
                    StatusCode::BAD_REQUEST,
                    "BAD_USER_INPUT",
                    &e.to_string(),
                    &meta.request_id,
                );
            }
        };
    if is_mutation(&request.query, request.operation_name.as_deref()) {
        let mut response = refuse(
            StatusCode::METHOD_NOT_ALLOWED,
            "BAD_USER_INPUT",
            "mutations must be sent with POST",
            &meta.request_id,
        );
        response
            .headers_mut()
            .insert(header::ALLOW, header::HeaderValue::from_static("POST"));
        return response;
    }
    let caller = match authenticate(&state, &meta, credentials(&parts.headers)).await {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    count_api_calls(&state, &caller, 1);
    respond(
        state
            .schema
            .execute(
                request
                    .data(meta)
                    .data(caller)
                    .data(crate::graphql::persisted::ReadOnlyTransport),
            )
            .await
            .into(),
        &parts.headers,
    )
}

/// Whether the operation that would run is a mutation. A document that does not parse is
/// left to the executor, which reports the syntax error.
fn is_mutation(query: &str, operation_name: Option<&str>) -> bool {
    let Ok(document) = async_graphql::parser::parse_query(query) else {
        return false;
    };
    match &document.operations {
        DocumentOperations::Single(op) => op.node.ty == OperationType::Mutation,
        DocumentOperations::Multiple(ops) => match operation_name {
            Some(name) => ops
                .iter()
                .any(|(n, op)| n.as_str() == name && op.node.ty == OperationType::Mutation),
            // Several operations and no name: the executor refuses it; refuse any mutation
            // among them here too, to be safe.
            None => ops.values().any(|op| op.node.ty == OperationType::Mutation),
        },
    }
}

fn is_websocket(parts: &Parts) -> bool {
    parts
        .headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// `GET /graphql/ws`.
pub(super) async fn websocket(State(state): State<AppState>, request: Request) -> Response {
    let (mut parts, _) = request.into_parts();
    upgrade(state, &mut parts).await
}

async fn upgrade(state: AppState, parts: &mut Parts) -> Response {
    let protocol = match GraphQLProtocol::from_request_parts(parts, &state).await {
        Ok(protocol) => protocol,
        Err(rejection) => return rejection.into_response(),
    };
    let upgrade = match WebSocketUpgrade::from_request_parts(parts, &state).await {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    let meta = meta(&state, parts);
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| serve_socket(state, protocol, meta, socket))
}

/// How a refusal at `connection_init` starts, so the socket closes with 4403.
const FORBIDDEN_CLOSE: &str = "Forbidden: ";

/// The credentials of a `connection_init` payload, as clients send them: keys in any case
/// (`Authorization`, `authorization`), at the top or under `headers` (the Apollo/Hasura
/// shape), the tenant as `X-Tenant-ID` or `tenantId`, the store as `X-Store-ID` or
/// `storeId`; the token with or without `Bearer `.
fn init_credentials(payload: &serde_json::Value) -> Credentials {
    let mut found: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    let mut collect = |object: &serde_json::Map<String, serde_json::Value>| {
        for (key, value) in object {
            if let Some(text) = value.as_str() {
                found.insert(key.to_ascii_lowercase(), text.to_owned());
            }
        }
    };
    if let Some(headers) = payload.get("headers").and_then(|h| h.as_object()) {
        collect(headers);
    }
    if let Some(object) = payload.as_object() {
        collect(object);
    }
    let pick = |keys: &[&str]| {
        keys.iter()
            .find_map(|k| found.get(*k))
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let bearer = pick(&["authorization"]).map(|v| {
        v.split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map_or(v.clone(), |(_, token)| token.trim().to_owned())
    });
    Credentials {
        bearer,
        tenant: pick(&["x-tenant-id", "tenantid"]),
        store: pick(&["x-store-id", "storeid"]),
        host: None,
    }
}

/// What `connection_init` resolved, for the socket's watchdog.
type Initial = Arc<std::sync::Mutex<Option<(SocketCredentials, Caller)>>>;

/// Serves one socket: the GraphQL protocol, and beside it a watchdog that re-checks the
/// caller whenever access in its tenant or its user's sessions change, and closes the
/// socket with 4403 once the session, key or membership it opened with is gone.
async fn serve_socket(
    state: AppState,
    protocol: GraphQLProtocol,
    meta: RequestMeta,
    socket: axum::extract::ws::WebSocket,
) {
    use futures::{SinkExt as _, StreamExt as _};
    let services = state.services.clone();
    let initial: Initial = Arc::default();
    let (mut sink, stream) = socket.split();
    let (out, mut outgoing) = futures::channel::mpsc::channel::<Message>(16);
    let events = services.access.subscribe();
    let init_services = services.clone();
    let init_initial = initial.clone();
    let session = GraphQLWebSocket::new_with_pair(out, stream, state.schema.clone(), protocol)
        .on_connection_init(move |payload: serde_json::Value| async move {
            let credentials = init_credentials(&payload);
            let caller = Caller::authenticate(&init_services, meta.clone(), credentials.clone())
                .await
                .map_err(|e| {
                    async_graphql::Error::new(format!("authentication failed: {}", e.code()))
                })?;
            // Credentials that do not authenticate, or a tenant (or store) the caller cannot
            // act in, are refused here, closing the socket with 4403, rather than acked and
            // refused operation by operation. No credentials at all is an anonymous socket.
            if credentials.bearer.is_some() && !caller.is_authenticated() {
                return Err(async_graphql::Error::new(format!(
                    "{FORBIDDEN_CLOSE}the credentials in connection_init are not valid"
                )));
            }
            if (credentials.tenant.is_some() || credentials.store.is_some())
                && let Err(e) = caller.tenant()
            {
                return Err(async_graphql::Error::new(format!("{FORBIDDEN_CLOSE}{e}")));
            }
            let socket = SocketCredentials {
                meta: meta.clone(),
                credentials,
            };
            *init_initial.lock().unwrap_or_else(PoisonError::into_inner) =
                Some((socket.clone(), caller.clone()));
            let mut data = Data::default();
            data.insert(meta);
            data.insert(socket);
            data.insert(caller);
            Ok(data)
        })
        .serve();
    let lost = async {
        let outcome = tokio::select! {
            () = session => None,
            lost = watch(&services, &initial, events) => Some(lost),
            () = state.shutdown.cancelled() => None,
        };
        outcome
    };
    let forward = async {
        while let Some(message) = outgoing.next().await {
            // A refusal at connection_init leaves async-graphql as 1002; the protocol's code
            // for it is 4403.
            let message = match message {
                Message::Close(Some(frame)) if frame.reason.starts_with(FORBIDDEN_CLOSE) => {
                    Message::Close(Some(axum::extract::ws::CloseFrame {
                        code: 4403,
                        reason: frame.reason,
                    }))
                }
                other => other,
            };
            if sink.send(message).await.is_err() {
                break;
            }
        }
    };
    let (lost, ()) = futures::join!(lost, forward);
    if let Some(lost) = lost {
        let reason = match lost {
            Lost::Credentials => "Forbidden: the session or key has ended",
            Lost::Tenant => "Forbidden: no longer a member of the tenant",
        };
        let _ = sink
            .send(Message::Close(Some(axum::extract::ws::CloseFrame {
                code: 4403,
                reason: reason.into(),
            })))
            .await;
    }
}

/// Resolves when the socket's caller has lost its session, key or tenant.
async fn watch(
    services: &crate::services::Services,
    initial: &Initial,
    mut events: tokio::sync::broadcast::Receiver<AccessEvent>,
) -> Lost {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        let event = match events.recv().await {
            Ok(event) => Some(event),
            Err(RecvError::Lagged(_)) => None,
            Err(RecvError::Closed) => return std::future::pending().await,
        };
        let Some((socket, first)) = initial
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
        else {
            continue;
        };
        if !first.is_authenticated() {
            continue;
        }
        let relevant = match event {
            None => true,
            Some(AccessEvent::Sessions(user)) => first.user_id() == Some(user),
            Some(AccessEvent::Tenant(tenant)) => first
                .active_tenant()
                .is_some_and(|ctx| ctx.tenant_id() == tenant),
            Some(AccessEvent::Notified(..)) => false,
        };
        if !relevant {
            continue;
        }
        match Caller::authenticate(services, socket.meta, socket.credentials).await {
            Ok(fresh) => {
                if let Some(lost) = fresh.lost_since(&first) {
                    return lost;
                }
            }
            Err(e) => tracing::warn!(error = ?e, "could not re-check a socket's caller"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_init_credentials_are_read_as_clients_send_them() {
        let apollo = init_credentials(&json!({
            "headers": { "Authorization": "Bearer abc", "X-Tenant-ID": "t1" }
        }));
        assert_eq!(apollo.bearer.as_deref(), Some("abc"));
        assert_eq!(apollo.tenant.as_deref(), Some("t1"));
        let plain =
            init_credentials(&json!({ "authorization": "xyz", "tenantId": "t2", "storeId": "s" }));
        assert_eq!(plain.bearer.as_deref(), Some("xyz"));
        assert_eq!(plain.tenant.as_deref(), Some("t2"));
        assert_eq!(plain.store.as_deref(), Some("s"));
        let lower = init_credentials(&json!({ "x-tenant-id": "t3", "AUTHORIZATION": "bearer q" }));
        assert_eq!(lower.bearer.as_deref(), Some("q"));
        assert_eq!(lower.tenant.as_deref(), Some("t3"));
        assert!(init_credentials(&json!({})).bearer.is_none());
    }

    #[test]
    fn json_media_types_match_exactly() {
        assert!(is_json_media_type("application/json"));
        assert!(is_json_media_type("application/json; charset=utf-8"));
        assert!(is_json_media_type("Application/JSON"));
        assert!(is_json_media_type("application/graphql-response+json"));
        assert!(!is_json_media_type("application/jsonp"));
        assert!(!is_json_media_type("application/json-patch+json"));
        assert!(!is_json_media_type("text/plain"));
    }

    #[test]
    fn body_errors_do_not_leak_the_parser() {
        let syntax = serde_json::from_slice::<BatchRequest>(b"{\"query\": ").unwrap_err();
        assert_eq!(
            body_error(&syntax),
            "the body is not valid JSON (line 1, column 10)"
        );
        let data = serde_json::from_slice::<BatchRequest>(b"{\"query\": 5}").unwrap_err();
        let message = body_error(&data);
        assert!(message.starts_with("the body is JSON but not a GraphQL request"));
        assert!(!message.contains("invalid type"), "{message}");
    }

    #[test]
    fn forwarded_for_is_honoured_from_trusted_proxies_only() {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "203.0.113.7, 10.0.0.2".parse().unwrap());
        let proxy: SocketAddr = "10.0.0.1:443".parse().unwrap();
        let stranger: SocketAddr = "198.51.100.9:443".parse().unwrap();
        let trusted = vec!["10.0.0.0/8".parse::<ipnet::IpNet>().unwrap()];
        assert_eq!(
            client_ip(&headers, Some(proxy), &trusted),
            Some("203.0.113.7".parse().unwrap())
        );
        assert_eq!(
            client_ip(&headers, Some(stranger), &trusted),
            Some(stranger.ip())
        );
        assert_eq!(client_ip(&headers, Some(proxy), &[]), Some(proxy.ip()));
    }

    #[test]
    fn mutations_are_recognised_by_operation() {
        assert!(is_mutation("mutation { x }", None));
        assert!(!is_mutation("{ x }", None));
        assert!(!is_mutation("query A { x } mutation B { y }", Some("A")));
        assert!(is_mutation("query A { x } mutation B { y }", Some("B")));
        assert!(is_mutation("query A { x } mutation B { y }", None));
        assert!(!is_mutation("this is not graphql", None));
    }
}
