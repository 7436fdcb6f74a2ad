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
    lease: Duration,
}

/// How long a worker that stopped heart-beating keeps its jobs, unless told otherwise
/// ([`JobBackend::with_lease`]).
pub const DEFAULT_LEASE: Duration = Duration::from_secs(15);

/// Heartbeats per lease: a worker heart-beats every `lease / HEARTBEATS_PER_LEASE`, and one
/// that missed that many in a row is dead (its running jobs go back to the queue, taken by
/// the next live worker's heartbeat).
const HEARTBEATS_PER_LEASE: u32 = 3;

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
            lease: DEFAULT_LEASE,
        }
    }

    /// Sets the lease: a worker that stops heart-beating (killed, frozen, cut off) loses
    /// its running jobs to live workers after about this long (at most a lease and a
    /// heartbeat). At least three seconds.
    #[must_use]
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease.max(Duration::from_secs(3));
        self
    }

    /// The lease (see [`JobBackend::with_lease`]).
    pub fn lease(&self) -> Duration {
        self.lease
    }

    fn heartbeat(&self) -> Duration {
        self.lease / HEARTBEATS_PER_LEASE
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

    /// Hands the jobs `worker` was running on `queue` back to the queue at once (a
    /// graceful shutdown whose running jobs outlived the shutdown timeout), instead of
    /// leaving them to wait out the lease. Returns how many went back. Their attempt is
    /// not counted as a failure; a job whose effect was already recorded finds it done.
    pub async fn hand_back(&self, queue: &str, worker: &str) -> Result<u64, JobBackendError> {
        let queue = self.queue_name(queue);
        match &self.store {
            Store::Sqlite(pool) => sqlx::query(
                "UPDATE Jobs SET status = 'Pending', lock_by = NULL, lock_at = NULL, \
                 done_at = NULL WHERE lock_by = ?1 AND job_type = ?2 \
                 AND status IN ('Running', 'Queued')",
            )
            .bind(worker)
            .bind(&queue)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
            .map_err(|e| JobBackendError::Sql(e.to_string())),
            Store::Postgres(pool) => sqlx::query(
                "UPDATE apalis.jobs SET status = 'Pending', lock_by = NULL, lock_at = NULL, \
                 done_at = NULL WHERE lock_by = $1 AND job_type = $2 \
                 AND status IN ('Running', 'Queued')",
            )
            .bind(worker)
            .bind(&queue)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
            .map_err(|e| JobBackendError::Sql(e.to_string())),
            Store::Redis(conn) => {
                // As apalis-redis reclaims a dead worker's jobs, for this one worker now.
                let config = apalis_redis::Config::default().queue(&queue);
                let script = redis::Script::new(
                    "local jobs = redis.call('smembers', KEYS[1]) \
                     if #jobs > 0 then redis.call('rpush', KEYS[2], unpack(jobs)) end \
                     redis.call('del', KEYS[1]) redis.call('zrem', KEYS[3], ARGV[1]) \
                     return #jobs",
                );
                let mut conn = conn.clone();
                let moved: u64 = script
                    .key(format!("{}:{worker}", config.inflight_jobs_set()))
                    .key(config.active_jobs_list())
                    .key(config.workers_set())
                    .arg(worker)
                    .invoke_async(&mut conn)
                    .await?;
                Ok(moved)
            }
        }
    }

    /// What `queue` holds now.
    pub async fn queue_stats(&self, queue: &str) -> Result<QueueStats, JobBackendError> {
        use apalis::prelude::Status;
        use apalis::prelude::{Filter, ListTasks, Metrics};
        let storage = self.queue::<serde_json::Value>(queue);
        let stats = match (&storage, &self.store) {
            (Storage::Sqlite(s), _) => s.fetch_by_queue().await.map_err(stats_error)?,
            (Storage::Postgres(s), _) => s.fetch_by_queue().await.map_err(stats_error)?,
            (Storage::Redis(_), Store::Redis(conn)) => {
                self.redis_stats(conn.clone(), queue).await?
            }
            (Storage::Redis(_), _) => unreachable!("a Redis queue on a Redis store"),
        };
        let count = |title: &str| {
            stats
                .iter()
                .find(|s| s.title == title)
                .and_then(|s| s.value.parse::<f64>().ok())
                .map_or(0, |v| v.max(0.0) as u64)
        };
        let mut result = QueueStats {
            pending: count("PENDING_JOBS"),
            running: count("RUNNING_JOBS"),
            failed: count("FAILED_JOBS"),
            oldest_pending: None,
        };
        if let Some(due) = stats.iter().find(|s| s.title == "OLDEST_DUE") {
            result.oldest_pending = due.value.parse().ok();
        } else if result.pending > 0 {
            // Backends list newest or oldest first: the oldest is on the first or the
            // last page.
            const PAGE: u64 = 50;
            let last = result.pending.div_ceil(PAGE) as u32;
            for page in [1, last] {
                let filter = Filter {
                    status: Some(Status::Pending),
                    page,
                    page_size: Some(PAGE as u32),
                };
                let run_at: Vec<u64> = match &storage {
                    Storage::Sqlite(s) => run_times(s.list_tasks(&filter).await),
                    Storage::Postgres(s) => run_times(s.list_tasks(&filter).await),
                    Storage::Redis(_) => Vec::new(),
                };
                result.oldest_pending = run_at.into_iter().chain(result.oldest_pending).min();
            }
        }
        Ok(result)
    }

    /// apalis-redis 1.0's own per-queue statistics read keys it never writes (and fail
    /// with WRONGTYPE), so they are counted here from the keys its workers use: the active
    /// list, the scheduled retries, each registered worker's in-flight set.
    async fn redis_stats(
        &self,
        mut conn: ConnectionManager,
        queue: &str,
    ) -> Result<Vec<apalis::prelude::Statistic>, JobBackendError> {
        let config = apalis_redis::Config::default().queue(self.queue_name(queue));
        let workers: Vec<String> = redis::cmd("ZRANGE")
            .arg(config.workers_set())
            .arg(0)
            .arg(-1)
            .query_async(&mut conn)
            .await?;
        // New jobs wait in the scheduled set, due now, until a worker moves them to the
        // active list; retries wait there due later.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut pipe = redis::pipe();
        pipe.cmd("LLEN")
            .arg(config.active_jobs_list())
            .cmd("ZCOUNT")
            .arg(config.scheduled_jobs_set())
            .arg("-inf")
            .arg(now)
            .cmd("ZCOUNT")
            .arg(config.scheduled_jobs_set())
            .arg(format!("({now}"))
            .arg("+inf");
        for worker in &workers {
            pipe.cmd("SCARD")
                .arg(format!("{}:{worker}", config.inflight_jobs_set()));
        }
        let counts: Vec<u64> = pipe.query_async(&mut conn).await?;
        let oldest: Vec<(String, u64)> = redis::cmd("ZRANGE")
            .arg(config.scheduled_jobs_set())
            .arg(0)
            .arg(0)
            .arg("WITHSCORES")
            .query_async(&mut conn)
            .await?;
        let stat = |title: &str, value: u64| apalis::prelude::Statistic {
            title: title.to_owned(),
            stat_type: apalis::prelude::StatType::Number,
            value: value.to_string(),
            priority: None,
        };
        let count = |i: usize| counts.get(i).copied().unwrap_or(0);
        let mut stats = vec![
            stat("PENDING_JOBS", count(0) + count(1)),
            stat("FAILED_JOBS", count(2)),
            stat("RUNNING_JOBS", counts.iter().skip(3).sum()),
        ];
        if let Some((_, due)) = oldest.first().filter(|(_, due)| *due <= now) {
            stats.push(stat("OLDEST_DUE", *due));
        }
        Ok(stats)
    }

    fn queue<T>(&self, queue: &str) -> Storage<T> {
        let queue = self.queue_name(queue);
        let queue = queue.as_str();
        let (beat, missed) = (self.heartbeat(), HEARTBEATS_PER_LEASE as usize);
        match &self.store {
            Store::Sqlite(pool) => Storage::Sqlite(
                SqliteStorage::new(pool).with_config(
                    apalis_sqlite::Config::default()
                        .queue(queue)
                        .heartbeat_interval(beat)
                        .missed_heartbeats(missed),
                ),
            ),
            Store::Postgres(pool) => Storage::Postgres(
                PostgresStorage::new(pool).with_config(
                    apalis_postgres::Config::default()
                        .queue(queue)
                        .heartbeat_interval(beat)
                        .missed_heartbeats(missed),
                ),
            ),
            Store::Redis(conn) => Storage::Redis(
                RedisStorage::new(conn.clone()).with_config(
                    apalis_redis::Config::default()
                        .queue(queue)
                        .heartbeat_interval(beat)
                        .missed_heartbeats(missed),
                ),
            ),
        }
    }
}

/// What a queue holds now, as its backend counts it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Waiting to run.
    pub pending: u64,
    /// Running (or between in-process retries).
    pub running: u64,
    /// Failed attempts the queue still holds.
    pub failed: u64,
    /// When the oldest waiting job was due (UNIX seconds), if any waits.
    pub oldest_pending: Option<u64>,
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

fn stats_error<E: std::fmt::Display>(e: E) -> JobBackendError {
    JobBackendError::Sql(format!("queue statistics: {e}"))
}

fn run_times<C, E>(listed: Result<Vec<apalis::prelude::Task<C>>, E>) -> Vec<u64> {
    listed
        .map(|tasks| tasks.iter().filter_map(|t| t.ctx().run_at()).collect())
        .unwrap_or_default()
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
