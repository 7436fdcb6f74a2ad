//! The audit log: queried through the API, checked by `msingi audit verify`.

use std::process::Command;

use serde_json::json;
use sqlx::Connection as _;

use crate::common::TestApp;
use crate::ops::{AUDIT_LOG, CREATE_STORE, UPDATE_TENANT};

#[tokio::test]
async fn mutations_are_audited_with_actor_and_address_and_can_be_filtered() {
    let app = TestApp::spawn().await;
    let owner = app.register("asha@duka.example", "Duka").await;
    owner
        .gql(&app, CREATE_STORE, json!({ "input": { "name": "Two" } }))
        .await
        .data();
    owner
        .gql(&app, CREATE_STORE, json!({ "input": { "name": "Three" } }))
        .await
        .data();
    let all = owner.gql(&app, AUDIT_LOG, json!({})).await;
    let entries = all.data()["auditLog"]["edges"].as_array().unwrap().clone();
    assert_eq!(entries[0]["node"]["action"], "store.create", "newest first");
    assert!(
        entries
            .iter()
            .any(|e| e["node"]["action"] == "tenant.register")
    );
    assert_eq!(entries[0]["node"]["ip"], "127.0.0.1");
    assert_eq!(
        entries[0]["node"]["actor"]["email"], "asha@duka.example",
        "the acting user is named"
    );
    let stores = owner
        .gql(
            &app,
            AUDIT_LOG,
            json!({ "action": "store.create", "first": 1 }),
        )
        .await;
    assert_eq!(stores.data()["auditLog"]["totalCount"], 2);
    assert_eq!(
        stores.data()["auditLog"]["edges"].as_array().unwrap().len(),
        1
    );

    let member = owner
        .invite_and_join(&app, "juma@duka.example", "EMPLOYEE", None)
        .await;
    assert_eq!(
        member.gql(&app, AUDIT_LOG, json!({})).await.error_code(),
        "FORBIDDEN"
    );
    // The member's own joining names them, not the owner who invited them.
    let joined = owner
        .gql(&app, AUDIT_LOG, json!({ "action": "member.join" }))
        .await;
    assert_eq!(
        joined.data()["auditLog"]["edges"][0]["node"]["actor"]["email"],
        "juma@duka.example"
    );
}

fn verify(app: &TestApp) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_msingi"))
        .args(["audit", "verify"])
        .env("DATABASE_URL", &app.database_url)
        .env("PLATFORM_DATABASE_URL", &app.platform_database_url)
        .env("MSINGI_DATA_DIR", &app.data_dir)
        .env("MSINGI_AUTO_MIGRATE", "false")
        .env_remove("REDIS_URL")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

/// Runs tampering SQL as the table owner (an attacker with database access).
async fn tamper(app: &TestApp, sql: &str) {
    let sql = sqlx::AssertSqlSafe(sql.to_owned());
    if app.owner_database_url.starts_with("sqlite") {
        let mut conn = sqlx::SqliteConnection::connect(&app.owner_database_url)
            .await
            .unwrap();
        sqlx::query(sql).execute(&mut conn).await.unwrap();
    } else {
        let mut conn = sqlx::PgConnection::connect(&app.owner_database_url)
            .await
            .unwrap();
        sqlx::query(sql).execute(&mut conn).await.unwrap();
    }
}

#[tokio::test]
async fn audit_verify_detects_an_edited_and_a_deleted_entry() {
    // Four stores: more than the default plan allows.
    let app = TestApp::builder()
        .env("BILLING_DEFAULT_PLAN", "pro")
        .spawn()
        .await;
    let owner = app.register("asha@duka.example", "Duka").await;
    for name in ["Two", "Three", "Four"] {
        owner
            .gql(&app, CREATE_STORE, json!({ "input": { "name": name } }))
            .await
            .data();
    }
    owner
        .gql(
            &app,
            UPDATE_TENANT,
            json!({ "input": { "name": "Duka Kubwa" } }),
        )
        .await
        .data();
    let (ok, text) = verify(&app);
    assert!(ok, "{text}");
    assert!(text.contains("ok"), "{text}");

    let tenant = &owner.tenant_id;
    let tenant_match = if app.owner_database_url.starts_with("sqlite") {
        // sea-orm stores UUIDs on SQLite as 16-byte blobs.
        format!("hex(tenant_id) = upper('{}')", tenant.replace('-', ""))
    } else {
        format!("tenant_id = '{tenant}'")
    };
    tamper(
        &app,
        &format!(
            "UPDATE audit_log SET action = 'store.nothing_to_see' WHERE {tenant_match} AND seq = 2"
        ),
    )
    .await;
    let (ok, text) = verify(&app);
    assert!(!ok, "an edited entry went unnoticed: {text}");
    assert!(
        text.contains("BROKEN") && text.contains("at entry 2") && text.contains("changed"),
        "{text}"
    );

    tamper(
        &app,
        &format!("UPDATE audit_log SET action = 'store.create' WHERE {tenant_match} AND seq = 2"),
    )
    .await;
    assert!(verify(&app).0, "the restored entry verifies again");
    tamper(
        &app,
        &format!("DELETE FROM audit_log WHERE {tenant_match} AND seq = 3"),
    )
    .await;
    let (ok, text) = verify(&app);
    assert!(!ok, "a deleted entry went unnoticed: {text}");
    assert!(text.contains("entry 3 is missing"), "{text}");
}

/// Issue 7, item 9: deleting a chain's newest entries (nothing after them to break) is
/// detected through the head kept outside the table.
#[tokio::test]
async fn audit_verify_detects_a_truncated_tail() {
    let app = TestApp::spawn().await;
    let owner = app.register("asha@duka.example", "Duka").await;
    for name in ["Two", "Three"] {
        owner
            .gql(&app, CREATE_STORE, json!({ "input": { "name": name } }))
            .await
            .data();
    }
    assert!(verify(&app).0);
    let tenant = &owner.tenant_id;
    let tenant_match = if app.owner_database_url.starts_with("sqlite") {
        format!("hex(tenant_id) = upper('{}')", tenant.replace('-', ""))
    } else {
        format!("tenant_id = '{tenant}'")
    };
    tamper(
        &app,
        &format!(
            "DELETE FROM audit_log WHERE {tenant_match} AND seq >= \
             (SELECT max(seq) - 1 FROM audit_log WHERE {tenant_match})"
        ),
    )
    .await;
    let (ok, text) = verify(&app);
    assert!(!ok, "a truncated tail went unnoticed: {text}");
    assert!(text.contains("entries were deleted"), "{text}");
}
