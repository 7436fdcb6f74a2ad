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
