//! Jobs: the outbox carries committed work into the queue, workers run it.

use std::time::Duration;

use msingi::db::Db;
use msingi::identity::{Email, NewUser};
use msingi::tenancy::{NewTenant, Principal, Slug, TenantContext};
use msingi_jobs::SendEmail;

use crate::common::TestApp;

pub(super) async fn context(db: &Db) -> TenantContext {
    let tx = db
        .platform_write(msingi::db::Access::Task(
            msingi::db::SystemTask::CreateTenant,
        ))
        .await
        .unwrap();
    let tenant = tx
        .insert_tenant(NewTenant {
            slug: Slug::parse("duka-jobs", "slug").unwrap(),
            name: "Jobs".into(),
        })
        .await
        .unwrap();
    let user = tx
        .insert_user(NewUser {
            email: Email::parse("owner@jobs.example", "email").unwrap(),
            name: "Owner".into(),
            phone: None,
            password_hash: None,
            is_platform_admin: false,
        })
        .await
        .unwrap();
    tx.insert_active_membership(tenant.id, user.id)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let principal = Principal::User {
        user_id: user.id,
        platform_admin: false,
    };
    TenantContext::for_member(db, principal, tenant.id, None)
        .await
        .unwrap()
}

pub(super) fn email(subject: &str) -> SendEmail {
    SendEmail {
        message_id: uuid::Uuid::new_v4(),
        tenant_id: None,
        to: "wanjiru@example.com".into(),
        subject: subject.into(),
        text: "Karibu! Plain text part.".into(),
        html: "<p>Karibu! <b>HTML</b> part.</p>".into(),
    }
}

#[tokio::test]
async fn a_committed_job_reaches_its_worker_and_the_email_goes_out_over_smtp() {
    let app = TestApp::spawn().await;
    let ctx = context(&app.db).await;
    let scope = app.db.write(&ctx).await.unwrap();
    scope.enqueue(&email("Welcome to Msingi")).await.unwrap();
    scope.commit_unaudited("test arrangement").await.unwrap();

    let mail = app
        .smtp
        .wait_for("wanjiru@example.com", "Welcome to Msingi")
        .await;
    assert!(
        mail.data.contains("text/plain") && mail.data.contains("text/html"),
        "{}",
        mail.data
    );
    assert!(mail.data.contains("Karibu! Plain text part."));
    assert_eq!(app.db.outbox_backlog().await.unwrap(), 0);
}

#[tokio::test]
async fn without_smtp_the_email_is_written_to_the_outbox_directory() {
    let app = TestApp::builder().env("SMTP_URL", "").spawn().await;
    let ctx = context(&app.db).await;
    let scope = app.db.write(&ctx).await.unwrap();
    scope.enqueue(&email("Welcome to Msingi")).await.unwrap();
    scope.commit_unaudited("test arrangement").await.unwrap();

    let delivered = app
        .eventually(Duration::from_secs(15), || async {
            !app.sent_emails().is_empty()
        })
        .await;
    assert!(
        delivered,
        "no email within 15 s (queue backend: {})",
        app.queue_backend
    );
    let sent = app.sent_emails();
    assert_eq!(sent.len(), 1);
    let eml = &sent[0];
    assert!(eml.contains("Subject: Welcome to Msingi"), "{eml}");
    assert!(eml.contains("To: wanjiru@example.com"), "{eml}");
    assert!(
        eml.contains("text/plain") && eml.contains("text/html"),
        "{eml}"
    );
    assert!(app.smtp.mails().is_empty());
}

#[tokio::test]
async fn a_job_written_in_a_rolled_back_unit_of_work_never_leaves() {
    // No worker drains, so the outbox shows exactly what was committed.
    let app = TestApp::builder()
        .env("MSINGI_IN_PROCESS_WORKERS", "false")
        .spawn()
        .await;
    let ctx = context(&app.db).await;
    let scope = app.db.write(&ctx).await.unwrap();
    scope.enqueue(&email("Never sent")).await.unwrap();
    drop(scope);
    assert_eq!(app.db.outbox_backlog().await.unwrap(), 0, "rolled back");

    let scope = app.db.write(&ctx).await.unwrap();
    scope.enqueue(&email("Sent")).await.unwrap();
    scope.commit_unaudited("test arrangement").await.unwrap();
    assert_eq!(app.db.outbox_backlog().await.unwrap(), 1);

    let mut queued = Vec::new();
    let moved = app
        .db
        .drain_outbox(10, |job| {
            queued.push(
                job.payload["subject"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            );
            async { Ok(()) }
        })
        .await
        .unwrap();
    assert_eq!(moved, 1);
    assert_eq!(queued, ["Sent"]);
}

#[tokio::test]
async fn jobs_wait_in_the_outbox_while_no_worker_runs_and_leave_when_drained() {
    let mut app = TestApp::builder()
        .env("MSINGI_IN_PROCESS_WORKERS", "false")
        .spawn()
        .await;
    let ctx = context(&app.db).await;
    let scope = app.db.write(&ctx).await.unwrap();
    for i in 0..3 {
        scope.enqueue(&email(&format!("Queued {i}"))).await.unwrap();
    }
    scope.commit_unaudited("test arrangement").await.unwrap();
    assert_eq!(
        app.db.outbox_backlog().await.unwrap(),
        3,
        "nothing drains without a worker"
    );

    let moved = msingi::worker::drain_once(&app.db, app.jobs_backend())
        .await
        .unwrap();
    assert_eq!(moved, 3);
    assert_eq!(app.db.outbox_backlog().await.unwrap(), 0);
    assert_eq!(
        msingi::worker::drain_once(&app.db, app.jobs_backend())
            .await
            .unwrap(),
        0
    );
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_job_running_at_shutdown_finishes_before_the_server_stops() {
    let mut app = TestApp::builder()
        .slow_smtp(Duration::from_millis(1500))
        .spawn()
        .await;
    let ctx = context(&app.db).await;
    let scope = app.db.write(&ctx).await.unwrap();
    scope.enqueue(&email("In flight")).await.unwrap();
    scope.commit_unaudited("test arrangement").await.unwrap();

    // Wait until the worker is talking to the (slow) mail server, then stop.
    let started = app
        .eventually(Duration::from_secs(15), || async {
            app.smtp.transactions_started() > 0
        })
        .await;
    assert!(started, "the job never started");
    assert!(
        app.smtp.mails().is_empty(),
        "the slow server accepted too early"
    );
    app.stop().await.expect("a clean shutdown");
    let mails = app.smtp.mails();
    assert_eq!(mails.len(), 1, "the running job was cut off by shutdown");
    assert_eq!(mails[0].subject(), "In flight");
}

/// A tenant job of the test: creates a store in its tenant.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct OpenStore {
    job_id: uuid::Uuid,
    tenant_id: msingi::tenancy::TenantId,
    name: String,
}

impl OpenStore {
    fn new(tenant_id: msingi::tenancy::TenantId, name: &str) -> Self {
        Self {
            job_id: uuid::Uuid::new_v4(),
            tenant_id,
            name: name.into(),
        }
    }
}

impl msingi_jobs::Job for OpenStore {
    const NAME: &'static str = "test_open_store";
    const QUEUE: &'static str = "test_stores";
    const EFFECT: msingi_jobs::Effect = msingi_jobs::Effect::Once;
    fn id(&self) -> uuid::Uuid {
        self.job_id
    }
    fn tenant(&self) -> Option<uuid::Uuid> {
        Some(self.tenant_id.into_uuid())
    }
}

impl msingi::worker::TenantJob for OpenStore {
    type Deps = ();
    fn acts_in(&self) -> msingi::tenancy::TenantId {
        self.tenant_id
    }
    async fn run(
        self,
        scope: msingi::db::TenantScope,
        _deps: (),
    ) -> Result<(), apalis::prelude::BoxDynError> {
        let store = scope
            .insert_store(msingi::tenancy::NewStore::parse(&self.name, None)?)
            .await?;
        let entry = msingi::audit::AuditEntry::new("store.create", "store", store.id);
        scope
            .commit(msingi::audit::Audit::by(Default::default(), entry))
            .await?;
        Ok(())
    }
}

#[tokio::test]
async fn a_tenant_job_runs_in_a_scope_of_its_own_tenant_and_a_vanished_tenant_drops_it() {
    let app = TestApp::spawn().await;
    let (a, b) = app.two_tenants().await;
    let tenant = msingi::tenancy::TenantId::parse(&a.tenant_id, "tenant").unwrap();
    let job = OpenStore::new(tenant, "Opened by a job");
    msingi::worker::run_tenant_job(&app.db, job.clone(), ())
        .await
        .unwrap();
    let names = |p: &crate::personas::Persona| {
        let p = p.clone();
        let app = &app;
        async move {
            p.gql(
                app,
                "{ stores { edges { node { name } } } }",
                serde_json::json!({}),
            )
            .await
            .data()["stores"]["edges"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["node"]["name"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    let opened = |names: Vec<String>| names.iter().filter(|n| *n == "Opened by a job").count();
    assert_eq!(opened(names(&a).await), 1);
    assert_eq!(opened(names(&b).await), 0);
    // Delivered again (a worker killed after the commit, before the queue heard; twice at
    // once): the effect stays done once.
    let (again, at_once) = tokio::join!(
        msingi::worker::run_tenant_job(&app.db, job.clone(), ()),
        msingi::worker::run_tenant_job(&app.db, job.clone(), ()),
    );
    again.unwrap();
    at_once.unwrap();
    assert_eq!(
        opened(names(&a).await),
        1,
        "a repeated job opened a second store"
    );
    assert!(
        app.audit_actions(&a.tenant_id)
            .await
            .contains(&"store.create".to_owned())
    );

    // A job whose tenant does not exist is dropped (Ok: the queue does not retry it).
    msingi::worker::run_tenant_job(
        &app.db,
        OpenStore::new(msingi::tenancy::TenantId::new(), "Nowhere"),
        (),
    )
    .await
    .unwrap();
}
