//! A request's life on the server: the request timeout, and in-flight requests drained
//! when the server stops.

use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::common::TestApp;

const QUERY: &str = r#"{"query":"{ __typename }"}"#;

/// Sends the headers of a `POST /graphql` and the first byte of its body, leaving the
/// request in flight.
async fn start_request(app: &TestApp) -> TcpStream {
    let address = app.address.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).await.unwrap();
    let head = format!(
        "POST /graphql HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{}",
        QUERY.len(),
        &QUERY[..1]
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
}

async fn read_all(stream: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("an answer within 10 s")
        .unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn a_request_that_outlives_the_request_timeout_is_answered_408() {
    let app = TestApp::builder()
        .env("REQUEST_TIMEOUT_SECS", "1")
        .spawn()
        .await;
    let mut stream = start_request(&app).await;
    // The rest of the body never comes.
    let answer = read_all(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");

    // A request that finishes in time is answered as usual.
    let fine = app.graphql("{ __typename }", serde_json::json!({})).await;
    assert_eq!(fine.data()["__typename"], "Query");
}

#[tokio::test]
async fn a_stopping_server_finishes_the_requests_in_flight_and_takes_no_new_ones() {
    let mut app = TestApp::spawn().await;
    let mut stream = start_request(&app).await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    let address = app.address.clone();
    let stopping = tokio::spawn(async move {
        let stopped = app.stop().await;
        (app, stopped)
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !stopping.is_finished(),
        "the server waits for the request in flight"
    );

    stream.write_all(&QUERY.as_bytes()[1..]).await.unwrap();
    let answer = read_all(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains(r#""__typename":"Query""#), "{answer}");

    let (_app, stopped) = tokio::time::timeout(Duration::from_secs(10), stopping)
        .await
        .expect("the server stops once the request is answered")
        .unwrap();
    stopped.expect("a clean stop");
    let refused = reqwest::Client::new()
        .post(format!("{address}/graphql"))
        .json(&serde_json::json!({ "query": "{ __typename }" }))
        .send()
        .await;
    assert!(refused.is_err(), "a stopped server takes no new request");
}
