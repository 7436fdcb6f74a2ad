//! Metering end to end: a platform admin adds metrics and a plan that limits and prices
//! them; a tenant on it records usage over GraphQL and `POST /api/v1/usage`; reports come
//! from rollups; the renewal invoice bills what went over.

use chrono::{DateTime, Duration, Utc};
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use crate::billing::renewals::{advance, invoices};
use crate::common::TestApp;
use crate::personas::Persona;

const CREATE_METRIC: &str = "mutation($input: CreateMetricInput!) { createMetric(input: $input) \
    { code name unit aggregation } }";
const CREATE_PLAN: &str =
    "mutation($input: CreatePlanInput!) { createPlan(input: $input) { code limits } }";
const CHANGE: &str = "mutation { changePlan(planCode: \"metered\") { status plan { code } } }";
const RECORD: &str = "mutation($events: [UsageEventInput!]!) { recordUsage(events: $events) \
    { accepted duplicates } }";
const SUMMARY: &str = "{ usageSummary { metric used limit periodStart periodEnd } }";
const USAGE: &str = "query($m: String!, $from: DateTime!, $to: DateTime!, $g: Granularity!) { \
    usage(metric: $m, from: $from, to: $to, granularity: $g) { metric total points { start value } } }";
const CREATE_KEY: &str =
    "mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) { secret } }";

/// A server with a platform admin who added `sms` (SUM, a soft quota of 1,000 with 100
/// included at KES 1.50 each), `exports` (COUNT, a hard quota of 10) and `seats_peak`
/// (MAX) on the plan `metered`.
async fn metered_app(test_clock: bool) -> TestApp {
    metered_app_with(test_clock, &[]).await
}

/// [`metered_app`] with more settings.
async fn metered_app_with(test_clock: bool, env: &[(&str, &str)]) -> TestApp {
    let mut builder = TestApp::builder().with_platform_admin();
    if test_clock {
        builder = builder.env("MSINGI_TEST_CLOCK", "true");
    }
    for (key, value) in env {
        builder = builder.env(key, value);
    }
    let app = builder.spawn().await;
    let admin = app.admin_token().await;
    for (code, unit, aggregation) in [
        ("sms", "message", "SUM"),
        ("exports", "export", "COUNT"),
        ("seats_peak", "seat", "MAX"),
    ] {
        let made = app
            .graphql_as(
                &admin,
                &[],
                CREATE_METRIC,
                json!({ "input": { "code": code, "name": code.to_uppercase(), "unit": unit,
                    "aggregation": aggregation } }),
            )
            .await;
        assert_eq!(made.data()["createMetric"]["code"], code, "{}", made.body());
    }
    let plan = app
        .graphql_as(
            &admin,
            &[],
            CREATE_PLAN,
            json!({ "input": { "code": "metered", "name": "Metered", "price": "1000",
                "interval": "MONTH", "trialDays": 14, "modules": ["metering", "inventory"],
                "limits": { "stores": 3, "members": 5, "sms": { "max": 1000, "soft": true },
                    "exports": 10 },
                "meteredPrices": [{ "metric": "sms", "unitPrice": "1.50", "includedUnits": 100 }] } }),
        )
        .await;
    assert_eq!(
        plan.data()["createPlan"]["limits"]["sms"],
        json!({ "max": 1000, "soft": true }),
        "{}",
        plan.body()
    );
    app
}

/// An owner whose tenant is on `metered` (chosen in its trial).
async fn metered_owner(app: &TestApp, email: &str, name: &str) -> Persona {
    let mut owner = app.register(email, name).await;
    let changed = owner.gql(app, CHANGE, json!({})).await;
    assert_eq!(
        changed.data()["changePlan"]["plan"]["code"],
        "metered",
        "{}",
        changed.body()
    );
    owner.access = app.access_token(email, &owner.password).await;
    owner
}

async fn usage_key(app: &TestApp, owner: &Persona, permissions: Value) -> String {
    let made = owner
        .gql(
            app,
            CREATE_KEY,
            json!({ "input": { "name": "meter", "permissions": permissions } }),
        )
        .await;
    made.data()["createApiKey"]["secret"]
        .as_str()
        .unwrap_or_else(|| panic!("{}", made.body()))
        .to_owned()
}

async fn post_usage(app: &TestApp, key: &str, body: &Value) -> (u16, Value) {
    let response = app
        .client
        .post(format!("{}/api/v1/usage", app.address))
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

fn event(id: &str, metric: &str, quantity: i64) -> Value {
    json!({ "id": id, "metric": metric, "quantity": quantity })
}

async fn used(app: &TestApp, owner: &Persona, metric: &str) -> (i64, Option<i64>) {
    let summary = owner.gql(app, SUMMARY, json!({})).await;
    let row = summary.data()["usageSummary"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["metric"] == metric)
        .unwrap_or_else(|| panic!("{metric} not in {}", summary.body()))
        .clone();
    (row["used"].as_i64().unwrap(), row["limit"].as_i64())
}

#[tokio::test]
async fn the_same_events_sent_by_eight_clients_at_once_count_once() {
    let app = metered_app(false).await;
    let owner = metered_owner(&app, "wanjiru@meter.example", "Meter").await;
    // Eight clients of the tenant sharing its ingest key, all at once, first requests.
    let key = usage_key(&app, &owner, json!(["usage.write"])).await;
    let keys = vec![key; 8];
    let events: Vec<Value> = (0..200)
        .map(|i| event(&format!("evt-{i}"), "sms", 1))
        .collect();
    let body = json!({ "events": events });
    let answers =
        futures::future::join_all(keys.iter().map(|key| post_usage(&app, key, &body))).await;
    let (mut accepted, mut duplicates) = (0, 0);
    for (status, answer) in &answers {
        assert_eq!(*status, 200, "{answer}");
        accepted += answer["accepted"].as_i64().unwrap();
        duplicates += answer["duplicates"].as_i64().unwrap();
    }
    assert_eq!(accepted, 200, "each id counts once: {answers:?}");
    assert_eq!(duplicates, 7 * 200);
    assert_eq!(used(&app, &owner, "sms").await, (200, Some(1000)));
    // A repeat within one batch is a duplicate of its first occurrence.
    let again = owner
        .gql(
            &app,
            RECORD,
            json!({ "events": [event("new-1", "sms", 5), event("new-1", "sms", 5), event("evt-3", "sms", 1)] }),
        )
        .await;
    assert_eq!(
        again.data()["recordUsage"],
        json!({ "accepted": 1, "duplicates": 2 })
    );
    assert_eq!(used(&app, &owner, "sms").await.0, 205);
}

#[tokio::test]
async fn a_bad_event_refuses_the_whole_batch_naming_its_index_and_field() {
    let app = metered_app(false).await;
    let owner = metered_owner(&app, "wanjiru@meter.example", "Meter").await;
    let other = metered_owner(&app, "baraka@other.example", "Other").await;
    let foreign_store = other.main_store(&app).await;
    let own_store = owner.main_store(&app).await;
    let now = Utc::now();
    let good = event("ok-1", "sms", 3);
    let cases: Vec<(Value, &str)> = vec![
        (event("bad-q", "sms", -1), "events[1].quantity"),
        (event("bad-m", "telepathy", 1), "events[1].metric"),
        (event("", "sms", 1), "events[1].id"),
        (
            json!({ "id": "future", "metric": "sms", "quantity": 1,
                "occurredAt": (now + Duration::minutes(10)).to_rfc3339() }),
            "events[1].occurredAt",
        ),
        (
            json!({ "id": "late", "metric": "sms", "quantity": 1,
                "occurredAt": (now - Duration::days(40)).to_rfc3339() }),
            "events[1].occurredAt",
        ),
        (
            json!({ "id": "theirs", "metric": "sms", "quantity": 1, "storeId": foreign_store }),
            "events[1].storeId",
        ),
        (
            json!({ "id": "props", "metric": "sms", "quantity": 1, "properties": [1, 2] }),
            "events[1].properties",
        ),
    ];
    let key = usage_key(&app, &owner, json!(["usage.write"])).await;
    for (bad, field) in &cases {
        let batch = json!({ "events": [good.clone(), bad.clone()] });
        let answer = owner
            .gql(&app, RECORD, json!({ "events": batch["events"] }))
            .await;
        assert_eq!(answer.error_code(), "BAD_USER_INPUT", "{}", answer.body());
        assert_eq!(
            answer.error()["extensions"]["field"],
            *field,
            "{}",
            answer.body()
        );
        // The same over REST: 400, the same field.
        let (status, body) = post_usage(&app, &key, &batch).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], *field, "{body}");
    }
    // A malformed body over REST names the event and field too.
    let (status, body) = post_usage(
        &app,
        &key,
        &json!({ "events": [good.clone(), { "id": "x", "metric": "sms", "quantity": "many" }] }),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["errors"][0]["extensions"]["field"], "events[1].quantity",
        "{body}"
    );
    let too_many: Vec<Value> = (0..1001)
        .map(|i| event(&format!("m{i}"), "sms", 1))
        .collect();
    let (status, body) = post_usage(&app, &key, &json!({ "events": too_many })).await;
    assert_eq!(
        (status, body["errors"][0]["extensions"]["field"].clone()),
        (400, json!("events"))
    );
    // Nothing of any refused batch counted, not even its good event.
    assert_eq!(used(&app, &owner, "sms").await.0, 0);
    // The tenant's own store is fine, as is an event a little in the future.
    let fine = owner
        .gql(
            &app,
            RECORD,
            json!({ "events": [{ "id": "here", "metric": "sms", "quantity": 2, "storeId": own_store,
                "occurredAt": (now + Duration::minutes(2)).to_rfc3339(), "properties": { "to": "0712" } }] }),
        )
        .await;
    assert_eq!(fine.data()["recordUsage"]["accepted"], 1, "{}", fine.body());
    assert_eq!(used(&app, &owner, "sms").await.0, 2);
}

#[tokio::test]
async fn a_hard_quota_takes_usage_up_to_its_limit_and_refuses_past_it_whole() {
    let app = metered_app(false).await;
    let owner = metered_owner(&app, "wanjiru@meter.example", "Meter").await;
    let batch = |from: usize, n: usize| -> Value {
        json!(
            (from..from + n)
                .map(|i| event(&format!("x{i}"), "exports", 1))
                .collect::<Vec<_>>()
        )
    };
    let nine = owner
        .gql(&app, RECORD, json!({ "events": batch(0, 9) }))
        .await;
    assert_eq!(nine.data()["recordUsage"]["accepted"], 9, "{}", nine.body());
    // Two more would be 11 of 10: the batch is refused whole, the first of them included.
    let over = owner
        .gql(&app, RECORD, json!({ "events": batch(9, 2) }))
        .await;
    assert_eq!(over.error_code(), "PLAN_LIMIT_EXCEEDED", "{}", over.body());
    assert_eq!(over.error()["extensions"]["limit"], "exports");
    assert_eq!(over.error()["extensions"]["max"], 10);
    assert_eq!(used(&app, &owner, "exports").await, (9, Some(10)));
    // Exactly at the limit is allowed; one past it is not.
    let tenth = owner
        .gql(&app, RECORD, json!({ "events": batch(9, 1) }))
        .await;
    assert_eq!(
        tenth.data()["recordUsage"]["accepted"],
        1,
        "{}",
        tenth.body()
    );
    let eleventh = owner
        .gql(&app, RECORD, json!({ "events": batch(10, 1) }))
        .await;
    assert_eq!(eleventh.error_code(), "PLAN_LIMIT_EXCEEDED");
    // A repeat of a counted id adds nothing, so it is no breach.
    let repeat = owner
        .gql(&app, RECORD, json!({ "events": batch(0, 1) }))
        .await;
    assert_eq!(
        repeat.data()["recordUsage"],
        json!({ "accepted": 0, "duplicates": 1 }),
        "{}",
        repeat.body()
    );
    assert_eq!(used(&app, &owner, "exports").await, (10, Some(10)));
}

#[tokio::test]
async fn a_soft_quota_accepts_usage_past_it_and_tells_the_owner_at_80_and_100_percent_once_each() {
    let app = metered_app(false).await;
    let owner = metered_owner(&app, "wanjiru@meter.example", "Meter").await;
    let record =
        |id: &str, q: i64| owner.gql(&app, RECORD, json!({ "events": [event(id, "sms", q)] }));
    let alerts = || {
        app.smtp
            .mails()
            .into_iter()
            .filter(|m| m.subject().contains("SMS"))
            .map(|m| m.subject().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(record("a", 799).await.data()["recordUsage"]["accepted"], 1);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(alerts().is_empty(), "{:?}", alerts());
    record("b", 1).await;
    app.smtp.wait_for(&owner.email, "at 80% of its quota").await;
    record("c", 150).await;
    record("d", 50).await;
    app.smtp
        .wait_for(&owner.email, "has reached its quota")
        .await;
    let past = record("e", 500).await;
    assert_eq!(
        past.data()["recordUsage"]["accepted"],
        1,
        "soft: accepted past the quota"
    );
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(alerts().len(), 2, "each threshold once: {:?}", alerts());
    assert_eq!(used(&app, &owner, "sms").await, (1500, Some(1000)));
}

#[tokio::test]
async fn rollups_equal_the_raw_totals_of_random_ingest_at_every_granularity() {
    let app = metered_app(false).await;
    let owner = metered_owner(&app, "wanjiru@meter.example", "Meter").await;
    let key = usage_key(&app, &owner, json!(["usage.write", "usage.read"])).await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(14);
    let now = Utc::now();
    // Events in the last 50 minutes (inside the open period, or late within the grace).
    let mut raw: Vec<(String, &str, i64, DateTime<Utc>)> = Vec::new();
    for batch in 0..6 {
        let mut events = Vec::new();
        for i in 0..rng.random_range(1..120) {
            let metric = ["sms", "seats_peak"][rng.random_range(0..2)];
            let id = if rng.random_bool(0.1) && !raw.is_empty() {
                raw[rng.random_range(0..raw.len())].0.clone() // a repeat
            } else {
                format!("r{batch}-{i}")
            };
            let q = rng.random_range(0..50);
            let at = now - Duration::seconds(rng.random_range(0..3000));
            events.push(
                json!({ "id": id, "metric": metric, "quantity": q, "occurredAt": at.to_rfc3339() }),
            );
            if !raw.iter().any(|r| r.0 == id)
                && !events[..events.len() - 1].iter().any(|e| e["id"] == id)
            {
                raw.push((id, metric, q, at));
            }
        }
        let (status, body) = post_usage(&app, &key, &json!({ "events": events })).await;
        assert_eq!(status, 200, "{body}");
    }
    let from = now - Duration::hours(3);
    let to = now + Duration::hours(1);
    for (metric, max) in [("sms", false), ("seats_peak", true)] {
        let mine: Vec<_> = raw.iter().filter(|r| r.1 == metric).collect();
        let expected = if max {
            mine.iter().map(|r| r.2).max().unwrap_or(0)
        } else {
            mine.iter().map(|r| r.2).sum()
        };
        for granularity in ["HOUR", "DAY", "MONTH"] {
            let series = app
                .graphql_as(
                    &key,
                    &[],
                    USAGE,
                    json!({ "m": metric, "from": from, "to": to, "g": granularity }),
                )
                .await;
            let series = &series.data()["usage"];
            assert_eq!(
                series["total"], expected,
                "{metric} {granularity}: {series}"
            );
            if granularity == "HOUR" {
                assert!(series["points"].as_array().unwrap().len() >= 4);
                for point in series["points"].as_array().unwrap() {
                    let start: DateTime<Utc> = point["start"].as_str().unwrap().parse().unwrap();
                    let inside = mine
                        .iter()
                        .filter(|r| r.3 >= start && r.3 < start + Duration::hours(1));
                    let want = if max {
                        inside.map(|r| r.2).max().unwrap_or(0)
                    } else {
                        inside.map(|r| r.2).sum()
                    };
                    assert_eq!(point["value"], want, "{metric} at {start}");
                }
            }
        }
    }
    // A range too fine for one answer is refused naming `to`.
    let wide = app
        .graphql_as(
            &key,
            &[],
            USAGE,
            json!({ "m": "sms", "from": now - Duration::days(400), "to": now, "g": "HOUR" }),
        )
        .await;
    assert_eq!(wide.error()["extensions"]["field"], "to");
}

#[tokio::test]
async fn the_renewal_invoice_bills_usage_above_what_the_plan_includes_exactly() {
    let app = metered_app(true).await;
    let mut owner = metered_owner(&app, "wanjiru@meter.example", "Meter").await;
    let events: Vec<Value> = (0..7).map(|i| event(&format!("s{i}"), "sms", 37)).collect();
    let recorded = owner.gql(&app, RECORD, json!({ "events": events })).await;
    assert_eq!(
        recorded.data()["recordUsage"]["accepted"],
        7,
        "{}",
        recorded.body()
    );
    // 259 sent, 100 included: 159 × KES 1.50 = KES 238.50 on the invoice the trial's end issues.
    advance(&app, 15 * 86_400).await;
    let issued = app
        .eventually(std::time::Duration::from_secs(20), || {
            let app = &app;
            let mut owner = owner.clone();
            async move { !invoices(app, &mut owner).await.is_empty() }
        })
        .await;
    assert!(issued, "the trial's end issued no invoice");
    let invoice = invoices(&app, &mut owner).await.pop().unwrap();
    let usage: Vec<&Value> = invoice["lines"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["kind"] == "USAGE")
        .collect();
    assert_eq!(usage.len(), 1, "{invoice}");
    assert_eq!(usage[0]["quantity"], 159);
    assert_eq!(usage[0]["unitAmount"]["amount"], "1.50");
    assert_eq!(usage[0]["amount"]["amount"], "238.50");
    assert_eq!(invoice["subtotal"]["amount"], "1238.50", "{invoice}");
    // The new period starts from nothing.
    assert_eq!(used(&app, &owner, "sms").await.0, 0);
}

#[tokio::test]
async fn usage_is_the_tenants_own_and_needs_its_permissions() {
    let app = metered_app(false).await;
    let a = metered_owner(&app, "wanjiru@meter.example", "Meter").await;
    let b = metered_owner(&app, "baraka@other.example", "Other").await;
    a.gql(
        &app,
        RECORD,
        json!({ "events": [event("same-id", "sms", 40)] }),
    )
    .await;
    // B's events may use the same ids: keys are per tenant.
    let theirs = b
        .gql(
            &app,
            RECORD,
            json!({ "events": [event("same-id", "sms", 2)] }),
        )
        .await;
    assert_eq!(theirs.data()["recordUsage"]["accepted"], 1);
    assert_eq!(used(&app, &a, "sms").await.0, 40);
    assert_eq!(used(&app, &b, "sms").await.0, 2);
    // A key without usage.write is refused, over GraphQL and REST; so is a user's token
    // on the REST endpoint, which is for API keys.
    let reader = usage_key(&app, &a, json!(["usage.read"])).await;
    let refused = app
        .graphql_as(
            &reader,
            &[],
            RECORD,
            json!({ "events": [event("k", "sms", 1)] }),
        )
        .await;
    assert_eq!(refused.error_code(), "FORBIDDEN");
    let (status, body) =
        post_usage(&app, &reader, &json!({ "events": [event("k", "sms", 1)] })).await;
    assert_eq!(
        (status, body["errors"][0]["extensions"]["code"].clone()),
        (403, json!("FORBIDDEN"))
    );
    let (status, _) = post_usage(
        &app,
        &a.access,
        &json!({ "events": [event("k", "sms", 1)] }),
    )
    .await;
    assert_eq!(status, 401);
    let (status, _) = post_usage(&app, "msk_nonsense", &json!({ "events": [] })).await;
    assert_eq!(status, 401);
    assert_eq!(used(&app, &a, "sms").await.0, 40);
    // A tenant whose plan lacks metering cannot record at all.
    let free = app.register("c@starter.example", "Starter").await;
    let no_module = free
        .gql(&app, RECORD, json!({ "events": [event("k", "sms", 1)] }))
        .await;
    assert_eq!(no_module.error_code(), "FORBIDDEN");
    // The catalogue is public; adding to it is for platform admins.
    let catalogue = app
        .graphql("{ metrics { code aggregation } }", json!({}))
        .await;
    let codes: Vec<&str> = catalogue.data()["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        [
            "api_calls",
            "exports",
            "members",
            "seats_peak",
            "sms",
            "stores"
        ]
    );
    let denied = a
        .gql(
            &app,
            CREATE_METRIC,
            json!({ "input": { "code": "mine", "name": "M", "unit": "u", "aggregation": "SUM" } }),
        )
        .await;
    assert_eq!(denied.error_code(), "FORBIDDEN");
    // The OpenAPI document describes the endpoint.
    let doc: Value = app.get("/api/v1/openapi.json").await.json().await.unwrap();
    assert_eq!(
        doc["paths"]["/api/v1/usage"]["post"]["operationId"],
        "recordUsage"
    );
    assert_eq!(
        doc["paths"]["/api/v1/usage"]["post"]["requestBody"]["content"]["application/json"]["schema"]
            ["properties"]["events"]["maxItems"],
        1000
    );
}

const ME: &str = "{ me { user { id } } }";

async fn api_calls(app_address: &str, app: &TestApp, owner: &Persona) -> i64 {
    let summary = app
        .graphql_at(app_address, &owner.access, SUMMARY, json!({}))
        .await;
    summary.data()["usageSummary"]
        .as_array()
        .unwrap_or_else(|| panic!("{}", summary.body()))
        .iter()
        .find(|r| r["metric"] == "api_calls")
        .map_or(0, |r| r["used"].as_i64().unwrap())
}

#[tokio::test]
async fn each_authenticated_graphql_request_counts_once_in_api_calls_and_a_stopping_node_flushes_its_count()
 {
    // The first node flushes only when it stops; the second every second.
    let mut app = metered_app_with(false, &[("USAGE_FLUSH_SECONDS", "3600")]).await;
    let owner = metered_owner(&app, "akinyi@calls.example", "Calls").await;
    // Choosing the plan was one request in the tenant, on the first node.
    let mut asked_first = 1;
    let second = app
        .another_node_with(|config| config.billing.usage_flush_seconds = 1)
        .await;
    for _ in 0..7 {
        let me = app.graphql_at(&second, &owner.access, ME, json!({})).await;
        assert!(me.body()["errors"].is_null(), "{}", me.body());
    }
    // Asked on the first node (which counts the question, and keeps it): the second node's
    // seven, once its flush ran, and never more however often it flushes again.
    let mut seen = 0;
    for _ in 0..50 {
        asked_first += 1;
        seen = api_calls(&app.address, &app, &owner).await;
        if seen >= 7 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(seen, 7, "the second node's requests, recorded once");
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    asked_first += 1;
    assert_eq!(api_calls(&app.address, &app, &owner).await, 7);

    // Stopping the first node records what it counted: every question above.
    app.stop().await.expect("the first node stops cleanly");
    let (mut total, mut asked_second) = (0, 0);
    for _ in 0..50 {
        asked_second += 1;
        total = api_calls(&second, &app, &owner).await;
        if total >= 7 + asked_first {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // The second node's own questions are counted there too, as its flushes record them.
    assert!(
        (7 + asked_first..=7 + asked_first + asked_second).contains(&total),
        "{total} api_calls: 7 + {asked_second} on the second node, {asked_first} on the first"
    );
}

#[tokio::test]
async fn clients_cannot_record_the_platforms_own_metrics() {
    let app = metered_app(false).await;
    let owner = metered_owner(&app, "otieno@platform-metrics.example", "Platform Metrics").await;
    let key = usage_key(&app, &owner, json!(["usage.write"])).await;
    for metric in ["api_calls", "members", "stores"] {
        let (status, answer) = post_usage(
            &app,
            &key,
            &json!({ "events": [event("a", "sms", 1), event("b", metric, 5)] }),
        )
        .await;
        assert_eq!(status, 400, "{answer}");
        assert_eq!(
            answer["errors"][0]["extensions"]["field"], "events[1].metric",
            "{answer}"
        );
    }
    assert_eq!(
        used(&app, &owner, "sms").await.0,
        0,
        "nothing of a refused batch counts"
    );
}

#[tokio::test]
async fn raw_events_past_their_retention_are_deleted_and_reports_do_not_change() {
    let app = metered_app_with(true, &[("USAGE_RETENTION_DAYS", "1")]).await;
    let owner = metered_owner(&app, "njeri@retention.example", "Retention").await;
    let key = usage_key(&app, &owner, json!(["usage.write"])).await;
    let events: Vec<Value> = (0..30)
        .map(|i| event(&format!("old-{i}"), "sms", 2))
        .collect();
    let (status, answer) = post_usage(&app, &key, &json!({ "events": events })).await;
    assert_eq!(status, 200, "{answer}");
    let recorded_at = app.db.clock().now();
    let range = json!({ "m": "sms", "from": (recorded_at - Duration::hours(2)).to_rfc3339(),
        "to": (recorded_at + Duration::hours(2)).to_rfc3339(), "g": "HOUR" });
    let before = owner.gql(&app, USAGE, range.clone()).await;
    assert_eq!(before.data()["usage"]["total"], 60, "{}", before.body());

    // Within the retention (a day here) nothing goes.
    assert_eq!(
        msingi::usage::purge_expired_events(&app.db, &app.config.billing)
            .await
            .unwrap(),
        0
    );
    advance(&app, 2 * 86_400).await;
    let fresh: Vec<Value> = (0..4)
        .map(|i| event(&format!("new-{i}"), "sms", 1))
        .collect();
    let (status, answer) = post_usage(&app, &key, &json!({ "events": fresh })).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        msingi::usage::purge_expired_events(&app.db, &app.config.billing)
            .await
            .unwrap(),
        30,
        "the 30 events recorded two days ago, not the 4 of today"
    );
    assert_eq!(
        msingi::usage::purge_expired_events(&app.db, &app.config.billing)
            .await
            .unwrap(),
        0,
        "a second run finds nothing more"
    );
    let mut owner = owner;
    owner.access = app.access_token(&owner.email, &owner.password).await;
    let after = owner.gql(&app, USAGE, range).await;
    assert_eq!(
        after.data()["usage"],
        before.data()["usage"],
        "reports read the rollups"
    );
}

#[tokio::test]
async fn canceling_now_bills_the_usage_so_far_at_once() {
    let app = metered_app(false).await;
    let mut owner = metered_owner(&app, "chebet@cancel.example", "Cancel Now").await;
    let events: Vec<Value> = (0..4).map(|i| event(&format!("c{i}"), "sms", 50)).collect();
    let recorded = owner.gql(&app, RECORD, json!({ "events": events })).await;
    assert_eq!(
        recorded.data()["recordUsage"]["accepted"],
        4,
        "{}",
        recorded.body()
    );
    let canceled = owner
        .gql(
            &app,
            "mutation { cancelSubscription(atPeriodEnd: false) { status } }",
            json!({}),
        )
        .await;
    assert_eq!(
        canceled.data()["cancelSubscription"]["status"],
        "CANCELED",
        "{}",
        canceled.body()
    );
    // 200 sent, 100 included: 100 × KES 1.50, on an invoice issued now, and only that.
    let issued = invoices(&app, &mut owner).await;
    assert_eq!(issued.len(), 1, "{issued:?}");
    let lines = issued[0]["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 1, "{}", issued[0]);
    assert_eq!(lines[0]["kind"], "USAGE");
    assert_eq!(lines[0]["quantity"], 100);
    assert_eq!(lines[0]["amount"]["amount"], "150.00");
    assert_eq!(issued[0]["subtotal"]["amount"], "150.00", "{}", issued[0]);

    // Canceling at the period's end bills nothing yet (the period's end will).
    let mut other = metered_owner(&app, "rotich@later.example", "Cancel Later").await;
    let events: Vec<Value> = (0..4).map(|i| event(&format!("c{i}"), "sms", 50)).collect();
    other.gql(&app, RECORD, json!({ "events": events })).await;
    other
        .gql(
            &app,
            "mutation { cancelSubscription(atPeriodEnd: true) { status } }",
            json!({}),
        )
        .await;
    assert!(invoices(&app, &mut other).await.is_empty());
}
