//! The one place GraphQL errors are shaped for clients.
//!
//! Every error leaves with `extensions.code` and `extensions.requestId`:
//! - an [`AppError`] keeps its message and gets its code (and `field`, `reason`, …);
//! - async-graphql's own errors (syntax, validation, limits, argument coercion) are the
//!   client's doing: `BAD_USER_INPUT`;
//! - any other error (a `?` on a database error, say) is logged in full under the request
//!   id and reaches the client only as a generic `INTERNAL` message.

use std::any::TypeId;
use std::sync::OnceLock;

use async_graphql::extensions::ExtensionContext;
use async_graphql::{Request, Response, ServerError, Value};
use futures::StreamExt as _;
use futures::stream::BoxStream;

use super::RequestMeta;
use crate::error::AppError;

/// The error shaping of one request (held by [`super::pipeline::Pipeline`]'s per-request
/// extension). The request id is read from the request's data when it is prepared,
/// because errors of parsing and validation happen before any resolver context (with its
/// data) exists.
#[derive(Default)]
pub(super) struct RequestErrors {
    request_id: OnceLock<String>,
}

impl RequestErrors {
    fn request_id(&self, ctx: &ExtensionContext<'_>) -> String {
        match self.request_id.get() {
            Some(id) => id.clone(),
            None => request_id(ctx),
        }
    }

    /// Remembers the request's id, before anything can fail.
    pub(super) fn remember(&self, request: &Request) {
        let meta = request
            .data
            .get(&TypeId::of::<RequestMeta>())
            .and_then(|d| d.downcast_ref::<RequestMeta>());
        if let Some(meta) = meta {
            let _ = self.request_id.set(meta.request_id.clone());
        }
    }

    /// Shapes every error of an answer.
    pub(super) fn shape(&self, ctx: &ExtensionContext<'_>, mut response: Response) -> Response {
        let request_id = self.request_id(ctx);
        for error in &mut response.errors {
            shape(error, &request_id);
        }
        response
    }

    /// Shapes every error of a subscription's answers.
    pub(super) fn shape_stream<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, Response>,
    ) -> BoxStream<'s, Response> {
        let request_id = self.request_id(ctx);
        stream
            .map(move |mut response| {
                for error in &mut response.errors {
                    shape(error, &request_id);
                }
                response
            })
            .boxed()
    }
}

fn request_id(ctx: &ExtensionContext<'_>) -> String {
    ctx.data_opt::<RequestMeta>()
        .map(|m| m.request_id.clone())
        .unwrap_or_default()
}

/// The message a client reads for an error it cannot act on.
pub const INTERNAL_MESSAGE: &str = "Internal server error";

fn shape(error: &mut ServerError, request_id: &str) {
    let extensions = error.extensions.get_or_insert_with(Default::default);
    if extensions.get("code").is_none() {
        match error.source.take() {
            Some(source) => match source.downcast_ref::<AppError>() {
                Some(app) => {
                    if let AppError::Internal(cause) = app {
                        tracing::error!(request_id, path = ?error.path, error = format!("{cause:#}"), "internal error");
                    }
                    error.message = app.to_string();
                    extensions.set("code", app.code());
                    for (key, value) in app.extensions() {
                        extensions.set(key, Value::from_json(value).unwrap_or(Value::Null));
                    }
                }
                None => {
                    tracing::error!(request_id, path = ?error.path, error = %error.message, "unmapped error");
                    error.message = INTERNAL_MESSAGE.to_owned();
                    extensions.set("code", "INTERNAL");
                }
            },
            None => extensions.set("code", "BAD_USER_INPUT"),
        }
    }
    extensions.set("requestId", request_id);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_from(source: async_graphql::Error) -> ServerError {
        source.into_server_error(async_graphql::Pos::default())
    }

    #[test]
    fn a_foreign_error_becomes_internal_without_its_text() {
        let mut error = error_from(std::io::Error::other("password=hunter2 at /etc/secret").into());
        shape(&mut error, "rid-1");
        assert_eq!(error.message, INTERNAL_MESSAGE);
        let ext = error.extensions.unwrap();
        assert_eq!(ext.get("code"), Some(&Value::from("INTERNAL")));
        assert_eq!(ext.get("requestId"), Some(&Value::from("rid-1")));
    }

    #[test]
    fn an_app_error_keeps_its_message_code_and_field() {
        let mut error = error_from(AppError::bad_input("input.name", "must not be blank").into());
        shape(&mut error, "rid-2");
        assert_eq!(error.message, "input.name: must not be blank");
        let ext = error.extensions.unwrap();
        assert_eq!(ext.get("code"), Some(&Value::from("BAD_USER_INPUT")));
        assert_eq!(ext.get("field"), Some(&Value::from("input.name")));
    }

    #[test]
    fn an_internal_app_error_hides_its_cause() {
        let cause = sea_orm::DbErr::Custom("duplicate key in users_pkey".into());
        let mut error = error_from(AppError::from(cause).into());
        shape(&mut error, "rid-3");
        assert_eq!(error.message, "internal error");
        assert_eq!(
            error.extensions.unwrap().get("code"),
            Some(&Value::from("INTERNAL"))
        );
    }
}
