//! Deliveries: signed, once per endpoint per event, retried on the schedule with the same
//! id, disabled on 410 or persistent failure, redelivered on demand, refused for private
//! addresses, and never lost or doubled when a worker dies mid-delivery.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::json;

use super::{ENDPOINTS, REDELIVER, Receiver, deliveries, delivery_in, endpoint, verifies};
use crate::billing::renewals::{advance, issue_now};
use crate::common::TestApp;
use crate::payments::mpesa::PAY;

fn at(value: &serde_json::Value) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(value.as_str().unwrap())
        .unwrap()
        .with_timezone(&chrono::Utc)
}

#[test]
fn the_receivers_check_is_the_specs() {
    // The Standard Webhooks specification's own example.
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let (id, ts, body) = (
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "1614265330",
        r#"{"test": 2432232314}"#,
    );
    let header = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
    assert!(verifies(secret, id, ts, body, header));
    assert!(verifies(
        secret,
        id,
        ts,
        body,
        &format!("v1,bm90IGl0 {header}")
    ));
    assert!(!verifies(secret, id, ts, r#"{"test": 2432232315}"#, header));
    assert!(!verifies(secret, id, "1614265331", body, header));
}

#[tokio::test]
async fn each_event_reaches_each_subscribed_endpoint_once_signed_with_its_secret() {
    let app = TestApp::spawn().await;
    let owner = app.register("asha@duka.example", "Duka").await;
    let (all, only_payments) = (Receiver::start().await, Receiver::start().await);
    let (all_id, all_secret) = endpoint(
        &app,
        &owner,
        &all.url,
        &["invoice.created", "invoice.paid", "payment.succeeded"],
    )
    .await;
    let (payments_id, payments_secret) =
        endpoint(&app, &owner, &only_payments.url, &["payment.succeeded"]).await;
    assert!(all_secret.starts_with("whsec_") && all_secret != payments_secret);
    // The secret is shown once: the list does not carry it.
    let listed = owner.gql(&app, ENDPOINTS, json!({})).await;
    assert_eq!(
        listed.data()["webhookEndpoints"].as_array().unwrap().len(),
        2
    );
    assert!(!listed.body().to_string().contains(&all_secret[6..]));

    // An invoice, paid by M-Pesa through the simulator's callback.
    let invoice = issue_now(&app, &owner).await;
    let pushed = owner
        .gql(
            &app,
            PAY,
            json!({ "invoice": invoice, "phone": "0708374149" }),
        )
        .await;
    let payment = pushed.data()["payInvoice"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let got = all.wait_for(3).await;
    let paid = only_payments.wait_for(1).await;
    // Anything doubled would have arrived by now too.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let got_now = all.received();
    assert_eq!(got_now.len(), 3, "{got_now:?}");
    assert_eq!(only_payments.received().len(), 1);

    let types: BTreeMap<String, serde_json::Value> = got
        .iter()
        .map(|r| (r.json()["type"].as_str().unwrap().to_owned(), r.json()))
        .collect();
    assert_eq!(
        types.keys().map(String::as_str).collect::<Vec<_>>(),
        ["invoice.created", "invoice.paid", "payment.succeeded"]
    );
    assert_eq!(types["invoice.created"]["data"]["id"], invoice.as_str());
    assert_eq!(
        types["invoice.created"]["tenantId"],
        owner.tenant_id.as_str()
    );
    assert_eq!(types["invoice.paid"]["data"]["status"], "PAID");
    assert_eq!(types["invoice.paid"]["data"]["amountDue"], "0.00");
    assert_eq!(types["payment.succeeded"]["data"]["id"], payment.as_str());
    assert_eq!(
        types["payment.succeeded"]["data"]["invoiceId"],
        invoice.as_str()
    );
    assert!(
        types["payment.succeeded"]["data"]["receiptNumber"]
            .as_str()
            .is_some_and(|r| !r.is_empty())
    );
    let ids: BTreeSet<&str> = got.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids.len(), 3, "one id per event");
    for r in &got {
        assert!(r.id.starts_with("msg_"), "{}", r.id);
        assert!(
            verifies(&all_secret, &r.id, &r.timestamp, &r.body, &r.signature),
            "{r:?}"
        );
        // Another endpoint's secret, a tampered body or timestamp: no.
        assert!(!verifies(
            &payments_secret,
            &r.id,
            &r.timestamp,
            &r.body,
            &r.signature
        ));
        let tampered = r.body.replacen("\"data\":{", "\"data\":{\"x\":1,", 1);
        assert_ne!(tampered, r.body);
        assert!(!verifies(
            &all_secret,
            &r.id,
            &r.timestamp,
            &tampered,
            &r.signature
        ));
        let later = (r.timestamp.parse::<i64>().unwrap() + 1).to_string();
        assert!(!verifies(&all_secret, &r.id, &later, &r.body, &r.signature));
    }
    // The same event, to two endpoints: the same id, each signed with its own secret.
    let p = &paid[0];
    assert_eq!(p.json()["type"], "payment.succeeded");
    assert!(verifies(
        &payments_secret,
        &p.id,
        &p.timestamp,
        &p.body,
        &p.signature
    ));
    let all_payment = got
        .iter()
        .find(|r| r.json()["type"] == "payment.succeeded")
        .unwrap();
    assert_eq!(p.id, all_payment.id);

    // The log shows each delivery once, succeeded at the first attempt.
    let log = deliveries(&app, &owner, &all_id).await;
    assert_eq!(log.len(), 3, "{log:?}");
    for d in &log {
        assert_eq!(d["status"], "SUCCEEDED", "{d}");
        assert_eq!(d["attempts"], 1);
        assert_eq!(d["lastResponseStatus"], 200);
        assert!(d["nextAttemptAt"].is_null());
        assert!(ids.contains(d["eventId"].as_str().unwrap()));
    }
    assert_eq!(deliveries(&app, &owner, &payments_id).await.len(), 1);
}

#[tokio::test]
async fn a_failing_receiver_is_retried_on_the_schedule_with_the_same_id_until_it_answers() {
    let app = TestApp::builder()
        .env("MSINGI_TEST_CLOCK", "true")
        .with_platform_admin()
        .spawn()
        .await;
    let mut owner = app.register("asha@duka.example", "Duka").await;
    let receiver = Receiver::start().await;
    receiver.answer(&[(500, Duration::ZERO), (503, Duration::ZERO)]);
    let (id, secret) = endpoint(&app, &owner, &receiver.url, &["invoice.created"]).await;
    issue_now(&app, &owner).await;

    // The first attempt at once: 500, the next due 5 s later.
    receiver.wait_for(1).await;
    let first = deliveries(&app, &owner, &id).await;
    let d = &first[0];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut d = d.clone();
    while d["attempts"] != 1 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(25)).await;
        d = deliveries(&app, &owner, &id).await[0].clone();
    }
    assert_eq!(d["status"], "PENDING", "{d}");
    assert_eq!(d["attempts"], 1);
    assert_eq!(d["lastResponseStatus"], 500);
    let now = at(&app.graphql("{ clock }", json!({})).await.data()["clock"]);
    let next = at(&d["nextAttemptAt"]);
    let wait = (next - now).num_seconds();
    assert!(
        (3..=5).contains(&wait),
        "the second attempt is due in {wait} s"
    );
    // Nothing more until then.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(receiver.received().len(), 1);

    // 5 s on: the second attempt (503); the third is due five minutes later.
    advance(&app, 5).await;
    assert_eq!(receiver.wait_for(2).await.len(), 2);
    let d = delivery_in(&app, &owner, &id, "invoice.created", "PENDING").await;
    assert_eq!(d["attempts"], 2, "{d}");
    assert_eq!(d["lastResponseStatus"], 503);
    let now = at(&app.graphql("{ clock }", json!({})).await.data()["clock"]);
    let wait = (at(&d["nextAttemptAt"]) - now).num_seconds();
    assert!(
        (290..=300).contains(&wait),
        "the third attempt is due in {wait} s"
    );
    advance(&app, 60).await;
    assert_eq!(receiver.received().len(), 2, "the third attempt came early");

    // Five minutes: the third answers 200, and that is the end of it.
    advance(&app, 240).await;
    let got = receiver.wait_for(3).await;
    let d = delivery_in(&app, &owner, &id, "invoice.created", "SUCCEEDED").await;
    assert_eq!(d["attempts"], 3);
    assert_eq!(d["lastResponseStatus"], 200);
    advance(&app, 86_400).await;
    assert_eq!(
        receiver.received().len(),
        3,
        "a succeeded delivery went again"
    );
    // A day on, the owner's access token has expired: log in again.
    owner.access = app.access_token(&owner.email, &owner.password).await;
    // Every attempt: the same webhook-id and body, its own timestamp, each signed.
    assert!(
        got.iter()
            .all(|r| r.id == got[0].id && r.body == got[0].body)
    );
    assert_eq!(d["eventId"], got[0].id.as_str());
    assert_ne!(got[0].timestamp, got[2].timestamp);
    for r in &got {
        assert!(verifies(
            &secret,
            &r.id,
            &r.timestamp,
            &r.body,
            &r.signature
        ));
    }

    // Redelivery on demand: one more attempt, now, with the same id.
    let again = owner.gql(&app, REDELIVER, json!({ "id": d["id"] })).await;
    assert_eq!(
        again.data()["redeliverWebhook"]["eventId"],
        got[0].id.as_str()
    );
    assert_eq!(again.data()["redeliverWebhook"]["status"], "PENDING");
    let got = receiver.wait_for(4).await;
    assert_eq!(got[3].id, got[0].id);
    assert_eq!(got[3].body, got[0].body);
    let d = delivery_in(&app, &owner, &id, "invoice.created", "SUCCEEDED").await;
    assert_eq!(d["attempts"], 4);
}

#[tokio::test]
async fn a_410_disables_the_endpoint_at_once_and_tells_the_owner() {
    let app = TestApp::spawn().await;
    let owner = app.register("asha@duka.example", "Duka").await;
    let gone = Receiver::start().await;
    gone.always(410);
    let (id, _) = endpoint(
        &app,
        &owner,
        &gone.url,
        &["invoice.created", "invoice.paid"],
    )
    .await;
    issue_now(&app, &owner).await;
    gone.wait_for(1).await;
    let d = delivery_in(&app, &owner, &id, "invoice.created", "FAILED").await;
    assert_eq!(d["attempts"], 1);
    assert_eq!(d["lastResponseStatus"], 410);
    let listed = owner.gql(&app, ENDPOINTS, json!({})).await;
    let e = &listed.data()["webhookEndpoints"][0];
    assert_eq!(e["enabled"], false, "{e}");
    assert!(e["disabledReason"].as_str().unwrap().contains("410"), "{e}");

    // The owner hears of it, in the app and by email.
    let notes = owner
        .gql(
            &app,
            "{ notifications { edges { node { kind title body data } } } }",
            json!({}),
        )
        .await;
    let disabled = notes.data()["notifications"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["node"]["kind"] == "webhook.disabled")
        .unwrap_or_else(|| panic!("no webhook.disabled notification: {}", notes.body()))
        .clone();
    assert!(
        disabled["node"]["body"]
            .as_str()
            .unwrap()
            .contains(&gone.url)
    );
    let mail = app.smtp.wait_for("asha@duka.example", "webhook").await;
    assert!(mail.data.contains(&gone.url), "{}", mail.data);

    // A disabled endpoint gets nothing more, and redelivery says why not.
    let again = owner.gql(&app, REDELIVER, json!({ "id": d["id"] })).await;
    assert_eq!(again.error_code(), "CONFLICT", "{}", again.body());
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(gone.received().len(), 1);
}

#[tokio::test]
async fn an_endpoint_failing_longer_than_the_configured_time_is_disabled() {
    let app = TestApp::builder()
        .env("MSINGI_TEST_CLOCK", "true")
        .env("WEBHOOK_DISABLE_AFTER_HOURS", "1")
        .with_platform_admin()
        .spawn()
        .await;
    let mut owner = app.register("asha@duka.example", "Duka").await;
    let down = Receiver::start().await;
    down.always(500);
    let (id, _) = endpoint(&app, &owner, &down.url, &["invoice.created"]).await;
    issue_now(&app, &owner).await;
    down.wait_for(1).await;
    // 5 s, 5 min, 30 min: still failing for less than an hour, still enabled.
    for step in [5, 300, 1800] {
        advance(&app, step).await;
    }
    assert_eq!(down.wait_for(4).await.len(), 4);
    owner.access = app.access_token(&owner.email, &owner.password).await;
    let listed = owner.gql(&app, ENDPOINTS, json!({})).await;
    assert_eq!(listed.data()["webhookEndpoints"][0]["enabled"], true);
    assert!(!listed.data()["webhookEndpoints"][0]["failingSince"].is_null());
    // The 2 h retry fails past the hour: disabled, the delivery FAILED.
    advance(&app, 7200).await;
    assert_eq!(down.wait_for(5).await.len(), 5);
    owner.access = app.access_token(&owner.email, &owner.password).await;
    let d = delivery_in(&app, &owner, &id, "invoice.created", "FAILED").await;
    assert_eq!(d["attempts"], 5);
    let listed = owner.gql(&app, ENDPOINTS, json!({})).await;
    assert_eq!(listed.data()["webhookEndpoints"][0]["enabled"], false);
    app.smtp.wait_for("asha@duka.example", "webhook").await;
    advance(&app, 86_400).await;
    assert_eq!(down.received().len(), 5);
}

#[tokio::test]
async fn private_addresses_and_unknown_events_are_refused_naming_the_field() {
    let app = TestApp::builder()
        .env("WEBHOOK_ALLOW_PRIVATE_URLS", "false")
        .spawn()
        .await;
    let owner = app.register("asha@duka.example", "Duka").await;
    let receiver = Receiver::start().await;
    for url in [
        receiver.url.as_str(),
        "http://localhost:8080/hook",
        "https://10.1.2.3/hook",
        "https://192.168.0.10/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hook",
        "https://[fd00::1]/hook",
        "https://0.0.0.0/hook",
        "ftp://example.com/hook",
        "not a url",
    ] {
        let refused = owner
            .gql(
                &app,
                super::CREATE,
                json!({ "url": url, "events": ["invoice.paid"] }),
            )
            .await;
        assert_eq!(
            refused.error_code(),
            "BAD_USER_INPUT",
            "{url}: {}",
            refused.body()
        );
        assert_eq!(refused.error()["extensions"]["field"], "input.url", "{url}");
    }
    let unknown = owner
        .gql(
            &app,
            super::CREATE,
            json!({ "url": "https://hooks.example.com/x", "events": ["invoice.exploded"] }),
        )
        .await;
    assert_eq!(
        unknown.error()["extensions"]["field"],
        "input.events",
        "{}",
        unknown.body()
    );
    assert_eq!(
        owner.gql(&app, ENDPOINTS, json!({})).await.data()["webhookEndpoints"],
        json!([])
    );
    // An employee has no webhook.manage.
    let employee = owner
        .invite_and_join(&app, "juma@duka.example", "EMPLOYEE", None)
        .await;
    let forbidden = employee
        .gql(
            &app,
            super::CREATE,
            json!({ "url": "https://hooks.example.com/x", "events": ["invoice.paid"] }),
        )
        .await;
    assert_eq!(forbidden.error_code(), "FORBIDDEN");
    assert_eq!(
        employee.gql(&app, ENDPOINTS, json!({})).await.error_code(),
        "FORBIDDEN"
    );
    assert!(receiver.received().is_empty());
}

#[tokio::test]
async fn a_worker_killed_mid_delivery_loses_nothing_and_one_success_is_recorded() {
    let app = TestApp::builder()
        .env("MSINGI_IN_PROCESS_WORKERS", "false")
        .env("WEBHOOK_TIMEOUT_SECONDS", "2")
        .spawn()
        .await;
    let owner = app.register("asha@duka.example", "Duka").await;
    let receiver = Receiver::start().await;
    // The first attempt hangs: the worker dies while it waits.
    receiver.answer(&[(200, Duration::from_secs(30))]);
    let (id, secret) = endpoint(&app, &owner, &receiver.url, &["invoice.created"]).await;
    issue_now(&app, &owner).await;

    let mut first = app.msingi(&["worker"]).spawn().expect("start a worker");
    receiver.wait_for(1).await;
    first.kill().expect("SIGKILL the worker");
    first.wait().unwrap();
    let d = deliveries(&app, &owner, &id).await;
    assert_eq!(d[0]["status"], "PENDING", "in flight when killed: {}", d[0]);

    // Another worker takes it over once the dead one's lease (timeout + 5 s) ends.
    let mut second = app.msingi(&["worker"]).spawn().expect("start a worker");
    let started = tokio::time::Instant::now();
    let done = app
        .eventually(Duration::from_secs(20), || async {
            deliveries(&app, &owner, &id).await[0]["status"] == "SUCCEEDED"
        })
        .await;
    let took = started.elapsed();
    tokio::time::sleep(Duration::from_secs(1)).await;
    second.kill().unwrap();
    second.wait().unwrap();
    assert!(done, "the delivery was lost with its worker");
    assert!(took <= Duration::from_secs(12), "taken over after {took:?}");
    // The receiver saw the event twice under one id (the first never answered to anyone
    // alive), and the log records one success.
    let got = receiver.received();
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0].id, got[1].id);
    assert!(
        got.iter()
            .all(|r| verifies(&secret, &r.id, &r.timestamp, &r.body, &r.signature))
    );
    let log = deliveries(&app, &owner, &id).await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["status"], "SUCCEEDED");
    assert_eq!(log[0]["lastResponseStatus"], 200);
}

#[tokio::test]
async fn another_tenants_endpoints_and_deliveries_are_not_found() {
    let app = TestApp::spawn().await;
    let owner = app.register("asha@duka.example", "Duka").await;
    let other = app.register("baraka@other.example", "Other").await;
    let receiver = Receiver::start().await;
    let (id, _) = endpoint(&app, &owner, &receiver.url, &["invoice.created"]).await;
    issue_now(&app, &owner).await;
    let d = delivery_in(&app, &owner, &id, "invoice.created", "SUCCEEDED").await;
    let log = other
        .gql(&app, super::DELIVERIES, json!({ "id": id }))
        .await;
    assert_eq!(log.error_code(), "NOT_FOUND", "{}", log.body());
    let redeliver = other.gql(&app, REDELIVER, json!({ "id": d["id"] })).await;
    assert_eq!(redeliver.error_code(), "NOT_FOUND");
    let delete = other
        .gql(
            &app,
            "mutation($id: ID!) { deleteWebhookEndpoint(id: $id) }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(delete.error_code(), "NOT_FOUND");
    assert_eq!(
        other.gql(&app, ENDPOINTS, json!({})).await.data()["webhookEndpoints"],
        json!([])
    );
    // Other's own invoice goes to nobody of the owner's.
    issue_now(&app, &other).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(receiver.received().len(), 1);
    // The owner deletes theirs: gone, with its log.
    let deleted = owner
        .gql(
            &app,
            "mutation($id: ID!) { deleteWebhookEndpoint(id: $id) }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(deleted.data()["deleteWebhookEndpoint"], true);
    assert_eq!(
        owner
            .gql(&app, super::DELIVERIES, json!({ "id": id }))
            .await
            .error_code(),
        "NOT_FOUND"
    );
}

#[tokio::test]
async fn a_slow_receiver_holds_up_only_itself() {
    let app = TestApp::builder()
        .env("WEBHOOK_TIMEOUT_SECONDS", "2")
        .env("WEBHOOK_ENDPOINT_CONCURRENCY", "1")
        .spawn()
        .await;
    let owner = app.register("asha@duka.example", "Duka").await;
    let (slow, fast) = (Receiver::start().await, Receiver::start().await);
    // Every answer of the slow one comes after the timeout.
    slow.answer(&[(200, Duration::from_secs(10)); 8]);
    let (slow_id, _) = endpoint(&app, &owner, &slow.url, &["invoice.created"]).await;
    endpoint(&app, &owner, &fast.url, &["invoice.created"]).await;
    let started = std::time::Instant::now();
    issue_now(&app, &owner).await;
    issue_now(&app, &owner).await;
    // The fast one has both invoices while the slow one still holds its first attempt.
    fast.wait_for(2).await;
    assert!(
        started.elapsed() < Duration::from_millis(1900),
        "the fast receiver waited {:?}",
        started.elapsed()
    );
    assert_eq!(
        slow.received().len(),
        1,
        "one attempt at a time to the slow one"
    );
    // The slow one's attempts end at the timeout and are retried later; nothing is lost.
    let d = delivery_in(&app, &owner, &slow_id, "invoice.created", "PENDING").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut d = d;
    while d["attempts"] != 1 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        d = deliveries(&app, &owner, &slow_id)
            .await
            .into_iter()
            .find(|x| x["eventType"] == "invoice.created")
            .unwrap();
    }
    assert_eq!(d["attempts"], 1, "{d}");
    assert!(d["lastError"].as_str().unwrap().contains("2 s"), "{d}");
}
