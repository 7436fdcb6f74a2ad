//! Who may do what, per request, without asking the database every time: resolved tenant
//! contexts are cached per (tenant, user, store) and dropped the moment anything that
//! changes access in that tenant commits (a role toggled, assigned or revoked, a member
//! removed, the tenant suspended, a module switched). With Redis every node checks the
//! tenant's access epoch (one `GET`) before trusting its cache, so a change made on one
//! node holds on every node from the very next request; the change is also published so
//! subscribers hear of it. Entries expire after a minute as a backstop.
//!
//! The same invalidation feeds `myPermissionsChanged`.
//!
//! Sessions are cached the same way, per session, under the user's session epoch: a
//! logout, a refresh-token reuse or a password reset bumps it when it commits (in Redis
//! too, checked with one `GET` per request), so the next request with a token of an ended
//! session is refused on every node. Without Redis, on PostgreSQL, other nodes hear of it
//! by `NOTIFY` (milliseconds later), as they do for tenant access.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use tokio::sync::broadcast;

use crate::db::Db;
use crate::error::AppResult;
use crate::identity::sessions::Session;
use crate::ids::{SessionId, StoreId, TenantId, UserId};
use crate::tenancy::{Principal, TenantContext};

/// What changed: the access of a whole tenant, or the sessions of one user (logout,
/// revocation, password reset). Open WebSockets listen to both to re-check their caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessEvent {
    /// Roles, assignments, memberships, modules or status of the tenant changed.
    Tenant(TenantId),
    /// One or more of the user's sessions ended.
    Sessions(UserId),
    /// The user has a new in-app notification in the tenant (`notificationReceived`
    /// subscribers re-read theirs). Travels like the others, but bumps no epoch: no cached
    /// access depends on it.
    Notified(TenantId, UserId),
}

impl AccessEvent {
    fn encode(self) -> String {
        match self {
            Self::Tenant(t) => t.to_string(),
            Self::Sessions(u) => format!("sessions:{u}"),
            Self::Notified(t, u) => format!("notified:{t}:{u}"),
        }
    }

    fn decode(payload: &str) -> Option<Self> {
        if let Some(rest) = payload.strip_prefix("notified:") {
            let (tenant, user) = rest.split_once(':')?;
            return Some(Self::Notified(
                TenantId::parse(tenant, "tenant").ok()?,
                UserId::parse(user, "user").ok()?,
            ));
        }
        match payload.strip_prefix("sessions:") {
            Some(user) => UserId::parse(user, "user").ok().map(Self::Sessions),
            None => TenantId::parse(payload, "tenant").ok().map(Self::Tenant),
        }
    }
}

/// How long a cached context may live without an invalidation.
const TTL: Duration = Duration::from_secs(60);

type Key = (TenantId, UserId, Option<StoreId>);

/// Past this many entries a cache drops what is stale, or everything.
const MAX_ENTRIES: usize = 100_000;

struct Entry<T> {
    epoch: u64,
    remote_epoch: i64,
    at: Instant,
    value: T,
}

impl<T: Clone> Entry<T> {
    fn current(&self, epoch: u64, remote_epoch: i64) -> Option<T> {
        (self.epoch == epoch && self.remote_epoch == remote_epoch && self.at.elapsed() < TTL)
            .then(|| self.value.clone())
    }
}

/// A session and whether its user is a platform admin.
pub type SessionView = (Session, bool);

/// Entries under epochs: a lookup that raced an invalidation is stored under the epoch
/// read before it, so it is stale at once.
struct Epoched<K, E, T> {
    entries: Mutex<HashMap<K, Entry<T>>>,
    epochs: Mutex<HashMap<E, u64>>,
}

impl<K, E, T> Default for Epoched<K, E, T> {
    fn default() -> Self {
        Self {
            entries: Mutex::default(),
            epochs: Mutex::default(),
        }
    }
}

impl<K: std::hash::Hash + Eq, E: std::hash::Hash + Eq, T: Clone> Epoched<K, E, T> {
    fn epoch(&self, of: &E) -> u64 {
        *self
            .epochs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(of)
            .unwrap_or(&0)
    }

    fn get(&self, key: &K, epoch: u64, remote_epoch: i64) -> Option<T> {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .and_then(|entry| entry.current(epoch, remote_epoch))
    }

    fn put(&self, key: K, epoch: u64, remote_epoch: i64, value: T) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, entry| entry.at.elapsed() < TTL);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(
            key,
            Entry {
                epoch,
                remote_epoch,
                at: Instant::now(),
                value,
            },
        );
    }

    fn bump(&self, of: E) {
        *self
            .epochs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(of)
            .or_insert(0) += 1;
    }

    fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

/// The cache and its invalidation channel.
pub struct AccessCache {
    contexts: Epoched<Key, TenantId, TenantContext>,
    sessions: Epoched<SessionId, UserId, SessionView>,
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
            contexts: Epoched::default(),
            sessions: Epoched::default(),
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
                        Ok(notification) => {
                            if let Some(event) = AccessEvent::decode(notification.payload()) {
                                cache.heard(event);
                            }
                        }
                        Err(e) => {
                            // Notifications may have been missed while the connection was
                            // down (the listener reconnects on the next call): forget
                            // every cached context.
                            tracing::warn!(error = %e, "access notifications interrupted");
                            cache.contexts.clear();
                            cache.sessions.clear();
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
                    if let Some(event) = AccessEvent::decode(&payload) {
                        cache.heard(event);
                    }
                }
            });
        }
        Ok(cache)
    }

    /// What an event heard from another node (or from this one, through `LISTEN`) does.
    fn heard(&self, event: AccessEvent) {
        match event {
            AccessEvent::Tenant(tenant) => self.invalidate_locally(tenant),
            AccessEvent::Sessions(user) => {
                self.sessions.bump(user);
                let _ = self.events.send(event);
            }
            AccessEvent::Notified(..) => {
                let _ = self.events.send(event);
            }
        }
    }

    /// The Redis key holding the epoch of what `event` changes.
    fn epoch_key(channel: &str, event: AccessEvent) -> String {
        match event {
            AccessEvent::Tenant(tenant) => format!("{channel}:epoch:{tenant}"),
            AccessEvent::Sessions(user) => format!("{channel}:sessions-epoch:{user}"),
            AccessEvent::Notified(tenant, user) => format!("{channel}:notified:{tenant}:{user}"),
        }
    }

    /// The epoch in Redis of what `event` changes (0 without Redis).
    async fn remote_epoch(&self, event: AccessEvent) -> AppResult<i64> {
        let Some((conn, channel)) = &self.publisher else {
            return Ok(0);
        };
        let mut conn = conn.clone();
        let epoch: Option<i64> = redis::cmd("GET")
            .arg(Self::epoch_key(channel, event))
            .query_async(&mut conn)
            .await
            .map_err(crate::error::AppError::internal)?;
        Ok(epoch.unwrap_or(0))
    }

    /// Session `id` of `user` and whether the user is a platform admin, from the cache
    /// while no session of the user ended since it was read; `None` when there is no such
    /// session (whether it is still live is the caller's check, against the clock).
    pub async fn session(
        &self,
        db: &Db,
        user: UserId,
        id: SessionId,
    ) -> AppResult<Option<SessionView>> {
        let epoch = self.sessions.epoch(&user);
        let remote_epoch = self.remote_epoch(AccessEvent::Sessions(user)).await?;
        if let Some(view) = self.sessions.get(&id, epoch, remote_epoch) {
            return Ok((view.0.user == user).then_some(view));
        }
        let Some((session, found)) = db.session_with_user(id).await? else {
            return Ok(None);
        };
        let view = (session, found.is_platform_admin);
        if view.0.user != user {
            return Ok(None);
        }
        self.sessions.put(id, epoch, remote_epoch, view.clone());
        Ok(Some(view))
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
        let epoch = self.contexts.epoch(&tenant);
        let remote_epoch = self.remote_epoch(AccessEvent::Tenant(tenant)).await?;
        if let Some(ctx) = self.contexts.get(&key, epoch, remote_epoch) {
            return Ok(ctx);
        }
        let principal = Principal::User {
            user_id: user,
            platform_admin,
        };
        let ctx = TenantContext::for_member(db, principal, tenant, store).await?;
        self.contexts.put(key, epoch, remote_epoch, ctx.clone());
        Ok(ctx)
    }

    fn invalidate_locally(&self, tenant: TenantId) {
        self.contexts.bump(tenant);
        let _ = self.events.send(AccessEvent::Tenant(tenant));
    }

    /// Tells every node that sessions of `user` ended (after the change committed): their
    /// cached sessions are dropped and WebSockets opened with them close.
    pub async fn sessions_ended(&self, user: UserId) {
        // This node stops trusting its cached sessions of the user before it returns.
        self.sessions.bump(user);
        if self.notify(AccessEvent::Sessions(user)).await {
            // Every node, this one included, hears it through LISTEN.
            return;
        }
        let _ = self.events.send(AccessEvent::Sessions(user));
        self.publish_remotely(AccessEvent::Sessions(user)).await;
    }

    /// Tells every node's subscribers of `event` without bumping any epoch.
    async fn announce(&self, event: AccessEvent) {
        if self.notify(event).await {
            return;
        }
        let _ = self.events.send(event);
        let Some((conn, channel)) = &self.publisher else {
            return;
        };
        let mut conn = conn.clone();
        let published: redis::RedisResult<i64> = redis::cmd("PUBLISH")
            .arg(channel)
            .arg(event.encode())
            .query_async(&mut conn)
            .await;
        if let Err(e) = published {
            tracing::error!(?event, error = %e, "could not publish a live event");
        }
    }

    /// With Redis: bumps the epoch of what `event` changes and publishes it.
    async fn publish_remotely(&self, event: AccessEvent) {
        let Some((conn, channel)) = &self.publisher else {
            return;
        };
        let mut conn = conn.clone();
        let published: redis::RedisResult<(i64, i64)> = redis::pipe()
            .cmd("INCR")
            .arg(Self::epoch_key(channel, event))
            .cmd("PUBLISH")
            .arg(channel)
            .arg(event.encode())
            .query_async(&mut conn)
            .await;
        if let Err(e) = published {
            tracing::error!(?event, error = %e, "could not publish an access change");
        }
    }

    /// Drops every cached context of `tenant`, on this node and (with Redis) on every node.
    /// Call after the change committed.
    pub async fn invalidate(&self, tenant: TenantId) {
        self.invalidate_locally(tenant);
        self.notify(AccessEvent::Tenant(tenant)).await;
        self.publish_remotely(AccessEvent::Tenant(tenant)).await;
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
                    AccessEvent::Notified(..) => self.announce(event).await,
                }
            }
        })
    }
}
