//! Data rights: a tenant's archive out and in again (another deployment, another tier),
//! refused when altered; the export through the API and its signed expiring link; user
//! erasure that keeps invoices, payments and the audit chain; tenant closure and retention.

mod erasure;
mod exports;

use std::io::Read as _;
use std::path::Path;

use serde_json::{Value, json};

use crate::common::TestApp;
use crate::inventory::exercise;
use crate::personas::Persona;

/// An archive's manifest and tables, read back from the file.
pub struct Archive {
    pub manifest: Value,
    pub tables: Vec<(String, Vec<u8>)>,
}

impl Archive {
    pub fn read(path: &Path) -> Self {
        let file = std::fs::File::open(path).unwrap();
        let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
        let mut manifest = Value::Null;
        let mut tables = Vec::new();
        for entry in tar.entries().unwrap() {
            let mut entry = entry.unwrap();
            let name = entry.path().unwrap().to_string_lossy().into_owned();
            let mut body = Vec::new();
            entry.read_to_end(&mut body).unwrap();
            if name == "manifest.json" {
                manifest = serde_json::from_slice(&body).unwrap();
            } else {
                tables.push((name.trim_end_matches(".jsonl").to_owned(), body));
            }
        }
        Self { manifest, tables }
    }

    /// Writes the archive back (gzip-compressed tar, the manifest first) to `path`.
    pub fn write(&self, path: &Path) {
        let file = std::fs::File::create(path).unwrap();
        let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
            file,
            flate2::Compression::fast(),
        ));
        let mut put = |name: &str, body: &[u8]| {
            let mut header = tar::Header::new_gnu();
            header.set_size(body.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            tar.append_data(&mut header, name, body).unwrap();
        };
        put(
            "manifest.json",
            &serde_json::to_vec_pretty(&self.manifest).unwrap(),
        );
        for (name, body) in &self.tables {
            put(&format!("{name}.jsonl"), body);
        }
        tar.into_inner().unwrap().finish().unwrap();
    }

    /// Each table's (rows, sha256) from the manifest.
    pub fn sums(&self) -> Vec<(String, u64, String)> {
        self.manifest["tables"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    t["name"].as_str().unwrap().to_owned(),
                    t["rows"].as_u64().unwrap(),
                    t["sha256"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }

    pub fn rows(&self, table: &str) -> Vec<Value> {
        let body = &self.tables.iter().find(|(n, _)| n == table).unwrap().1;
        String::from_utf8_lossy(body)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

/// A tenant with something in every corner: a second member, products and stock
/// movements, an invoice partly paid.
pub async fn busy_tenant(app: &TestApp, email: &str, name: &str) -> (Persona, Persona) {
    let owner = app.register(email, name).await;
    let store = owner.main_store(app).await;
    let member = owner
        .invite_and_join(app, &format!("clerk.{email}"), "MANAGER", Some(&store))
        .await;
    exercise(app, &owner, "rights").await;
    let invoice = crate::billing::renewals::issue_now(app, &owner).await;
    crate::billing::renewals::pay(app, &owner, &invoice, "100").await;
    (owner, member)
}

pub async fn export(app: &TestApp, slug: &str, path: &Path) -> String {
    app.run_msingi(&["tenants", "export", slug, "-o", path.to_str().unwrap()])
        .await
        .unwrap_or_else(|e| panic!("export failed: {e}"))
}

#[tokio::test]
async fn an_archive_loads_into_another_deployment_equal_table_by_table_and_its_chain_verifies() {
    let a = TestApp::spawn().await;
    let (owner, _) = busy_tenant(&a, "asha@export.example", "Duka Export").await;
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first.tar.gz");
    let said = export(&a, &owner.tenant_slug, &first).await;
    assert!(said.contains("rows in 27 tables"), "{said}");
    let archive = Archive::read(&first);
    assert_eq!(archive.manifest["tenant"]["id"], owner.tenant_id.as_str());
    let sums = archive.sums();
    for table in [
        "tenants",
        "users",
        "stores",
        "memberships",
        "invoices",
        "invoice_lines",
        "audit_log",
        "products",
        "stock_movements",
    ] {
        let rows = sums.iter().find(|(n, _, _)| n == table).unwrap().1;
        assert!(rows > 0, "{table} is empty in the archive");
    }
    assert_eq!(sums.iter().find(|(n, _, _)| n == "users").unwrap().1, 2);
    // No password hash leaves the deployment.
    for user in archive.rows("users") {
        assert!(user.get("password_hash").is_none(), "{user}");
    }

    let b = TestApp::spawn().await;
    let dry = b
        .run_msingi(&["tenants", "import", first.to_str().unwrap(), "--dry-run"])
        .await
        .unwrap();
    assert!(dry.contains("would load"), "{dry}");
    let listed = b.run_msingi(&["tenants", "list", "--json"]).await.unwrap();
    assert!(
        !listed.contains(&owner.tenant_slug),
        "a dry run loaded the tenant: {listed}"
    );
    let loaded = b
        .run_msingi(&["tenants", "import", first.to_str().unwrap()])
        .await
        .unwrap();
    assert!(loaded.contains("rows loaded"), "{loaded}");

    let second = dir.path().join("second.tar.gz");
    export(&b, &owner.tenant_slug, &second).await;
    // Every table is equal, byte for byte; but the plans, which each deployment seeds
    // with its own ids: the subscription names this deployment's plan of the same code.
    let again = Archive::read(&second);
    let mine = |sums: Vec<(String, u64, String)>| -> Vec<(String, u64, String)> {
        sums.into_iter()
            .filter(|(n, _, _)| n != "plans" && n != "subscriptions")
            .collect()
    };
    assert_eq!(
        mine(again.sums()),
        mine(sums.clone()),
        "the archive of the imported tenant differs from the original"
    );
    let code = |archive: &Archive| {
        let subscription = &archive.rows("subscriptions")[0];
        let plan = archive
            .rows("plans")
            .into_iter()
            .find(|p| p["id"] == subscription["plan_id"])
            .unwrap();
        let mut subscription = subscription.clone();
        subscription.as_object_mut().unwrap().remove("plan_id");
        (plan["code"].clone(), subscription)
    };
    assert_eq!(code(&again), code(&archive));
    let verified = b.run_msingi(&["audit", "verify"]).await.unwrap();
    assert!(!verified.contains("BROKEN"), "{verified}");

    // Loading it twice is refused, and names why.
    let again = b
        .run_msingi(&["tenants", "import", first.to_str().unwrap()])
        .await
        .unwrap_err();
    assert!(again.contains("exists here already"), "{again}");
}

#[tokio::test]
async fn an_altered_archive_is_refused_naming_the_table_and_loads_nothing() {
    let a = TestApp::spawn().await;
    let owner = a.register("baraka@tamper.example", "Duka Tamper").await;
    exercise(&a, &owner, "tamper").await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("archive.tar.gz");
    export(&a, &owner.tenant_slug, &path).await;
    let b = TestApp::spawn().await;

    // One quantity changed in one stock movement, the manifest left as it was.
    let mut archive = Archive::read(&path);
    let (_, body) = archive
        .tables
        .iter_mut()
        .find(|(n, _)| n == "stock_movements")
        .unwrap();
    let text = String::from_utf8(body.clone()).unwrap();
    let mut lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    lines[0]["quantity"] = json!(lines[0]["quantity"].as_i64().unwrap() + 1000);
    *body = lines
        .iter()
        .map(|l| format!("{l}\n"))
        .collect::<String>()
        .into_bytes();
    let tampered = dir.path().join("tampered.tar.gz");
    archive.write(&tampered);
    let refused = b
        .run_msingi(&["tenants", "import", tampered.to_str().unwrap()])
        .await
        .unwrap_err();
    assert!(
        refused.contains("stock_movements: its SHA-256 does not match"),
        "{refused}"
    );
    assert!(refused.contains("nothing was loaded"), "{refused}");

    // A row of another tenant slipped in, and a row missing a column: each named by its line.
    let mut archive = Archive::read(&path);
    let (_, body) = archive
        .tables
        .iter_mut()
        .find(|(n, _)| n == "stores")
        .unwrap();
    let mut store: Value =
        serde_json::from_slice(body.split(|b| *b == b'\n').next().unwrap()).unwrap();
    store["tenant_id"] = json!(uuid::Uuid::now_v7().to_string());
    store["id"] = json!(uuid::Uuid::now_v7().to_string());
    let mut broken = store.clone();
    broken["tenant_id"] = json!(owner.tenant_id);
    broken.as_object_mut().unwrap().remove("name");
    body.extend(format!("{store}\n{broken}\n").into_bytes());
    let dry = dir.path().join("dry.tar.gz");
    archive.write(&dry);
    let report = b
        .run_msingi(&["tenants", "import", dry.to_str().unwrap(), "--dry-run"])
        .await
        .unwrap_err();
    let stores = archive
        .sums()
        .iter()
        .find(|(n, _, _)| n == "stores")
        .unwrap()
        .1;
    assert!(
        report.contains(&format!("stores line {}: tenant_id is", stores + 1)),
        "{report}"
    );
    assert!(
        report.contains(&format!("stores line {}: missing field `name`", stores + 2)),
        "{report}"
    );
    assert!(
        report.contains(&format!(
            "stores: {} rows, but the manifest says {stores}",
            stores + 2
        )),
        "{report}"
    );

    // Nothing of the tenant is there after either refusal.
    let tenants = b.run_msingi(&["tenants", "list", "--json"]).await.unwrap();
    assert!(!tenants.contains(&owner.tenant_slug), "{tenants}");
}

#[tokio::test]
async fn a_tenant_in_its_own_schema_loads_into_another_deployment_in_its_own_schema() {
    if crate::common::postgres_url().is_none() {
        return; // SQLite has only the shared tier.
    }
    let (a, admin) = TestApp::with_platform_admin().await;
    let (owner, _) = busy_tenant(&a, "chausiku@tiers.example", "Duka Tiers").await;
    let moved = crate::tiers::move_to(&a, &admin, &owner.tenant_id, "SCHEMA").await;
    assert_eq!(moved["status"], "SWITCHED", "{moved}");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("schema.tar.gz");
    export(&a, &owner.tenant_slug, &path).await;
    let archive = Archive::read(&path);
    assert!(
        archive.manifest["source"]
            .as_str()
            .unwrap()
            .contains("SCHEMA tier"),
        "{}",
        archive.manifest
    );

    let b = TestApp::spawn().await;
    let loaded = b
        .run_msingi(&[
            "tenants",
            "import",
            path.to_str().unwrap(),
            "--tier",
            "schema",
        ])
        .await
        .unwrap();
    assert!(loaded.contains("moved SHARED -> SCHEMA"), "{loaded}");
    let listed = b.run_msingi(&["tenants", "list", "--json"]).await.unwrap();
    let place: Value = listed
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|p| p["slug"] == owner.tenant_slug.as_str())
        .unwrap();
    assert_eq!(place["tier"], "SCHEMA", "{place}");

    let second = dir.path().join("again.tar.gz");
    export(&b, &owner.tenant_slug, &second).await;
    let data = |a: &Archive| -> Vec<(String, u64, String)> {
        a.sums()
            .into_iter()
            .filter(|(n, _, _)| {
                [
                    "products",
                    "stock_levels",
                    "stock_movements",
                    "invoices",
                    "memberships",
                ]
                .contains(&n.as_str())
            })
            .collect()
    };
    let again = Archive::read(&second);
    assert_eq!(data(&again), data(&archive));
    // The audit chain goes on from where it was: the move is its next entry.
    let (before, after) = (archive.rows("audit_log"), again.rows("audit_log"));
    assert_eq!(after[..before.len()], before[..]);
    assert_eq!(
        after[before.len()]["action"],
        "platform.tenant.move",
        "{after:?}"
    );
}
