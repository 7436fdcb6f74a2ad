//! Liveness, readiness and metrics.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde_json::json;

use super::AppState;

/// `/healthz`: the process is up.
pub(super) async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

/// `/readyz`: the database and the job queue answer. 503 names what does not.
pub(super) async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let (database, queue) = tokio::join!(state.db.ping(), state.jobs.ping());
    let check = |ok: bool| if ok { "ok" } else { "unavailable" };
    // Workers of this process in restart backoff; stuck ones make the node unready.
    let restarting = crate::worker::health::restarting_workers();
    let stuck = restarting
        .values()
        .any(|failures| *failures >= crate::worker::health::UNREADY_AFTER);
    let ready = database.is_ok() && queue.is_ok() && !stuck;
    if let Err(e) = &database {
        tracing::warn!(error = ?e, "readiness: database");
    }
    if let Err(e) = &queue {
        tracing::warn!(error = %e, "readiness: job queue");
    }
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if ready { "ready" } else { "unavailable" },
        "database": check(database.is_ok()),
        "queue": check(queue.is_ok()),
        "queueBackend": state.jobs.kind(),
        "workers": if restarting.is_empty() { "ok" } else if stuck { "failing" } else { "restarting" },
        "restartingWorkers": restarting,
    });
    (status, Json(body))
}

/// `/metrics`: Prometheus text format; with `METRICS_TOKEN`, only for
/// `Authorization: Bearer <token>`.
pub(super) async fn metrics(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
) -> axum::response::Response {
    if let Some(expected) = &state.config.http.metrics_token {
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        let matches = crate::auth::tokens::hashes_match(
            &crate::auth::tokens::hash(presented),
            &crate::auth::tokens::hash(expected),
        );
        if !matches {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                "metrics need METRICS_TOKEN as a bearer token\n",
            )
                .into_response();
        }
    }
    if let Ok(backlog) = state.db.outbox_backlog().await {
        metrics::gauge!("msingi_outbox_backlog").set(backlog as f64);
    }
    // The queues as `msingi jobs` shows them (pending, running, retrying, dead, oldest).
    match crate::worker::dead_letters::report(&state.db, &state.jobs).await {
        Ok(reports) => crate::worker::dead_letters::export(&reports),
        Err(e) => tracing::warn!(error = ?e, "metrics: job queues"),
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}
