//! Webhook deliveries end to end, in-process (release build): 100 endpoints (5 tenants ×
//! 20, the per-tenant maximum) on a local HTTP receiver, events committed through
//! `webhooks::emit` in units of work as the product writes them, one dispatcher sending.
//!
//! - burst: `BENCH_EVENTS` (default 40) events per tenant committed at once → deliveries/s
//!   until the last arrives, and commit-to-arrival latency;
//! - paced: `BENCH_RATE` (default 10) events/s across the tenants for 10 s (×20 endpoints
//!   each) → commit-to-arrival p50/p99 when the dispatcher keeps up.
//!
//! `cargo bench --bench webhooks` (SQLite in a temporary directory), or with
//! `BENCH_DATABASE_URL=postgres://…` against an empty PostgreSQL database.

// A benchmark, like the tests: a poisoned lock or a failed setup ends the run.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use msingi::auth::Caller;
use msingi::identity::registration;
use msingi::ids::TenantId;
use msingi::webhooks::{self, dispatch::Dispatcher, signing};

const TENANTS: usize = 5;
const ENDPOINTS_PER_TENANT: usize = 20;

/// When each (tenant, seq) event was committed, and when each delivery arrived.
#[derive(Default)]
struct Clock {
    committed: HashMap<(String, u64), Instant>,
    arrived: Vec<((String, u64), Instant)>,
}

type Shared = Arc<Mutex<Clock>>;

async fn receive(State(clock): State<Shared>, body: String) -> &'static str {
    let at = Instant::now();
    let event: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    let key = (
        event["tenantId"].as_str().unwrap_or_default().to_owned(),
        event["data"]["seq"].as_u64().unwrap_or_default(),
    );
    clock.lock().unwrap().arrived.push((key, at));
    "ok"
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Commits event `seq` of `tenant` (one unit of work) and notes when.
async fn commit(
    services: &msingi::services::Services,
    tenant: TenantId,
    seq: u64,
    clock: &Shared,
) -> anyhow::Result<()> {
    let ctx = msingi::worker::context_for(&services.db, tenant, "bench").await?;
    let scope = services.db.write(&ctx).await?;
    webhooks::emit(
        &scope,
        "invoice.created",
        &format!("bench-{seq}"),
        serde_json::json!({ "seq": seq }),
    )
    .await?;
    scope.commit_unaudited("bench event").await?;
    clock
        .lock()
        .unwrap()
        .committed
        .insert((tenant.to_string(), seq), Instant::now());
    Ok(())
}

/// Waits until `n` deliveries arrived (or 300 s); returns the latencies of those whose
/// seq is in `seqs`, sorted, and the span from the first commit to the last arrival.
async fn drained(
    clock: &Shared,
    n: usize,
    seqs: std::ops::Range<u64>,
) -> (Vec<Duration>, Duration) {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let done = clock.lock().unwrap().arrived.len() >= n;
        if done || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let clock = clock.lock().unwrap();
    let mut latencies = Vec::new();
    let mut first = None::<Instant>;
    let mut last = None::<Instant>;
    for (key, at) in &clock.arrived {
        if !seqs.contains(&key.1) {
            continue;
        }
        if let Some(committed) = clock.committed.get(key) {
            latencies.push(at.saturating_duration_since(*committed));
            first = Some(first.map_or(*committed, |f| f.min(*committed)));
            last = Some(last.map_or(*at, |l| l.max(*at)));
        }
    }
    latencies.sort();
    let span = match (first, last) {
        (Some(f), Some(l)) => l - f,
        _ => Duration::ZERO,
    };
    (latencies, span)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let (services, _dir) = common::services(&[("WEBHOOK_ALLOW_PRIVATE_URLS", "true")]).await?;
    let clock: Shared = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let receiver = axum::Router::new()
        .route("/hook/{n}", axum::routing::post(receive))
        .with_state(clock.clone());
    tokio::spawn(async move { axum::serve(listener, receiver).await });

    let meta = common::meta();
    let mut tenants = Vec::new();
    for t in 0..TENANTS {
        let tokens = registration::register(
            &services,
            &Caller::anonymous(meta.clone()),
            registration::RegisterInput {
                email: format!("bench-{t}-{}@example.com", uuid::Uuid::new_v4().simple()),
                password: "correct horse battery".into(),
                name: "Bench".into(),
                phone: None,
                tenant_name: format!("Bench {t} {}", uuid::Uuid::new_v4().simple()),
                tenant_slug: None,
            },
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        let tenant = tokens.active_tenant.expect("a new owner's tenant").0.id;
        let ctx = msingi::worker::context_for(&services.db, tenant, "bench").await?;
        let scope = services.db.write(&ctx).await?;
        for e in 0..ENDPOINTS_PER_TENANT {
            let sealed = services.data_keys.seal(&signing::new_secret())?;
            scope
                .insert_webhook_endpoint(
                    &format!("{base}/hook/{t}-{e}"),
                    &["invoice.created".to_owned()],
                    &sealed,
                )
                .await?;
        }
        scope.commit_unaudited("bench endpoints").await?;
        tenants.push(tenant);
    }
    let dispatcher = Dispatcher::new(
        services.db.clone(),
        services.data_keys.clone(),
        services.config.webhooks.clone(),
        "http://127.0.0.1",
    )?;
    let shutdown = tokio_util::sync::CancellationToken::new();
    let running = tokio::spawn(dispatcher.run(shutdown.clone()));
    let backend = if services.config.database.url.starts_with("postgres") {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    let endpoints = TENANTS * ENDPOINTS_PER_TENANT;
    println!(
        "{backend}: {endpoints} endpoints ({TENANTS} tenants × {ENDPOINTS_PER_TENANT}), \
         per-endpoint concurrency {}",
        services.config.webhooks.endpoint_concurrency
    );

    // Burst: every event committed at once, the dispatcher drains the backlog.
    let events = env_or("BENCH_EVENTS", 40);
    for seq in 0..events {
        for tenant in &tenants {
            commit(&services, *tenant, seq, &clock).await?;
        }
    }
    let n = usize::try_from(events)? * endpoints;
    let (latencies, span) = drained(&clock, n, 0..events).await;
    println!(
        "burst: {} deliveries of {} events in {:.2} s = {:.0} deliveries/s; commit to arrival p50 {:.0} ms, p99 {:.0} ms",
        latencies.len(),
        events * TENANTS as u64,
        span.as_secs_f64(),
        latencies.len() as f64 / span.as_secs_f64().max(1e-9),
        ms(percentile(&latencies, 0.5)),
        ms(percentile(&latencies, 0.99)),
    );

    // Paced: a steady rate the dispatcher keeps up with.
    let rate = env_or("BENCH_RATE", 10).max(1);
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let paced = rate * 10;
    let mut tick = tokio::time::interval(interval);
    for i in 0..paced {
        tick.tick().await;
        let tenant = tenants[usize::try_from(i)? % TENANTS];
        commit(&services, tenant, events + i, &clock).await?;
    }
    let total = n + usize::try_from(paced)? * ENDPOINTS_PER_TENANT;
    let (latencies, span) = drained(&clock, total, events..events + paced).await;
    println!(
        "paced: {rate} events/s × {ENDPOINTS_PER_TENANT} endpoints for {:.1} s: {} deliveries; commit to arrival p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        span.as_secs_f64(),
        latencies.len(),
        ms(percentile(&latencies, 0.5)),
        ms(percentile(&latencies, 0.99)),
        ms(latencies.last().copied().unwrap_or_default()),
    );
    let arrived = clock.lock().unwrap().arrived.len();
    println!("deliveries received: {arrived} of {total} expected (a repeat would show as more)");
    shutdown.cancel();
    let _ = running.await;
    Ok(())
}
