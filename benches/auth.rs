//! Authentication costs, measured in-process (release build):
//! - password hashing and verification (argon2id, OWASP parameters): what a login costs;
//! - access-token verification alone;
//! - the whole per-request authentication: token verification plus the session, user,
//!   membership and permission lookups that turn a token into a caller.
//!
//! `cargo bench --bench auth` (SQLite in a temporary directory), or with
//! `BENCH_DATABASE_URL=postgres://…` against an empty PostgreSQL database.

mod common;

use std::time::{Duration, Instant};

use msingi::auth::{Caller, Credentials};
use msingi::identity::{password, registration};

fn report(name: &str, runs: u32, total: Duration) {
    let per = total / runs;
    println!(
        "{name:<58} {:>10.1} µs/op   ({runs} runs)",
        per.as_secs_f64() * 1e6
    );
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let (services, _dir) = common::services(&[]).await?;
    let meta = common::meta();

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
