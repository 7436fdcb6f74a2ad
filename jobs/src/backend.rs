//! Where queued jobs are stored: SQLite (its own file beside the application database),
//! PostgreSQL (the application database, apalis's own tables) or Redis.

use std::sync::Arc;
use std::time::Duration;

use apalis::prelude::TaskSink;
use apalis_postgres::PostgresStorage;
use apalis_redis::{ConnectionManager, RedisStorage};
use apalis_sqlite::SqliteStorage;

use crate::Job;

/// Polling period of every backend while a queue is idle: the upper bound on the delay
/// between an enqueue and the start of the job (apalis parks an idle worker until polled).
const POLL_INTERVAL: Duration = Duration::from_millis(200);

/// The configured job store and the namespace prefixed to every queue name (so several
/// deployments, or parallel test runs, can share one Redis). Cheap to clone.
#[derive(Clone)]
pub struct JobBackend {
    store: Store,
    namespace: Arc<str>,
}

#[derive(Clone)]
enum Store {
    /// A SQLite file of its own (apalis switches its pool to WAL with synchronous off, which
    /// the application database must not inherit).
    Sqlite(apalis_sqlite::SqlitePool),
    /// apalis's tables in the application's PostgreSQL database.
    Postgres(apalis_postgres::PgPool),
    /// A Redis server.
    Redis(ConnectionManager),
}

impl std::fmt::Debug for JobBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "JobBackend({}, {})", self.kind(), self.namespace)
    }
}

/// A job store could not be reached or prepared.
#[derive(Debug, thiserror::Error)]
pub enum JobBackendError {
    /// SQLite or PostgreSQL.
    #[error("job database: {0}")]
    Sql(String),
    /// Redis.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// A push was refused.
    #[error("enqueue failed: {0}")]
    Push(String),
}

impl JobBackend {
    /// Opens (creating when missing) the SQLite job store at `url` and prepares its tables.
    pub async fn sqlite(url: &str, namespace: &str) -> Result<Self, JobBackendError> {
        let options: apalis_sqlite::SqliteConnectOptions = url
            .parse()
            .map_err(|e: apalis_sqlite::SqlxError| JobBackendError::Sql(e.to_string()))?;
        let pool = apalis_sqlite::SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(
                options
                    .create_if_missing(true)
                    .busy_timeout(Duration::from_secs(10)),
            )
            .await
            .map_err(|e| JobBackendError::Sql(e.to_string()))?;
        SqliteStorage::setup(&pool)
            .await
            .map_err(|e| JobBackendError::Sql(e.to_string()))?;
        Ok(Self::new(Store::Sqlite(pool), namespace))
    }

    /// Creates or upgrades apalis's tables (schema `apalis`); run by the table owner during
    /// `msingi migrate`.
    pub async fn prepare_postgres(pool: &apalis_postgres::PgPool) -> Result<(), JobBackendError> {
        PostgresStorage::setup(pool)
            .await
            .map_err(|e| JobBackendError::Sql(e.to_string()))
    }

    /// Uses the application's PostgreSQL pool, whose tables `prepare_postgres` made.
    pub fn postgres(pool: apalis_postgres::PgPool, namespace: &str) -> Self {
        Self::new(Store::Postgres(pool), namespace)
    }

    /// Connects to Redis at `url`.
    pub async fn redis(url: &str, namespace: &str) -> Result<Self, JobBackendError> {
        Ok(Self::new(
            Store::Redis(apalis_redis::connect(url).await?),
            namespace,
        ))
    }

    fn new(store: Store, namespace: &str) -> Self {
        Self {
            store,
            namespace: namespace.into(),
        }
    }

    /// The full name of `queue` in this namespace.
    pub fn queue_name(&self, queue: &str) -> String {
        format!("{}.{queue}", self.namespace)
    }

    /// `sqlite`, `postgres` or `redis`.
    pub fn kind(&self) -> &'static str {
        match self.store {
            Store::Sqlite(_) => "sqlite",
            Store::Postgres(_) => "postgres",
            Store::Redis(_) => "redis",
        }
    }

    /// The typed storage of job `J`, on its own queue.
    pub fn storage<J: Job>(&self) -> Storage<J> {
        self.queue(J::QUEUE)
    }

    /// Checks that the store answers (for `/readyz`).
    pub async fn ping(&self) -> Result<(), JobBackendError> {
        match &self.store {
            Store::Sqlite(pool) => sql_ping(sqlx::query("SELECT 1").execute(pool).await),
            Store::Postgres(pool) => sql_ping(sqlx::query("SELECT 1").execute(pool).await),
            Store::Redis(conn) => {
                let mut conn = conn.clone();
                redis::cmd("PING").query_async::<String>(&mut conn).await?;
                Ok(())
            }
        }
    }

    /// Pushes an already-serialised payload onto `queue`. The outbox drainer uses this: it
    /// holds rows, not types, and every backend stores JSON, so the bytes a typed worker
    /// reads are the same.
    pub async fn push_json(
        &self,
        queue: &str,
        payload: serde_json::Value,
    ) -> Result<(), JobBackendError> {
        self.queue::<serde_json::Value>(queue).push(payload).await
    }

    fn queue<T>(&self, queue: &str) -> Storage<T> {
        let queue = self.queue_name(queue);
        let queue = queue.as_str();
        match &self.store {
            Store::Sqlite(pool) => Storage::Sqlite(
                SqliteStorage::new(pool).with_config(apalis_sqlite::Config::default().queue(queue)),
            ),
            Store::Postgres(pool) => Storage::Postgres(
                PostgresStorage::new(pool)
                    .with_config(apalis_postgres::Config::default().queue(queue)),
            ),
            Store::Redis(conn) => Storage::Redis(
                RedisStorage::new(conn.clone())
                    .with_config(apalis_redis::Config::default().queue(queue)),
            ),
        }
    }
}

/// A typed queue on one of the backends.
pub enum Storage<J> {
    /// On SQLite.
    Sqlite(SqliteStorage<J>),
    /// On PostgreSQL.
    Postgres(PostgresStorage<J>),
    /// On Redis.
    Redis(RedisStorage<J>),
}

impl<J> Clone for Storage<J> {
    fn clone(&self) -> Self {
        match self {
            Self::Sqlite(s) => Self::Sqlite(s.clone()),
            Self::Postgres(s) => Self::Postgres(s.clone()),
            Self::Redis(s) => Self::Redis(s.clone()),
        }
    }
}

impl<J: serde::Serialize + serde::de::DeserializeOwned + Send + Sync + Unpin + 'static> Storage<J> {
    /// Enqueues one job.
    pub async fn push(&mut self, job: J) -> Result<(), JobBackendError> {
        match self {
            Self::Sqlite(s) => s.push(job).await.map_err(push_error),
            Self::Postgres(s) => s.push(job).await.map_err(push_error),
            Self::Redis(s) => s.push(job).await.map_err(push_error),
        }
    }
}

fn sql_ping<T>(result: Result<T, sqlx::Error>) -> Result<(), JobBackendError> {
    result
        .map(drop)
        .map_err(|e| JobBackendError::Sql(e.to_string()))
}

fn push_error<E: std::fmt::Debug>(e: E) -> JobBackendError {
    JobBackendError::Push(format!("{e:?}"))
}

/// The wake-up stream every worker polls with: a tick every [`POLL_INTERVAL`] that always
/// leaves a timer armed. (apalis's own interval strategy re-creates its timer without
/// polling it, so a worker whose backend answers Pending at the wrong moment is never woken
/// again; seen on PostgreSQL under load. This ticker wakes it whatever state it is in.)
pub fn ticker() -> Ticker {
    let mut interval = tokio::time::interval(POLL_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    Ticker { interval }
}

/// See [`ticker`].
#[derive(Debug)]
pub struct Ticker {
    interval: tokio::time::Interval,
}

impl futures::Stream for Ticker {
    type Item = ();

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<()>> {
        if self.interval.poll_tick(cx).is_pending() {
            return std::task::Poll::Pending;
        }
        // Arm the next tick before answering, so a waker is always registered.
        while self.interval.poll_tick(cx).is_ready() {}
        std::task::Poll::Ready(Some(()))
    }
}

/// Registers one worker pool for `$storage` (a [`Storage`]) on `$monitor`, building each
/// worker with `$build`, in which `$backend` is the concrete apalis backend. A macro because
/// each backend is its own type and apalis wants the concrete one.
#[macro_export]
macro_rules! register_worker {
    ($monitor:expr, $storage:expr, |$backend:ident| $build:expr) => {{
        use ::apalis::prelude::BackendExt as _;
        match $storage {
            $crate::Storage::Sqlite(s) => $monitor.register(move |_| {
                let $backend = s.clone().poll_with_stream($crate::ticker());
                $build
            }),
            $crate::Storage::Postgres(s) => $monitor.register(move |_| {
                let $backend = s.clone().poll_with_stream($crate::ticker());
                $build
            }),
            $crate::Storage::Redis(s) => $monitor.register(move |_| {
                let $backend = s.clone().poll_with_stream($crate::ticker());
                $build
            }),
        }
    }};
}
