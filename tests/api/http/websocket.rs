//! GraphQL over WebSocket (graphql-transport-ws).

use serde_json::json;

use crate::common::TestApp;

#[tokio::test]
async fn an_operation_over_the_websocket_answers_then_completes() {
    let app = TestApp::spawn().await;
    for path in ["/graphql/ws", "/graphql"] {
        let mut session = app.websocket(path, json!({})).await;
        session
            .subscribe("1", "{ permissions { code } }", json!({}))
            .await;
        let next = session.next_message().await;
        assert_eq!(next["type"], "next", "{next}");
        assert_eq!(next["id"], "1");
        assert!(
            next["payload"]["data"]["permissions"]
                .as_array()
                .unwrap()
                .len()
                > 10
        );
        let complete = session.next_message().await;
        assert_eq!(complete["type"], "complete", "{complete}");
    }
}

#[tokio::test]
async fn websocket_errors_carry_codes_too() {
    let app = TestApp::spawn().await;
    let mut session = app.websocket("/graphql/ws", json!({})).await;
    session.subscribe("7", "{ noSuchField }", json!({})).await;
    let message = session.next_message().await;
    assert_eq!(message["id"], "7");
    let errors = if message["type"] == "error" {
        message["payload"].clone()
    } else {
        message["payload"]["errors"].clone()
    };
    assert_eq!(
        errors[0]["extensions"]["code"], "BAD_USER_INPUT",
        "{message}"
    );
}

/// Issue 8, item 3: connection_init accepts credentials as Apollo, urql and Hasura clients
/// send them, and refuses bad ones (or a foreign tenant) at once with 4403.
#[tokio::test]
async fn connection_init_takes_credentials_as_clients_send_them_and_refuses_bad_ones() {
    let app = TestApp::spawn().await;
    let (a, b) = app.two_tenants().await;
    let me = "{ me { user { email } } }";
    for payload in [
        json!({ "Authorization": format!("Bearer {}", a.access) }),
        json!({ "headers": { "Authorization": format!("Bearer {}", a.access) } }),
        json!({ "authorization": a.access, "X-Tenant-ID": a.tenant_id }),
        json!({ "headers": { "authorization": format!("Bearer {}", a.access), "x-tenant-id": a.tenant_id } }),
    ] {
        let mut ws = app.websocket("/graphql/ws", payload.clone()).await;
        ws.subscribe("1", me, json!({})).await;
        let answer = ws.next_message().await;
        assert_eq!(
            answer["payload"]["data"]["me"]["user"]["email"], a.email,
            "{payload}: {answer}"
        );
    }
    for payload in [
        json!({ "Authorization": "Bearer not-a-token" }),
        json!({ "headers": { "Authorization": format!("Bearer {}", a.access), "X-Tenant-ID": b.tenant_id } }),
        json!({ "authorization": format!("Bearer {}", a.access), "tenantId": "not-an-id" }),
    ] {
        let (_, first) = app.websocket_init("/graphql/ws", payload.clone()).await;
        assert_eq!(first["type"], "closed", "{payload}: {first}");
        assert!(
            first["frame"].as_str().unwrap().contains("4403"),
            "{payload}: {first}"
        );
    }
    // No credentials at all: an anonymous socket, for public operations.
    let mut anonymous = app.websocket("/graphql/ws", json!({})).await;
    anonymous.subscribe("1", me, json!({})).await;
    let refused = anonymous.next_message().await;
    assert_eq!(
        refused["payload"]["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
        "{refused}"
    );
}
