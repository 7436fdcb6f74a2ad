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

/// Runs the renewal of `owner`'s current period now, as the worker would at its end, and
/// returns the id of the invoice it issued (for tests that need an invoice to exist).
pub async fn issue_now(app: &TestApp, owner: &Persona) -> String {
    use msingi::worker::Handled as _;
    let subscription = owner.gql(app, SUBSCRIPTION, json!({})).await;
    let subscription = &subscription.data()["subscription"];
    let job = msingi_jobs::RenewSubscription::new(
        uuid::Uuid::parse_str(&owner.tenant_id).unwrap(),
        uuid::Uuid::parse_str(subscription["id"].as_str().unwrap()).unwrap(),
        at(&subscription["currentPeriodEnd"]),
    );
    let deps = msingi_jobs::RenewSubscription::deps(&app.worker_deps());
    job.handle(deps).await.unwrap();
    let invoices = owner.gql(app, INVOICES, json!({})).await;
    invoices.data()["invoices"]["edges"][0]["node"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_tenant_lives_a_year_in_seconds_with_one_invoice_per_period_numbered_without_gaps() {
    let app = TestApp::builder()
        .env("MSINGI_TEST_CLOCK", "true")
        .with_platform_admin()
        .spawn()
        .await;
    let owner = app.register("asha@duka.example", "Duka").await;
    let first = owner.gql(&app, SUBSCRIPTION, json!({})).await;
    let trial_end = at(&first.data()["subscription"]["trialEnd"]);
    let admin = app.admin_token().await;

    // Past the trial: the first invoice, for the first month after it.
    let moved = app
        .graphql_as(&admin, &[], ADVANCE, json!({ "s": 15 * 86_400 }))
        .await;
    let mut now = at(&moved.data()["advanceClock"]);
    let token = app
        .access_token("asha@duka.example", "correct horse battery")
        .await;
    let invoices = app.graphql_as(&token, &[], INVOICES, json!({})).await;
    let list = invoices.data()["invoices"]["edges"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(list.len(), 1, "{}", invoices.body());
    let invoice = &list[0]["node"];
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
    let subscription = app.graphql_as(&token, &[], SUBSCRIPTION, json!({})).await;
    assert_eq!(subscription.data()["subscription"]["status"], "ACTIVE");
    assert_eq!(
        at(&subscription.data()["subscription"]["currentPeriodStart"]),
        trial_end
    );

    // A year on, in one move: every month's renewal, each period starting where the
    // last one ended, the numbers consecutive. (The admin's token expired too.)
    let admin = app.admin_token().await;
    let moved = app
        .graphql_as(&admin, &[], ADVANCE, json!({ "s": 365 * 86_400 }))
        .await;
    assert!(moved.body()["errors"].is_null(), "{}", moved.body());
    now = at(&moved.data()["advanceClock"]).max(now);
    let mut expected = 0;
    let mut end = trial_end;
    while end <= now {
        expected += 1;
        end = end.checked_add_months(Months::new(1)).unwrap();
    }
    assert!(expected >= 13, "{expected}");
    let token = app
        .access_token("asha@duka.example", "correct horse battery")
        .await;
    let invoices = app.graphql_as(&token, &[], INVOICES, json!({})).await;
    let mut list: Vec<serde_json::Value> = invoices.data()["invoices"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"].clone())
        .collect();
    assert_eq!(list.len(), expected, "one invoice per period");
    list.reverse(); // oldest first
    for (n, pair) in list.windows(2).enumerate() {
        assert_eq!(
            pair[1]["periodStart"], pair[0]["periodEnd"],
            "periods are contiguous"
        );
        assert_eq!(
            pair[1]["number"],
            format!("DUKA-{:06}", n + 2),
            "numbers have no gap"
        );
    }
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
    const SUSPEND: &str = include_str!("../graphql/tenancy/suspend_tenant.graphql");
    let (app, admin) = TestApp::with_platform_admin().await;
    let owner = app.register("asha@duka.example", "Duka").await;
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
    // ...but the system's renewal still issues what it owes, and the owner reads it.
    let id = issue_now(&app, &owner).await;
    let invoice = owner
        .gql(
            &app,
            "query($id: ID!) { invoice(id: $id) { number status } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(invoice.data()["invoice"]["number"], "DUKA-000001");
    assert_eq!(invoice.data()["invoice"]["status"], "OPEN");
}
