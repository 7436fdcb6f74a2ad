//! What the in-process benchmarks share: the configuration (SQLite in a temporary
//! directory, or `BENCH_DATABASE_URL`), a migrated database and the services.

use std::collections::HashMap;
use std::sync::Arc;

use msingi::auth::keys::JwtKeys;
use msingi::auth::throttle::Throttle;
use msingi::clock::SystemClock;
use msingi::config::Config;
use msingi::db::Db;
use msingi::graphql::RequestMeta;
use msingi::services::Services;

/// Services on a fresh database, configured by `extra` on top of the defaults; the
/// directory holds the embedded files and must outlive them.
pub async fn services(extra: &[(&str, &str)]) -> anyhow::Result<(Services, tempfile::TempDir)> {
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
    for (k, v) in extra {
        env.insert((*k).to_owned(), (*v).to_owned());
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
    Ok((services, dir))
}

/// The request the benchmarks act as.
pub fn meta() -> RequestMeta {
    RequestMeta {
        request_id: "bench".into(),
        server_request_id: "bench".into(),
        client_request_id: None,
        client_ip: None,
        user_agent: None,
    }
}
