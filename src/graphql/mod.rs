//! The GraphQL API. Resolvers are adapters: they read the request context, parse
//! arguments into domain types, call one service function and map the result. No SQL here.
//!
//! `schema.graphql` at the repository root is [`sdl`]'s output; a test fails when they
//! differ (`msingi export-schema` rewrites it).

mod errors;
mod types;

use async_graphql::{EmptyMutation, EmptySubscription, MergedObject, Schema};

pub use errors::{ErrorMapping, INTERNAL_MESSAGE};

use crate::config::{Environment, GraphqlLimits};

/// The per-request facts every resolver and the error mapping may read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestMeta {
    /// `X-Request-ID`, echoed in `extensions.requestId` of every error.
    pub request_id: String,
    /// The client's address, when known.
    pub client_ip: Option<std::net::IpAddr>,
    /// The client's `User-Agent`.
    pub user_agent: Option<String>,
}

/// The query root, merged from each feature's queries.
#[derive(MergedObject, Default)]
pub struct Query(types::CatalogueQuery);

/// The executable schema.
pub type AppSchema = Schema<Query, EmptyMutation, EmptySubscription>;

/// Builds the schema with the configured limits.
pub fn schema(limits: GraphqlLimits, environment: Environment) -> AppSchema {
    let mut builder = Schema::build(Query::default(), EmptyMutation, EmptySubscription)
        .extension(ErrorMapping)
        .limit_depth(limits.max_depth)
        .limit_recursive_depth(limits.max_depth.max(32))
        .limit_complexity(limits.max_complexity)
        .limit_directives(16);
    if environment == Environment::Production {
        builder = builder.disable_suggestions();
    }
    builder.finish()
}

/// The schema's SDL, as committed in `schema.graphql`.
pub fn sdl() -> String {
    let schema = schema(
        GraphqlLimits {
            max_depth: 12,
            max_complexity: 1000,
            max_batch: 10,
        },
        Environment::Development,
    );
    schema.sdl_with_options(
        async_graphql::SDLExportOptions::new()
            .sorted_fields()
            .sorted_enum_items(),
    )
}
