//! API keys: a tenant's servers act with exactly the key's permissions, in its tenant only.

use serde_json::json;

use crate::common::TestApp;
use crate::personas::{ME, ROLES, STORES};

const CREATE: &str = include_str!("../graphql/identity/create_api_key.graphql");
const REVOKE: &str = include_str!("../graphql/identity/revoke_api_key.graphql");
const LIST: &str = include_str!("../graphql/identity/api_keys.graphql");

async fn key(
    app: &TestApp,
    owner: &crate::personas::Persona,
    permissions: serde_json::Value,
) -> (String, String) {
    let created = owner
        .gql(
            app,
            CREATE,
            json!({ "input": { "name": "POS server", "permissions": permissions } }),
        )
        .await;
    let data = &created.data()["createApiKey"];
    (
        data["apiKey"]["id"].as_str().unwrap().to_owned(),
        data["secret"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn a_key_acts_in_its_tenant_with_exactly_its_permissions() {
    let app = TestApp::spawn().await;
    let (a, b) = app.two_tenants().await;
    let (_, secret) = key(&app, &a, json!(["store.read"])).await;
    assert!(secret.starts_with("msk_"), "{secret}");

    let stores = app.graphql_as(&secret, &[], STORES, json!({})).await;
    assert_eq!(stores.data()["stores"]["totalCount"], 1);
    // Not granted: role.read.
    assert_eq!(
        app.graphql_as(&secret, &[], ROLES, json!({}))
            .await
            .error_code(),
        "FORBIDDEN"
    );
    // A key is not a user.
    assert_eq!(
        app.graphql_as(&secret, &[], ME, json!({}))
            .await
            .error_code(),
        "UNAUTHENTICATED"
    );

    // Pointing the key at tenant B changes nothing: it still sees A's store, never B's.
    let b_store = b.main_store(&app).await;
    let redirected = app
        .graphql_as(&secret, &[("X-Tenant-ID", &b.tenant_id)], STORES, json!({}))
        .await;
    let ids: Vec<String> = redirected.data()["stores"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        !ids.contains(&b_store),
        "tenant A's key read tenant B's store"
    );
    assert_eq!(ids, vec![a.main_store(&app).await]);
}

#[tokio::test]
async fn a_revoked_key_fails_on_the_next_request() {
    let app = TestApp::spawn().await;
    let owner = app.register("asha@duka.example", "Duka").await;
    let (id, secret) = key(&app, &owner, json!(["store.read"])).await;
    assert!(app.graphql_as(&secret, &[], STORES, json!({})).await.body()["errors"].is_null());

    let revoked = owner.gql(&app, REVOKE, json!({ "id": id })).await;
    assert!(revoked.data()["revokeApiKey"]["revokedAt"].is_string());
    assert_eq!(
        app.graphql_as(&secret, &[], STORES, json!({}))
            .await
            .error_code(),
        "UNAUTHENTICATED"
    );
}

#[tokio::test]
async fn keys_are_listed_with_last_use_and_never_their_secret() {
    let app = TestApp::spawn().await;
    let owner = app.register("asha@duka.example", "Duka").await;
    let (id, secret) = key(&app, &owner, json!(["store.read", "store.read"])).await;
    app.graphql_as(&secret, &[], STORES, json!({})).await;
    let list = owner.gql(&app, LIST, json!({})).await;
    let listed = &list.data()["apiKeys"][0];
    assert_eq!(listed["id"], id.as_str());
    assert_eq!(listed["permissions"], json!(["store.read"]));
    assert!(listed["lastUsedAt"].is_string(), "{listed}");
    assert!(
        !list.body().to_string().contains(&secret[14..]),
        "the secret leaked"
    );
    let prefix = listed["prefix"].as_str().unwrap();
    assert!(secret.starts_with(&format!("msk_{prefix}_")));
}

#[tokio::test]
async fn a_key_cannot_exceed_its_creator_and_input_is_validated() {
    let app = TestApp::spawn().await;
    let owner = app.register("asha@duka.example", "Duka").await;
    let unknown = owner
        .gql(
            &app,
            CREATE,
            json!({ "input": { "name": "x", "permissions": ["store.delete"] } }),
        )
        .await;
    assert_eq!(unknown.error()["extensions"]["field"], "input.permissions");
    let blank = owner
        .gql(
            &app,
            CREATE,
            json!({ "input": { "name": "  ", "permissions": [] } }),
        )
        .await;
    assert_eq!(blank.error()["extensions"]["field"], "input.name");
    let past = owner
        .gql(
            &app,
            CREATE,
            json!({ "input": { "name": "x", "permissions": [], "expiresAt": "2020-01-01T00:00:00Z" } }),
        )
        .await;
    assert_eq!(past.error()["extensions"]["field"], "input.expiresAt");

    // A key holding only store.read and apikey.manage cannot mint a key with role.read.
    let (_, secret) = key(&app, &owner, json!(["store.read", "apikey.manage"])).await;
    let escalate = app
        .graphql_as(
            &secret,
            &[],
            CREATE,
            json!({ "input": { "name": "y", "permissions": ["role.read"] } }),
        )
        .await;
    assert_eq!(escalate.error_code(), "FORBIDDEN");
}

#[tokio::test]
async fn a_key_of_another_tenant_cannot_be_seen_or_revoked() {
    let app = TestApp::spawn().await;
    let (a, b) = app.two_tenants().await;
    let (a_key, a_secret) = key(&app, &a, json!(["store.read"])).await;
    assert_eq!(
        b.gql(&app, LIST, json!({})).await.data()["apiKeys"],
        json!([])
    );
    assert_eq!(
        b.gql(&app, REVOKE, json!({ "id": a_key }))
            .await
            .error_code(),
        "NOT_FOUND"
    );
    // A's key still works.
    assert!(
        app.graphql_as(&a_secret, &[], STORES, json!({}))
            .await
            .body()["errors"]
            .is_null()
    );
}

#[tokio::test]
async fn an_expired_key_stops_working() {
    let clock = std::sync::Arc::new(msingi::clock::ManualClock::new(chrono::Utc::now()));
    let app = TestApp::builder().clock(clock.clone()).spawn().await;
    let owner = app.register("asha@duka.example", "Duka").await;
    let expires = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let created = owner
        .gql(&app, CREATE, json!({ "input": { "name": "t", "permissions": ["store.read"], "expiresAt": expires } }))
        .await;
    let secret = created.data()["createApiKey"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(app.graphql_as(&secret, &[], STORES, json!({})).await.body()["errors"].is_null());
    clock.advance(chrono::Duration::hours(2));
    assert_eq!(
        app.graphql_as(&secret, &[], STORES, json!({}))
            .await
            .error_code(),
        "UNAUTHENTICATED"
    );
}

#[tokio::test]
async fn last_use_is_recorded_at_most_once_a_minute() {
    let clock = std::sync::Arc::new(msingi::clock::ManualClock::new(chrono::Utc::now()));
    let app = TestApp::builder().clock(clock.clone()).spawn().await;
    let owner = app.register("asha@duka.example", "Duka").await;
    let (_, secret) = key(&app, &owner, json!(["store.read"])).await;
    let last_used = || async {
        owner.gql(&app, LIST, json!({})).await.data()["apiKeys"][0]["lastUsedAt"]
            .as_str()
            .map(ToOwned::to_owned)
    };
    assert_eq!(last_used().await, None);
    app.graphql_as(&secret, &[], STORES, json!({})).await;
    let first = last_used().await.expect("recorded");
    clock.advance(chrono::Duration::seconds(30));
    app.graphql_as(&secret, &[], STORES, json!({})).await;
    assert_eq!(
        last_used().await.as_ref(),
        Some(&first),
        "written again within a minute"
    );
    clock.advance(chrono::Duration::seconds(31));
    app.graphql_as(&secret, &[], STORES, json!({})).await;
    assert_ne!(last_used().await.as_ref(), Some(&first));
}
