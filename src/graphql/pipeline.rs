//! Every hook Msingi puts on a GraphQL request, as one schema extension.
//!
//! async-graphql wraps the resolution of every field in every installed extension's
//! resolve hook, even an extension that only prepares the request: with six of them a
//! page of twenty stores paid for six nested futures around each of its hundred-odd fields.
//! So the stages run here, in this order, behind one extension:
//! 1. the request id is remembered for the errors (`errors.rs`);
//! 2. a persisted query's hash is resolved to its text (`persisted.rs`, when configured);
//! 3. a socket's operation gets a fresh caller (`socket.rs`);
//! 4. the document is parsed once and checked against the limits (`limits.rs`);
//! 5. text inputs are checked for control characters (`inputs.rs`);
//! 6. introspection is refused when it is off (`introspection.rs`).
//!
//! Then the operation runs under the time budget (`limits.rs`), and every error of the
//! answer, a subscription's answers included, is shaped for clients (`errors.rs`).

use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextPrepareRequest, NextRequest,
    NextSubscribe,
};
use async_graphql::{Request, Response, ServerResult};
use futures::stream::BoxStream;

use super::errors::RequestErrors;
use super::limits::DocumentLimits;
use super::persisted::PersistedQueries;

/// The schema's one extension.
pub(super) struct Pipeline {
    stages: Arc<Stages>,
}

struct Stages {
    persisted: Option<PersistedQueries>,
    limits: DocumentLimits,
    introspection: bool,
}

impl Pipeline {
    /// The stages for these limits, with persisted queries when configured, refusing
    /// introspection unless `introspection`.
    pub(super) fn new(
        limits: DocumentLimits,
        persisted: Option<PersistedQueries>,
        introspection: bool,
    ) -> Self {
        Self {
            stages: Arc::new(Stages {
                persisted,
                limits,
                introspection,
            }),
        }
    }
}

impl ExtensionFactory for Pipeline {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(PerRequest {
            stages: self.stages.clone(),
            errors: RequestErrors::default(),
        })
    }
}

/// The pipeline of one request.
struct PerRequest {
    stages: Arc<Stages>,
    errors: RequestErrors,
}

#[async_trait::async_trait]
impl Extension for PerRequest {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        self.errors.shape(ctx, next.run(ctx).await)
    }

    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, Response> {
        self.errors.shape_stream(ctx, next.run(ctx, stream))
    }

    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        self.errors.remember(&request);
        let mut request = request;
        if let Some(persisted) = &self.stages.persisted {
            request = persisted.resolve(request).await?;
        }
        request = super::socket::refresh_caller(ctx, request).await?;
        request = self.stages.limits.check(request)?;
        request = super::inputs::check(request)?;
        if !self.stages.introspection {
            request = super::introspection::refuse(request)?;
        }
        next.run(ctx, request).await
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        self.stages
            .limits
            .within_budget(next.run(ctx, operation_name))
            .await
    }
}
