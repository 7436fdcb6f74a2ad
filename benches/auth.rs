//! Authentication costs, measured in-process (release build):
//! - password hashing and verification (argon2id, OWASP parameters): what a login costs;
//! - access-token verification alone;
//! - the whole per-request authentication: token verification plus the session, user,
//!   membership and permission lookups that turn a token into a caller.
//!
//! `cargo bench --bench auth` (SQLite in a temporary directory), or with
//! `BENCH_DATABASE_URL=postgres://…` against an empty PostgreSQL database.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use msingi::auth::keys::JwtKeys;
use msingi::auth::throttle::Throttle;
use msingi::auth::{Caller, Credentials};
use msingi::clock::SystemClock;
use msingi::config::Config;
use msingi::db::Db;
use msingi::graphql::RequestMeta;
use msingi::identity::{password, registration};
use msingi::services::Services;

fn report(name: &str, runs: u32, total: Duration) {
    let per = total / runs;
    println!(
        "{name:<58} {:>10.1} µs/op   ({runs} runs)",
        per.as_secs_f64() * 1e6
    );
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir()?;
    let mut env = HashMap::new();
    env.insert(
        "MSINGI_DATA_DIR".to_owned(),
        dir.path().display().to_string(),
    );
    if let Ok(url) = std::env::var("BENCH_DATABASE_URL") {
        env.insert("DATABASE_URL".to_owned(), url);
    }
    let config =
        Config::from_lookup(|k| env.get(k).cloned()).map_err(|e| anyhow::anyhow!("{e}"))?;
    Db::migrate(
        &config.database.migration_url,
        &config.database.url,
        &config.database.platform_url,
    )
    .await?;
    let clock = Arc::new(SystemClock);
    let db = Db::connect(
        &config.database.url,
        &config.database.platform_url,
        clock.clone(),
    )
    .await?;
    let keys = JwtKeys::load_or_generate(
        &config.auth.jwt_signing_key_file,
        true,
        &[],
        &config.http.public_url,
    )?;
    let jobs = msingi_jobs::JobBackend::sqlite(
        &format!("sqlite://{}/jobs.db?mode=rwc", config.data_dir.display()),
        "bench",
    )
    .await?;
    let services = Services {
        jobs,
        test_clock: None,
        mpesa: None,
        daraja_simulator: None,
        api_calls: Default::default(),
        data_keys: msingi::secrets::DataKeys::load(&config.data_key)?,
        db: db.clone(),
        keys: Arc::new(keys),
        throttle: Throttle::new(None, None, "bench", clock, config.auth.login_lockout).await?,
        access: msingi::tenancy::access::AccessCache::new(None, None, "bench").await?,
        config: Arc::new(config),
    };
    let meta = RequestMeta {
        request_id: "bench".into(),
        server_request_id: "bench".into(),
        client_request_id: None,
        client_ip: None,
        user_agent: None,
    };

    println!(
        "argon2id m={} KiB, t={}, p={}",
        password::MEMORY_KIB,
        password::ITERATIONS,
        password::PARALLELISM
    );
    let runs = 20;
    let started = Instant::now();
    let mut hash = String::new();
    for _ in 0..runs {
        hash = password::hash("correct horse battery")
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    report(
        "password hash (registration, reset)",
        runs,
        started.elapsed(),
    );
    let started = Instant::now();
    for _ in 0..runs {
        password::verify("correct horse battery", &hash)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    report("password verify (login)", runs, started.elapsed());

    let email = format!("bench-{}@example.com", uuid::Uuid::new_v4().simple());
    let tokens = registration::register(
        &services,
        &Caller::anonymous(meta.clone()),
        registration::RegisterInput {
            email,
            password: "correct horse battery".into(),
            name: "Bench".into(),
            phone: None,
            tenant_name: format!("Bench {}", uuid::Uuid::new_v4().simple()),
            tenant_slug: None,
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;

    let runs = 20_000;
    let now = chrono::Utc::now();
    let started = Instant::now();
    for _ in 0..runs {
        services
            .keys
            .verify(&tokens.access_token, now)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    report("access token verification (EdDSA)", runs, started.elapsed());

    let credentials = Credentials {
        bearer: Some(tokens.access_token.clone()),
        tenant: None,
        store: None,
        host: None,
    };
    let runs = 2_000;
    let started = Instant::now();
    for _ in 0..runs {
        let caller = Caller::authenticate(&services, meta.clone(), credentials.clone())
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        assert!(caller.tenant().is_ok());
    }
    report(
        "per-request authentication (token + context lookup)",
        runs,
        started.elapsed(),
    );
    Ok(())
}
