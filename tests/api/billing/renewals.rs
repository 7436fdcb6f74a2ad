//! Renewals: trial end and every period end issue exactly one invoice, numbered without
//! gaps, with tax exact in minor units; the invoice's signed printable page.

use chrono::{DateTime, Months, Utc};
use serde_json::json;

use crate::common::TestApp;
use crate::personas::Persona;

const ADVANCE: &str = "mutation($s: Int!) { advanceClock(seconds: $s) }";
const INVOICES: &str = "{ invoices(first: 100) { totalCount edges { node { id number status \
    periodStart periodEnd subtotal { amount currency } tax { amount } total { amount } \
    amountPaid { amount } amountDue { amount } issuedAt dueAt hostedUrl \
    lines { description kind quantity unitAmount { amount } amount { amount } } } } } }";
const SUBSCRIPTION: &str =
    "{ subscription { id status currentPeriodStart currentPeriodEnd trialEnd } }";

fn at(value: &serde_json::Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(value.as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc)
}

/// Issues an invoice to `owner`'s tenant now, through the API (its subscription ended,
/// then started again on `starter`, which bills the new period at once), and returns its
/// id (for tests that need an invoice to exist).
pub async fn issue_now(app: &TestApp, owner: &Persona) -> String {
    owner
        .gql(
            app,
            "mutation { cancelSubscription(atPeriodEnd: false) { status } }",
            json!({}),
        )
        .await
        .data();
    let restarted = owner
        .gql(
            app,
            "mutation { changePlan(planCode: \"starter\") { status } }",
            json!({}),
        )
        .await;
    assert_eq!(restarted.data()["changePlan"]["status"], "ACTIVE");
    let invoices = owner.gql(app, INVOICES, json!({})).await;
    invoices.data()["invoices"]["edges"][0]["node"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Pays `amount` (a decimal string) on invoice `id` of `owner`'s tenant, as a payment
/// confirmed by its provider is settled.
pub async fn pay(app: &TestApp, owner: &Persona, id: &str, amount: &str) {
    let tenant = msingi::ids::TenantId::from_uuid(uuid::Uuid::parse_str(&owner.tenant_id).unwrap());
    let ctx = msingi::worker::context_for(&app.db, tenant, "test payment")
        .await
        .unwrap();
    let scope = app.db.write(&ctx).await.unwrap();
    let minor = msingi::billing::money::parse_amount(amount, "amount").unwrap();
    let settled =
        msingi::billing::lifecycle::pay(&scope, uuid::Uuid::parse_str(id).unwrap(), minor)
            .await
            .unwrap();
    let entry =
        msingi::audit::AuditEntry::new("billing.payment.test", "invoice", settled.invoice.id);
    scope
        .commit(msingi::audit::Audit::by(Default::default(), entry))
        .await
        .unwrap();
}

/// Moves the test clock by `seconds` as the platform admin; returns the new time.
pub async fn advance(app: &TestApp, seconds: i64) -> DateTime<Utc> {
    let admin = app.admin_token().await;
    let moved = app
        .graphql_as(&admin, &[], ADVANCE, json!({ "s": seconds }))
        .await;
    assert!(moved.body()["errors"].is_null(), "{}", moved.body());
    at(&moved.data()["advanceClock"])
}

/// The tenant's invoices, oldest first.
pub async fn invoices(app: &TestApp, owner: &mut Persona) -> Vec<serde_json::Value> {
    owner.access = app.access_token(&owner.email, &owner.password).await;
    let invoices = owner.gql(app, INVOICES, json!({})).await;
    let mut list: Vec<serde_json::Value> = invoices.data()["invoices"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"].clone())
        .collect();
    list.reverse();
    list
}

/// The tenant's subscription.
pub async fn subscription(app: &TestApp, owner: &mut Persona) -> serde_json::Value {
    owner.access = app.access_token(&owner.email, &owner.password).await;
    let response = owner.gql(app, SUBSCRIPTION_FULL, json!({})).await;
    response.data()["subscription"].clone()
}

const SUBSCRIPTION_FULL: &str = "{ subscription { id status currentPeriodStart currentPeriodEnd \
    trialEnd graceUntil cancelAtPeriodEnd canceledAt plan { code } } }";

#[tokio::test]
async fn a_tenant_lives_a_year_in_seconds_with_one_invoice_per_period_numbered_without_gaps() {
    let app = TestApp::builder()
        .env("MSINGI_TEST_CLOCK", "true")
        .with_platform_admin()
        .spawn()
        .await;
    let mut owner = app.register("asha@duka.example", "Duka").await;
    let first = owner.gql(&app, SUBSCRIPTION, json!({})).await;
    let trial_end = at(&first.data()["subscription"]["trialEnd"]);

    // Past the trial: the first invoice, for the first month after it.
    advance(&app, 15 * 86_400).await;
    let list = invoices(&app, &mut owner).await;
    assert_eq!(list.len(), 1, "{list:?}");
    let invoice = &list[0];
    assert_eq!(invoice["number"], "DUKA-000001");
    assert_eq!(invoice["status"], "OPEN");
    assert_eq!(at(&invoice["periodStart"]), trial_end);
    assert_eq!(
        at(&invoice["periodEnd"]),
        trial_end.checked_add_months(Months::new(1)).unwrap()
    );
    assert_eq!(
        invoice["subtotal"],
        json!({ "amount": "1500.00", "currency": "KES" })
    );
    assert_eq!(invoice["tax"]["amount"], "240.00", "16% VAT");
    assert_eq!(invoice["total"]["amount"], "1740.00");
    assert_eq!(invoice["amountDue"]["amount"], "1740.00");
    assert_eq!(invoice["amountPaid"]["amount"], "0.00");
    assert_eq!(invoice["lines"][0]["kind"], "SUBSCRIPTION");
    assert_eq!(invoice["lines"][0]["amount"]["amount"], "1500.00");
    assert_eq!(
        (at(&invoice["dueAt"]) - at(&invoice["issuedAt"])).num_days(),
        7
    );
    // The trial ended; the subscription is ACTIVE once its first invoice is paid.
    let sub = subscription(&app, &mut owner).await;
    assert_eq!(sub["status"], "TRIALING");
    assert_eq!(at(&sub["currentPeriodStart"]), trial_end);
    pay(&app, &owner, invoice["id"].as_str().unwrap(), "1740.00").await;
    assert_eq!(subscription(&app, &mut owner).await["status"], "ACTIVE");

    // Eleven more months, each invoice paid when it comes, except the sixth month's.
    for month in 2..=12 {
        let sub = subscription(&app, &mut owner).await;
        let end = at(&sub["currentPeriodEnd"]);
        let now = advance(&app, 1).await;
        advance(&app, (end - now).num_seconds() + 1).await;
        let list = invoices(&app, &mut owner).await;
        assert_eq!(list.len(), month, "one invoice per period");
        let newest = list.last().unwrap().clone();
        assert_eq!(at(&newest["periodStart"]), end, "periods are contiguous");
        if month == 6 {
            // Unpaid: due a week after issue, then PAST_DUE with a week's grace...
            advance(&app, 7 * 86_400).await;
            let sub = subscription(&app, &mut owner).await;
            assert_eq!(sub["status"], "PAST_DUE", "{sub}");
            assert_eq!(
                at(&sub["graceUntil"]),
                at(&newest["dueAt"]) + chrono::Duration::days(7)
            );
            // ...still allowed to work while the grace runs...
            let store = owner
                .gql(
                    &app,
                    crate::ops::CREATE_STORE,
                    json!({ "input": { "name": "Grace" } }),
                )
                .await;
            assert!(store.body()["errors"].is_null(), "{}", store.body());
            // ...then SUSPENDED: reads and paying only.
            advance(&app, 7 * 86_400).await;
            let sub = subscription(&app, &mut owner).await;
            assert_eq!(sub["status"], "SUSPENDED", "{sub}");
            let refused = owner
                .gql(
                    &app,
                    crate::ops::CREATE_STORE,
                    json!({ "input": { "name": "More" } }),
                )
                .await;
            assert_eq!(refused.error()["extensions"]["reason"], "TENANT_SUSPENDED");
            // Paying restores it at once, on the very next request.
            pay(&app, &owner, newest["id"].as_str().unwrap(), "1740.00").await;
            let sub = subscription(&app, &mut owner).await;
            assert_eq!(sub["status"], "ACTIVE", "{sub}");
            assert!(sub["graceUntil"].is_null());
            let store = owner
                .gql(
                    &app,
                    crate::ops::CREATE_STORE,
                    json!({ "input": { "name": "Back" } }),
                )
                .await;
            assert!(store.body()["errors"].is_null(), "{}", store.body());
        } else {
            pay(&app, &owner, newest["id"].as_str().unwrap(), "1740.00").await;
        }
    }
    let list = invoices(&app, &mut owner).await;
    assert_eq!(list.len(), 12);
    for (n, invoice) in list.iter().enumerate() {
        assert_eq!(invoice["number"], format!("DUKA-{:06}", n + 1), "no gap");
        assert_eq!(invoice["status"], "PAID");
        assert_eq!(invoice["amountDue"]["amount"], "0.00");
    }
    for pair in list.windows(2) {
        assert_eq!(pair[1]["periodStart"], pair[0]["periodEnd"]);
    }
    // The owner heard of each step by email (the SMTP sink got them all: advanceClock
    // answered once the mail queue was empty).
    let mails = app.smtp.mails();
    let subjects = |prefix: &str| {
        mails
            .iter()
            .filter(|m| m.subject().starts_with(prefix))
            .count()
    };
    assert_eq!(subjects("Invoice DUKA-"), 12, "one per invoice");
    assert_eq!(subjects("Payment overdue: invoice DUKA-000006"), 1);
    assert_eq!(
        subjects("Reminder: invoice DUKA-000006 is unpaid"),
        3,
        "days 1, 3 and 5"
    );
    assert_eq!(subjects("Duka is suspended"), 1);
}

#[tokio::test]
async fn concurrent_sweeps_and_repeated_jobs_issue_exactly_one_invoice_for_a_period() {
    use msingi::worker::Handled as _;
    let clock = std::sync::Arc::new(msingi::clock::ManualClock::new(Utc::now()));
    let app = TestApp::builder()
        .env("MSINGI_IN_PROCESS_WORKERS", "false")
        .clock(clock.clone())
        .spawn()
        .await;
    let mut owner = app.register("asha@duka.example", "Duka").await;
    let subscription = owner.gql(&app, SUBSCRIPTION, json!({})).await;
    let subscription = subscription.data()["subscription"].clone();
    clock.advance(chrono::Duration::days(15));
    // Fifteen days on, the owner's access token has expired: log in again.
    owner.access = app
        .access_token("asha@duka.example", "correct horse battery")
        .await;
    // Two nodes sweep at once, twice.
    let (a, b) = tokio::join!(
        msingi::billing::renewals::sweep(&app.db),
        msingi::billing::renewals::sweep(&app.db)
    );
    assert!(a.unwrap() + b.unwrap() >= 1);
    msingi::billing::renewals::sweep(&app.db).await.unwrap();
    // The same renewal delivered three times at once, as a crash and a reclaim would.
    let job = msingi_jobs::RenewSubscription::new(
        uuid::Uuid::parse_str(&owner.tenant_id).unwrap(),
        uuid::Uuid::parse_str(subscription["id"].as_str().unwrap()).unwrap(),
        at(&subscription["currentPeriodEnd"]),
    );
    let deps = msingi_jobs::RenewSubscription::deps(&app.worker_deps());
    let (x, y, z) = tokio::join!(
        job.clone().handle(deps.clone()),
        job.clone().handle(deps.clone()),
        job.clone().handle(deps.clone()),
    );
    for result in [x, y, z] {
        result.unwrap();
    }
    // And whatever the sweeps queued runs too.
    while msingi::worker::drain_once(&app.db, app.jobs_backend())
        .await
        .unwrap()
        > 0
    {}
    let shutdown = tokio_util::sync::CancellationToken::new();
    let worker_deps = app.worker_deps();
    let worker = tokio::spawn({
        let shutdown = shutdown.clone();
        async move {
            msingi::worker::queue_worker::<msingi_jobs::RenewSubscription>(&worker_deps, shutdown)
                .await
        }
    });
    let idle = app
        .eventually(std::time::Duration::from_secs(15), || async {
            let stats = app.jobs_backend().queue_stats("billing").await.unwrap();
            stats.pending + stats.running == 0
        })
        .await;
    shutdown.cancel();
    worker.await.unwrap().unwrap();
    assert!(idle, "the queued renewals never ran");
    let invoices = owner
        .gql(
            &app,
            "{ invoices { totalCount edges { node { number } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        invoices.data()["invoices"]["totalCount"],
        1,
        "{}",
        invoices.body()
    );
    assert_eq!(
        invoices.data()["invoices"]["edges"][0]["node"]["number"],
        "DUKA-000001"
    );
}

#[tokio::test]
async fn the_hosted_link_shows_the_invoice_and_nothing_else() {
    let app = TestApp::spawn().await;
    let owner = app.register("asha@duka.example", "Duka").await;
    owner
        .gql(
            &app,
            crate::ops::UPDATE_TENANT,
            json!({ "input": { "settings": { "brandColor": "#aa3300", "logoUrl": "https://duka.example/logo.png" } } }),
        )
        .await
        .data();
    issue_now(&app, &owner).await;
    let invoices = owner.gql(&app, INVOICES, json!({})).await;
    let invoice = &invoices.data()["invoices"]["edges"][0]["node"];
    let url = invoice["hostedUrl"].as_str().unwrap().to_owned();
    let path = url
        .split_once("/invoices/")
        .map(|(_, rest)| format!("/invoices/{rest}"))
        .unwrap();
    let page = app.get(&path).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    for expected in [
        "Duka",
        "DUKA-000001",
        "KES 1740.00",
        "KES 240.00",
        "#aa3300",
        "https://duka.example/logo.png",
    ] {
        assert!(html.contains(expected), "{expected} missing from {html}");
    }
    // A changed token, or the token on another id, shows nothing.
    let tampered = format!("{}x", path);
    assert_eq!(app.get(&tampered).await.status(), 404);
    let (_, token) = path.split_once("?token=").unwrap();
    let other = format!("/invoices/{}?token={token}", uuid::Uuid::new_v4());
    assert_eq!(app.get(&other).await.status(), 404);
    // Nor is the link's token an access token.
    let as_access = app
        .graphql_as(token, &[], "{ me { user { id } } }", json!({}))
        .await;
    assert_eq!(
        as_access.error_code(),
        "UNAUTHENTICATED",
        "{}",
        as_access.body()
    );
}

#[tokio::test]
async fn a_suspended_tenant_still_gets_its_renewal_invoice_and_can_read_it() {
    use msingi::worker::Handled as _;
    const SUSPEND: &str = include_str!("../graphql/tenancy/suspend_tenant.graphql");
    let clock = std::sync::Arc::new(msingi::clock::ManualClock::new(Utc::now()));
    let app = TestApp::builder()
        .clock(clock.clone())
        .with_platform_admin()
        .spawn()
        .await;
    let admin = app.admin_token().await;
    let mut owner = app.register("asha@duka.example", "Duka").await;
    let subscription = owner.gql(&app, SUBSCRIPTION, json!({})).await;
    let subscription = subscription.data()["subscription"].clone();
    app.graphql_as(
        &admin,
        &[],
        SUSPEND,
        json!({ "tenantId": owner.tenant_id, "reason": "platform review" }),
    )
    .await
    .data();
    // Its members cannot write...
    let refused = owner
        .gql(
            &app,
            crate::ops::CREATE_STORE,
            json!({ "input": { "name": "More" } }),
        )
        .await;
    assert_eq!(refused.error()["extensions"]["reason"], "TENANT_SUSPENDED");
    // ...but at the trial's end the system's renewal still issues what it owes, and the
    // owner reads it.
    clock.advance(chrono::Duration::days(15));
    owner.access = app.access_token(&owner.email, &owner.password).await;
    let job = msingi_jobs::RenewSubscription::new(
        uuid::Uuid::parse_str(&owner.tenant_id).unwrap(),
        uuid::Uuid::parse_str(subscription["id"].as_str().unwrap()).unwrap(),
        at(&subscription["currentPeriodEnd"]),
    );
    job.handle(msingi_jobs::RenewSubscription::deps(&app.worker_deps()))
        .await
        .unwrap();
    let list = invoices(&app, &mut owner).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["number"], "DUKA-000001");
    assert_eq!(list[0]["status"], "OPEN");
}

#[tokio::test]
async fn a_renewal_delivered_before_its_period_ends_issues_nothing() {
    use msingi::worker::Handled as _;
    let app = TestApp::spawn().await;
    let mut owner = app.register("asha@duka.example", "Duka").await;
    let subscription = owner.gql(&app, SUBSCRIPTION, json!({})).await;
    let subscription = subscription.data()["subscription"].clone();
    let job = msingi_jobs::RenewSubscription::new(
        uuid::Uuid::parse_str(&owner.tenant_id).unwrap(),
        uuid::Uuid::parse_str(subscription["id"].as_str().unwrap()).unwrap(),
        at(&subscription["currentPeriodEnd"]),
    );
    job.handle(msingi_jobs::RenewSubscription::deps(&app.worker_deps()))
        .await
        .unwrap();
    assert!(invoices(&app, &mut owner).await.is_empty());
    let after = owner.gql(&app, SUBSCRIPTION, json!({})).await;
    assert_eq!(
        after.data()["subscription"],
        subscription,
        "still in its trial"
    );
}
