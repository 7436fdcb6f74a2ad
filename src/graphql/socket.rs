//! Operations over a WebSocket get a fresh caller each, as HTTP requests do.
//!
//! `connection_init` stores the socket's [`SocketCredentials`] in the connection's data;
//! this stage of the schema's extension (`pipeline.rs`) re-resolves them for every
//! operation (query, mutation or subscription) and puts the result in the operation's own
//! data, which shadows the connection's. So a
//! removed member, a withdrawn permission, a logout or a suspension holds on an open
//! socket from its next operation; the socket's watchdog (in `http::graphql`) closes it when
//! the session or membership goes.

use async_graphql::extensions::ExtensionContext;
use async_graphql::{Request, ServerError, ServerResult};

use crate::auth::{Caller, SocketCredentials};
use crate::services::Services;

/// On a socket, the caller as of this operation (a stage of [`super::pipeline::Pipeline`]).
pub(super) async fn refresh_caller(
    ctx: &ExtensionContext<'_>,
    mut request: Request,
) -> ServerResult<Request> {
    if let (Some(socket), Some(services)) = (
        ctx.data_opt::<SocketCredentials>(),
        ctx.data_opt::<Services>(),
    ) {
        let caller =
            Caller::authenticate(services, socket.meta.clone(), socket.credentials.clone())
                .await
                .map_err(|e| {
                    tracing::error!(error = ?e, "re-authenticating a socket operation failed");
                    ServerError::new(crate::graphql::INTERNAL_MESSAGE, None)
                })?;
        request.data.insert(caller);
    }
    Ok(request)
}
