//! The test clock: a platform admin moves time forward for the whole deployment.

use serde_json::json;

use crate::common::TestApp;
use crate::personas::{ACCEPT, INVITE};

const ADVANCE: &str = "mutation($s: Int!) { advanceClock(seconds: $s) }";

fn at(value: &serde_json::Value) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(value.as_str().unwrap())
        .unwrap()
        .with_timezone(&chrono::Utc)
}

#[tokio::test]
async fn advancing_the_test_clock_moves_every_node_and_what_expires_with_it() {
    let mut app = TestApp::builder()
        .env("MSINGI_TEST_CLOCK", "true")
        .with_platform_admin()
        .spawn()
        .await;
    let admin = app.admin_token().await;
    let owner = app.register("asha@duka.example", "Duka").await;
    let role = owner.role(&app, "EMPLOYEE").await;
    owner
        .gql(
            &app,
            INVITE,
            json!({ "input": { "email": "juma@duka.example", "roleIds": [role] } }),
        )
        .await
        .data();
    let token = app
        .smtp
        .wait_for("juma@duka.example", "invited")
        .await
        .token("accept-invitation");
    let other = app.another_node().await;

    // Only a platform admin moves it, and only forward.
    assert_eq!(
        owner
            .gql(&app, ADVANCE, json!({ "s": 60 }))
            .await
            .error_code(),
        "FORBIDDEN"
    );
    let zero = app
        .graphql_as(&admin, &[], ADVANCE, json!({ "s": 0 }))
        .await;
    assert_eq!(zero.error()["extensions"]["field"], "seconds");

    let before = at(&app.graphql("{ clock }", json!({})).await.data()["clock"]);
    let eight_days = 8 * 86_400;
    let moved = app
        .graphql_as(&admin, &[], ADVANCE, json!({ "s": eight_days }))
        .await;
    let now = at(&moved.data()["advanceClock"]);
    assert!(
        (now - before - chrono::Duration::seconds(eight_days))
            .num_seconds()
            .abs()
            < 60,
        "{before} → {now}"
    );
    let here = at(&app.graphql("{ clock }", json!({})).await.data()["clock"]);
    assert!(here >= now);
    // Another node on the same database follows within moments.
    let followed = app
        .eventually(std::time::Duration::from_secs(5), || async {
            let answer = app
                .client
                .post(format!("{other}/graphql"))
                .json(&json!({ "query": "{ clock }" }))
                .send()
                .await
                .unwrap();
            let body: serde_json::Value = answer.json().await.unwrap();
            at(&body["data"]["clock"]) >= now
        })
        .await;
    assert!(followed, "the other node kept its own time");

    // Eight days on, the week-long invitation has expired and the owner's 15-minute
    // access token with it.
    let accept = app
        .graphql(
            ACCEPT,
            json!({ "token": token, "name": "Juma", "password": "juma's long secret" }),
        )
        .await;
    assert_eq!(
        accept.body()["data"]["acceptInvitation"],
        serde_json::Value::Null
    );
    assert!(accept.body()["errors"].is_array(), "{}", accept.body());
    assert_eq!(
        owner
            .gql(&app, "{ tenant { name } }", json!({}))
            .await
            .error_code(),
        "UNAUTHENTICATED"
    );
    // The trial (14 days) is still running: the clock is past its first week only.
    let fresh = app
        .access_token("asha@duka.example", "correct horse battery")
        .await;
    let subscription = app
        .graphql_as(&fresh, &[], "{ subscription { trialEnd } }", json!({}))
        .await;
    assert!(at(&subscription.data()["subscription"]["trialEnd"]) > here);
}

#[tokio::test]
async fn without_the_test_clock_advance_clock_is_refused() {
    let (app, admin) = TestApp::with_platform_admin().await;
    let refused = app
        .graphql_as(&admin, &[], ADVANCE, json!({ "s": 60 }))
        .await;
    assert_eq!(refused.error_code(), "FORBIDDEN");
    assert_eq!(refused.error()["extensions"]["reason"], "TEST_CLOCK_OFF");
}
