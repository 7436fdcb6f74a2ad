//! The HTTP surface: routes and the middleware every request passes through.
//!
//! Outermost first: request id (generated or echoed) → tracing span → metrics → CORS →
//! timeout → body size limit → panic guard → the route.

mod exports;
mod graphiql;
mod graphql;
mod health;
mod invoice_page;
mod middleware;
mod mpesa;
mod pages;
mod usage;

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;
use msingi_jobs::JobBackend;
use tokio_util::sync::CancellationToken;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, Any, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::config::{Config, CorsOrigins};
use crate::db::Db;
use crate::graphql::AppSchema;

/// The header carrying the request id.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// What handlers share.
#[derive(Clone)]
pub struct AppState {
    /// Configuration.
    pub config: Arc<Config>,
    /// The application database.
    pub db: Db,
    /// The job store (for readiness).
    pub jobs: JobBackend,
    /// The GraphQL schema.
    pub schema: AppSchema,
    /// The shared services (authentication needs them before GraphQL runs).
    pub services: crate::services::Services,
    /// The Prometheus recorder.
    pub metrics: PrometheusHandle,
    /// Cancelled when the server begins to shut down (closes WebSocket sessions).
    pub shutdown: CancellationToken,
}

/// The application's router with every middleware.
pub fn router(state: AppState) -> Router {
    let config = state.config.clone();
    let mut routes = Router::new()
        .route("/graphql", get(graphql::get).post(graphql::post))
        .route("/graphql/ws", get(graphql::websocket))
        .route("/graphiql", get(graphiql::page))
        .route("/graphiql/assets/4.1.2/{file}", get(graphiql::asset))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route("/invoices/{id}", get(invoice_page::show))
        .route("/exports/{id}", get(exports::download))
        .route("/api/v1/usage", axum::routing::post(usage::record))
        .route("/api/v1/openapi.json", get(usage::openapi))
        .route(
            "/webhooks/mpesa/{*rest}",
            axum::routing::post(mpesa::callback),
        );
    if !config.http.app_url_configured {
        routes = routes
            .route(
                "/verify-email",
                get(pages::verify_email_form).post(pages::verify_email),
            )
            .route(
                "/reset-password",
                get(pages::reset_password_form).post(pages::reset_password),
            )
            .route(
                "/accept-invitation",
                get(pages::accept_invitation_form).post(pages::accept_invitation),
            );
    }
    let simulator = state.services.daraja_simulator.clone();
    let mut routes = routes.with_state(state);
    if let Some(simulator) = simulator {
        routes = routes.nest("/_daraja", simulator.router());
    }

    routes.layer(
        ServiceBuilder::new()
            .layer(axum::middleware::from_fn(middleware::client_request_id))
            .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
            .layer(PropagateRequestIdLayer::new(REQUEST_ID))
            .layer(TraceLayer::new_for_http().make_span_with(middleware::span))
            .layer(axum::middleware::from_fn(middleware::record_metrics))
            .layer(cors(&config.http.cors_origins))
            .layer(TimeoutLayer::with_status_code(
                StatusCode::REQUEST_TIMEOUT,
                config.http.request_timeout,
            ))
            .layer(RequestBodyLimitLayer::new(config.http.max_body_bytes))
            .layer(CatchPanicLayer::custom(middleware::panic_response)),
    )
}

fn cors(origins: &CorsOrigins) -> CorsLayer {
    let layer = CorsLayer::new()
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static("x-tenant-id"),
            HeaderName::from_static("x-store-id"),
            REQUEST_ID,
        ])
        .expose_headers([REQUEST_ID]);
    match origins {
        CorsOrigins::Any => layer.allow_origin(Any),
        CorsOrigins::List(list) => layer.allow_origin(AllowOrigin::list(
            list.iter().filter_map(|o| HeaderValue::from_str(o).ok()),
        )),
    }
}
