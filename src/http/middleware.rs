//! Request spans, request metrics and the panic guard.

use std::any::Any;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::REQUEST_ID;
use crate::graphql::INTERNAL_MESSAGE;

/// The `X-Request-ID` a client sent itself (before the server fills in its own).
#[derive(Debug, Clone)]
pub(super) struct ClientRequestId(pub Option<String>);

/// Remembers whether the client chose the request id: it is echoed as the contract says,
/// but recorded as the client's, next to the server's own id, in the audit log.
pub(super) async fn client_request_id(mut request: Request, next: Next) -> Response {
    let client = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.chars().take(128).collect::<String>());
    request.extensions_mut().insert(ClientRequestId(client));
    next.run(request).await
}

/// The span of one request; `tenant_id` and `user_id` are filled in once known.
pub(super) fn span(request: &Request<Body>) -> tracing::Span {
    let request_id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    tracing::info_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path(),
        request_id,
        tenant_id = tracing::field::Empty,
        user_id = tracing::field::Empty,
    )
}

/// Counts requests and times them, by route template (never the raw path, which would
/// explode the label set).
pub(super) async fn record_metrics(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("msingi_http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("msingi_http_request_duration_seconds", "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}

/// A panic in a handler answers like any internal error: generic text, logged in full.
pub(super) fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("non-string panic");
    tracing::error!(panic = detail, "handler panicked");
    let body = serde_json::json!({
        "errors": [{ "message": INTERNAL_MESSAGE, "extensions": { "code": "INTERNAL" } }]
    });
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}
