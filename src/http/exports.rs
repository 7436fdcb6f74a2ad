//! `GET /exports/{id}?token=…`: a tenant export's archive, for whoever holds its signed
//! link (`TenantExport.url`), streamed from disk. Without the token, with another export's,
//! past the expiry or for a deleted archive: 404, saying no more.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::AppState;

pub(super) async fn download(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    request: Request,
) -> Response {
    let not_found = || {
        (
            StatusCode::NOT_FOUND,
            "no such export, or the link has expired\n",
        )
            .into_response()
    };
    let (Ok(id), Some(token)) = (uuid::Uuid::parse_str(&id), query.get("token")) else {
        return not_found();
    };
    let (parts, _) = request.into_parts();
    let meta = super::graphql::meta(&state, &parts);
    let actor = crate::audit::Actor {
        ip: meta.client_ip.map(|ip| ip.to_string()),
        user_agent: meta.user_agent.clone(),
        request_id: Some(meta.server_request_id.clone()),
        client_request_id: meta.client_request_id.clone(),
        ..Default::default()
    };
    match crate::rights::exports::by_link(&state.services, id, token, &actor).await {
        Ok((export, path)) => match tokio::fs::File::open(&path).await {
            Ok(file) => {
                let body = Body::from_stream(tokio_util::io::ReaderStream::new(file));
                let mut response = Response::new(body);
                let headers = response.headers_mut();
                headers.insert(
                    header::CONTENT_TYPE,
                    header::HeaderValue::from_static("application/gzip"),
                );
                if let Ok(v) = header::HeaderValue::from_str(&format!(
                    "attachment; filename=\"tenant-export-{}.tar.gz\"",
                    export.id
                )) {
                    headers.insert(header::CONTENT_DISPOSITION, v);
                }
                if let Some(size) = export.size_bytes {
                    headers.insert(header::CONTENT_LENGTH, size.into());
                }
                headers.insert(
                    header::CACHE_CONTROL,
                    header::HeaderValue::from_static("no-store"),
                );
                response
            }
            Err(_) => not_found(),
        },
        Err(crate::error::AppError::NotFound { .. }) => not_found(),
        Err(e) => {
            tracing::error!(error = ?e, "export download");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the export could not be served\n",
            )
                .into_response()
        }
    }
}
