//! `POST /api/v1/usage`: bulk usage ingest for servers, with an API key; and its OpenAPI
//! document at `/api/v1/openapi.json`.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AppState;
use super::graphql::{authenticate, credentials, is_json_media_type, meta};
use crate::error::AppError;
use crate::usage::ingest::{self, MAX_BATCH, UsageEventInput};

/// The body.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Batch {
    events: Vec<UsageEventInput>,
}

/// An error in the GraphQL shape every client of Msingi already reads:
/// `{"errors": [{"message", "extensions": {"code", "requestId", "field"…}}]}`.
fn refuse(error: &AppError, request_id: &str) -> Response {
    let status = match error {
        AppError::BadInput { .. } => StatusCode::BAD_REQUEST,
        AppError::Unauthenticated => StatusCode::UNAUTHORIZED,
        AppError::Forbidden { .. } | AppError::PlanLimitExceeded { .. } => StatusCode::FORBIDDEN,
        AppError::NotFound { .. } => StatusCode::NOT_FOUND,
        AppError::Conflict(_) => StatusCode::CONFLICT,
        AppError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let message = if status == StatusCode::INTERNAL_SERVER_ERROR {
        tracing::error!(request_id, error = ?error, "usage ingest failed");
        crate::graphql::INTERNAL_MESSAGE.to_owned()
    } else {
        error.to_string()
    };
    let mut extensions = serde_json::Map::new();
    extensions.insert("code".into(), error.code().into());
    extensions.insert("requestId".into(), request_id.into());
    for (name, value) in error.extensions() {
        extensions.insert(name.into(), value);
    }
    let body = json!({ "errors": [{ "message": message, "extensions": extensions }] });
    (status, axum::Json(body)).into_response()
}

/// `POST /api/v1/usage`: `{"events": [...]}` (at most 1,000) with `Authorization: Bearer
/// <api key>` (usage.write); answers `{"accepted": n, "duplicates": m}`.
pub(super) async fn record(State(state): State<AppState>, parts: Parts, body: Bytes) -> Response {
    let meta = meta(&state, &parts);
    let request_id = meta.request_id.clone();
    let json = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(is_json_media_type);
    if !json {
        let error = AppError::bad_input("Content-Type", "send the events as application/json");
        let mut response = refuse(&error, &request_id);
        *response.status_mut() = StatusCode::UNSUPPORTED_MEDIA_TYPE;
        return response;
    }
    let caller = match authenticate(&state, &meta, credentials(&parts.headers)).await {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    if !caller.is_api_key() {
        return refuse(&AppError::Unauthenticated, &request_id);
    }
    let batch: Batch = match serde_json::from_slice(&body) {
        Ok(batch) => batch,
        Err(e) => return refuse(&body_error(&body, &e), &request_id),
    };
    match ingest::record(&state.services, &caller, batch.events).await {
        Ok(recorded) => (StatusCode::OK, axum::Json(recorded)).into_response(),
        Err(error) => refuse(&error, &request_id),
    }
}

/// What is wrong with a body, naming the event and field when serde can say which.
fn body_error(body: &[u8], e: &serde_json::Error) -> AppError {
    use serde_json::error::Category;
    if matches!(
        e.classify(),
        Category::Syntax | Category::Eof | Category::Io
    ) {
        return AppError::bad_input(
            "body",
            format!("not valid JSON (line {}, column {})", e.line(), e.column()),
        );
    }
    // A shape error: find the event (and field) by reading the body loosely.
    let loose: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let Some(events) = loose.get("events").and_then(|v| v.as_array()) else {
        return AppError::bad_input("events", "send {\"events\": [ … ]}");
    };
    if events.len() > MAX_BATCH {
        return AppError::bad_input(
            "events",
            format!("at most {MAX_BATCH} events a request, got {}", events.len()),
        );
    }
    for (i, event) in events.iter().enumerate() {
        if let Err(e) = serde_json::from_value::<UsageEventInput>(event.clone()) {
            let field = event
                .as_object()
                .and_then(wrong_field)
                .map_or_else(|| format!("events[{i}]"), |f| format!("events[{i}].{f}"));
            return AppError::bad_input(field, e.to_string());
        }
    }
    AppError::bad_input("body", e.to_string())
}

/// The field of an event object that is missing, unknown or of the wrong type.
fn wrong_field(event: &serde_json::Map<String, serde_json::Value>) -> Option<String> {
    for required in ["id", "metric", "quantity"] {
        if !event.contains_key(required) {
            return Some(required.to_owned());
        }
    }
    event.iter().find_map(|(name, value)| {
        let fits = match name.as_str() {
            "id" | "metric" => value.is_string(),
            "quantity" => value.is_i64(),
            "occurredAt" => {
                value.is_null()
                    || value
                        .as_str()
                        .is_some_and(|t| chrono::DateTime::parse_from_rfc3339(t).is_ok())
            }
            "storeId" => value.is_null() || value.is_string(),
            "properties" => true,
            _ => false,
        };
        (!fits).then(|| name.clone())
    })
}

/// `GET /api/v1/openapi.json`.
pub(super) async fn openapi(State(state): State<AppState>) -> Response {
    let server = state.config.http.public_url.clone();
    axum::Json(document(&server)).into_response()
}

/// The OpenAPI 3.1 document of the REST endpoints.
pub fn document(server: &str) -> serde_json::Value {
    let error = json!({
        "description": "refused; nothing was recorded",
        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Errors" } } }
    });
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Msingi usage ingest",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Bulk usage events for servers. Each event counts once per tenant by its `id`; a batch is recorded whole or not at all."
        },
        "servers": [{ "url": server }],
        "security": [{ "apiKey": [] }],
        "paths": {
            "/api/v1/usage": {
                "post": {
                    "operationId": "recordUsage",
                    "summary": "Record up to 1,000 usage events",
                    "requestBody": {
                        "required": true,
                        "content": { "application/json": { "schema": {
                            "type": "object",
                            "required": ["events"],
                            "additionalProperties": false,
                            "properties": { "events": {
                                "type": "array", "maxItems": MAX_BATCH,
                                "items": { "$ref": "#/components/schemas/UsageEvent" }
                            } }
                        } } }
                    },
                    "responses": {
                        "200": {
                            "description": "recorded",
                            "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Recorded" } } }
                        },
                        "400": error.clone(),
                        "401": error.clone(),
                        "403": error.clone(),
                        "415": error
                    }
                }
            }
        },
        "components": {
            "securitySchemes": {
                "apiKey": {
                    "type": "http", "scheme": "bearer",
                    "description": "An API key of the tenant with usage.write (`msk_…`)."
                }
            },
            "schemas": {
                "UsageEvent": {
                    "type": "object",
                    "required": ["id", "metric", "quantity"],
                    "additionalProperties": false,
                    "properties": {
                        "id": { "type": "string", "minLength": 1, "maxLength": 128, "description": "the client's idempotency key, unique per tenant" },
                        "metric": { "type": "string", "description": "a metric code of the catalogue (`metrics`)" },
                        "quantity": { "type": "integer", "minimum": 0 },
                        "occurredAt": { "type": "string", "format": "date-time", "description": "default now; at most 5 minutes ahead, not before the open billing period unless within the late grace window" },
                        "storeId": { "type": "string", "format": "uuid", "description": "one of the tenant's stores" },
                        "properties": { "type": "object", "description": "kept with the event, at most 4 KiB of JSON" }
                    }
                },
                "Recorded": {
                    "type": "object",
                    "required": ["accepted", "duplicates"],
                    "properties": {
                        "accepted": { "type": "integer", "description": "events recorded now" },
                        "duplicates": { "type": "integer", "description": "events whose id was recorded before: counted once" }
                    }
                },
                "Errors": {
                    "type": "object",
                    "properties": { "errors": { "type": "array", "items": {
                        "type": "object",
                        "properties": {
                            "message": { "type": "string" },
                            "extensions": {
                                "type": "object",
                                "properties": {
                                    "code": { "type": "string", "enum": ["BAD_USER_INPUT", "UNAUTHENTICATED", "FORBIDDEN", "PLAN_LIMIT_EXCEEDED", "RATE_LIMITED", "INTERNAL"] },
                                    "field": { "type": "string", "description": "the input at fault, e.g. events[17].quantity" },
                                    "requestId": { "type": "string" }
                                }
                            }
                        }
                    } } }
                }
            }
        }
    })
}
