//! What an owner changes: upgrades prorated to the second and exact to the minor unit,
//! downgrades at the period's end (refused when the tenant already exceeds them),
//! cancellation now (credit for the unused time) or at the period's end, and a tenant that
//! never pays going all the way to CANCELED.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::renewals::{advance, invoices, pay, subscription};
use crate::common::TestApp;
use crate::personas::Persona;

const CHANGE: &str = "mutation($code: String!) { changePlan(planCode: $code) { status \
    currentPeriodStart currentPeriodEnd cancelAtPeriodEnd plan { code } } }";
const CANCEL: &str = "mutation($end: Boolean!) { cancelSubscription(atPeriodEnd: $end) { \
    status canceledAt cancelAtPeriodEnd } }";

fn at(value: &serde_json::Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(value.as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc)
}

fn minor(value: &serde_json::Value) -> i64 {
    msingi::billing::money::parse_amount(value.as_str().unwrap().trim_start_matches('-'), "x")
        .map(|m| {
            if value.as_str().unwrap().starts_with('-') {
                -m
            } else {
                m
            }
        })
        .unwrap()
}

/// `amount × left / total`, rounded half up: what the server must have charged.
fn share(amount: i64, left: i64, total: i64) -> i64 {
    let (amount, left, total) = (i128::from(amount), i128::from(left), i128::from(total));
    i64::try_from((2 * amount * left + total) / (2 * total)).unwrap()
}

async fn test_clock_app() -> TestApp {
    TestApp::builder()
        .env("MSINGI_TEST_CLOCK", "true")
        .with_platform_admin()
        .spawn()
        .await
}

/// Registers a tenant, lives through its trial and pays the first invoice: ACTIVE on
/// starter, paid up.
async fn paying_tenant(app: &TestApp, email: &str, name: &str) -> Persona {
    let mut owner = app.register(email, name).await;
    owner.access = app.access_token(email, &owner.password).await;
    owner
}

async fn pay_newest(app: &TestApp, owner: &mut Persona) {
    let newest = invoices(app, owner).await.pop().unwrap();
    pay(
        app,
        owner,
        newest["id"].as_str().unwrap(),
        newest["amountDue"]["amount"].as_str().unwrap(),
    )
    .await;
}

#[tokio::test]
async fn upgrades_are_prorated_to_the_second_and_exact_to_the_minor_unit() {
    let app = test_clock_app().await;
    let mut owners = Vec::new();
    for (email, name) in [
        ("a@one.example", "One"),
        ("b@two.example", "Two"),
        ("c@three.example", "Three"),
    ] {
        owners.push(paying_tenant(&app, email, name).await);
    }
    advance(&app, 15 * 86_400).await;
    for owner in &mut owners {
        pay_newest(&app, owner).await;
    }
    // One upgrades a day into the period, two ten days in, three 28 days in.
    for (owner, days) in owners.iter_mut().zip([1i64, 9, 18]) {
        advance(&app, days * 86_400).await;
        let before = subscription(&app, owner).await;
        let changed = owner.gql(&app, CHANGE, json!({ "code": "pro" })).await;
        let changed = &changed.data()["changePlan"];
        assert_eq!(changed["plan"]["code"], "pro", "an upgrade applies at once");
        assert_eq!(changed["status"], "ACTIVE");
        assert_eq!(changed["currentPeriodEnd"], before["currentPeriodEnd"]);
        let list = invoices(&app, owner).await;
        assert_eq!(list.len(), 2, "{list:?}");
        let proration = &list[1];
        let (start, end) = (
            at(&before["currentPeriodStart"]),
            at(&before["currentPeriodEnd"]),
        );
        let changed_at = at(&proration["periodStart"]);
        assert_eq!(at(&proration["periodEnd"]), end);
        let total = (end - start).num_seconds();
        let left = (end - changed_at).num_seconds();
        let credit = share(150_000, left, total);
        let charge = share(500_000, left, total);
        let lines = proration["lines"].as_array().unwrap();
        assert_eq!(lines.len(), 2);
        assert!(lines.iter().all(|l| l["kind"] == "PRORATION"));
        assert_eq!(
            minor(&lines[0]["amount"]["amount"]),
            -credit,
            "unused starter time"
        );
        assert_eq!(
            minor(&lines[1]["amount"]["amount"]),
            charge,
            "remaining pro time"
        );
        let subtotal = charge - credit;
        let tax = (subtotal * 1600 + 5_000) / 10_000;
        assert_eq!(minor(&proration["subtotal"]["amount"]), subtotal);
        assert_eq!(minor(&proration["tax"]["amount"]), tax);
        assert_eq!(minor(&proration["total"]["amount"]), subtotal + tax);
        assert_eq!(proration["status"], "OPEN");
        // The pro plan's limits hold at once: a fourth store (starter allows three).
        for n in 0..3 {
            let store = owner
                .gql(
                    &app,
                    crate::ops::CREATE_STORE,
                    json!({ "input": { "name": format!("Shop {n}") } }),
                )
                .await;
            assert!(store.body()["errors"].is_null(), "{}", store.body());
        }
        pay_newest(&app, owner).await;
    }
    // At the period's end, the first renews at pro's price.
    let first = &mut owners[0];
    let end = at(&subscription(&app, first).await["currentPeriodEnd"]);
    let now = advance(&app, 1).await;
    advance(&app, (end - now).num_seconds() + 1).await;
    let list = invoices(&app, first).await;
    assert_eq!(list.len(), 3);
    assert_eq!(list[2]["total"]["amount"], "5800.00");
    assert_eq!(list[2]["lines"][0]["kind"], "SUBSCRIPTION");
}

#[tokio::test]
async fn a_downgrade_waits_for_the_period_end_and_is_refused_when_the_tenant_exceeds_it() {
    let app = test_clock_app().await;
    let mut owner = paying_tenant(&app, "asha@duka.example", "Duka").await;
    advance(&app, 15 * 86_400).await;
    pay_newest(&app, &mut owner).await;
    for name in ["Second", "Third"] {
        owner
            .gql(
                &app,
                crate::ops::CREATE_STORE,
                json!({ "input": { "name": name } }),
            )
            .await
            .data();
    }
    // Free allows one store; the tenant has three.
    let refused = owner.gql(&app, CHANGE, json!({ "code": "free" })).await;
    assert_eq!(refused.error_code(), "BAD_USER_INPUT", "{}", refused.body());
    assert_eq!(refused.error()["extensions"]["field"], "planCode");
    let message = refused.error()["message"].as_str().unwrap();
    assert!(
        message.contains("stores") && message.contains('3'),
        "{message}"
    );
    assert_eq!(
        subscription(&app, &mut owner).await["plan"]["code"],
        "starter"
    );
    // Unknown plans are refused naming the field.
    let unknown = owner.gql(&app, CHANGE, json!({ "code": "platinum" })).await;
    assert_eq!(unknown.error()["extensions"]["field"], "planCode");

    // Up to pro, then back down to starter: the downgrade waits for the period's end.
    owner
        .gql(&app, CHANGE, json!({ "code": "pro" }))
        .await
        .data();
    pay_newest(&app, &mut owner).await;
    let down = owner.gql(&app, CHANGE, json!({ "code": "starter" })).await;
    assert_eq!(
        down.data()["changePlan"]["plan"]["code"],
        "pro",
        "until the period ends"
    );
    let end = at(&subscription(&app, &mut owner).await["currentPeriodEnd"]);
    let now = advance(&app, 1).await;
    advance(&app, (end - now).num_seconds() + 1).await;
    let sub = subscription(&app, &mut owner).await;
    assert_eq!(sub["plan"]["code"], "starter");
    let list = invoices(&app, &mut owner).await;
    assert_eq!(list.last().unwrap()["total"]["amount"], "1740.00");
    assert_eq!(at(&list.last().unwrap()["periodStart"]), end);
}

#[tokio::test]
async fn cancelling_now_credits_the_unused_time_and_choosing_a_plan_again_spends_it() {
    let app = test_clock_app().await;
    let mut owner = paying_tenant(&app, "asha@duka.example", "Duka").await;
    advance(&app, 15 * 86_400).await;
    pay_newest(&app, &mut owner).await;
    advance(&app, 10 * 86_400).await;
    let before = subscription(&app, &mut owner).await;
    let canceled = owner.gql(&app, CANCEL, json!({ "end": false })).await;
    let canceled = &canceled.data()["cancelSubscription"];
    assert_eq!(canceled["status"], "CANCELED");
    let canceled_at = at(&canceled["canceledAt"]);
    let (start, end) = (
        at(&before["currentPeriodStart"]),
        at(&before["currentPeriodEnd"]),
    );
    // The unused part of what the period cost with its tax (KES 1,740.00).
    let credit = share(
        174_000,
        (end - canceled_at).num_seconds(),
        (end - start).num_seconds(),
    );
    let tenant = owner
        .gql(&app, "{ tenant { credit { amount currency } } }", json!({}))
        .await;
    let shown = minor(&tenant.data()["tenant"]["credit"]["amount"]);
    assert_eq!(shown, credit, "to the second, rounded half up");
    // An ended subscription: reads only, until a plan is chosen again.
    let refused = owner
        .gql(
            &app,
            crate::ops::CREATE_STORE,
            json!({ "input": { "name": "More" } }),
        )
        .await;
    assert_eq!(refused.error()["extensions"]["reason"], "TENANT_SUSPENDED");
    let again = owner.gql(&app, CANCEL, json!({ "end": false })).await;
    assert_eq!(again.error_code(), "CONFLICT");
    let restarted = owner.gql(&app, CHANGE, json!({ "code": "starter" })).await;
    assert_eq!(restarted.data()["changePlan"]["status"], "ACTIVE");
    let newest = invoices(&app, &mut owner).await.pop().unwrap();
    assert_eq!(newest["total"]["amount"], "1740.00");
    assert_eq!(
        minor(&newest["amountPaid"]["amount"]),
        shown,
        "paid from the credit"
    );
    assert_eq!(minor(&newest["amountDue"]["amount"]), 174_000 - shown);
    let tenant = owner
        .gql(&app, "{ tenant { credit { amount } } }", json!({}))
        .await;
    assert_eq!(tenant.data()["tenant"]["credit"]["amount"], "0.00", "spent");
    let store = owner
        .gql(
            &app,
            crate::ops::CREATE_STORE,
            json!({ "input": { "name": "Back" } }),
        )
        .await;
    assert!(store.body()["errors"].is_null(), "{}", store.body());
}

#[tokio::test]
async fn cancelling_at_the_period_end_keeps_everything_until_then_and_can_be_undone() {
    let app = test_clock_app().await;
    let mut owner = paying_tenant(&app, "asha@duka.example", "Duka").await;
    advance(&app, 15 * 86_400).await;
    pay_newest(&app, &mut owner).await;
    let set = owner.gql(&app, CANCEL, json!({ "end": true })).await;
    assert_eq!(set.data()["cancelSubscription"]["status"], "ACTIVE");
    assert_eq!(set.data()["cancelSubscription"]["cancelAtPeriodEnd"], true);
    // Choosing the plan again resumes it; cancelling again sets it again.
    let resumed = owner.gql(&app, CHANGE, json!({ "code": "starter" })).await;
    assert_eq!(resumed.data()["changePlan"]["cancelAtPeriodEnd"], false);
    let same = owner.gql(&app, CHANGE, json!({ "code": "starter" })).await;
    assert_eq!(
        same.error()["extensions"]["field"],
        "planCode",
        "already on it"
    );
    owner.gql(&app, CANCEL, json!({ "end": true })).await.data();
    let store = owner
        .gql(
            &app,
            crate::ops::CREATE_STORE,
            json!({ "input": { "name": "Still" } }),
        )
        .await;
    assert!(store.body()["errors"].is_null(), "{}", store.body());
    let end = at(&subscription(&app, &mut owner).await["currentPeriodEnd"]);
    let now = advance(&app, 1).await;
    advance(&app, (end - now).num_seconds() + 1).await;
    let sub = subscription(&app, &mut owner).await;
    assert_eq!(sub["status"], "CANCELED");
    assert_eq!(at(&sub["canceledAt"]), end);
    assert_eq!(
        invoices(&app, &mut owner).await.len(),
        1,
        "no invoice after the end"
    );
    assert!(
        app.smtp
            .mails()
            .iter()
            .any(|m| m.subject() == "The subscription of Duka has ended")
    );
}

#[tokio::test]
async fn a_tenant_that_never_pays_is_suspended_then_canceled_and_must_pay_before_restarting() {
    let app = test_clock_app().await;
    let mut owner = paying_tenant(&app, "asha@duka.example", "Duka").await;
    // Trial end, then two months unpaid in one move: the clock lives every step in order.
    advance(&app, 15 * 86_400).await;
    advance(&app, 60 * 86_400).await;
    let sub = subscription(&app, &mut owner).await;
    assert_eq!(sub["status"], "CANCELED", "{sub}");
    let subjects: Vec<String> = app
        .smtp
        .mails()
        .iter()
        .map(|m| m.subject().to_owned())
        .collect();
    for expected in [
        "Invoice DUKA-000001 from Msingi",
        "Payment overdue: invoice DUKA-000001",
        "Duka is suspended for an unpaid invoice",
        "The subscription of Duka has ended",
    ] {
        assert!(
            subjects.iter().any(|s| s == expected),
            "{expected} not in {subjects:?}"
        );
    }
    // Reads still work; a new plan waits for what is overdue.
    let list = invoices(&app, &mut owner).await;
    assert_eq!(list[0]["status"], "OPEN");
    let refused = owner.gql(&app, CHANGE, json!({ "code": "starter" })).await;
    assert_eq!(refused.error_code(), "CONFLICT", "{}", refused.body());
    for invoice in &list {
        pay(
            &app,
            &owner,
            invoice["id"].as_str().unwrap(),
            invoice["amountDue"]["amount"].as_str().unwrap(),
        )
        .await;
    }
    assert_eq!(
        subscription(&app, &mut owner).await["status"],
        "CANCELED",
        "paying an ended subscription's invoice does not restart it"
    );
    let restarted = owner.gql(&app, CHANGE, json!({ "code": "starter" })).await;
    assert_eq!(restarted.data()["changePlan"]["status"], "ACTIVE");
}

#[tokio::test]
async fn an_overpayment_becomes_credit_that_pays_the_next_invoice() {
    let app = test_clock_app().await;
    let mut owner = paying_tenant(&app, "asha@duka.example", "Duka").await;
    advance(&app, 15 * 86_400).await;
    let first = invoices(&app, &mut owner).await.pop().unwrap();
    // KES 2,000 on a KES 1,740 invoice: paid, and KES 260 of credit.
    pay(&app, &owner, first["id"].as_str().unwrap(), "2000.00").await;
    let tenant = owner
        .gql(&app, "{ tenant { credit { amount } } }", json!({}))
        .await;
    assert_eq!(tenant.data()["tenant"]["credit"]["amount"], "260.00");
    let end = at(&subscription(&app, &mut owner).await["currentPeriodEnd"]);
    let now = advance(&app, 1).await;
    advance(&app, (end - now).num_seconds() + 1).await;
    let list = invoices(&app, &mut owner).await;
    assert_eq!(list[0]["status"], "PAID");
    assert_eq!(list[1]["amountPaid"]["amount"], "260.00");
    assert_eq!(list[1]["amountDue"]["amount"], "1480.00");
    let tenant = owner
        .gql(&app, "{ tenant { credit { amount } } }", json!({}))
        .await;
    assert_eq!(tenant.data()["tenant"]["credit"]["amount"], "0.00");
}

#[tokio::test]
async fn only_billing_managers_change_or_cancel_the_plan() {
    let app = TestApp::spawn().await;
    let owner = app.register("asha@duka.example", "Duka").await;
    for role in ["EMPLOYEE", "MANAGER"] {
        let email = format!("{}@duka.example", role.to_lowercase());
        let member = owner.invite_and_join(&app, &email, role, None).await;
        let change = member.gql(&app, CHANGE, json!({ "code": "pro" })).await;
        assert_eq!(
            change.error_code(),
            "FORBIDDEN",
            "{role}: {}",
            change.body()
        );
        let cancel = member.gql(&app, CANCEL, json!({ "end": false })).await;
        assert_eq!(cancel.error_code(), "FORBIDDEN", "{role}");
    }
    let sub = owner
        .gql(&app, "{ subscription { status plan { code } } }", json!({}))
        .await;
    assert_eq!(sub.data()["subscription"]["status"], "TRIALING");
    assert_eq!(sub.data()["subscription"]["plan"]["code"], "starter");
    // In the trial an owner's change applies at once, with nothing to pay.
    let change = owner.gql(&app, CHANGE, json!({ "code": "pro" })).await;
    assert_eq!(change.data()["changePlan"]["plan"]["code"], "pro");
    assert_eq!(change.data()["changePlan"]["status"], "TRIALING");
    let listed = owner
        .gql(&app, "{ invoices { totalCount } }", json!({}))
        .await;
    assert_eq!(listed.data()["invoices"]["totalCount"], 0);
}

#[tokio::test]
async fn a_tenant_or_plan_tax_rate_overrides_the_default_and_only_platform_admins_set_it() {
    const SET_TAX: &str = "mutation($t: ID!, $r: Decimal) { setTenantTaxRate(tenantId: $t, taxRate: $r) { taxRate } }";
    const TOTALS: &str = "{ invoices(first: 1) { edges { node { subtotal { amount } tax { amount } total { amount } } } } }";
    let (app, admin) = TestApp::with_platform_admin().await;
    let owner = app.register("asha@duka.example", "Duka").await;
    // Owners cannot set their own tax; bad rates are refused naming the field.
    let refused = owner
        .gql(&app, SET_TAX, json!({ "t": owner.tenant_id, "r": "0" }))
        .await;
    assert_eq!(refused.error_code(), "FORBIDDEN");
    for bad in ["101", "1.234", "-1", "x"] {
        let refused = app
            .graphql_as(
                &admin,
                &[],
                SET_TAX,
                json!({ "t": owner.tenant_id, "r": bad }),
            )
            .await;
        assert_eq!(refused.error()["extensions"]["field"], "taxRate", "{bad}");
    }
    // A zero-rated tenant.
    let set = app
        .graphql_as(
            &admin,
            &[],
            SET_TAX,
            json!({ "t": owner.tenant_id, "r": "0" }),
        )
        .await;
    assert_eq!(set.data()["setTenantTaxRate"]["taxRate"], "0.00");
    super::renewals::issue_now(&app, &owner).await;
    let invoice = owner.gql(&app, TOTALS, json!({})).await;
    let invoice = &invoice.data()["invoices"]["edges"][0]["node"];
    assert_eq!(invoice["tax"]["amount"], "0.00");
    assert_eq!(invoice["total"]["amount"], "1500.00");
    // Cleared, the plan's own rate applies (a new starter version taxed at 8%).
    app.graphql_as(
        &admin,
        &[],
        SET_TAX,
        json!({ "t": owner.tenant_id, "r": null }),
    )
    .await
    .data();
    let plan = app
        .graphql_as(
            &admin,
            &[],
            "mutation($i: CreatePlanInput!) { createPlan(input: $i) { taxRate graceDays } }",
            json!({ "i": { "code": "starter", "name": "Starter", "price": "1500", "interval": "MONTH",
                "trialDays": 14, "modules": ["inventory"], "limits": { "stores": 3, "members": 5 },
                "taxRate": "8", "graceDays": 3 } }),
        )
        .await;
    assert_eq!(plan.data()["createPlan"]["taxRate"], "8.00");
    assert_eq!(plan.data()["createPlan"]["graceDays"], 3);
    super::renewals::issue_now(&app, &owner).await;
    let invoice = owner.gql(&app, TOTALS, json!({})).await;
    let invoice = &invoice.data()["invoices"]["edges"][0]["node"];
    assert_eq!(invoice["tax"]["amount"], "120.00");
    assert_eq!(invoice["total"]["amount"], "1620.00");
}
