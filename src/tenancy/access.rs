//! Who may do what, per request, without asking the database every time: resolved tenant
//! contexts are cached per (tenant, user, store) and dropped the moment anything that
//! changes access in that tenant commits (a role toggled, assigned or revoked, a member
//! removed, the tenant suspended, a module switched). With Redis every node checks the
//! tenant's access epoch (one `GET`) before trusting its cache, so a change made on one
//! node holds on every node from the very next request; the change is also published so
//! subscribers hear of it. Entries expire after a minute as a backstop.
//!
//! The same invalidation feeds `myPermissionsChanged`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use tokio::sync::broadcast;

use crate::db::Db;
use crate::error::AppResult;
use crate::ids::{StoreId, TenantId, UserId};
use crate::tenancy::{Principal, TenantContext};

/// What changed: the access of a whole tenant, or the sessions of one user (logout,
/// revocation, password reset). Open WebSockets listen to both to re-check their caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessEvent {
    /// Roles, assignments, memberships, modules or status of the tenant changed.
    Tenant(TenantId),
    /// One or more of the user's sessions ended.
    Sessions(UserId),
}

impl AccessEvent {
    fn encode(self) -> String {
        match self {
            Self::Tenant(t) => t.to_string(),
            Self::Sessions(u) => format!("sessions:{u}"),
        }
    }

    fn decode(payload: &str) -> Option<Self> {
        match payload.strip_prefix("sessions:") {
            Some(user) => UserId::parse(user, "user").ok().map(Self::Sessions),
            None => TenantId::parse(payload, "tenant").ok().map(Self::Tenant),
        }
    }
}

/// How long a cached context may live without an invalidation.
const TTL: Duration = Duration::from_secs(60);

type Key = (TenantId, UserId, Option<StoreId>);

struct Entry {
    epoch: u64,
    remote_epoch: i64,
    at: Instant,
    ctx: TenantContext,
}

/// The cache and its invalidation channel.
pub struct AccessCache {
    entries: Mutex<HashMap<Key, Entry>>,
    epochs: Mutex<HashMap<TenantId, u64>>,
    events: broadcast::Sender<AccessEvent>,
    publisher: Option<(redis::aio::ConnectionManager, String)>,
    /// Without Redis, on PostgreSQL: changes travel by `NOTIFY` on this channel.
    notifier: Option<(sqlx::PgPool, String)>,
}

impl std::fmt::Debug for AccessCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessCache")
            .field("redis", &self.publisher.is_some())
            .field("postgres_notify", &self.notifier.is_some())
            .finish_non_exhaustive()
    }
}

impl AccessCache {
    /// A cache; with `redis_url`, invalidations travel between nodes on the channel
    /// `<namespace>:access`; without Redis but on PostgreSQL (`postgres`), by
    /// `LISTEN`/`NOTIFY` on the channel `<namespace>:access`.
    pub async fn new(
        redis_url: Option<&str>,
        postgres: Option<sqlx::PgPool>,
        namespace: &str,
    ) -> anyhow::Result<Arc<Self>> {
        let (events, _) = broadcast::channel(1024);
        let channel = format!("{namespace}:access");
        let publisher = match redis_url {
            Some(url) => {
                let client = redis::Client::open(url)?;
                Some((
                    redis::aio::ConnectionManager::new(client).await?,
                    channel.clone(),
                ))
            }
            None => None,
        };
        let notifier = match (redis_url, postgres) {
            (None, Some(pool)) => Some((pool, channel.clone())),
            _ => None,
        };
        let cache = Arc::new(Self {
            entries: Mutex::default(),
            epochs: Mutex::default(),
            events,
            publisher,
            notifier,
        });
        if let Some((pool, channel)) = &cache.notifier {
            let mut listener = sqlx::postgres::PgListener::connect_with(pool).await?;
            listener.listen(channel).await?;
            let weak = Arc::downgrade(&cache);
            tokio::spawn(async move {
                loop {
                    let received = listener.recv().await;
                    let Some(cache) = weak.upgrade() else { break };
                    match received {
                        Ok(notification) => match AccessEvent::decode(notification.payload()) {
                            Some(AccessEvent::Tenant(tenant)) => cache.invalidate_locally(tenant),
                            Some(event @ AccessEvent::Sessions(_)) => {
                                let _ = cache.events.send(event);
                            }
                            None => {}
                        },
                        Err(e) => {
                            // Notifications may have been missed while the connection was
                            // down (the listener reconnects on the next call): forget
                            // every cached context.
                            tracing::warn!(error = %e, "access notifications interrupted");
                            cache
                                .entries
                                .lock()
                                .unwrap_or_else(PoisonError::into_inner)
                                .clear();
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                    }
                }
            });
        }
        if let Some(url) = redis_url {
            let mut pubsub = redis::Client::open(url)?.get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            let weak = Arc::downgrade(&cache);
            tokio::spawn(async move {
                let mut messages = pubsub.into_on_message();
                while let Some(message) = messages.next().await {
                    let Some(cache) = weak.upgrade() else { break };
                    let payload: String = message.get_payload().unwrap_or_default();
                    match AccessEvent::decode(&payload) {
                        Some(AccessEvent::Tenant(tenant)) => cache.invalidate_locally(tenant),
                        Some(event @ AccessEvent::Sessions(_)) => {
                            let _ = cache.events.send(event);
                        }
                        None => {}
                    }
                }
            });
        }
        Ok(cache)
    }

    fn epoch_key(channel: &str, tenant: TenantId) -> String {
        format!("{channel}:epoch:{tenant}")
    }

    /// The tenant's access epoch in Redis (0 without Redis).
    async fn remote_epoch(&self, tenant: TenantId) -> AppResult<i64> {
        let Some((conn, channel)) = &self.publisher else {
            return Ok(0);
        };
        let mut conn = conn.clone();
        let epoch: Option<i64> = redis::cmd("GET")
            .arg(Self::epoch_key(channel, tenant))
            .query_async(&mut conn)
            .await
            .map_err(crate::error::AppError::internal)?;
        Ok(epoch.unwrap_or(0))
    }

    fn epoch(&self, tenant: TenantId) -> u64 {
        *self
            .epochs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&tenant)
            .unwrap_or(&0)
    }

    /// The member's context, from the cache when it is still current.
    pub async fn member_context(
        &self,
        db: &Db,
        user: UserId,
        platform_admin: bool,
        tenant: TenantId,
        store: Option<StoreId>,
    ) -> AppResult<TenantContext> {
        let key = (tenant, user, store);
        let epoch = self.epoch(tenant);
        let remote_epoch = self.remote_epoch(tenant).await?;
        if let Some(entry) = self
            .entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
            && entry.epoch == epoch
            && entry.remote_epoch == remote_epoch
            && entry.at.elapsed() < TTL
        {
            return Ok(entry.ctx.clone());
        }
        let principal = Principal::User {
            user_id: user,
            platform_admin,
        };
        let ctx = TenantContext::for_member(db, principal, tenant, store).await?;
        // Stored under the epoch read before the lookup: an invalidation that raced it
        // makes the entry stale at once.
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(
                key,
                Entry {
                    epoch,
                    remote_epoch,
                    at: Instant::now(),
                    ctx: ctx.clone(),
                },
            );
        Ok(ctx)
    }

    fn invalidate_locally(&self, tenant: TenantId) {
        *self
            .epochs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(tenant)
            .or_insert(0) += 1;
        let _ = self.events.send(AccessEvent::Tenant(tenant));
    }

    /// Tells every node that sessions of `user` ended (after the change committed), so
    /// WebSockets opened with them close.
    pub async fn sessions_ended(&self, user: UserId) {
        if self.notify(AccessEvent::Sessions(user)).await {
            // Every node, this one included, hears it through LISTEN.
            return;
        }
        let _ = self.events.send(AccessEvent::Sessions(user));
        if let Some((conn, channel)) = &self.publisher {
            let mut conn = conn.clone();
            let published: redis::RedisResult<i64> = redis::cmd("PUBLISH")
                .arg(channel)
                .arg(AccessEvent::Sessions(user).encode())
                .query_async(&mut conn)
                .await;
            if let Err(e) = published {
                tracing::error!(%user, error = %e, "could not publish a session revocation");
            }
        }
    }

    /// Drops every cached context of `tenant`, on this node and (with Redis) on every node.
    /// Call after the change committed.
    pub async fn invalidate(&self, tenant: TenantId) {
        self.invalidate_locally(tenant);
        self.notify(AccessEvent::Tenant(tenant)).await;
        if let Some((conn, channel)) = &self.publisher {
            let mut conn = conn.clone();
            let published: redis::RedisResult<(i64, i64)> = redis::pipe()
                .cmd("INCR")
                .arg(Self::epoch_key(channel, tenant))
                .cmd("PUBLISH")
                .arg(channel)
                .arg(AccessEvent::Tenant(tenant).encode())
                .query_async(&mut conn)
                .await;
            if let Err(e) = published {
                tracing::error!(%tenant, error = %e, "could not publish an access invalidation");
            }
        }
    }

    /// Sends `event` by PostgreSQL `NOTIFY` when that is how nodes hear of changes; false
    /// when they do not (Redis, or a single process).
    async fn notify(&self, event: AccessEvent) -> bool {
        let Some((pool, channel)) = &self.notifier else {
            return false;
        };
        if let Err(e) = sqlx::query("SELECT pg_notify($1, $2)")
            .bind(channel)
            .bind(event.encode())
            .execute(pool)
            .await
        {
            tracing::error!(error = %e, "could not notify other nodes of an access change");
            return false;
        }
        true
    }

    /// Access changes, as they happen.
    pub fn subscribe(&self) -> broadcast::Receiver<AccessEvent> {
        self.events.subscribe()
    }
}

/// Units of work publish their access changes here after they commit.
impl crate::db::AfterCommit for AccessCache {
    fn publish(&self, events: Vec<AccessEvent>) -> futures::future::BoxFuture<'_, ()> {
        Box::pin(async move {
            for event in events {
                match event {
                    AccessEvent::Tenant(tenant) => self.invalidate(tenant).await,
                    AccessEvent::Sessions(user) => self.sessions_ended(user).await,
                }
            }
        })
    }
}
