//! Plans (public, versioned, made by platform admins), the subscription every new tenant
//! starts with, and the plan's modules and limits where they bite.

use serde_json::json;

use crate::common::TestApp;
use crate::ops::{ARCHIVE_STORE, CREATE_STORE, UPDATE_TENANT};
use crate::personas::INVITE;

const PLANS: &str = "{ plans { code name price { amount currency } interval trialDays modules \
                     limits active version rank } }";
const SUBSCRIPTION: &str = "{ subscription { id status currentPeriodStart currentPeriodEnd \
                            trialEnd cancelAtPeriodEnd plan { code version price { amount } } } \
                            tenant { billingPhone credit { amount currency } subscription { id } } }";
const CREATE_PLAN: &str = "mutation($input: CreatePlanInput!) { createPlan(input: $input) { \
                           id code version price { amount currency } limits modules rank active } }";

#[tokio::test]
async fn the_default_plans_are_public_and_ordered_by_rank() {
    let app = TestApp::spawn().await;
    let answer = app.graphql(PLANS, json!({})).await;
    let plans = answer.data()["plans"].as_array().unwrap().clone();
    let codes: Vec<_> = plans.iter().map(|p| p["code"].as_str().unwrap()).collect();
    assert_eq!(codes, ["free", "starter", "pro", "enterprise"]);
    let starter = &plans[1];
    assert_eq!(
        starter["price"],
        json!({ "amount": "1500.00", "currency": "KES" })
    );
    assert_eq!(starter["interval"], "MONTH");
    assert_eq!(starter["trialDays"], 14);
    assert_eq!(starter["limits"], json!({ "members": 5, "stores": 3 }));
    assert_eq!(plans[0]["limits"], json!({ "members": 2, "stores": 1 }));
    assert_eq!(plans[3]["limits"], json!({}), "enterprise has no limits");
    assert_eq!(plans[3]["price"]["amount"], "20000.00");
    for plan in &plans {
        let modules = plan["modules"].as_array().unwrap();
        assert!(
            modules.contains(&json!("core")) && modules.contains(&json!("billing")),
            "{plan}"
        );
    }
    // The clock is public too.
    let clock = app.graphql("{ clock }", json!({})).await;
    let at = chrono::DateTime::parse_from_rfc3339(clock.data()["clock"].as_str().unwrap()).unwrap();
    assert!(
        (chrono::Utc::now() - at.with_timezone(&chrono::Utc))
            .num_seconds()
            .abs()
            < 60
    );
}

#[tokio::test]
async fn a_new_tenant_starts_trialing_on_the_default_plan_and_only_billing_readers_see_it() {
    let app = TestApp::spawn().await;
    let owner = app.register("asha@duka.example", "Duka").await;
    let answer = owner.gql(&app, SUBSCRIPTION, json!({})).await;
    let subscription = &answer.data()["subscription"];
    assert_eq!(subscription["status"], "TRIALING");
    assert_eq!(subscription["plan"]["code"], "starter");
    assert_eq!(subscription["cancelAtPeriodEnd"], false);
    let start =
        chrono::DateTime::parse_from_rfc3339(subscription["currentPeriodStart"].as_str().unwrap())
            .unwrap();
    let end =
        chrono::DateTime::parse_from_rfc3339(subscription["currentPeriodEnd"].as_str().unwrap())
            .unwrap();
    assert_eq!(
        (end - start).num_days(),
        14,
        "the trial is the first period"
    );
    assert_eq!(subscription["trialEnd"], subscription["currentPeriodEnd"]);
    let tenant = &answer.data()["tenant"];
    assert_eq!(tenant["subscription"]["id"], subscription["id"]);
    assert_eq!(
        tenant["credit"],
        json!({ "amount": "0.00", "currency": "KES" })
    );
    assert_eq!(tenant["billingPhone"], serde_json::Value::Null);

    // An employee (no billing.read) is refused both ways.
    let employee = owner
        .invite_and_join(&app, "juma@duka.example", "EMPLOYEE", None)
        .await;
    let refused = employee
        .gql(&app, "{ subscription { id } }", json!({}))
        .await;
    assert_eq!(refused.error_code(), "FORBIDDEN");
    let nested = employee
        .gql(&app, "{ tenant { name subscription { id } } }", json!({}))
        .await;
    assert_eq!(nested.error_code(), "FORBIDDEN");
}

#[tokio::test]
async fn each_tenant_sees_its_own_subscription_and_a_platform_admin_sees_every_one() {
    let (app, admin) = TestApp::with_platform_admin().await;
    let (a, b) = app.two_tenants().await;
    let id = |p: &crate::personas::Persona| {
        let p = p.clone();
        let app = &app;
        async move {
            p.gql(app, "{ subscription { id } }", json!({}))
                .await
                .data()["subscription"]["id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let (of_a, of_b) = (id(&a).await, id(&b).await);
    assert_ne!(of_a, of_b);
    let listed = app
        .graphql_as(
            &admin,
            &[],
            "{ platformTenants { edges { node { id subscription { id status } } } } }",
            json!({}),
        )
        .await;
    let seen: Vec<(String, String)> = listed.data()["platformTenants"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| {
            Some((
                e["node"]["id"].as_str()?.to_owned(),
                e["node"]["subscription"]["id"].as_str()?.to_owned(),
            ))
        })
        .collect();
    assert!(seen.contains(&(a.tenant_id.clone(), of_a)), "{seen:?}");
    assert!(seen.contains(&(b.tenant_id.clone(), of_b)), "{seen:?}");
}

#[tokio::test]
async fn the_plan_limits_bite_at_the_exact_boundary_and_name_the_limit() {
    let app = TestApp::spawn().await;
    let owner = app.register("asha@duka.example", "Duka").await;
    // starter: 3 stores (the main store is one), 5 members (the owner is one).
    let create = |name: &str| {
        let owner = owner.clone();
        let app = &app;
        let name = name.to_owned();
        async move {
            owner
                .gql(app, CREATE_STORE, json!({ "input": { "name": name } }))
                .await
        }
    };
    create("Two").await.data();
    let third = create("Three").await;
    let third_id = third.data()["createStore"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let fourth = create("Four").await;
    assert_eq!(
        fourth.error_code(),
        "PLAN_LIMIT_EXCEEDED",
        "{}",
        fourth.body()
    );
    let extensions = &fourth.error()["extensions"];
    assert_eq!(extensions["limit"], "stores");
    assert_eq!(extensions["max"], 3);
    // An archived store frees its place.
    owner
        .gql(&app, ARCHIVE_STORE, json!({ "id": third_id }))
        .await
        .data();
    create("Four").await.data();

    let role = owner.role(&app, "EMPLOYEE").await;
    let invite = |email: &str| {
        let owner = owner.clone();
        let app = &app;
        let input = json!({ "input": { "email": email, "roleIds": [role.clone()] } });
        async move { owner.gql(app, INVITE, input).await }
    };
    for n in 1..=4 {
        invite(&format!("member{n}@duka.example")).await.data();
    }
    // Pending invitations take seats: owner + 4 pending = 5.
    let sixth = invite("member5@duka.example").await;
    assert_eq!(sixth.error_code(), "PLAN_LIMIT_EXCEEDED");
    assert_eq!(sixth.error()["extensions"]["limit"], "members");
    assert_eq!(sixth.error()["extensions"]["max"], 5);
    // Inviting the same address again replaces its invitation, so it still fits.
    invite("member4@duka.example").await.data();
}

#[tokio::test]
async fn two_requests_racing_for_the_last_place_get_one_store() {
    let app = TestApp::spawn().await;
    let owner = app.register("asha@duka.example", "Duka").await;
    owner
        .gql(&app, CREATE_STORE, json!({ "input": { "name": "Two" } }))
        .await
        .data();
    let race = |name: &'static str| {
        let owner = owner.clone();
        let app = &app;
        async move {
            owner
                .gql(app, CREATE_STORE, json!({ "input": { "name": name } }))
                .await
        }
    };
    let (x, y) = tokio::join!(race("Three"), race("Tres"));
    let codes: Vec<_> = [&x, &y]
        .iter()
        .map(|r| {
            r.body()["errors"][0]["extensions"]["code"]
                .as_str()
                .unwrap_or("OK")
                .to_owned()
        })
        .collect();
    let mut sorted = codes.clone();
    sorted.sort();
    assert_eq!(sorted, ["OK", "PLAN_LIMIT_EXCEEDED"], "{codes:?}");
    let count = owner
        .gql(&app, "{ stores { totalCount } }", json!({}))
        .await;
    assert_eq!(count.data()["stores"]["totalCount"], 3);
}

#[tokio::test]
async fn platform_admins_make_plans_and_a_new_price_is_a_new_version() {
    let (app, admin) = TestApp::with_platform_admin().await;
    let owner = app.register("asha@duka.example", "Duka").await;
    let create = |input: serde_json::Value| {
        let app = &app;
        let admin = admin.clone();
        async move {
            app.graphql_as(&admin, &[], CREATE_PLAN, json!({ "input": input }))
                .await
        }
    };
    let refused = owner
        .gql(
            &app,
            CREATE_PLAN,
            json!({ "input": { "code": "x", "name": "X", "price": "1", "interval": "MONTH", "modules": [] } }),
        )
        .await;
    assert_eq!(refused.error_code(), "FORBIDDEN");
    let base = json!({ "code": "growth", "name": "Growth", "price": "2500.50",
        "interval": "MONTH", "modules": ["inventory"], "limits": { "stores": 6 } });
    for (field, value, named) in [
        ("code", json!("Not A Code"), "input.code"),
        ("price", json!("12.345"), "input.price"),
        ("price", json!("-5"), "input.price"),
        ("limits", json!({ "stores": -1 }), "input.limits"),
        ("modules", json!(["warp"]), "input.modules"),
        ("currency", json!("SHILLINGS"), "input.currency"),
        ("trialDays", json!(400), "input.trialDays"),
    ] {
        let mut input = base.clone();
        input[field] = value;
        let answer = create(input).await;
        assert_eq!(
            answer.error_code(),
            "BAD_USER_INPUT",
            "{field}: {}",
            answer.body()
        );
        assert_eq!(answer.error()["extensions"]["field"], named, "{field}");
    }
    let growth = create(base.clone()).await;
    let plan = &growth.data()["createPlan"];
    assert_eq!(plan["version"], 1);
    assert_eq!(
        plan["price"],
        json!({ "amount": "2500.50", "currency": "KES" })
    );
    assert_eq!(plan["modules"], json!(["billing", "core", "inventory"]));
    assert_eq!(plan["rank"], 4, "after every existing plan");

    // A new price for starter is version 2: offered from now on, while the tenant already
    // on starter keeps version 1 until renewal.
    let starter = create(
        json!({ "code": "starter", "name": "Starter", "price": "1800",
        "interval": "MONTH", "trialDays": 14, "modules": ["inventory"],
        "limits": { "stores": 3, "members": 5 } }),
    )
    .await;
    assert_eq!(starter.data()["createPlan"]["version"], 2);
    assert_eq!(
        starter.data()["createPlan"]["rank"],
        1,
        "the replaced version's rank"
    );
    let offered = app.graphql(PLANS, json!({})).await;
    let starters: Vec<_> = offered.data()["plans"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["code"] == "starter")
        .cloned()
        .collect();
    assert_eq!(starters.len(), 1);
    assert_eq!(starters[0]["price"]["amount"], "1800.00");
    let kept = owner.gql(&app, SUBSCRIPTION, json!({})).await;
    assert_eq!(kept.data()["subscription"]["plan"]["version"], 1);
    assert_eq!(
        kept.data()["subscription"]["plan"]["price"]["amount"],
        "1500.00"
    );
    let newcomer = app.register("baraka@duka-b.example", "Duka B").await;
    let new = newcomer.gql(&app, SUBSCRIPTION, json!({})).await;
    assert_eq!(new.data()["subscription"]["plan"]["version"], 2);
}

#[tokio::test]
async fn the_billing_phone_is_normalised_validated_and_clearable() {
    let app = TestApp::spawn().await;
    let owner = app.register("asha@duka.example", "Duka").await;
    let set = |phone: &str| {
        let owner = owner.clone();
        let app = &app;
        let vars = json!({ "input": { "billingPhone": phone } });
        async move { owner.gql(app, UPDATE_TENANT, vars).await }
    };
    set("0712 345 678").await.data();
    let read = owner
        .gql(&app, "{ tenant { billingPhone } }", json!({}))
        .await;
    assert_eq!(read.data()["tenant"]["billingPhone"], "254712345678");
    let bad = set("12345").await;
    assert_eq!(bad.error()["extensions"]["field"], "input.billingPhone");
    let unchanged = owner
        .gql(&app, "{ tenant { billingPhone } }", json!({}))
        .await;
    assert_eq!(unchanged.data()["tenant"]["billingPhone"], "254712345678");
    set("").await.data();
    let cleared = owner
        .gql(&app, "{ tenant { billingPhone } }", json!({}))
        .await;
    assert_eq!(
        cleared.data()["tenant"]["billingPhone"],
        serde_json::Value::Null
    );
}
