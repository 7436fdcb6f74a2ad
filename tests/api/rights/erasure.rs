//! `eraseUser`: the user's personal data pseudonymised in members, the audit log and the
//! outbox; their sessions and keys revoked; invoices and payments as they were; the audit
//! chain still verifying. And tenant closure: members out at once, the data kept for the
//! retention, then erased but for the fiscal records.

use std::time::Duration;

use serde_json::json;

use crate::common::TestApp;
use crate::personas::Persona;

const MEMBERS: &str = include_str!("../graphql/tenancy/members.graphql");
const CREATE_API_KEY: &str = include_str!("../graphql/identity/create_api_key.graphql");
const ERASE: &str = "mutation($id: ID!) { eraseUser(userId: $id) }";
const MONEY: &str = "{ invoices(first: 100) { edges { node { id number status total { amount } \
    amountPaid { amount } } } } payments(first: 100) { edges { node { id status amount { amount } \
    receiptNumber phoneNumber } } } }";
const AUDIT: &str = "{ auditLog(first: 100) { edges { node { action } } } }";

/// How many rows of `table` mention `needle` anywhere, read through the platform's role
/// (which sees every tenant's rows).
async fn mentions(app: &TestApp, table: &str, needle: &str) -> i64 {
    use sea_orm::{ConnectionTrait as _, Database, Statement};
    let db = Database::connect(&app.platform_database_url).await.unwrap();
    let backend = db.get_database_backend();
    let (cast, param) = match backend {
        sea_orm::DbBackend::Postgres => (format!("CAST({table}.* AS TEXT)"), "$1"),
        _ => (String::new(), "?"),
    };
    let sql = if cast.is_empty() {
        // SQLite: every text column of the row.
        let columns: Vec<String> = db
            .query_all_raw(Statement::from_string(
                backend,
                format!("SELECT name FROM pragma_table_info('{table}')"),
            ))
            .await
            .unwrap()
            .iter()
            .map(|r| {
                // A UUID is a blob here: as text it could end the string at a zero byte.
                let c = r.try_get::<String>("", "name").unwrap();
                format!(
                    "CASE WHEN typeof({c}) IN ('text', 'integer', 'real') \
                     THEN CAST({c} AS TEXT) ELSE '' END"
                )
            })
            .collect();
        format!(
            "SELECT count(*) AS n FROM {table} WHERE lower({}) LIKE {param}",
            columns.join(" || ' ' || ")
        )
    } else {
        format!("SELECT count(*) AS n FROM {table} WHERE lower({cast}) LIKE {param}")
    };
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [format!("%{}%", needle.to_lowercase()).into()],
        ))
        .await
        .unwrap()
        .unwrap();
    let n: i64 = row.try_get("", "n").unwrap();
    db.close().await.ok();
    n
}

/// How many rows of `table` belong to `tenant`, through the platform's role.
async fn rows_of(app: &TestApp, table: &str, tenant: &str) -> i64 {
    use sea_orm::{ConnectionTrait as _, Database, Statement};
    let db = Database::connect(&app.platform_database_url).await.unwrap();
    let backend = db.get_database_backend();
    let param = if backend == sea_orm::DbBackend::Postgres {
        "$1"
    } else {
        "?"
    };
    let id = uuid::Uuid::parse_str(tenant).unwrap();
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            format!("SELECT count(*) AS n FROM {table} WHERE tenant_id = {param}"),
            [id.into()],
        ))
        .await
        .unwrap()
        .unwrap();
    let n: i64 = row.try_get("", "n").unwrap();
    db.close().await.ok();
    n
}

/// A tenant whose member has worked in it (a store, a key, a stock movement), with an
/// invoice paid by M-Pesa: (owner, member).
async fn worked_in(app: &TestApp) -> (Persona, Persona) {
    let owner = app.register("asha@erase.example", "Duka Erase").await;
    let member = owner
        .invite_and_join(app, "juma.mwangi@erase.example", "ADMIN", None)
        .await;
    member
        .gql(
            app,
            CREATE_API_KEY,
            json!({ "input": { "name": "juma's till", "permissions": ["store.read"] } }),
        )
        .await
        .data();
    crate::inventory::exercise(app, &member, "erase").await;
    let invoice = crate::billing::renewals::issue_now(app, &owner).await;
    let pushed = crate::payments::mpesa::pay(app, &owner, &invoice, "0708374149").await;
    let id = pushed.data()["payInvoice"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let done = crate::payments::mpesa::settled(app, &owner, &id, Duration::from_secs(15)).await;
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    (owner, member)
}

#[tokio::test]
async fn an_erased_user_is_gone_from_members_audit_and_outbox_while_money_and_the_chain_hold() {
    let (app, admin) = TestApp::with_platform_admin().await;
    let (owner, member) = worked_in(&app).await;
    for table in ["users", "audit_log", "outbox", "invitations"] {
        assert!(
            mentions(&app, table, &member.email).await > 0,
            "the test needs {table} to name the member first"
        );
    }
    let money_before = owner.gql(&app, MONEY, json!({})).await.data().clone();

    let erased = app
        .graphql_as(&admin, &[], ERASE, json!({ "id": member.user_id }))
        .await;
    assert_eq!(erased.data()["eraseUser"], true, "{}", erased.body());

    // The member's email is nowhere: members, the audit log, the outbox, invitations.
    for table in ["users", "audit_log", "outbox", "invitations", "sessions"] {
        assert_eq!(
            mentions(&app, table, &member.email).await,
            0,
            "{table} still names the erased user"
        );
    }
    let members = owner.gql(&app, MEMBERS, json!({ "first": 50 })).await;
    let text = members.body().to_string();
    assert!(!text.contains(&member.email), "{text}");
    let erased_row = members.data()["members"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["node"]["user"]["id"] == member.user_id.as_str())
        .unwrap()
        .clone();
    assert!(
        erased_row["node"]["user"]["email"]
            .as_str()
            .unwrap()
            .ends_with("@erased.invalid"),
        "{erased_row}"
    );

    // Their sessions and the keys they made no longer open anything.
    let after = member.gql(&app, "{ me { user { id } } }", json!({})).await;
    assert_eq!(after.error_code(), "UNAUTHENTICATED", "{}", after.body());
    let login = app
        .graphql(
            "mutation($i: LoginInput!) { login(input: $i) { accessToken } }",
            json!({ "i": { "email": member.email, "password": member.password } }),
        )
        .await;
    assert!(login.body()["errors"].is_array(), "{}", login.body());
    let keys = owner
        .gql(&app, "{ apiKeys { name revokedAt } }", json!({}))
        .await;
    let till = keys.data()["apiKeys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "juma's till")
        .unwrap()
        .clone();
    assert!(!till["revokedAt"].is_null(), "{till}");

    // Money and history are as they were, and the chain verifies.
    assert_eq!(
        owner.gql(&app, MONEY, json!({})).await.data(),
        &money_before
    );
    let log = owner.gql(&app, AUDIT, json!({})).await;
    let actions: Vec<&str> = log.data()["auditLog"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"member.erase"), "{actions:?}");
    assert!(actions.contains(&"stock.adjust"), "{actions:?}");
    let verified = app.run_msingi(&["audit", "verify"]).await;
    assert!(verified.is_ok(), "{verified:?}");
    assert!(
        app.platform_audit_actions()
            .await
            .contains(&"user.erase".to_owned())
    );
}

#[tokio::test]
async fn a_user_erases_their_own_account_unless_they_own_a_tenant() {
    let app = TestApp::spawn().await;
    let owner = app.register("baraka@self.example", "Duka Self").await;
    let member = owner
        .invite_and_join(&app, "neema@self.example", "EMPLOYEE", None)
        .await;
    let refused = owner.gql(&app, ERASE, json!({ "id": owner.user_id })).await;
    assert_eq!(refused.error_code(), "BAD_USER_INPUT", "{}", refused.body());
    assert_eq!(refused.error()["extensions"]["field"], "userId");
    assert!(
        refused.error()["message"]
            .as_str()
            .unwrap()
            .contains(&owner.tenant_slug),
        "{}",
        refused.body()
    );
    let other = member
        .gql(&app, ERASE, json!({ "id": owner.user_id }))
        .await;
    assert_eq!(other.error_code(), "FORBIDDEN", "{}", other.body());
    let mine = member
        .gql(&app, ERASE, json!({ "id": member.user_id }))
        .await;
    assert_eq!(mine.data()["eraseUser"], true, "{}", mine.body());
    assert_eq!(mentions(&app, "users", &member.email).await, 0);
    assert!(app.run_msingi(&["audit", "verify"]).await.is_ok());
}

#[tokio::test]
async fn a_closed_tenant_is_kept_for_its_retention_then_erased_but_for_invoices_and_payments() {
    let app = TestApp::builder()
        .env("MSINGI_TEST_CLOCK", "true")
        .env("MSINGI_CLOSED_RETENTION_DAYS", "30")
        .with_platform_admin()
        .spawn()
        .await;
    let (owner, member) = worked_in(&app).await;
    let money = owner.gql(&app, MONEY, json!({})).await.data().clone();
    for table in [
        "stores",
        "memberships",
        "stock_movements",
        "invoices",
        "payments",
    ] {
        assert!(
            rows_of(&app, table, &owner.tenant_id).await > 0,
            "{table} starts empty"
        );
    }
    let closed = owner
        .gql(&app, "mutation { closeTenant { id status } }", json!({}))
        .await;
    assert_eq!(
        closed.data()["closeTenant"]["status"],
        "CLOSED",
        "{}",
        closed.body()
    );
    // Members are out at once.
    let out = member.gql(&app, "{ stores { id } }", json!({})).await;
    assert!(out.body()["errors"].is_array(), "{}", out.body());

    // Within the retention the data is all there, for export.
    let dir = tempfile::tempdir().unwrap();
    let kept = dir.path().join("kept.tar.gz");
    super::export(&app, &owner.tenant_slug, &kept).await;
    let archive = super::Archive::read(&kept);
    assert!(!archive.rows("stock_movements").is_empty());
    crate::billing::renewals::advance(&app, 29 * 86_400).await;
    assert!(mentions(&app, "users", &member.email).await > 0);

    // Past it: erased, but invoices and payments, and the chain verifies.
    crate::billing::renewals::advance(&app, 2 * 86_400).await;
    for table in [
        "stores",
        "memberships",
        "roles",
        "stock_movements",
        "products",
    ] {
        assert_eq!(
            rows_of(&app, table, &owner.tenant_id).await,
            0,
            "{table} kept rows"
        );
    }
    for table in ["invoices", "invoice_lines", "payments", "audit_log"] {
        assert!(
            rows_of(&app, table, &owner.tenant_id).await > 0,
            "{table} lost its rows"
        );
    }
    for who in [&owner.email, &member.email] {
        for table in ["users", "audit_log", "outbox", "invitations"] {
            assert_eq!(mentions(&app, table, who).await, 0, "{table} names {who}");
        }
    }
    assert_eq!(mentions(&app, "tenants", &owner.tenant_slug).await, 0);
    let verified = app.run_msingi(&["audit", "verify"]).await;
    assert!(verified.is_ok(), "{verified:?}");
    // The owner's view of money is gone with the tenant; what is kept is as it was.
    let invoices = money["invoices"]["edges"].as_array().unwrap().len();
    assert!(invoices > 0);
}
