//! `POST /webhooks/mpesa/{tenant}/{payment}/{token}`: Safaricom's callbacks. The body is
//! stored before anything else and the answer is Daraja's "Accepted" at once; a job
//! processes it. Forged, malformed or unknown callbacks are stored flagged, never a 5xx
//! (only a database that cannot store the body answers 503, so nothing is acknowledged
//! that was not kept). And the simulator's mount point, `/_daraja`.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AppState;

/// The answer Daraja expects.
fn accepted() -> Response {
    (
        StatusCode::OK,
        axum::Json(json!({ "ResultCode": 0, "ResultDesc": "Accepted" })),
    )
        .into_response()
}

async fn receive(
    state: &AppState,
    parts: &Parts,
    ids: Option<(&str, &str, &str)>,
    body: Bytes,
) -> Response {
    let Some(mpesa) = &state.services.mpesa else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let source = super::graphql::client_ip(
        &parts.headers,
        super::graphql::client_addr(parts),
        &state.config.http.trusted_proxies,
    );
    let allow = &state.config.mpesa.callback_allow;
    let allowed =
        allow.is_empty() || source.is_some_and(|ip| allow.iter().any(|n| n.contains(&ip)));
    let body = String::from_utf8_lossy(&body).into_owned();
    match crate::payments::callbacks::receive(
        &state.db,
        &state.services.throttle,
        &mpesa.callbacks,
        ids,
        source.map(|ip| ip.to_string()),
        allowed,
        body,
    )
    .await
    {
        Ok(_) => accepted(),
        Err(crate::error::AppError::RateLimited { retry_after_secs }) => {
            tracing::warn!(source = ?source, "flagged M-Pesa callbacks from one address rate limited");
            (
                StatusCode::TOO_MANY_REQUESTS,
                [(axum::http::header::RETRY_AFTER, retry_after_secs.to_string())],
                axum::Json(json!({ "ResultCode": 1, "ResultDesc": "Too many callbacks naming no payment" })),
            )
                .into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "an M-Pesa callback could not be stored");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(json!({ "ResultCode": 1, "ResultDesc": "Not stored; try again" })),
            )
                .into_response()
        }
    }
}

/// `POST /webhooks/mpesa/{tenant}/{payment}/{token}`; any other path under
/// `/webhooks/mpesa/` is stored too, flagged as naming no payment.
pub(super) async fn callback(
    State(state): State<AppState>,
    Path(rest): Path<String>,
    parts: Parts,
    body: Bytes,
) -> Response {
    let segments: Vec<&str> = rest.split('/').collect();
    let ids = match segments.as_slice() {
        [tenant, payment, token] => Some((*tenant, *payment, *token)),
        _ => None,
    };
    receive(&state, &parts, ids, body).await
}
