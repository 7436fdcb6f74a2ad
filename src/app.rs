//! Start-up: from a [`Config`] to a bound, running server (and, in the embedded shape, the
//! workers beside it). Tests build the same [`Application`] on port 0.

use std::future::IntoFuture as _;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use msingi_jobs::JobBackend;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::auth::keys::JwtKeys;
use crate::auth::throttle::Throttle;
use crate::clock::{SharedClock, SystemClock};
use crate::config::{Config, ConfigError, DatabaseKind};
use crate::db::Db;
use crate::http::{AppState, router};
use crate::notify::email::Mailer;
use crate::services::Services;
use crate::worker::{self, WorkerDeps};

/// A built, bound, not yet running server.
pub struct Application {
    listener: TcpListener,
    state: AppState,
    workers: Option<WorkerDeps>,
}

/// Opens the database (migrating first when configured to) and the job store.
pub async fn open_stores(config: &Config, clock: SharedClock) -> anyhow::Result<(Db, JobBackend)> {
    let db = open_database(config, clock).await?;
    let jobs = job_backend(config, &db).await?;
    Ok((db, jobs))
}

/// Opens the database only (migrating first when configured to): for commands that queue
/// nothing, so they never contend for the embedded job store.
pub async fn open_database(config: &Config, clock: SharedClock) -> anyhow::Result<Db> {
    // The embedded job store, keys and outbox live here: create it, or say which variable.
    std::fs::create_dir_all(&config.data_dir).map_err(|e| ConfigError {
        var: "MSINGI_DATA_DIR",
        message: format!("cannot create {}: {e}", config.data_dir.display()),
    })?;
    if config.database.auto_migrate {
        Db::migrate(
            &config.database.migration_url,
            &config.database.url,
            &config.database.platform_url,
        )
        .await
        .map_err(|e| ConfigError::at_start("MIGRATION_DATABASE_URL", &e))?;
    }
    let mut db = Db::connect(&config.database.url, &config.database.platform_url, clock).await?;
    // Tenants' own databases (the DATABASE tier) exist on PostgreSQL only.
    if db.kind() == crate::config::DatabaseKind::Postgres {
        db = db.with_tenant_databases(crate::secrets::DataKeys::load(&config.data_key)?);
    }
    db.check_row_level_security(config.database.allow_rls_bypass)
        .await?;
    let pending = db.pending_migrations().await?;
    if !pending.is_empty() {
        anyhow::bail!(
            "the database has {} pending migration(s) (first: {}); run `msingi migrate`",
            pending.len(),
            pending[0]
        );
    }
    Ok(db)
}

async fn job_backend(config: &Config, db: &Db) -> anyhow::Result<JobBackend> {
    let namespace = &config.jobs.namespace;
    let backend = match (&config.jobs.redis_url, db.postgres_pool()) {
        (Some(url), _) => JobBackend::redis(url, namespace).await,
        (None, Some(pool)) => Ok(JobBackend::postgres(pool, namespace)),
        (None, None) => JobBackend::sqlite(&config.sqlite_jobs_url(), namespace).await,
    };
    Ok(backend
        .context("opening the job store")?
        .with_lease(config.jobs.lease))
}

/// The clock a process runs on: `base`, or (with `MSINGI_TEST_CLOCK=true`) the test clock
/// over it, returned apart too so `advanceClock` can move it.
pub fn process_clock(
    config: &Config,
    base: SharedClock,
) -> (SharedClock, Option<Arc<crate::clock::TestClock>>) {
    if !config.test_clock {
        return (base, None);
    }
    let test = Arc::new(crate::clock::TestClock::new(base));
    (test.clone(), Some(test))
}

/// Reads the test clock's shared offset now and then every
/// [`TestClock::REFRESH`](crate::clock::TestClock::REFRESH), so this process lives at the
/// time `advanceClock` set on any other.
pub async fn follow_test_clock(test: &Arc<crate::clock::TestClock>, db: &Db) -> anyhow::Result<()> {
    let offset = db
        .test_clock_offset()
        .await
        .map_err(|e| anyhow::anyhow!("reading the test clock: {e}"))?;
    test.set_offset(offset);
    tracing::warn!(
        offset_secs = offset.num_seconds(),
        "the test clock is on (MSINGI_TEST_CLOCK)"
    );
    let weak = Arc::downgrade(test);
    let db = db.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(crate::clock::TestClock::REFRESH).await;
            let Some(test) = weak.upgrade() else { break };
            match db.test_clock_offset().await {
                // Only forward: a process that just advanced it is never moved back by a
                // read that raced its write.
                Ok(offset) if offset > test.offset() => test.set_offset(offset),
                Ok(_) => {}
                Err(e) => tracing::debug!(error = %e, "reading the test clock"),
            }
        }
    });
    Ok(())
}

/// What the workers need, from the configuration and the open stores.
pub fn worker_deps(config: &Config, db: Db, jobs: JobBackend) -> anyhow::Result<WorkerDeps> {
    let keys = Arc::new(load_keys(config)?);
    let mpesa = mpesa(config, &db)?;
    let webhooks = crate::webhooks::dispatch::Dispatcher::new(
        db.clone(),
        crate::secrets::DataKeys::load(&config.data_key)?,
        config.webhooks.clone(),
        &config.http.app_url,
    )?;
    Ok(WorkerDeps {
        tiers: crate::tiers::TierAdmin::of(config),
        rights: config.rights.clone(),
        db,
        webhooks,
        jobs,
        mailer: Mailer::from_config(config)?,
        shutdown_timeout: config.http.shutdown_timeout,
        billing: config.billing.clone(),
        mpesa,
        mpesa_config: config.mpesa.clone(),
        links: crate::billing::invoices::Links::new(
            keys,
            &config.http.public_url,
            &config.http.app_url,
        ),
    })
}

/// M-Pesa as the configuration asks: the Daraja client (tokens shared through `db`) and
/// the callback key.
pub fn mpesa(config: &Config, db: &Db) -> anyhow::Result<crate::payments::pay::Mpesa> {
    Ok(crate::payments::pay::Mpesa {
        daraja: crate::payments::mpesa::client::Daraja::new(
            &config.mpesa,
            &config.http.public_url,
            db.clone(),
        )?,
        callbacks: crate::payments::callbacks::CallbackKey::load(&config.mpesa)
            .map_err(|e| ConfigError::at_start("MPESA_CALLBACK_SECRET", &e))?,
        public_url: config.http.public_url.clone(),
    })
}

/// The token keys the configuration names (generated on first use by the embedded
/// default).
fn load_keys(config: &Config) -> anyhow::Result<JwtKeys> {
    JwtKeys::load_or_generate(
        &config.auth.jwt_signing_key_file,
        !config.auth.jwt_signing_key_configured,
        &config.auth.jwt_verify_key_files,
        &config.http.public_url,
    )
    .map_err(|e| ConfigError::at_start("JWT_SIGNING_KEY_FILE", &e).into())
}

/// The access cache the configuration asks for, and `db` publishing the access changes it
/// commits there (so a worker's change, a suspension say, holds on every API node).
pub async fn publishing(
    config: &Config,
    db: Db,
) -> anyhow::Result<(Db, Arc<crate::tenancy::access::AccessCache>)> {
    let access = crate::tenancy::access::AccessCache::new(
        config.jobs.redis_url.as_deref(),
        db.platform_postgres_pool(),
        &config.jobs.namespace,
    )
    .await
    .context("access cache (REDIS_URL)")?;
    Ok((db.publishing_to(access.clone()), access))
}

impl Application {
    /// Builds the server on the system clock.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        Self::build_with_clock(config, Arc::new(SystemClock)).await
    }

    /// Builds the server with an injected clock.
    pub async fn build_with_clock(config: Config, clock: SharedClock) -> anyhow::Result<Self> {
        let (clock, test_clock) = process_clock(&config, clock);
        let (db, jobs) = open_stores(&config, clock.clone()).await?;
        if let Some(test) = &test_clock {
            follow_test_clock(test, &db).await?;
        }
        if let Some((email, password)) = &config.auth.admin {
            let (admin, created) = crate::identity::ensure_platform_admin(&db, email, password)
                .await
                .map_err(|e| anyhow::anyhow!("MSINGI_ADMIN_EMAIL/MSINGI_ADMIN_PASSWORD: {e}"))?;
            tracing::info!(email = %admin.email, created, "platform admin ensured");
        }
        let listener = TcpListener::bind(config.http.bind)
            .await
            .with_context(|| format!("binding {} (MSINGI_BIND)", config.http.bind))?;
        let keys = load_keys(&config)?;
        let throttle = Throttle::new(
            config.jobs.redis_url.as_deref(),
            db.platform_postgres_pool(),
            &config.jobs.namespace,
            clock,
            config.auth.login_lockout,
        )
        .await
        .context("login throttle (REDIS_URL)")?;
        let (db, access) = publishing(&config, db).await?;
        let workers = if config.jobs.in_process_workers {
            Some(worker_deps(&config, db.clone(), jobs.clone())?)
        } else {
            None
        };
        let config = Arc::new(config);
        let services = Services {
            access,
            jobs: jobs.clone(),
            test_clock,
            mpesa: Some(mpesa(&config, &db)?),
            daraja_simulator: (config.mpesa.env == crate::config::MpesaEnv::Simulator).then(|| {
                crate::payments::mpesa::simulator::Simulator::new(
                    crate::payments::mpesa::simulator::SimConfig::of(&config.mpesa),
                    db.clock().clone(),
                )
            }),
            db: db.clone(),
            api_calls: Arc::default(),
            data_keys: crate::secrets::DataKeys::load(&config.data_key)?,
            keys: Arc::new(keys),
            throttle,
            config: config.clone(),
        };
        let allow_list = match (
            &services.config.graphql.persisted_only,
            &services.config.graphql.persisted_queries_file,
        ) {
            (true, Some(path)) => {
                let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
                    var: "GRAPHQL_PERSISTED_QUERIES_FILE",
                    message: format!("cannot read {}: {e}", path.display()),
                })?;
                Some(
                    crate::graphql::persisted::PersistedQueries::read_allow_list(&text).map_err(
                        |message| ConfigError {
                            var: "GRAPHQL_PERSISTED_QUERIES_FILE",
                            message,
                        },
                    )?,
                )
            }
            _ => None,
        };
        let persisted = crate::graphql::persisted::PersistedQueries::new(
            services.config.jobs.redis_url.as_deref(),
            &services.config.jobs.namespace,
            services.config.graphql.limits.max_tokens,
            allow_list,
        )
        .context("persisted queries (REDIS_URL)")?;
        let state = AppState {
            schema: crate::graphql::schema(
                config.graphql.limits,
                config.environment,
                config.graphql.introspection,
                Some(persisted),
                Some(services.clone()),
            ),
            services,
            config,
            db,
            jobs,
            metrics: crate::telemetry::metrics(),
            shutdown: CancellationToken::new(),
        };
        Ok(Self {
            listener,
            state,
            workers,
        })
    }

    /// The address the server listens on (the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| self.state.config.http.bind)
    }

    /// The application database (tests use it to arrange data).
    pub fn db(&self) -> &Db {
        &self.state.db
    }

    /// The job store.
    pub fn jobs(&self) -> &JobBackend {
        &self.state.jobs
    }

    /// Serves until `shutdown` is cancelled, then lets in-flight requests and running jobs
    /// finish (for at most `SHUTDOWN_TIMEOUT_SECS`).
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let Self {
            listener,
            state,
            workers,
        } = self;
        let grace = state.config.http.shutdown_timeout;
        let embedded = state.config.database_kind() == DatabaseKind::Sqlite;
        let ws_shutdown = state.shutdown.clone();
        let db = state.db.clone();
        // api_calls are flushed until the server has stopped, so every answered request
        // is counted (a last flush after the last request).
        let meter_stop = CancellationToken::new();
        let meter = {
            let (services, stop) = (state.services.clone(), meter_stop.clone());
            let every =
                std::time::Duration::from_secs(u64::from(state.config.billing.usage_flush_seconds));
            tokio::spawn(async move {
                let db = services.db.clone();
                let config = services.config.clone();
                services
                    .api_calls
                    .run(db, config, every, stop.cancelled_owned())
                    .await;
            })
        };
        let app = router(state);
        tracing::info!(
            address = %listener.local_addr()?,
            workers = workers.is_some(),
            embedded,
            "serving: GraphQL at /graphql, GraphiQL at /graphiql"
        );

        let workers = workers.map(|deps| tokio::spawn(worker::run(deps, shutdown.clone())));
        let stop = shutdown.clone();
        let server = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            stop.cancelled().await;
            ws_shutdown.cancel();
        })
        .into_future();
        let server = async {
            tokio::pin!(server);
            tokio::select! {
                result = &mut server => result.context("HTTP server"),
                () = async { shutdown.cancelled().await; tokio::time::sleep(grace).await } => {
                    tracing::warn!("in-flight requests did not finish within the shutdown timeout");
                    Ok(())
                }
            }
        };
        let served = server.await;
        meter_stop.cancel();
        if let Err(e) = meter.await {
            tracing::warn!(error = %e, "the api_calls flusher stopped");
        }
        if let Some(workers) = workers {
            workers.await.context("worker task")??;
        }
        db.close().await;
        served
    }
}
