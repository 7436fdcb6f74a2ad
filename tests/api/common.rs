//! The test harness: the real server on port 0, a fresh database per test, helpers to talk
//! to it over HTTP and WebSocket.
//!
//! Backends: SQLite in a temporary directory by default. With `TEST_DATABASE_URL` (an admin
//! URL, e.g. `postgres://postgres@127.0.0.1/postgres`) each test gets its own PostgreSQL
//! database, cloned from a migrated template and dropped afterwards. With `TEST_REDIS_URL`
//! jobs go through Redis, in a namespace of their own per test. Under `CI=true` a missing
//! URL is a failure, not a silent fallback. `MSINGI_TEST_BACKEND` pins a pass on purpose:
//! `sqlite` ignores both URLs, `postgres` ignores `TEST_REDIS_URL` (jobs on PostgreSQL).

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt as _, StreamExt as _};
use msingi::Application;
use msingi::clock::{SharedClock, SystemClock};
use msingi::config::Config;
use msingi::db::Db;
use serde_json::{Value, json};
use sqlx::Connection as _;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest, http::HeaderValue};
use tokio_util::sync::CancellationToken;

/// The backend this pass is pinned to, if any.
fn pinned() -> Option<String> {
    std::env::var("MSINGI_TEST_BACKEND")
        .ok()
        .filter(|v| !v.is_empty())
}

/// Whether the URLs are required in this run (CI, and no pinned pass).
fn required() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true") && pinned().is_none()
}

/// The PostgreSQL admin URL for this run, if any.
pub fn postgres_url() -> Option<String> {
    if pinned().as_deref() == Some("sqlite") {
        return None;
    }
    match std::env::var("TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if required() => {
            panic!("CI=true: TEST_DATABASE_URL must be set (PostgreSQL tests may not skip)")
        }
        _ => None,
    }
}

/// The Redis URL for this run, if any.
pub fn redis_url() -> Option<String> {
    if pinned().is_some() {
        return None;
    }
    match std::env::var("TEST_REDIS_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if required() => panic!("CI=true: TEST_REDIS_URL must be set (Redis tests may not skip)"),
        _ => None,
    }
}

/// A running server and what a test needs to talk to it.
pub struct TestApp {
    /// The SMTP server the app sends mail to.
    pub smtp: crate::smtp::SmtpSink,
    /// `http://127.0.0.1:<port>`.
    pub address: String,
    /// An HTTP client.
    pub client: reqwest::Client,
    /// The server's database, for arranging and checking rows.
    pub db: Db,
    /// The server's data directory (email outbox, job store).
    pub data_dir: PathBuf,
    /// `sqlite`, `postgres` or `redis`.
    pub queue_backend: &'static str,
    /// The run-time database URL (PostgreSQL: the role row-level security binds).
    pub database_url: String,
    /// The table owner's URL.
    pub owner_database_url: String,
    /// The platform door's URL (PostgreSQL: the role with the `platform_door` policies).
    pub platform_database_url: String,
    pub config: Config,
    /// The environment the server was configured from.
    env: HashMap<String, String>,
    clock: SharedClock,
    nodes: Vec<CancellationToken>,
    jobs: msingi_jobs::JobBackend,
    namespace: String,
    shutdown: CancellationToken,
    server: Option<JoinHandle<anyhow::Result<()>>>,
    _dir: tempfile::TempDir,
    postgres: Option<PostgresDatabase>,
}

/// Builds a [`TestApp`] with extra environment.
#[derive(Default)]
pub struct TestAppBuilder {
    env: HashMap<String, String>,
    clock: Option<SharedClock>,
    smtp_delay: Option<Duration>,
}

impl TestAppBuilder {
    /// Sets a configuration variable.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.insert(key.to_owned(), value.to_owned());
        self
    }

    /// Makes the test's mail server take `delay` to accept each message.
    pub fn slow_smtp(mut self, delay: Duration) -> Self {
        self.smtp_delay = Some(delay);
        self
    }

    /// Injects a clock.
    pub fn clock(mut self, clock: SharedClock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Starts the server.
    pub async fn spawn(self) -> TestApp {
        let _ = rustls::crypto::ring::default_provider().install_default();
        if let Ok(filter) = std::env::var("MSINGI_TEST_LOG") {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
                .with_test_writer()
                .try_init();
        }
        let dir = tempfile::tempdir().expect("temporary directory");
        let data_dir = dir.path().to_owned();
        let mut env: HashMap<String, String> = HashMap::new();
        reserve_port(&mut env);
        env.insert("MPESA_SIM_CALLBACK_DELAY_MS".into(), "0".into());
        // The tests' webhook receivers listen on loopback; the guard's own test turns this off.
        env.insert("WEBHOOK_ALLOW_PRIVATE_URLS".into(), "true".into());
        env.insert("MSINGI_DATA_DIR".into(), data_dir.display().to_string());
        env.insert("MSINGI_IN_PROCESS_WORKERS".into(), "true".into());
        env.insert("MSINGI_AUTO_MIGRATE".into(), "true".into());
        env.insert("SHUTDOWN_TIMEOUT_SECS".into(), "5".into());
        let smtp =
            crate::smtp::SmtpSink::start_with_delay(self.smtp_delay.unwrap_or_default()).await;
        env.insert("SMTP_URL".into(), smtp.url.clone());
        env.insert("APP_URL".into(), "http://spa.test".into());
        let namespace = format!("test-{}", uuid::Uuid::new_v4().simple());
        env.insert("MSINGI_JOBS_NAMESPACE".into(), namespace.clone());
        let postgres = match postgres_url() {
            Some(admin) => {
                let database = PostgresDatabase::create(&admin).await;
                env.insert("DATABASE_URL".into(), database.url.clone());
                env.insert(
                    "PLATFORM_DATABASE_URL".into(),
                    database.platform_url.clone(),
                );
                env.insert("MIGRATION_DATABASE_URL".into(), database.owner_url.clone());
                Some(database)
            }
            None => None,
        };
        if let Some(url) = redis_url() {
            env.insert("REDIS_URL".into(), url);
        }
        let own_port = self.env.contains_key("MSINGI_BIND");
        env.extend(self.env);
        let clock = self.clock.unwrap_or_else(|| Arc::new(SystemClock));
        // The port was free when chosen, but until the server binds it any other socket
        // of the machine (another test's outgoing connection) may take it: choose again.
        let mut attempts = 0;
        let (config, application) = loop {
            let config = Config::from_lookup(|k| env.get(k).cloned()).expect("test configuration");
            match Application::build_with_clock(config.clone(), clock.clone()).await {
                Ok(application) => break (config, application),
                Err(e) if !own_port && attempts < 5 && format!("{e:#}").contains("in use") => {
                    attempts += 1;
                    reserve_port(&mut env);
                }
                Err(e) => panic!("the application builds: {e:#}"),
            }
        };
        let process_env = env.clone();
        let database_url = config.database.url.clone();
        let owner_database_url = config.database.migration_url.clone();
        let platform_database_url = config.database.platform_url.clone();
        let node_config = config.clone();
        let node_clock = clock.clone();
        let address = format!("http://{}", application.local_addr());
        let db = application.db().clone();

        let jobs = application.jobs().clone();
        let queue_backend = jobs.kind();
        let shutdown = CancellationToken::new();
        let server = tokio::spawn(application.run(shutdown.clone()));
        TestApp {
            smtp,
            address,
            client: reqwest::Client::new(),
            db,
            data_dir,
            queue_backend,
            jobs,
            database_url,
            owner_database_url,
            platform_database_url,
            config: node_config,
            env: process_env,
            clock: node_clock,
            nodes: Vec::new(),
            namespace,
            shutdown,
            server: Some(server),
            _dir: dir,
            postgres,
        }
    }
}

/// A GraphQL response, with helpers for the common assertions.
#[derive(Debug, Clone)]
pub struct GqlResponse {
    /// HTTP status.
    pub status: reqwest::StatusCode,
    /// `X-Request-ID` of the response.
    pub request_id: Option<String>,
    /// The JSON body (`Null` when the body was not JSON); read through `body()`.
    value: Value,
    /// Whether the body was JSON at all; every accessor below fails when it was not.
    pub json: bool,
    /// The body as text, for messages.
    pub text: String,
}

impl GqlResponse {
    /// The JSON body; fails on an answer that is not JSON (a bare 401, an HTML page).
    pub fn body(&self) -> &Value {
        assert!(
            self.json,
            "the answer is not JSON (HTTP {}): {:?}",
            self.status, self.text
        );
        &self.value
    }

    /// `data`, asserting a 200 JSON answer without errors.
    pub fn data(&self) -> &Value {
        let body = self.body();
        assert_eq!(self.status, 200, "HTTP {}: {body}", self.status);
        assert!(body.get("errors").is_none(), "unexpected errors: {body}");
        &body["data"]
    }

    /// The first error's `extensions.code` (a JSON answer with errors, whatever its status).
    pub fn error_code(&self) -> &str {
        self.body()["errors"][0]["extensions"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("no error code in {}", self.value))
    }

    /// The first error (of a JSON answer).
    pub fn error(&self) -> &Value {
        &self.body()["errors"][0]
    }
}

impl TestApp {
    /// A server with the default test configuration.
    pub async fn spawn() -> Self {
        Self::builder().spawn().await
    }

    /// A server with extra configuration.
    pub fn builder() -> TestAppBuilder {
        TestAppBuilder::default()
    }

    /// `GET <path>`.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .expect("request sent")
    }

    /// `POST /graphql` with a JSON body.
    pub async fn post_graphql_body(&self, body: &Value) -> GqlResponse {
        let response = self
            .client
            .post(format!("{}/graphql", self.address))
            .json(body)
            .send()
            .await
            .expect("request sent");
        Self::read(response).await
    }

    /// Runs a GraphQL operation over `POST /graphql`.
    pub async fn graphql(&self, query: &str, variables: Value) -> GqlResponse {
        self.post_graphql_body(&json!({ "query": query, "variables": variables }))
            .await
    }

    /// Runs a GraphQL operation against another node's address.
    pub async fn graphql_at(
        &self,
        address: &str,
        token: &str,
        query: &str,
        variables: Value,
    ) -> GqlResponse {
        let request = self
            .client
            .post(format!("{address}/graphql"))
            .bearer_auth(token)
            .json(&json!({ "query": query, "variables": variables }));
        Self::read(request.send().await.expect("request sent")).await
    }

    /// Runs a GraphQL operation with `Authorization: Bearer <token>` and extra headers.
    pub async fn graphql_as(
        &self,
        token: &str,
        headers: &[(&str, &str)],
        query: &str,
        variables: Value,
    ) -> GqlResponse {
        let mut request = self
            .client
            .post(format!("{}/graphql", self.address))
            .bearer_auth(token)
            .json(&json!({ "query": query, "variables": variables }));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        Self::read(request.send().await.expect("request sent")).await
    }

    /// Reads a response as a GraphQL response.
    pub async fn read(response: reqwest::Response) -> GqlResponse {
        let status = response.status();
        let request_id = response
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(ToOwned::to_owned);
        let text = response.text().await.unwrap_or_default();
        let (body, json) = match serde_json::from_str::<Value>(&text) {
            Ok(body) => (body, true),
            Err(_) => (Value::Null, false),
        };
        GqlResponse {
            status,
            request_id,
            value: body,
            json,
            text,
        }
    }

    /// Opens a `graphql-transport-ws` session on `path` and waits for `connection_ack`.
    pub async fn websocket(&self, path: &str, init_payload: Value) -> WsSession {
        let (session, ack) = self.websocket_init(path, init_payload).await;
        assert_eq!(ack["type"], "connection_ack", "{ack}");
        session
    }

    /// Opens a `graphql-transport-ws` session on `path`, sends `connection_init` and returns
    /// the server's first answer (an ack, or `{"type": "closed", …}`).
    pub async fn websocket_init(&self, path: &str, init_payload: Value) -> (WsSession, Value) {
        self.websocket_init_at(&self.address, path, init_payload)
            .await
    }

    /// Like [`TestApp::websocket_init`], on the node at `address` (`http://…`).
    pub async fn websocket_init_at(
        &self,
        address: &str,
        path: &str,
        init_payload: Value,
    ) -> (WsSession, Value) {
        let url = format!("{}{path}", address.replace("http://", "ws://"));
        let mut request = url.into_client_request().expect("ws request");
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_static("graphql-transport-ws"),
        );
        let (mut stream, response) = tokio_tungstenite::connect_async(request)
            .await
            .expect("websocket connects");
        assert_eq!(
            response
                .headers()
                .get("sec-websocket-protocol")
                .and_then(|v| v.to_str().ok()),
            Some("graphql-transport-ws")
        );
        stream
            .send(Message::text(
                json!({ "type": "connection_init", "payload": init_payload }).to_string(),
            ))
            .await
            .expect("connection_init sent");
        let mut session = WsSession { stream };
        let first = session.next_message().await;
        (session, first)
    }

    /// Waits until `check` passes, polling every 50 ms, for at most `timeout`.
    pub async fn eventually<F, Fut>(&self, timeout: Duration, mut check: F) -> bool
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = tokio::time::Instant::now() + timeout;
        while tokio::time::Instant::now() < deadline {
            if check().await {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        check().await
    }

    /// Emails written to the file outbox, as raw `.eml` text.
    pub fn sent_emails(&self) -> Vec<String> {
        let dir = self.data_dir.join("outbox");
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Vec::new();
        };
        entries
            .filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
            .filter_map(|e| std::fs::read_to_string(e.path()).ok())
            .collect()
    }

    /// Starts another API node on the same database (and Redis, when configured), without
    /// workers; returns its `http://127.0.0.1:<port>`.
    pub async fn another_node(&mut self) -> String {
        self.another_node_with(|_| {}).await
    }

    /// Like [`TestApp::another_node`], with its configuration changed by `change` first.
    pub async fn another_node_with(&mut self, change: impl FnOnce(&mut Config)) -> String {
        let mut config = self.config.clone();
        change(&mut config);
        config.http.bind = "127.0.0.1:0".parse().unwrap();
        config.jobs.in_process_workers = false;
        config.auth.admin = None;
        let node = Application::build_with_clock(config, self.clock.clone())
            .await
            .expect("the second node builds");
        let address = format!("http://{}", node.local_addr());
        let shutdown = CancellationToken::new();
        tokio::spawn(node.run(shutdown.clone()));
        self.nodes.push(shutdown);
        address
    }

    /// The `msingi` binary with `args`, configured like this server (same databases, job
    /// store, namespace, mail server), without its own migrations.
    pub fn msingi(&self, args: &[&str]) -> std::process::Command {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_msingi"));
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(&self.env)
            .env("MSINGI_AUTO_MIGRATE", "false")
            .env("RUST_LOG", "warn")
            .args(args);
        command
    }

    /// Runs `msingi args…` like [`TestApp::msingi`]; its standard output, or a failure
    /// with its standard error. The wait happens off this runtime's thread: the server
    /// under test runs on it and must go on (a unit of work it holds open would otherwise
    /// keep SQLite's write lock from the command until its busy timeout).
    pub async fn run_msingi(&self, args: &[&str]) -> Result<String, String> {
        let mut command = self.msingi(args);
        let output = tokio::task::spawn_blocking(move || command.output())
            .await
            .expect("the msingi command's thread")
            .expect("run msingi");
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&output.stderr).into_owned())
        }
    }

    /// What a worker of this server gets (its database, job store and mailer).
    pub fn worker_deps(&self) -> msingi::worker::WorkerDeps {
        msingi::app::worker_deps(&self.config, self.db.clone(), self.jobs.clone())
            .expect("worker dependencies")
    }

    /// The server's job store.
    pub fn jobs_backend(&self) -> &msingi_jobs::JobBackend {
        &self.jobs
    }

    /// Stops the server gracefully and returns what `run` returned.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        match self.server.take() {
            Some(server) => server.await.expect("server task"),
            None => Ok(()),
        }
    }
}

/// Chooses a free port for the server, known before it starts, so PUBLIC_URL (Daraja's
/// CallBackURL, the simulator's address) points at it.
fn reserve_port(env: &mut HashMap<String, String>) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    env.insert("MSINGI_BIND".into(), format!("127.0.0.1:{port}"));
    env.insert("PUBLIC_URL".into(), format!("http://127.0.0.1:{port}"));
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
        for node in &self.nodes {
            node.cancel();
        }
        if let Some(server) = self.server.take() {
            server.abort();
        }
        // Dropping the database handle drops the test database.
        self.postgres.take();
        if self.queue_backend == "redis"
            && let Some(url) = redis_url()
        {
            delete_redis_namespace(url, self.namespace.clone());
        }
    }
}

/// Deletes every Redis key of a test's job namespace.
fn delete_redis_namespace(url: String, namespace: String) {
    let cleanup = std::thread::spawn(move || {
        let Ok(client) = redis::Client::open(url) else {
            return;
        };
        let Ok(mut conn) = client.get_connection() else {
            return;
        };
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{namespace}*"))
            .query(&mut conn)
            .unwrap_or_default();
        if !keys.is_empty() {
            let _: redis::RedisResult<()> = redis::cmd("DEL").arg(keys).query(&mut conn);
        }
    });
    let _ = cleanup.join();
}

/// One `graphql-transport-ws` session.
pub struct WsSession {
    stream: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

impl WsSession {
    /// Sends a `subscribe` message.
    pub async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        self.stream
            .send(Message::text(
                json!({ "id": id, "type": "subscribe", "payload": { "query": query, "variables": variables } })
                    .to_string(),
            ))
            .await
            .expect("subscribe sent");
    }

    /// The next protocol message (pings answered), within five seconds.
    pub async fn next_message(&mut self) -> Value {
        self.next_message_within(Duration::from_secs(5)).await
    }

    /// The next protocol message (pings answered), within `limit`.
    pub async fn next_message_within(&mut self, limit: Duration) -> Value {
        loop {
            let message = tokio::time::timeout(limit, self.stream.next())
                .await
                .expect("a websocket message in time")
                .expect("the websocket is open")
                .expect("a websocket frame");
            match message {
                Message::Text(text) => {
                    let value: Value = serde_json::from_str(&text).expect("JSON message");
                    if value["type"] == "ping" {
                        let pong = json!({ "type": "pong" }).to_string();
                        self.stream
                            .send(Message::text(pong))
                            .await
                            .expect("pong sent");
                        continue;
                    }
                    return value;
                }
                Message::Close(frame) => {
                    return json!({ "type": "closed", "frame": format!("{frame:?}") });
                }
                _ => continue,
            }
        }
    }
}

/// A PostgreSQL database of one test, cloned from a migrated template.
struct PostgresDatabase {
    admin_url: String,
    name: String,
    /// As the run-time role.
    url: String,
    /// As the platform role.
    platform_url: String,
    /// As the owner.
    owner_url: String,
}

impl PostgresDatabase {
    async fn create(admin_url: &str) -> Self {
        let template = template_name();
        let mut admin = sqlx::PgConnection::connect(admin_url)
            .await
            .expect("TEST_DATABASE_URL answers");
        // One process at a time builds the template; the others wait, then find it.
        sqlx::query("SELECT pg_advisory_lock(727274)")
            .execute(&mut admin)
            .await
            .expect("advisory lock");
        // The run-time role and the platform role: log in, own nothing, cannot bypass
        // row-level security (the platform role passes it only by its policies).
        for role in ["msingi_app", "msingi_platform"] {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') \
                 THEN CREATE ROLE {role} LOGIN NOSUPERUSER NOBYPASSRLS; END IF; END $$"
            )))
            .execute(&mut admin)
            .await
            .expect("the database roles");
        }
        let exists: Option<i32> =
            sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
                .bind(&template)
                .fetch_optional(&mut admin)
                .await
                .expect("template lookup");
        if exists.is_none() {
            let building = format!("{template}_building");
            sqlx::query(ddl(format!(
                "DROP DATABASE IF EXISTS {building} WITH (FORCE)"
            )))
            .execute(&mut admin)
            .await
            .expect("drop a half-built template");
            sqlx::query(ddl(format!("CREATE DATABASE {building}")))
                .execute(&mut admin)
                .await
                .expect("create the template");
            let url = database_url(admin_url, &building);
            let runtime = runtime_url(admin_url, &building);
            let platform = role_url(admin_url, &building, "msingi_platform");
            Db::migrate(&url, &runtime, &platform)
                .await
                .expect("migrate the template");
            sqlx::query(ddl(format!(
                "ALTER DATABASE {building} RENAME TO {template}"
            )))
            .execute(&mut admin)
            .await
            .expect("publish the template");
        }
        sqlx::query("SELECT pg_advisory_unlock(727274)")
            .execute(&mut admin)
            .await
            .expect("advisory unlock");
        let name = format!("msingi_test_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(ddl(format!("CREATE DATABASE {name} TEMPLATE {template}")))
            .execute(&mut admin)
            .await
            .expect("create the test database");
        admin.close().await.ok();
        Self {
            admin_url: admin_url.to_owned(),
            url: runtime_url(admin_url, &name),
            platform_url: role_url(admin_url, &name, "msingi_platform"),
            owner_url: database_url(admin_url, &name),
            name,
        }
    }
}

impl Drop for PostgresDatabase {
    /// Drops the test database, even when the test failed before its server started.
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        let handle = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                if let Ok(mut admin) = sqlx::PgConnection::connect(&admin_url).await {
                    let _ =
                        sqlx::query(ddl(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
                            .execute(&mut admin)
                            .await;
                }
            });
        });
        let _ = handle.join();
    }
}

/// The template's name changes with the migration list, so a new migration gets a new
/// template.
fn template_name() -> String {
    use msingi_migrations::MigratorTrait as _;
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for migration in msingi_migrations::Migrator::migrations() {
        migration.name().hash(&mut hasher);
    }
    // What migrate sets up beyond the migrations (grants, policies), and the migration
    // sources themselves, so an edited one gets a new template too.
    msingi::db::setup_fingerprint().hash(&mut hasher);
    for source in MIGRATION_SOURCES {
        source.hash(&mut hasher);
    }
    format!("msingi_tpl_{:016x}", hasher.finish())
}

/// DDL on database names the harness generated itself (a hash or a UUID): no user input.
fn ddl(sql: String) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(sql)
}

/// The URL of `database` as the run-time role `msingi_app`.
fn runtime_url(admin_url: &str, database: &str) -> String {
    role_url(admin_url, database, "msingi_app")
}

/// The URL of `database` as `role`.
fn role_url(admin_url: &str, database: &str, role: &str) -> String {
    let mut url = url::Url::parse(&database_url(admin_url, database)).expect("a URL");
    url.set_username(role).expect("a user name");
    url.set_password(None).expect("no password");
    url.to_string()
}

/// Every migration's source, for the template's name.
const MIGRATION_SOURCES: &[&str] = &[
    include_str!("../../migrations/src/lib.rs"),
    include_str!("../../migrations/src/control/m20261122_000001_create_tenants.rs"),
    include_str!("../../migrations/src/control/m20261122_000002_create_users.rs"),
    include_str!("../../migrations/src/control/m20261122_000003_create_stores.rs"),
    include_str!("../../migrations/src/control/m20261122_000004_create_memberships.rs"),
    include_str!("../../migrations/src/control/m20261122_000005_create_outbox.rs"),
    include_str!("../../migrations/src/control/m20261122_000006_create_roles.rs"),
    include_str!("../../migrations/src/control/m20261122_000007_create_sessions.rs"),
    include_str!("../../migrations/src/control/m20261122_000008_create_user_tokens.rs"),
    include_str!("../../migrations/src/control/m20261122_000009_create_invitations.rs"),
    include_str!("../../migrations/src/control/m20261122_000010_create_api_keys.rs"),
    include_str!("../../migrations/src/control/m20261122_000011_create_audit_log.rs"),
    include_str!("../../migrations/src/control/m20261122_000012_create_tenant_modules.rs"),
    include_str!("../../migrations/src/control/m20261122_000013_enable_row_level_security.rs"),
    include_str!(
        "../../migrations/src/control/m20261201_000014_enforce_isolation_in_the_database.rs"
    ),
    include_str!("../../migrations/src/control/m20261201_000015_create_login_throttle.rs"),
    include_str!("../../migrations/src/control/m20261201_000016_create_job_ledger.rs"),
    include_str!("../../migrations/src/control/m20261201_000017_create_plans_and_subscriptions.rs"),
    include_str!("../../migrations/src/control/m20261201_000018_create_test_clock.rs"),
    include_str!("../../migrations/src/control/m20261201_000019_create_invoices.rs"),
    include_str!("../../migrations/src/control/m20261201_000020_add_billing_lifecycle.rs"),
    include_str!("../../migrations/src/control/m20261201_000021_create_payments.rs"),
    include_str!("../../migrations/src/control/m20261201_000022_add_tenant_tax_rate.rs"),
    include_str!("../../migrations/src/control/m20261201_000023_create_usage.rs"),
];

fn database_url(admin_url: &str, database: &str) -> String {
    let mut url = url::Url::parse(admin_url).expect("TEST_DATABASE_URL is a URL");
    url.set_path(database);
    url.to_string()
}
