//! Jobs that survive crashes (issue 11): a killed worker's jobs go to another within the
//! lease, effects are applied once, a job that fails for good becomes a dead letter that
//! `msingi jobs` shows, retries and discards.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use msingi::notify::email::{EmailDeps, Mailer, send_email};

use super::outbox::{context, email};
use crate::common::TestApp;

/// Queues `jobs` through the outbox in one unit of work.
async fn enqueue(app: &TestApp, jobs: &[msingi_jobs::SendEmail]) {
    let ctx = context(&app.db).await;
    let scope = app.db.write(&ctx).await.unwrap();
    for job in jobs {
        scope.enqueue(job).await.unwrap();
    }
    scope.commit_unaudited("test arrangement").await.unwrap();
}

/// The `Message-ID` of a received mail.
fn message_id(mail: &crate::smtp::ReceivedMail) -> String {
    mail.data
        .lines()
        .find_map(|l| l.strip_prefix("Message-ID: "))
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn a_killed_worker_loses_its_jobs_to_another_within_the_lease_and_no_recorded_mail_goes_twice()
 {
    const LEASE: u64 = 3;
    let lease = LEASE.to_string();
    let app = TestApp::builder()
        .env("MSINGI_IN_PROCESS_WORKERS", "false")
        .env("JOBS_LEASE_SECS", &lease)
        .slow_smtp(Duration::from_millis(250))
        .spawn()
        .await;
    let jobs: Vec<_> = (0..24).map(|i| email(&format!("Batch {i:02}"))).collect();
    enqueue(&app, &jobs).await;

    // The first worker delivers a few, then dies without a word (SIGKILL).
    let mut first = app.msingi(&["worker"]).spawn().expect("start a worker");
    let started = app
        .eventually(Duration::from_secs(20), || async {
            app.smtp.mails().len() >= 3
        })
        .await;
    assert!(started, "the first worker delivered nothing");
    // Killed mid-delivery: the next messages are on the wire, not yet accepted.
    tokio::time::sleep(Duration::from_millis(100)).await;
    first.kill().expect("SIGKILL the worker");
    first.wait().unwrap();
    let killed_at = Instant::now();
    let delivered_before = app.smtp.mails().len();
    let mut recorded = Vec::new();
    for job in &jobs {
        if app.db.job_effect_done(job.message_id).await.unwrap() {
            recorded.push(format!("<{}@", job.message_id));
        }
    }
    assert!(
        !recorded.is_empty(),
        "no delivery was recorded before the kill"
    );
    assert!(
        delivered_before < jobs.len(),
        "the batch finished before the kill"
    );

    // A second worker takes over, the dead one's running jobs included.
    let mut second = app.msingi(&["worker"]).spawn().expect("start a worker");
    let all = app
        .eventually(Duration::from_secs(LEASE + 20), || async {
            let subjects: std::collections::HashSet<String> = app
                .smtp
                .mails()
                .iter()
                .map(|m| m.subject().to_owned())
                .collect();
            subjects.len() == jobs.len()
        })
        .await;
    let took = killed_at.elapsed();
    second.kill().unwrap();
    second.wait().unwrap();
    assert!(
        all,
        "jobs were lost: {} of {} arrived",
        app.smtp.mails().len(),
        jobs.len()
    );
    assert!(
        took <= Duration::from_secs(LEASE + 8),
        "the dead worker's jobs waited {took:?} (lease {LEASE} s)"
    );
    // Every message carries its job's id. None whose delivery was recorded went out
    // again. The only repeats are messages on the wire at the kill: fully sent, but the
    // worker died before the server's reply, so it cannot know they were taken (SMTP's
    // own window, RFC 1047); the repeat carries the same Message-ID, so the far side can
    // tell. At most one per concurrent delivery.
    let mut seen: HashMap<String, usize> = HashMap::new();
    for mail in app.smtp.mails() {
        *seen.entry(message_id(&mail)).or_default() += 1;
    }
    for job in &jobs {
        assert!(
            seen.keys()
                .any(|id| id.contains(&job.message_id.to_string())),
            "no mail with the job id {}",
            job.message_id
        );
    }
    let repeated: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    for (id, _) in &repeated {
        assert!(
            !recorded.iter().any(|r| id.starts_with(r.as_str())),
            "{id} went out again although its delivery was recorded"
        );
    }
    assert!(
        repeated.len() <= <msingi_jobs::SendEmail as msingi_jobs::Job>::CONCURRENCY,
        "mails went out twice: {repeated:?} ({delivered_before} before the kill)"
    );
}

#[tokio::test]
async fn an_email_already_delivered_is_not_sent_again() {
    let app = TestApp::spawn().await;
    let config = msingi::config::Config::from_lookup(|k| match k {
        "SMTP_URL" => Some(app.smtp.url.clone()),
        "MSINGI_DATA_DIR" => Some(app.data_dir.display().to_string()),
        _ => None,
    })
    .unwrap();
    let deps = EmailDeps {
        mailer: Mailer::from_config(&config).unwrap(),
        db: app.db.clone(),
    };
    let job = email("Once only");
    send_email(job.clone(), &deps).await.unwrap();
    // Delivered again (the queue never heard it was done): found in the ledger.
    send_email(job.clone(), &deps).await.unwrap();
    let once: Vec<_> = app
        .smtp
        .mails()
        .into_iter()
        .filter(|m| m.subject() == "Once only")
        .collect();
    assert_eq!(once.len(), 1, "the same job's mail went out twice");
    assert!(message_id(&once[0]).contains(&job.message_id.to_string()));
}

#[tokio::test]
async fn a_poison_job_becomes_a_dead_letter_without_blocking_its_queue_and_is_operable() {
    let app = TestApp::spawn().await;
    let mut poison = email("Poison");
    poison.to = "not an address".into();
    enqueue(&app, &[poison.clone(), email("After the poison")]).await;
    // The queue goes on past it...
    app.smtp
        .wait_for("wanjiru@example.com", "After the poison")
        .await;
    // ...and the poison job is filed as a dead letter, with its error, at once (no retry
    // mends a bad address).
    let filed = app
        .eventually(Duration::from_secs(10), || async {
            !app.db.dead_letters(false).await.unwrap().is_empty()
        })
        .await;
    assert!(filed, "the poison job was not dead-lettered");
    let letters = app.db.dead_letters(false).await.unwrap();
    assert_eq!(letters.len(), 1);
    let letter = &letters[0];
    assert_eq!(letter.job_id, poison.message_id);
    assert_eq!(letter.queue, "emails");
    assert!(
        letter.error.contains("not an email address"),
        "{}",
        letter.error
    );
    assert_eq!(letter.payload["to"], "not an address");

    // `/metrics` counts it per queue...
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("msingi_jobs_dead{queue=\"emails\"} 1"),
        "{metrics}"
    );
    // ...and `msingi jobs` shows it, per queue and in the list.
    let listed = app.run_msingi(&["jobs", "list", "--json"]).await.unwrap();
    let queues: serde_json::Value = serde_json::from_str(&listed).unwrap();
    let emails = queues
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["queue"] == "emails")
        .expect("the emails queue is listed");
    assert_eq!(emails["dead"], 1, "{listed}");
    assert_eq!(emails["pending"], 0, "{listed}");
    let table = app.run_msingi(&["jobs"]).await.unwrap();
    assert!(table.contains("emails"), "{table}");
    let dead = app.run_msingi(&["jobs", "dead"]).await.unwrap();
    assert!(dead.contains(&letter.id.to_string()), "{dead}");
    let shown = app
        .run_msingi(&["jobs", "show", &letter.id.to_string()])
        .await
        .unwrap();
    assert!(shown.contains("not an address"), "{shown}");

    // Retried: queued again with the same job id; it fails again and is filed anew.
    let retried = app
        .run_msingi(&["jobs", "retry", &letter.id.to_string()])
        .await
        .unwrap();
    assert!(retried.contains("queued again"), "{retried}");
    let again = app
        .run_msingi(&["jobs", "retry", &letter.id.to_string()])
        .await
        .unwrap_err();
    assert!(again.contains("already retried"), "{again}");
    let refiled = app
        .eventually(Duration::from_secs(10), || async {
            app.db
                .dead_letters(false)
                .await
                .unwrap()
                .iter()
                .any(|l| l.id != letter.id && l.job_id == poison.message_id)
        })
        .await;
    assert!(refiled, "the retried job did not run again");
    let second = app.db.dead_letters(false).await.unwrap()[0].clone();

    // Discarded: gone from the open letters, kept in the history.
    app.run_msingi(&["jobs", "discard", &second.id.to_string()])
        .await
        .unwrap();
    assert!(app.db.dead_letters(false).await.unwrap().is_empty());
    let history = app.db.dead_letters(true).await.unwrap();
    let resolutions: Vec<_> = history
        .iter()
        .map(|l| l.resolution.clone().unwrap_or_default())
        .collect();
    assert_eq!(resolutions, ["discarded", "retried"]);
    let unknown = app
        .run_msingi(&["jobs", "show", &uuid::Uuid::new_v4().to_string()])
        .await
        .unwrap_err();
    assert!(unknown.contains("no dead letter"), "{unknown}");
}

#[tokio::test]
async fn msingi_jobs_counts_what_waits_in_a_queue_no_worker_serves() {
    let app = TestApp::builder()
        .env("MSINGI_IN_PROCESS_WORKERS", "false")
        .spawn()
        .await;
    enqueue(&app, &[email("One"), email("Two"), email("Three")]).await;
    let moved = msingi::worker::drain_once(&app.db, app.jobs_backend())
        .await
        .unwrap();
    assert_eq!(moved, 3);
    let listed = app.run_msingi(&["jobs", "list", "--json"]).await.unwrap();
    let queues: serde_json::Value = serde_json::from_str(&listed).unwrap();
    let emails = &queues.as_array().unwrap()[0];
    assert_eq!(emails["queue"], "emails", "{listed}");
    assert_eq!(emails["pending"], 3, "{listed}");
    assert_eq!(emails["running"], 0, "{listed}");
    assert_eq!(emails["dead"], 0, "{listed}");
    assert!(emails["oldestPendingSecs"].as_u64().is_some(), "{listed}");
    assert_eq!(
        emails["effect"], "once, a rare repeat carrying the job id",
        "{listed}"
    );
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("msingi_jobs_pending{queue=\"emails\"} 3"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_worker_stopped_gracefully_hands_its_unfinished_jobs_back_at_once() {
    // A lease far longer than the test: only the hand-back can explain a quick resume.
    let app = TestApp::builder()
        .env("MSINGI_IN_PROCESS_WORKERS", "false")
        .env("JOBS_LEASE_SECS", "120")
        .env("SHUTDOWN_TIMEOUT_SECS", "1")
        .slow_smtp(Duration::from_millis(2500))
        .spawn()
        .await;
    enqueue(&app, &[email("Handed back")]).await;
    let mut first = app.msingi(&["worker"]).spawn().expect("start a worker");
    let sending = app
        .eventually(Duration::from_secs(20), || async {
            app.smtp.transactions_started() > 0
        })
        .await;
    assert!(sending, "the first worker never started the job");
    // SIGTERM: the job gets SHUTDOWN_TIMEOUT_SECS (1 s) of the 2.5 s it needs, then goes
    // back to the queue.
    let terminated = std::process::Command::new("kill")
        .args(["-TERM", &first.id().to_string()])
        .status()
        .unwrap();
    assert!(terminated.success());
    let status = first.wait().unwrap();
    assert!(
        status.success(),
        "the worker did not stop cleanly: {status}"
    );
    let stopped_at = Instant::now();
    let mut second = app.msingi(&["worker"]).spawn().expect("start a worker");
    // The first worker's message is cut off mid-transaction; the second worker sends it
    // anew (a second SMTP transaction), long before any lease could run out.
    let resent = app
        .eventually(Duration::from_secs(30), || async {
            app.smtp.transactions_started() >= 2
        })
        .await;
    let took = stopped_at.elapsed();
    second.kill().unwrap();
    second.wait().unwrap();
    assert!(resent, "the handed-back job never ran again");
    assert!(
        took < Duration::from_secs(20),
        "the job waited {took:?}: it was not handed back, only reclaimed"
    );
}

/// Attempts of [`Flaky`] so far (one test uses it).
static FLAKY_ATTEMPTS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// A job of the test that always fails the way a retry might mend (a mail server down).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Flaky {
    job_id: uuid::Uuid,
}

impl msingi_jobs::Job for Flaky {
    const NAME: &'static str = "test_flaky";
    const QUEUE: &'static str = "test_flaky";
    const EFFECT: msingi_jobs::Effect = msingi_jobs::Effect::Idempotent;
    const RETRIES: usize = 2;
    const MIN_BACKOFF: Duration = Duration::from_millis(20);
    const MAX_BACKOFF: Duration = Duration::from_millis(50);
    fn id(&self) -> uuid::Uuid {
        self.job_id
    }
    fn tenant(&self) -> Option<uuid::Uuid> {
        None
    }
}

impl msingi::worker::Handled for Flaky {
    type Deps = ();
    fn deps(_worker: &msingi::worker::WorkerDeps) {}
    async fn handle(self, _deps: ()) -> Result<(), apalis::prelude::BoxDynError> {
        let attempt = FLAKY_ATTEMPTS.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        Err(format!("the far side is down (attempt {attempt})").into())
    }
}

#[tokio::test]
async fn a_job_failing_every_attempt_is_retried_with_backoff_then_dead_lettered() {
    let app = TestApp::spawn().await;
    let job = Flaky {
        job_id: uuid::Uuid::new_v4(),
    };
    app.jobs_backend()
        .storage::<Flaky>()
        .push(job.clone())
        .await
        .unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let deps = app.worker_deps();
    let worker = tokio::spawn({
        let shutdown = shutdown.clone();
        async move { msingi::worker::queue_worker::<Flaky>(&deps, shutdown).await }
    });
    let filed = app
        .eventually(Duration::from_secs(20), || async {
            !app.db.dead_letters(false).await.unwrap().is_empty()
        })
        .await;
    shutdown.cancel();
    worker.await.unwrap().unwrap();
    assert!(filed, "the failing job was never dead-lettered");
    let letters = app.db.dead_letters(false).await.unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].job_id, job.job_id);
    assert_eq!(letters[0].queue, "test_flaky");
    // The first attempt and its two retries, then no more.
    assert_eq!(letters[0].attempts, 3, "{letters:?}");
    assert!(
        letters[0].error.contains("attempt 3"),
        "{}",
        letters[0].error
    );
    assert_eq!(
        FLAKY_ATTEMPTS.load(std::sync::atomic::Ordering::SeqCst),
        3,
        "retried past its policy"
    );
}

#[tokio::test]
async fn two_workers_share_a_queue_without_running_any_job_twice() {
    let app = TestApp::builder()
        .env("MSINGI_IN_PROCESS_WORKERS", "false")
        .slow_smtp(Duration::from_millis(100))
        .spawn()
        .await;
    let jobs: Vec<_> = (0..30).map(|i| email(&format!("Shared {i:02}"))).collect();
    enqueue(&app, &jobs).await;
    let mut workers: Vec<_> = (0..2)
        .map(|_| app.msingi(&["worker"]).spawn().expect("start a worker"))
        .collect();
    let done = app
        .eventually(Duration::from_secs(30), || async {
            app.smtp.mails().len() >= jobs.len()
        })
        .await;
    // A moment for a duplicate, if there were one, to arrive too.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for worker in &mut workers {
        worker.kill().unwrap();
        worker.wait().unwrap();
    }
    assert!(done, "{} of {} arrived", app.smtp.mails().len(), jobs.len());
    assert_eq!(app.smtp.mails().len(), jobs.len(), "a job ran twice");
    assert_eq!(
        app.smtp.transactions_started(),
        jobs.len(),
        "a job was started twice"
    );
}

#[tokio::test]
async fn a_worker_whose_database_connections_are_cut_mid_job_loses_nothing() {
    let Some(admin) = crate::common::postgres_url() else {
        eprintln!("skipped: cutting connections is a PostgreSQL test (set TEST_DATABASE_URL)");
        return;
    };
    let app = TestApp::builder()
        .env("MSINGI_IN_PROCESS_WORKERS", "false")
        .slow_smtp(Duration::from_millis(300))
        .spawn()
        .await;
    let jobs: Vec<_> = (0..12).map(|i| email(&format!("Cut {i:02}"))).collect();
    enqueue(&app, &jobs).await;
    let mut worker = app.msingi(&["worker"]).spawn().expect("start a worker");
    let started = app
        .eventually(Duration::from_secs(20), || async {
            app.smtp.mails().len() >= 2
        })
        .await;
    assert!(started, "the worker delivered nothing");
    // Every connection to the application database but this one, the worker's included.
    use sqlx::Connection as _;
    let database = url::Url::parse(&app.database_url).unwrap().path()[1..].to_owned();
    let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
    let cut: Vec<(bool,)> = sqlx::query_as(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = $1 AND pid <> pg_backend_pid() AND backend_type = 'client backend'",
    )
    .bind(&database)
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert!(!cut.is_empty(), "no connection was cut");
    let all = app
        .eventually(Duration::from_secs(40), || async {
            let subjects: std::collections::HashSet<String> = app
                .smtp
                .mails()
                .iter()
                .map(|m| m.subject().to_owned())
                .collect();
            subjects.len() == jobs.len()
        })
        .await;
    worker.kill().unwrap();
    worker.wait().unwrap();
    assert!(
        all,
        "jobs were lost after the cut: {} of {} arrived",
        app.smtp.mails().len(),
        jobs.len()
    );
}
