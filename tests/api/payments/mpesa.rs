//! M-Pesa over real HTTP: `payInvoice` asks the bundled Daraja simulator (mounted at
//! `/_daraja` on the test server) for an STK push; the simulator posts Safaricom's
//! callback to the URL the server gave it; the callback settles the invoice once.

use std::time::Duration;

use serde_json::{Value, json};

use crate::billing::renewals::issue_now;
use crate::common::TestApp;
use crate::personas::Persona;

pub const PAY: &str = "mutation($invoice: ID!, $phone: String!) { payInvoice(invoiceId: $invoice, \
    phoneNumber: $phone) { id status amount { amount currency } rounding { amount } phoneNumber \
    checkoutRequestId receiptNumber resultCode reviewReason } }";
const PAYMENT: &str = "query($id: ID!) { payment(id: $id) { id status amount { amount } \
    receiptNumber resultCode resultDescription reviewReason checkoutRequestId \
    invoice { id status amountPaid { amount } amountDue { amount } } } }";
const INVOICE: &str = "query($id: ID!) { invoice(id: $id) { status amountPaid { amount } \
    amountDue { amount } payments { id status receiptNumber } } }";

/// The payment as the owner reads it.
async fn payment(app: &TestApp, owner: &Persona, id: &str) -> Value {
    owner.gql(app, PAYMENT, json!({ "id": id })).await.data()["payment"].clone()
}

/// Waits until the payment is no longer PENDING (or `timeout`), and returns it.
pub async fn settled(app: &TestApp, owner: &Persona, id: &str, timeout: Duration) -> Value {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let p = payment(app, owner, id).await;
        if p["status"] != "PENDING" || tokio::time::Instant::now() >= deadline {
            return p;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn pay(
    app: &TestApp,
    owner: &Persona,
    invoice: &str,
    phone: &str,
) -> crate::common::GqlResponse {
    owner
        .gql(app, PAY, json!({ "invoice": invoice, "phone": phone }))
        .await
}

const REVIEWS: &str = "{ paymentReviews { kind id tenantId reason at action } }";

/// The reconciliation report, as a platform admin reads it.
async fn reviews(app: &TestApp) -> Vec<Value> {
    let admin = app.admin_token().await;
    let report = app.graphql_as(&admin, &[], REVIEWS, json!({})).await;
    report.data()["paymentReviews"]
        .as_array()
        .unwrap_or_else(|| panic!("{}", report.body()))
        .clone()
}

/// An app whose simulator holds its answers back (and `env`), a tenant with an open
/// invoice, and a pending push for it: (app, owner, invoice id, the payment).
async fn held_push(env: &[(&str, &str)]) -> (TestApp, Persona, String, Value) {
    let mut builder = TestApp::builder()
        .with_platform_admin()
        .env("MPESA_SIM_CALLBACK_DELAY_MS", "3600000");
    for (name, value) in env {
        builder = builder.env(name, value);
    }
    let app = builder.spawn().await;
    let owner = app.register("asha@duka.example", "Duka").await;
    let invoice = issue_now(&app, &owner).await;
    let pushed = pay(&app, &owner, &invoice, "0708374149").await;
    let payment = pushed.data()["payInvoice"].clone();
    (app, owner, invoice, payment)
}

#[tokio::test]
async fn an_stk_push_settles_the_invoice_when_safaricom_calls_back() {
    let app = TestApp::spawn().await;
    let owner = app.register("asha@duka.example", "Duka").await;
    let invoice = issue_now(&app, &owner).await;
    // A local number in any usual form.
    let pushed = pay(&app, &owner, &invoice, "0708 374-149").await;
    let p = pushed.data()["payInvoice"].clone();
    assert_eq!(p["status"], "PENDING");
    assert_eq!(
        p["amount"],
        json!({ "amount": "1740.00", "currency": "KES" })
    );
    assert_eq!(p["rounding"]["amount"], "0.00");
    assert_eq!(p["phoneNumber"], "254708374149");
    assert!(
        p["checkoutRequestId"]
            .as_str()
            .unwrap()
            .starts_with("ws_CO_")
    );
    let id = p["id"].as_str().unwrap().to_owned();
    let done = settled(&app, &owner, &id, Duration::from_secs(15)).await;
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    assert_eq!(done["resultCode"], 0);
    assert_eq!(done["receiptNumber"].as_str().unwrap().len(), 10);
    assert_eq!(done["invoice"]["status"], "PAID");
    assert_eq!(done["invoice"]["amountPaid"]["amount"], "1740.00");
    let invoice_now = owner.gql(&app, INVOICE, json!({ "id": invoice })).await;
    assert_eq!(
        invoice_now.data()["invoice"]["payments"][0]["receiptNumber"],
        done["receiptNumber"]
    );
    // The owner got the receipt by email.
    let receipt = done["receiptNumber"].as_str().unwrap().to_owned();
    let mail = app
        .smtp
        .wait_for("asha@duka.example", "Payment received")
        .await;
    assert!(mail.subject().contains(&receipt), "{}", mail.subject());
    // The printable page lists the payment with its receipt.
    let hosted = owner
        .gql(
            &app,
            "query($id: ID!) { invoice(id: $id) { hostedUrl } }",
            json!({ "id": invoice }),
        )
        .await;
    let url = hosted.data()["invoice"]["hostedUrl"]
        .as_str()
        .unwrap()
        .to_owned();
    let page = app
        .client
        .get(&url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains(&format!("M-Pesa {receipt}")), "{page}");
    // A paid invoice has nothing to pay.
    let again = pay(&app, &owner, &invoice, "0708374149").await;
    assert_eq!(again.error_code(), "CONFLICT", "{}", again.body());
}

#[tokio::test]
async fn every_simulated_outcome_ends_in_its_status_and_a_duplicate_callback_settles_once() {
    let app = TestApp::spawn().await;
    let owner = app.register("asha@duka.example", "Duka").await;
    let invoice = issue_now(&app, &owner).await;
    for (phone, status, code) in [
        ("0708370001", "FAILED", 1),
        ("0708371032", "CANCELLED", 1032),
        ("0708371037", "FAILED", 1037),
        ("0708372001", "FAILED", 2001),
        ("0708371019", "TIMED_OUT", 1019),
    ] {
        let pushed = pay(&app, &owner, &invoice, phone).await;
        let id = pushed.data()["payInvoice"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let done = settled(&app, &owner, &id, Duration::from_secs(15)).await;
        assert_eq!(done["status"], status, "{phone}: {done}");
        assert_eq!(done["resultCode"], code, "{phone}");
        assert_eq!(done["invoice"]["status"], "OPEN", "{phone}: nothing paid");
    }
    // Refused at once ("unable to lock subscriber"): a clear provider error.
    let locked = pay(&app, &owner, &invoice, "0708377777").await;
    assert_eq!(
        locked.error_code(),
        "PAYMENT_PROVIDER_ERROR",
        "{}",
        locked.body()
    );
    // Paid, and the callback delivered twice: settled once.
    let pushed = pay(&app, &owner, &invoice, "0708378888").await;
    let id = pushed.data()["payInvoice"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let done = settled(&app, &owner, &id, Duration::from_secs(15)).await;
    assert_eq!(done["status"], "SUCCEEDED");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let invoice_now = owner.gql(&app, INVOICE, json!({ "id": invoice })).await;
    let invoice_now = &invoice_now.data()["invoice"];
    assert_eq!(invoice_now["status"], "PAID");
    assert_eq!(invoice_now["amountPaid"]["amount"], "1740.00", "not twice");
    let credit = owner
        .gql(&app, "{ tenant { credit { amount } } }", json!({}))
        .await;
    assert_eq!(credit.data()["tenant"]["credit"]["amount"], "0.00");
    assert_eq!(invoice_now["payments"].as_array().unwrap().len(), 7);
}

#[tokio::test]
async fn a_lost_callback_is_settled_by_the_sweeper_through_stk_query() {
    let app = TestApp::builder()
        .env("MSINGI_TEST_CLOCK", "true")
        .with_platform_admin()
        .spawn()
        .await;
    let owner = app.register("asha@duka.example", "Duka").await;
    let invoice = issue_now(&app, &owner).await;
    let pushed = pay(&app, &owner, &invoice, "0708379999").await;
    let id = pushed.data()["payInvoice"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        payment(&app, &owner, &id).await["status"],
        "PENDING",
        "no callback comes"
    );
    // Past 90 s the sweeper asks STK Query, which knows.
    crate::billing::renewals::advance(&app, 120).await;
    let mut owner = owner;
    owner.access = app.access_token(&owner.email, &owner.password).await;
    let done = payment(&app, &owner, &id).await;
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    assert_eq!(done["invoice"]["status"], "PAID");
    assert!(
        done["receiptNumber"].is_null(),
        "STK Query gives no receipt"
    );
}

#[tokio::test]
async fn a_pending_push_is_returned_again_and_the_control_api_decides_it() {
    let (app, owner, invoice, first) = held_push(&[]).await;
    let second = pay(&app, &owner, &invoice, "0708374149").await;
    assert_eq!(
        second.data()["payInvoice"]["id"],
        first["id"],
        "no second push"
    );
    let pushes = simulator(&app, "pushes").await;
    assert_eq!(pushes["pushes"].as_array().unwrap().len(), 1);
    let checkout = first["checkoutRequestId"].as_str().unwrap();
    let decided = app
        .client
        .post(format!(
            "{}/_daraja/_sim/pushes/{checkout}/complete",
            app.address
        ))
        .json(&json!({ "ResultCode": 1032 }))
        .send()
        .await
        .unwrap();
    assert_eq!(decided.status(), 200);
    let id = first["id"].as_str().unwrap();
    let done = settled(&app, &owner, id, Duration::from_secs(15)).await;
    assert_eq!(done["status"], "CANCELLED");
}

/// A success callback for `payment` as Safaricom would send it.
fn success_body(checkout: &str, amount: f64, receipt: &str, phone: u64) -> Value {
    json!({ "Body": { "stkCallback": {
        "MerchantRequestID": "29115-34620561-1",
        "CheckoutRequestID": checkout,
        "ResultCode": 0,
        "ResultDesc": "The service request is processed successfully.",
        "CallbackMetadata": { "Item": [
            { "Name": "Amount", "Value": amount },
            { "Name": "MpesaReceiptNumber", "Value": receipt },
            { "Name": "TransactionDate", "Value": 20261201102115u64 },
            { "Name": "PhoneNumber", "Value": phone },
        ] }
    } } })
}

/// The callback URL path the server gave Daraja for `payment`.
fn callback_path(app: &TestApp, owner: &Persona, payment: &str) -> String {
    let key = msingi::payments::callbacks::CallbackKey::load(&app.config.mpesa).unwrap();
    let tenant = msingi::ids::TenantId::from_uuid(uuid::Uuid::parse_str(&owner.tenant_id).unwrap());
    key.url("", tenant, uuid::Uuid::parse_str(payment).unwrap())
}

#[tokio::test]
async fn a_hundred_identical_callbacks_settle_once_and_forgeries_change_nothing() {
    let (app, owner, invoice, p) = held_push(&[]).await;
    let id = p["id"].as_str().unwrap().to_owned();
    let checkout = p["checkoutRequestId"].as_str().unwrap().to_owned();
    let body = success_body(&checkout, 1740.0, "NLJ7RT61SV", 254708374149);

    // Forged: the right payment, a wrong token; and a path that names nothing.
    let path = callback_path(&app, &owner, &id);
    // One hex digit changed (never to itself: the token ends in any digit).
    let last = if path.ends_with('0') { '1' } else { '0' };
    let forged = format!("{}{last}", &path[..path.len() - 1]);
    for target in [forged.as_str(), "/webhooks/mpesa/whatever"] {
        let answer = app
            .client
            .post(format!("{}{target}", app.address))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200, "never a 5xx");
        let ack: Value = answer.json().await.unwrap();
        assert_eq!(ack, json!({ "ResultCode": 0, "ResultDesc": "Accepted" }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(payment(&app, &owner, &id).await["status"], "PENDING");
    // Malformed, on the right URL: stored, flagged, acknowledged.
    let malformed = app
        .client
        .post(format!("{}{path}", app.address))
        .body("{\"Body\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 200);

    // A hundred copies of the real one at once.
    let sends = (0..100).map(|_| {
        app.client
            .post(format!("{}{path}", app.address))
            .json(&body)
            .send()
    });
    for answer in futures::future::join_all(sends).await {
        assert_eq!(answer.unwrap().status(), 200);
    }
    let done = settled(&app, &owner, &id, Duration::from_secs(20)).await;
    assert_eq!(done["status"], "SUCCEEDED");
    assert_eq!(done["receiptNumber"], "NLJ7RT61SV");
    // Let every copy be processed, then check nothing counted twice.
    let idle = app
        .eventually(Duration::from_secs(30), || async {
            let stats = app.jobs_backend().queue_stats("payments").await.unwrap();
            stats.pending + stats.running == 0
        })
        .await;
    assert!(idle);
    let invoice_now = owner.gql(&app, INVOICE, json!({ "id": invoice })).await;
    assert_eq!(
        invoice_now.data()["invoice"]["amountPaid"]["amount"],
        "1740.00"
    );
    let credit = owner
        .gql(&app, "{ tenant { credit { amount } } }", json!({}))
        .await;
    assert_eq!(credit.data()["tenant"]["credit"]["amount"], "0.00");
    // The forgeries and the malformed body are on the reconciliation report.
    let report = reviews(&app).await;
    let flags: Vec<&str> = report
        .iter()
        .map(|r| r["reason"].as_str().unwrap())
        .collect();
    assert_eq!(
        flags.iter().filter(|f| f.starts_with("forged")).count(),
        2,
        "{flags:?}"
    );
    assert_eq!(
        flags.iter().filter(|f| f.starts_with("malformed")).count(),
        1,
        "{flags:?}"
    );
}

#[tokio::test]
async fn an_amount_mismatch_is_flagged_for_review_not_settled() {
    let (app, owner, _, p) = held_push(&[]).await;
    let id = p["id"].as_str().unwrap().to_owned();
    let body = success_body(
        p["checkoutRequestId"].as_str().unwrap(),
        1.0,
        "NLJ7RT61SX",
        254708374149,
    );
    let path = callback_path(&app, &owner, &id);
    app.client
        .post(format!("{}{path}", app.address))
        .json(&body)
        .send()
        .await
        .unwrap();
    let flagged = app
        .eventually(Duration::from_secs(15), || async {
            !payment(&app, &owner, &id).await["reviewReason"].is_null()
        })
        .await;
    assert!(flagged);
    let p = payment(&app, &owner, &id).await;
    assert!(
        p["reviewReason"]
            .as_str()
            .unwrap()
            .starts_with("amount mismatch"),
        "{p}"
    );
    assert_eq!(p["invoice"]["status"], "OPEN", "never settled");
    assert_eq!(p["invoice"]["amountPaid"]["amount"], "0.00");
    let report = reviews(&app).await;
    assert!(
        report.iter().any(|r| r["kind"] == "payment"
            && r["id"] == id.as_str()
            && r["tenantId"] == owner.tenant_id.as_str()
            && r["action"].as_str().unwrap().contains("refund")),
        "{report:?}"
    );
    // Only platform admins see it: the tenant's owner is refused.
    let refused = owner.gql(&app, REVIEWS, json!({})).await;
    assert_eq!(refused.error_code(), "FORBIDDEN", "{}", refused.body());

    // The platform admins are told by email, on the sweeper's next run (every 15 s), once.
    let alerts = || {
        app.smtp
            .mails()
            .into_iter()
            .filter(|m| {
                m.to.iter().any(|t| t == crate::personas::ADMIN_EMAIL)
                    && m.subject().contains("need")
                    && m.subject().contains("review")
            })
            .collect::<Vec<_>>()
    };
    let told = app
        .eventually(Duration::from_secs(45), || async { !alerts().is_empty() })
        .await;
    assert!(told, "no review alert; mails: {:#?}", app.smtp.mails());
    let alert = alerts().remove(0);
    assert!(alert.data.contains(&id), "{}", alert.data);
    assert!(alert.data.contains("amount mismatch"), "{}", alert.data);
    assert!(alert.data.contains("refund"), "{}", alert.data);
    assert!(alert.data.contains("paymentReviews"), "{}", alert.data);
    // A later sweep tells nobody again.
    tokio::time::sleep(Duration::from_secs(16)).await;
    assert_eq!(alerts().len(), 1, "told twice: {:#?}", alerts());
    assert!(
        !app.smtp.mails().iter().any(
            |m| m.to.iter().any(|t| t == "asha@duka.example") && m.subject().contains("review")
        ),
        "the tenant's owner is not a platform admin"
    );
}

#[tokio::test]
async fn payment_updated_sends_the_current_state_then_the_final_one_over_websocket() {
    let (app, owner, _, p) = held_push(&[]).await;
    let mut ws = app
        .websocket(
            "/graphql/ws",
            json!({ "authorization": format!("Bearer {}", owner.access) }),
        )
        .await;
    ws.subscribe(
        "1",
        "subscription($id: ID!) { paymentUpdated(paymentId: $id) { status receiptNumber } }",
        json!({ "id": p["id"] }),
    )
    .await;
    let first = ws.next_message().await;
    assert_eq!(
        first["payload"]["data"]["paymentUpdated"]["status"], "PENDING",
        "{first}"
    );
    let checkout = p["checkoutRequestId"].as_str().unwrap();
    app.client
        .post(format!(
            "{}/_daraja/_sim/pushes/{checkout}/complete",
            app.address
        ))
        .json(&json!({ "ResultCode": 0 }))
        .send()
        .await
        .unwrap();
    let last = ws.next_message().await;
    assert_eq!(
        last["payload"]["data"]["paymentUpdated"]["status"], "SUCCEEDED",
        "{last}"
    );
    assert!(last["payload"]["data"]["paymentUpdated"]["receiptNumber"].is_string());
    let complete = ws.next_message().await;
    assert_eq!(complete["type"], "complete", "{complete}");

    // Another tenant's owner learns nothing of the payment.
    let other = app.register("baraka@duka-b.example", "Duka B").await;
    let mut ws = app
        .websocket(
            "/graphql/ws",
            json!({ "authorization": format!("Bearer {}", other.access) }),
        )
        .await;
    ws.subscribe(
        "1",
        "subscription($id: ID!) { paymentUpdated(paymentId: $id) { status } }",
        json!({ "id": p["id"] }),
    )
    .await;
    let refused = ws.next_message().await;
    assert_eq!(
        refused["payload"]["errors"][0]["extensions"]["code"], "NOT_FOUND",
        "{refused}"
    );
}

#[tokio::test]
async fn a_suspended_tenant_can_still_pay_and_bad_numbers_are_refused_by_name() {
    const SUSPEND: &str = include_str!("../graphql/tenancy/suspend_tenant.graphql");
    let (app, admin) = TestApp::with_platform_admin().await;
    let owner = app.register("asha@duka.example", "Duka").await;
    let invoice = issue_now(&app, &owner).await;
    // An employee cannot pay; a manager reads billing but cannot pay either.
    for role in ["EMPLOYEE", "MANAGER"] {
        let email = format!("{}@duka.example", role.to_lowercase());
        let member = owner.invite_and_join(&app, &email, role, None).await;
        let refused = pay(&app, &member, &invoice, "0708374149").await;
        assert_eq!(refused.error_code(), "FORBIDDEN", "{role}");
    }
    app.graphql_as(
        &admin,
        &[],
        SUSPEND,
        json!({ "tenantId": owner.tenant_id, "reason": "platform review" }),
    )
    .await
    .data();
    for bad in ["0608374149", "12345", "+1 555 0100", "07083741490"] {
        let refused = pay(&app, &owner, &invoice, bad).await;
        assert_eq!(
            refused.error()["extensions"]["field"],
            "phoneNumber",
            "{bad}"
        );
    }
    let pushed = pay(&app, &owner, &invoice, "+254 708 374 149").await;
    let id = pushed.data()["payInvoice"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let done = settled(&app, &owner, &id, Duration::from_secs(15)).await;
    assert_eq!(done["status"], "SUCCEEDED");
}

#[tokio::test]
async fn a_callback_acknowledged_by_a_node_killed_at_once_settles_when_a_worker_runs() {
    let (app, owner, _, p) = held_push(&[("MSINGI_IN_PROCESS_WORKERS", "false")]).await;
    let id = p["id"].as_str().unwrap().to_owned();
    // A second API node, in its own process, on the same database.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let node = format!("http://127.0.0.1:{port}");
    let mut serve = app
        .msingi(&["serve"])
        .env("MSINGI_BIND", format!("127.0.0.1:{port}"))
        .env("PUBLIC_URL", &node)
        .spawn()
        .expect("start a node");
    let ready = app
        .eventually(Duration::from_secs(20), || async {
            app.client
                .get(format!("{node}/readyz"))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
        })
        .await;
    assert!(ready, "the node did not start");
    // Safaricom's callback reaches it and is acknowledged; the node dies right after.
    let body = success_body(
        p["checkoutRequestId"].as_str().unwrap(),
        1740.0,
        "NLJ7RT61SZ",
        254708374149,
    );
    let path = callback_path(&app, &owner, &id);
    let ack = app
        .client
        .post(format!("{node}{path}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(ack.status(), 200);
    serve.kill().expect("SIGKILL the node");
    serve.wait().unwrap();
    assert_eq!(
        payment(&app, &owner, &id).await["status"],
        "PENDING",
        "nothing ran yet"
    );
    // A worker starts later: what was acknowledged is settled.
    let mut worker = app.msingi(&["worker"]).spawn().expect("start a worker");
    let done = settled(&app, &owner, &id, Duration::from_secs(30)).await;
    worker.kill().unwrap();
    worker.wait().unwrap();
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    assert_eq!(done["receiptNumber"], "NLJ7RT61SZ");
    assert_eq!(done["invoice"]["status"], "PAID");
}

/// What the simulator's control API says at `/_daraja/_sim/{what}`.
async fn simulator(app: &TestApp, what: &str) -> Value {
    app.client
        .get(format!("{}/_daraja/_sim/{what}", app.address))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn daraja_tokens(app: &TestApp) -> i64 {
    simulator(app, "tokens").await["issued"].as_i64().unwrap()
}

#[tokio::test]
async fn nodes_share_one_daraja_token_and_a_revoked_one_is_renewed_once() {
    let mut app = TestApp::builder()
        .env("MPESA_SIM_CALLBACK_DELAY_MS", "3600000")
        .spawn()
        .await;
    // A second API node on the same database, pushing to the same Daraja (the first's
    // simulator): every fetch of a token invalidates the one before, so the nodes must
    // share it, not each fetch their own.
    let second = app.another_node().await;
    let mut owners = Vec::new();
    for (i, email) in ["a@token.example", "b@token.example", "c@token.example"]
        .iter()
        .enumerate()
    {
        let owner = app.register(email, &format!("Token {i}")).await;
        let invoice = issue_now(&app, &owner).await;
        owners.push((owner, invoice));
    }
    let on = |address: &str, (owner, invoice): &(Persona, String)| {
        let (address, owner, invoice) = (address.to_owned(), owner.clone(), invoice.clone());
        let app = &app;
        async move {
            app.graphql_at(
                &address,
                &owner.access,
                PAY,
                json!({ "invoice": invoice, "phone": "0708374149" }),
            )
            .await
        }
    };
    let first = on(&app.address, &owners[0]).await;
    assert_eq!(
        first.data()["payInvoice"]["status"],
        "PENDING",
        "{}",
        first.body()
    );
    let other = on(&second, &owners[1]).await;
    assert_eq!(
        other.data()["payInvoice"]["status"],
        "PENDING",
        "{}",
        other.body()
    );
    assert_eq!(daraja_tokens(&app).await, 1, "one token for both nodes");

    // Daraja drops the token (the keys fetched another elsewhere): the next push is
    // refused with 404.001.03, the client renews once and the push goes through.
    let revoked = app
        .client
        .post(format!("{}/_daraja/_sim/tokens/revoke", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 204);
    let third = on(&second, &owners[2]).await;
    assert_eq!(
        third.data()["payInvoice"]["status"],
        "PENDING",
        "{}",
        third.body()
    );
    assert_eq!(daraja_tokens(&app).await, 2, "renewed once");
    let again = on(&app.address, &owners[0]).await;
    assert_eq!(
        again.data()["payInvoice"]["id"],
        first.data()["payInvoice"]["id"]
    );
    assert_eq!(daraja_tokens(&app).await, 2);
}

#[tokio::test]
async fn one_address_cannot_flood_the_callback_table_but_genuine_callbacks_always_land() {
    let (app, owner, _, p) = held_push(&[]).await;
    let id = p["id"].as_str().unwrap().to_owned();
    let body = success_body(
        p["checkoutRequestId"].as_str().unwrap(),
        1740.0,
        "NLJ7RT61SV",
        254708374149,
    );
    let forged = format!(
        "{}/webhooks/mpesa/{}/{id}/{}",
        app.address,
        owner.tenant_id,
        "0".repeat(64)
    );
    let limit = msingi::payments::callbacks::FLAGGED_PER_SOURCE;
    for i in 0..limit {
        let answer = app.client.post(&forged).json(&body).send().await.unwrap();
        assert_eq!(
            answer.status(),
            200,
            "forged callback {i} is stored, flagged"
        );
    }
    let refused = app.client.post(&forged).json(&body).send().await.unwrap();
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().contains_key("retry-after"));
    let flagged = reviews(&app)
        .await
        .iter()
        .filter(|r| r["reason"].as_str().unwrap().starts_with("forged"))
        .count();
    assert_eq!(
        flagged, limit as usize,
        "the one past the limit was not stored"
    );

    // The genuine callback, from the same address, still settles the payment.
    let genuine = callback_path(&app, &owner, &id);
    let answer = app
        .client
        .post(format!("{}{genuine}", app.address))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let p = settled(&app, &owner, &id, Duration::from_secs(15)).await;
    assert_eq!(p["status"], "SUCCEEDED", "{p}");
}
