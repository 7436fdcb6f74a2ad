//! Automatic persisted queries (Apollo's `PersistedQueryLink`, urql's
//! `persistedExchange`): a client sends `extensions.persistedQuery.sha256Hash` without the
//! query; an unknown hash answers `PERSISTED_QUERY_NOT_FOUND` (message
//! `PersistedQueryNotFound`, which the links look for), and the client's retry with the
//! text registers it. Texts are kept in Redis when configured (shared by every node, 30
//! days), in this process otherwise (a bounded map).
//!
//! With `GRAPHQL_PERSISTED_ONLY=true` only the operations of the allow-list
//! (`GRAPHQL_PERSISTED_QUERIES_FILE`, exported from the SPA's build) run, by hash or by
//! text; nothing new is registered.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use async_graphql::{ErrorExtensionValues, Request, ServerError, ServerResult};
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

/// Marks a request that came over `GET`: a hash resolved there must not be a mutation.
#[derive(Debug, Clone, Copy)]
pub struct ReadOnlyTransport;

/// How many texts the in-process store keeps.
const MEMORY_CAPACITY: usize = 2_000;
/// The longest text that is registered: together with the token bound, what keeps a flood
/// of registrations from filling memory or Redis.
const MAX_REGISTERED_BYTES: usize = 32 * 1024;
/// How long Redis keeps a registered text.
const REDIS_TTL_SECS: u64 = 30 * 24 * 3600;

/// Where registered texts live.
#[derive(Clone)]
pub struct PersistedQueries {
    inner: Arc<Inner>,
}

struct Inner {
    memory: Mutex<HashMap<String, String>>,
    /// `GRAPHQL_MAX_TOKENS`: a text over it is never registered.
    max_tokens: usize,
    redis: Option<(
        redis::Client,
        String,
        OnceCell<redis::aio::ConnectionManager>,
    )>,
    /// The allow-list, when only persisted operations may run.
    only: Option<HashMap<String, String>>,
}

impl PersistedQueries {
    /// A store in Redis (`redis_url`, keys under `<namespace>:apq:`) or in memory, with an
    /// optional allow-list (hash → text) that makes it the only source of operations.
    pub fn new(
        redis_url: Option<&str>,
        namespace: &str,
        max_tokens: usize,
        only: Option<HashMap<String, String>>,
    ) -> anyhow::Result<Self> {
        let redis = match redis_url {
            Some(url) => Some((
                redis::Client::open(url)?,
                format!("{namespace}:apq:"),
                OnceCell::new(),
            )),
            None => None,
        };
        Ok(Self {
            inner: Arc::new(Inner {
                memory: Mutex::default(),
                max_tokens,
                redis,
                only,
            }),
        })
    }

    /// Reads an allow-list: Apollo's persisted-query manifest
    /// (`{"format": "apollo-persisted-query-manifest", "operations": [{"id", "body"}]}`) or a
    /// plain `{"<sha256>": "<query>"}` object. Each entry's hash is checked.
    pub fn read_allow_list(text: &str) -> Result<HashMap<String, String>, String> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        let mut list = HashMap::new();
        let entries: Vec<(String, String)> = match value.get("operations") {
            Some(ops) => ops
                .as_array()
                .ok_or("\"operations\" is not a list")?
                .iter()
                .map(|op| {
                    let id = op["id"].as_str().unwrap_or_default().to_owned();
                    let body = op["body"].as_str().unwrap_or_default().to_owned();
                    (id, body)
                })
                .collect(),
            None => value
                .as_object()
                .ok_or("expected a manifest or an object of hash: query")?
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect(),
        };
        for (hash, body) in entries {
            if hash_of(&body) != hash {
                return Err(format!(
                    "the entry {hash:?} does not match its query's SHA-256"
                ));
            }
            list.insert(hash, body);
        }
        Ok(list)
    }

    async fn redis(&self) -> Option<(redis::aio::ConnectionManager, &str)> {
        let (client, prefix, cell) = self.inner.redis.as_ref()?;
        let conn = cell
            .get_or_try_init(|| redis::aio::ConnectionManager::new(client.clone()))
            .await
            .map_err(|e| tracing::warn!(error = %e, "persisted queries: Redis unavailable"))
            .ok()?;
        Some((conn.clone(), prefix.as_str()))
    }

    async fn get(&self, hash: &str) -> Option<String> {
        if let Some(only) = &self.inner.only {
            return only.get(hash).cloned();
        }
        if let Some((mut conn, prefix)) = self.redis().await {
            return redis::cmd("GET")
                .arg(format!("{prefix}{hash}"))
                .query_async::<Option<String>>(&mut conn)
                .await
                .ok()
                .flatten();
        }
        self.inner
            .memory
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(hash)
            .cloned()
    }

    async fn set(&self, hash: String, query: String) {
        // A text the limits would refuse is not kept (it is refused right after).
        if query.len() > MAX_REGISTERED_BYTES
            || super::limits::count_tokens(&query, self.inner.max_tokens) > self.inner.max_tokens
        {
            return;
        }
        if let Some((mut conn, prefix)) = self.redis().await {
            let _: redis::RedisResult<()> = redis::cmd("SET")
                .arg(format!("{prefix}{hash}"))
                .arg(query)
                .arg("EX")
                .arg(REDIS_TTL_SECS)
                .query_async(&mut conn)
                .await;
            return;
        }
        let mut memory = self
            .inner
            .memory
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if memory.len() >= MEMORY_CAPACITY
            && let Some(evict) = memory.keys().next().cloned()
        {
            memory.remove(&evict);
        }
        memory.insert(hash, query);
    }
}

/// The SHA-256 of a query text, hex, as the clients compute it.
pub fn hash_of(query: &str) -> String {
    hex::encode(Sha256::digest(query.as_bytes()))
}

fn refuse(code: &str, message: &str) -> ServerError {
    let mut error = ServerError::new(message, None);
    let mut extensions = ErrorExtensionValues::default();
    extensions.set("code", code);
    error.extensions = Some(extensions);
    error
}

impl PersistedQueries {
    /// Resolves a hash to its text, or remembers a text by its hash, refusing what the
    /// allow-list does not hold (a stage of [`super::pipeline::Pipeline`], before the
    /// limits).
    pub(super) async fn resolve(&self, mut request: Request) -> ServerResult<Request> {
        let persisted = request.extensions.remove("persistedQuery");
        let hash = match &persisted {
            Some(value) => {
                let json = value.clone().into_json().unwrap_or_default();
                if json["version"].as_i64() != Some(1) {
                    return Err(refuse(
                        "BAD_USER_INPUT",
                        "extensions.persistedQuery: only version 1 is supported",
                    ));
                }
                match json["sha256Hash"].as_str() {
                    Some(hash) => Some(hash.to_ascii_lowercase()),
                    None => {
                        return Err(refuse(
                            "BAD_USER_INPUT",
                            "extensions.persistedQuery.sha256Hash is missing",
                        ));
                    }
                }
            }
            None => None,
        };
        let only = self.inner.only.is_some();
        match (hash, request.query.trim().is_empty()) {
            (Some(hash), true) => match self.get(&hash).await {
                Some(text) => request.query = text,
                None if only => {
                    return Err(refuse(
                        "FORBIDDEN",
                        "this server runs only the operations it was built with",
                    ));
                }
                None => {
                    return Err(refuse(
                        "PERSISTED_QUERY_NOT_FOUND",
                        "PersistedQueryNotFound",
                    ));
                }
            },
            (Some(hash), false) => {
                if hash_of(&request.query) != hash {
                    return Err(refuse(
                        "BAD_USER_INPUT",
                        "extensions.persistedQuery.sha256Hash does not match the query",
                    ));
                }
                if only {
                    if self.get(&hash).await.is_none() {
                        return Err(refuse(
                            "FORBIDDEN",
                            "this server runs only the operations it was built with",
                        ));
                    }
                } else {
                    self.set(hash, request.query.clone()).await;
                }
            }
            (None, _) if only => {
                if self.get(&hash_of(&request.query)).await.is_none() {
                    return Err(refuse(
                        "FORBIDDEN",
                        "this server runs only the operations it was built with",
                    ));
                }
            }
            (None, _) => {}
        }
        if persisted.is_some()
            && request
                .data
                .contains_key(&std::any::TypeId::of::<ReadOnlyTransport>())
        {
            let name = request.operation_name.clone();
            let document = request.parsed_query()?;
            let mutation = document.operations.iter().any(|(op_name, op)| {
                op.node.ty == async_graphql::parser::types::OperationType::Mutation
                    && name
                        .as_deref()
                        .is_none_or(|n| op_name.is_some_and(|o| o.as_str() == n))
            });
            if mutation {
                return Err(refuse("BAD_USER_INPUT", "mutations must be sent with POST"));
            }
        }
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_lists_are_read_and_their_hashes_checked() {
        let query = "{ __typename }";
        let hash = hash_of(query);
        let manifest = serde_json::json!({
            "format": "apollo-persisted-query-manifest", "version": 1,
            "operations": [{ "id": hash, "name": "T", "type": "query", "body": query }]
        });
        let list = PersistedQueries::read_allow_list(&manifest.to_string()).unwrap();
        assert_eq!(list.get(&hash).map(String::as_str), Some(query));
        let plain = serde_json::json!({ hash.clone(): query });
        assert!(PersistedQueries::read_allow_list(&plain.to_string()).is_ok());
        let wrong = serde_json::json!({ "deadbeef": query });
        assert!(PersistedQueries::read_allow_list(&wrong.to_string()).is_err());
    }
}
