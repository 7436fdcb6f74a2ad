//! `exportTenant` → a job → `tenantExport` READY with a signed link → `GET /exports/{id}`:
//! the archive whose SHA-256 the API gave, useless without its token, with another
//! export's, or past its expiry (when the sweep deletes it).

use std::time::Duration;

use serde_json::{Value, json};
use sha2::Digest as _;

use super::Archive;
use crate::common::TestApp;
use crate::inventory::exercise;
use crate::personas::Persona;

const EXPORT: &str = "mutation { exportTenant { id status url expiresAt createdAt } }";
const EXPORTED: &str =
    "query($id: ID!) { tenantExport(id: $id) { id status url expiresAt rows sha256 error } }";

/// Asks for an export as `owner` and waits until its job has built it.
pub async fn ready_export(app: &TestApp, owner: &Persona) -> Value {
    let asked = owner.gql(app, EXPORT, json!({})).await;
    let export = &asked.data()["exportTenant"];
    assert_eq!(export["status"], "PENDING", "{}", asked.body());
    assert!(export["url"].is_null());
    let id = export["id"].as_str().unwrap().to_owned();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let got = owner.gql(app, EXPORTED, json!({ "id": id })).await;
        let export = got.data()["tenantExport"].clone();
        if export["status"] != "PENDING" {
            return export;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the export stayed PENDING"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn an_export_is_built_by_a_job_and_downloaded_once_through_its_signed_link() {
    let app = TestApp::builder()
        .env("MSINGI_TEST_CLOCK", "true")
        .with_platform_admin()
        .spawn()
        .await;
    let mut owner = app.register("asha@download.example", "Duka Download").await;
    exercise(&app, &owner, "download").await;
    let export = ready_export(&app, &owner).await;
    assert_eq!(export["status"], "READY", "{export}");
    let url = export["url"].as_str().unwrap().to_owned();
    assert!(url.contains("/exports/") && url.contains("token="), "{url}");

    let response = app.client.get(&url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/gzip",
        "{:?}",
        response.headers()
    );
    let body = response.bytes().await.unwrap();
    assert_eq!(
        hex::encode(sha2::Sha256::digest(&body)),
        export["sha256"].as_str().unwrap(),
        "the download is not the archive the API described"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("download.tar.gz");
    std::fs::write(&path, &body).unwrap();
    let archive = Archive::read(&path);
    assert_eq!(archive.manifest["tenant"]["id"], owner.tenant_id.as_str());
    let rows: u64 = archive.sums().iter().map(|(_, n, _)| n).sum();
    assert_eq!(export["rows"].as_u64().unwrap(), rows);
    assert!(!archive.rows("stock_movements").is_empty());

    // Without the token, with a forged one, or on another export's path: nothing.
    let id = export["id"].as_str().unwrap();
    let bare = format!("{}/exports/{id}", app.address);
    assert_eq!(app.client.get(&bare).send().await.unwrap().status(), 404);
    let forged = format!("{bare}?token=eyJhbGciOiJFZERTQSJ9.e30.AAAA");
    assert_eq!(app.client.get(&forged).send().await.unwrap().status(), 404);
    let other = app.register("baraka@download.example", "Duka Other").await;
    let theirs = ready_export(&app, &other).await;
    let their_token = theirs["url"]
        .as_str()
        .unwrap()
        .split("token=")
        .nth(1)
        .unwrap();
    let crossed = format!("{bare}?token={their_token}");
    assert_eq!(app.client.get(&crossed).send().await.unwrap().status(), 404);
    // Nor can the other tenant's owner read this export.
    let seen = other.gql(&app, EXPORTED, json!({ "id": id })).await;
    assert!(seen.data()["tenantExport"].is_null(), "{}", seen.body());

    let actions = app.audit_actions(&owner.tenant_id).await;
    for action in [
        "tenant.export.request",
        "tenant.export.ready",
        "tenant.export.download",
    ] {
        assert!(
            actions.contains(&action.to_owned()),
            "{action}: {actions:?}"
        );
    }

    // A day later the link is dead and the archive gone from disk.
    let file = app
        .data_dir
        .join("exports")
        .join(&owner.tenant_id)
        .join(format!("{id}.tar.gz"));
    assert!(file.is_file(), "{}", file.display());
    crate::billing::renewals::advance(&app, 25 * 3600).await;
    owner.access = app.access_token(&owner.email, &owner.password).await;
    let later = owner.gql(&app, EXPORTED, json!({ "id": id })).await;
    assert_eq!(
        later.data()["tenantExport"]["status"],
        "EXPIRED",
        "{}",
        later.body()
    );
    assert!(later.data()["tenantExport"]["url"].is_null());
    assert_eq!(app.client.get(&url).send().await.unwrap().status(), 404);
    assert!(!file.exists(), "the expired archive is still on disk");
}

#[tokio::test]
async fn only_who_manages_the_tenant_may_export_it() {
    let app = TestApp::spawn().await;
    let owner = app
        .register("chausiku@export-rights.example", "Duka Rights")
        .await;
    let employee = owner
        .invite_and_join(&app, "juma@export-rights.example", "EMPLOYEE", None)
        .await;
    let refused = employee.gql(&app, EXPORT, json!({})).await;
    assert_eq!(refused.error_code(), "FORBIDDEN", "{}", refused.body());
    let unknown = owner
        .gql(&app, EXPORTED, json!({ "id": "not-an-id" }))
        .await;
    assert_eq!(unknown.error_code(), "BAD_USER_INPUT", "{}", unknown.body());
    assert_eq!(
        unknown.error()["extensions"]["field"],
        "id",
        "{}",
        unknown.body()
    );
}
