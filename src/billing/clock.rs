//! The test clock, as platform admins move it (`advanceClock`).

use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};

use crate::audit::AuditEntry;
use crate::auth::Caller;
use crate::db::Access;
use crate::error::{AppError, AppResult};
use crate::services::Services;

/// The longest single move: ten years.
const MAX_SECONDS: i64 = 10 * 366 * 86_400;
/// How long `advanceClock` waits for the work that fell due.
const SETTLE_TIMEOUT: StdDuration = StdDuration::from_secs(60);

/// Moves the test clock forward by `seconds` (every process on the database follows),
/// then answers once the work that fell due has run: the outbox is empty and no queue of
/// the catalogue has a job waiting or running. After 60 s it fails, naming what is still
/// busy. Audited in the platform's chain. [PA]
pub async fn advance(
    services: &Services,
    caller: &Caller,
    seconds: i64,
) -> AppResult<DateTime<Utc>> {
    let admin = caller.platform_admin()?;
    let Some(test) = &services.test_clock else {
        return Err(AppError::Forbidden {
            message: "the test clock is off: start the server with MSINGI_TEST_CLOCK=true".into(),
            reason: Some("TEST_CLOCK_OFF"),
        });
    };
    if !(1..=MAX_SECONDS).contains(&seconds) {
        return Err(AppError::bad_input(
            "seconds",
            format!("between 1 and {MAX_SECONDS} (ten years)"),
        ));
    }
    let before = services.now();
    let target = before + Duration::seconds(seconds);
    let deadline = tokio::time::Instant::now() + SETTLE_TIMEOUT;
    // The clock stops at every moment something of billing falls due on the way (a period
    // end, a dunning step, the end of grace), so a long move lives each step in order, as
    // the time passing would: a year unpaid goes past due, then suspended, then canceled.
    loop {
        let now = services.now();
        let next = services
            .db
            .platform_read(Access::Task(crate::db::SystemTask::BillingSweep))
            .await?
            .next_billing_event(now, super::dunning::cancel_after(&services.config.billing))
            .await?;
        let stop = next.filter(|at| *at < target).unwrap_or(target);
        let offset = services.db.advance_test_clock(stop - now).await?;
        test.set_offset(offset);
        // What fell due, then whatever that queues, until nothing more is due.
        loop {
            if let Some(mpesa) = &services.mpesa {
                let links = super::invoices::Links::of(services);
                crate::payments::reconcile::sweep(
                    &services.db,
                    mpesa,
                    &services.config.mpesa,
                    &links,
                )
                .await?;
            }
            crate::rights::retention::sweep(&services.db, &services.config.rights).await?;
            let queued = super::sweep(&services.db, &services.config.billing).await?;
            settle(services, deadline).await?;
            if queued == 0 {
                break;
            }
        }
        if stop >= target {
            break;
        }
    }
    let now = services.now();
    let tx = services
        .db
        .platform_write(Access::Admin(&admin, "advance the test clock"))
        .await?;
    let entry = AuditEntry::new("platform.clock.advance", "clock", uuid::Uuid::nil())
        .with_changes(serde_json::json!({ "seconds": seconds, "from": before, "to": now }));
    tx.audit(None, &caller.actor(), entry).await?;
    tx.commit().await?;
    Ok(now)
}

/// Waits until the outbox is empty and every queue of the catalogue is idle.
async fn settle(services: &Services, deadline: tokio::time::Instant) -> AppResult<()> {
    loop {
        let mut busy = Vec::new();
        let backlog = services.db.outbox_backlog().await?;
        if backlog > 0 {
            busy.push(format!("outbox ({backlog} not yet queued)"));
        }
        for entry in msingi_jobs::CATALOGUE {
            let stats = services
                .jobs
                .queue_stats(entry.queue)
                .await
                .map_err(AppError::internal)?;
            if stats.pending + stats.running > 0 {
                busy.push(format!(
                    "{} ({} waiting, {} running)",
                    entry.queue, stats.pending, stats.running
                ));
            }
        }
        let webhooks = services.db.due_webhook_deliveries(services.now()).await?;
        if webhooks > 0 {
            busy.push(format!("webhooks ({webhooks} deliveries due or in flight)"));
        }
        if busy.is_empty() {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(AppError::Conflict(format!(
                "the clock moved, but after {} s these still have work: {} (are workers running?)",
                SETTLE_TIMEOUT.as_secs(),
                busy.join(", ")
            )));
        }
        tokio::time::sleep(StdDuration::from_millis(50)).await;
    }
}
