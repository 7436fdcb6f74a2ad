//! The GraphQL endpoint: document limits, introspection, persisted queries.

use std::path::PathBuf;

use super::vars::{Vars, invalid};
use super::{ConfigError, Environment};

/// Limits that keep one GraphQL request from consuming the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GraphqlLimits {
    /// Deepest selection nesting accepted.
    pub max_depth: usize,
    /// Largest complexity (fields, weighted) accepted.
    pub max_complexity: usize,
    /// Most operations in one batched request.
    pub max_batch: usize,
    /// Most lexical tokens in one document (checked before parsing).
    pub max_tokens: usize,
    /// Most aliases in one document.
    pub max_aliases: usize,
    /// Most selections of one operation once fragments are expanded.
    pub max_selections: usize,
    /// How long one operation may execute before it is cancelled.
    pub execution_timeout_ms: u64,
}

impl Default for GraphqlLimits {
    fn default() -> Self {
        Self {
            max_depth: 12,
            max_complexity: 1000,
            max_batch: 10,
            max_tokens: 2000,
            max_aliases: 15,
            max_selections: 2000,
            execution_timeout_ms: 10_000,
        }
    }
}

/// The GraphQL settings.
#[derive(Debug, Clone)]
pub struct GraphqlConfig {
    /// `GRAPHQL_MAX_DEPTH`, `GRAPHQL_MAX_COMPLEXITY`, `GRAPHQL_MAX_BATCH`, `GRAPHQL_MAX_TOKENS`,
    /// `GRAPHQL_MAX_ALIASES`, `GRAPHQL_MAX_SELECTIONS`, `GRAPHQL_EXECUTION_TIMEOUT_MS`.
    pub limits: GraphqlLimits,
    /// `GRAPHQL_INTROSPECTION`: whether the schema answers introspection (default: on in
    /// development, off in production).
    pub introspection: bool,
    /// `GRAPHQL_PERSISTED_ONLY`: only the operations of `GRAPHQL_PERSISTED_QUERIES_FILE` run.
    pub persisted_only: bool,
    /// `GRAPHQL_PERSISTED_QUERIES_FILE`: the allow-list (an Apollo persisted-query manifest,
    /// or `{"<sha256>": "<query>"}`).
    pub persisted_queries_file: Option<PathBuf>,
}

impl GraphqlConfig {
    pub(super) fn parse(vars: &Vars<'_>, environment: Environment) -> Result<Self, ConfigError> {
        let persisted_only = vars.flag("GRAPHQL_PERSISTED_ONLY", false)?;
        let persisted_queries_file = vars
            .get("GRAPHQL_PERSISTED_QUERIES_FILE")
            .map(PathBuf::from);
        if persisted_only && persisted_queries_file.is_none() {
            return Err(invalid(
                "GRAPHQL_PERSISTED_QUERIES_FILE",
                "must name the allow-list when GRAPHQL_PERSISTED_ONLY=true",
            ));
        }
        Ok(Self {
            limits: GraphqlLimits {
                max_depth: vars.number("GRAPHQL_MAX_DEPTH", 12, 2)?,
                max_complexity: vars.number("GRAPHQL_MAX_COMPLEXITY", 1000, 10)?,
                max_batch: vars.number("GRAPHQL_MAX_BATCH", 10, 1)?,
                max_tokens: vars.number("GRAPHQL_MAX_TOKENS", 2000, 100)?,
                max_aliases: vars.number("GRAPHQL_MAX_ALIASES", 15, 0)?,
                max_selections: vars.number("GRAPHQL_MAX_SELECTIONS", 2000, 10)?,
                execution_timeout_ms: vars.number("GRAPHQL_EXECUTION_TIMEOUT_MS", 10_000, 10)?
                    as u64,
            },
            introspection: vars.flag(
                "GRAPHQL_INTROSPECTION",
                environment == Environment::Development,
            )?,
            persisted_only,
            persisted_queries_file,
        })
    }
}
