//! Isolation tiers: the inventory suite for a tenant on each tier, tenants of different
//! tiers never seeing each other, live moves under load, `msingi tenants migrate` over many
//! schemas (killed and resumed), and the refusals (SQLite, DATABASE, non-admins).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use sqlx::Connection as _;

use crate::common::{TestApp, postgres_url};
use crate::inventory::{PRODUCT, PRODUCTS, adjust, exercise, product};
use crate::personas::Persona;

const MOVE: &str = "mutation($t: ID!, $to: IsolationTier!) { moveTenant(tenantId: $t, to: $to) { id status from to tenant { id } } }";
const MOVED: &str = "query($id: ID!) { tenantMove(id: $id) { id status rowsCopied error from to startedAt finishedAt tenant { id isolation } } }";

/// Moves `tenant` to `to` as the platform admin and waits for the move to end; the move.
pub async fn move_to(app: &TestApp, admin: &str, tenant: &str, to: &str) -> Value {
    let started = app
        .graphql_as(admin, &[], MOVE, json!({ "t": tenant, "to": to }))
        .await;
    let id = started.data()["moveTenant"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(started.data()["moveTenant"]["to"], to);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let got = app.graphql_as(admin, &[], MOVED, json!({ "id": id })).await;
        let last = got.data()["tenantMove"].clone();
        if !["COPYING", "VERIFYING"].contains(&last["status"].as_str().unwrap()) {
            return last;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the move did not end: {last}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn skus(app: &TestApp, who: &Persona) -> Vec<String> {
    let got = who.gql(app, PRODUCTS, json!({ "first": 100 })).await;
    let mut skus: Vec<String> = got.data()["products"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["sku"].as_str().unwrap().to_owned())
        .collect();
    skus.sort();
    skus
}

#[tokio::test]
async fn a_tenant_in_its_own_schema_passes_the_inventory_suite_and_sees_no_other_tier() {
    if postgres_url().is_none() {
        return; // SQLite has only the shared tier: see the refusals test.
    }
    let (app, admin) = TestApp::with_platform_admin().await;
    let a = app.register("asha@duka-a.example", "Duka A").await;
    let b = app.register("baraka@duka-b.example", "Duka B").await;
    let c = app.register("chebet@duka-c.example", "Duka C").await;
    let before = exercise(&app, &a, "SHARED").await;
    exercise(&app, &b, "B").await;
    exercise(&app, &c, "C").await;

    let moved = move_to(&app, &admin, &a.tenant_id, "SCHEMA").await;
    assert_eq!(moved["status"], "SWITCHED", "{moved}");
    assert_eq!(moved["from"], "SHARED");
    assert_eq!(moved["tenant"]["isolation"], "SCHEMA");
    // Two products, three stock levels (one per store touched), four movements.
    assert_eq!(moved["rowsCopied"], 2 + 2 + 3, "{moved}");
    assert!(moved["finishedAt"].is_string());
    let moved_c = move_to(&app, &admin, &c.tenant_id, "SCHEMA").await;
    assert_eq!(moved_c["status"], "SWITCHED", "{moved_c}");

    // What A had moved with it, stock and all; the suite passes again in the schema.
    let unga = &before[0].1;
    let got = a
        .gql(
            &app,
            PRODUCT,
            json!({ "id": unga, "store": a.main_store(&app).await }),
        )
        .await;
    assert_eq!(got.data()["product"]["stock"], 12);
    assert_eq!(got.data()["product"]["here"], 7);
    exercise(&app, &a, "SCHEMA").await;
    assert_eq!(
        skus(&app, &a).await,
        [
            "SUKARI-SCHEMA",
            "SUKARI-SHARED",
            "UNGA-SCHEMA",
            "UNGA-SHARED"
        ]
    );
    // Nobody sees across tiers: B (shared), C (another schema), A (a schema).
    assert_eq!(skus(&app, &b).await, ["SUKARI-B", "UNGA-B"]);
    assert_eq!(skus(&app, &c).await, ["SUKARI-C", "UNGA-C"]);
    for (who, foreign) in [(&b, unga), (&c, unga), (&a, &c.tenant_id)] {
        let got = who
            .gql(&app, PRODUCT, json!({ "id": foreign, "store": null }))
            .await;
        assert!(got.data()["product"].is_null());
    }
    // The shared tables keep A's old copy until confirmed; A is not served from it.
    let mut owner = sqlx::PgConnection::connect(&app.owner_database_url)
        .await
        .unwrap();
    let old: i64 = in_tenant(&mut owner, &a.tenant_id, "SELECT count(*) FROM public.products WHERE tenant_id = current_setting('app.tenant_id')::uuid").await;
    assert_eq!(old, 2, "the old copy is kept");
    let out = app
        .run_msingi(&["tenants", "move", &a.tenant_slug, "--confirm"])
        .await
        .unwrap();
    assert!(out.contains("dropped"), "{out}");
    let old: i64 = in_tenant(&mut owner, &a.tenant_id, "SELECT count(*) FROM public.products WHERE tenant_id = current_setting('app.tenant_id')::uuid").await;
    assert_eq!(old, 0, "confirmed: the old copy is gone");
    let list = app
        .run_msingi(&["tenants", "list", "--json"])
        .await
        .unwrap();
    let line = list
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|l| l["slug"] == a.tenant_slug.as_str())
        .unwrap();
    assert_eq!(line["tier"], "SCHEMA");
    assert!(line["location"].as_str().unwrap().starts_with("tenant_"));
    assert!(
        line["version"]
            .as_str()
            .unwrap()
            .contains("create_inventory")
    );

    // And back to the shared tier, with everything.
    let back = move_to(&app, &admin, &a.tenant_id, "SHARED").await;
    assert_eq!(back["status"], "SWITCHED", "{back}");
    assert_eq!(skus(&app, &a).await.len(), 4);
    exercise(&app, &a, "BACK").await;
    assert_eq!(skus(&app, &b).await, ["SUKARI-B", "UNGA-B"]);
}

/// `sql`'s one number, in a transaction bound to `tenant` (row-level security binds the
/// owner too).
async fn in_tenant(conn: &mut sqlx::PgConnection, tenant: &str, sql: &str) -> i64 {
    let mut tx = conn.begin().await.unwrap();
    sqlx::query("SELECT set_config('app.tenant_id', $1, true)")
        .bind(tenant)
        .execute(&mut *tx)
        .await
        .unwrap();
    let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    n
}

#[tokio::test]
async fn a_move_under_concurrent_reads_and_writes_loses_nothing_and_serves_every_read() {
    if postgres_url().is_none() {
        return;
    }
    let (app, admin) = TestApp::with_platform_admin().await;
    let a = app.register("asha@duka-a.example", "Duka A").await;
    let main = a.main_store(&app).await;
    let unga = product(&app, &a, "UNGA", "210").await;
    adjust(&app, &a, &unga, &main, 1).await;
    // History enough that the copy takes a while: 100,000 movements, written as the owner.
    let mut owner = sqlx::PgConnection::connect(&app.owner_database_url)
        .await
        .unwrap();
    let mut tx = owner.begin().await.unwrap();
    sqlx::query("SELECT set_config('app.tenant_id', $1, true)")
        .bind(&a.tenant_id)
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO stock_movements (tenant_id, id, product_id, store_id, quantity, reason, created_at) \
         SELECT $1::uuid, gen_random_uuid(), $2::uuid, $3::uuid, 0, 'history', now() FROM generate_series(1, 100000)",
    )
    .bind(&a.tenant_id)
    .bind(&unga)
    .bind(&main)
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let (written, reads, failed) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let app = Arc::new(app);
    let mut load = Vec::new();
    for _ in 0..2 {
        {
            let (app, a, unga, main) = (app.clone(), a.clone(), unga.clone(), main.clone());
            let (stop, written, failed) = (stop.clone(), written.clone(), failed.clone());
            load.push(tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let got = adjust(&app, &a, &unga, &main, 1).await;
                    if got["data"]["adjustStock"].is_object() {
                        written.fetch_add(1, Ordering::Relaxed);
                    } else {
                        failed.fetch_add(1, Ordering::Relaxed);
                        eprintln!("write failed during the move: {got}");
                    }
                }
            }));
        }
        let (app, a, unga) = (app.clone(), a.clone(), unga.clone());
        let (stop, reads, failed) = (stop.clone(), reads.clone(), failed.clone());
        load.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let got = a
                    .gql(&app, PRODUCT, json!({ "id": unga, "store": null }))
                    .await;
                if got.body()["data"]["product"]["stock"]
                    .as_i64()
                    .is_some_and(|s| s >= 1)
                {
                    reads.fetch_add(1, Ordering::Relaxed);
                } else {
                    failed.fetch_add(1, Ordering::Relaxed);
                    eprintln!("read failed during the move: {:?}", got.body());
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let moved = move_to(&app, &admin, &a.tenant_id, "SCHEMA").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    for task in load {
        task.await.unwrap();
    }
    assert_eq!(moved["status"], "SWITCHED", "{moved}");
    let (written, reads) = (
        written.load(Ordering::Relaxed),
        reads.load(Ordering::Relaxed),
    );
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "every read and write was served"
    );
    assert!(
        written > 10 && reads > 10,
        "load ran: {written} writes, {reads} reads"
    );
    let got = a
        .gql(&app, PRODUCT, json!({ "id": unga, "store": main }))
        .await;
    assert_eq!(
        got.data()["product"]["stock"].as_i64().unwrap(),
        1 + written as i64,
        "no write was lost"
    );
    let schema = format!("tenant_{}", a.tenant_id.replace('-', ""));
    let movements = in_tenant(
        &mut owner,
        &a.tenant_id,
        &format!("SELECT count(*) FROM {schema}.stock_movements"),
    )
    .await;
    assert_eq!(
        movements,
        100_000 + 1 + written as i64,
        "every movement is in the schema"
    );
}

#[tokio::test]
async fn tenants_migrate_covers_every_schema_and_resumes_after_a_kill() {
    if postgres_url().is_none() {
        let app = TestApp::spawn().await;
        let err = app.run_msingi(&["tenants", "migrate"]).await.unwrap_err();
        assert!(err.contains("SHARED"), "{err}");
        return;
    }
    let app = TestApp::spawn().await;
    let mut owner = sqlx::PgConnection::connect(&app.owner_database_url)
        .await
        .unwrap();
    for _ in 0..200 {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "CREATE SCHEMA tenant_{}",
            uuid::Uuid::now_v7().simple()
        )))
        .execute(&mut owner)
        .await
        .unwrap();
    }
    let current = "SELECT count(*) FROM pg_namespace n WHERE nspname LIKE 'tenant\\_%' \
                   AND to_regclass(nspname || '.seaql_migrations_data') IS NOT NULL";
    // Killed part-way.
    let mut first = app.msingi(&["tenants", "migrate"]).spawn().unwrap();
    let migrated_some = app
        .eventually(Duration::from_secs(60), || {
            let owner = &app.owner_database_url;
            async move {
                let mut conn = sqlx::PgConnection::connect(owner).await.unwrap();
                let n: i64 = sqlx::query_scalar(current)
                    .fetch_one(&mut conn)
                    .await
                    .unwrap();
                n >= 20
            }
        })
        .await;
    first.kill().unwrap();
    first.wait().unwrap();
    assert!(migrated_some);
    let done: i64 = sqlx::query_scalar(current)
        .fetch_one(&mut owner)
        .await
        .unwrap();
    assert!(done < 200, "killed before the end ({done} done)");
    // Resumed: the rest, and nothing twice.
    let out = app.run_msingi(&["tenants", "migrate"]).await.unwrap();
    assert!(out.starts_with("200 schemas:"), "{out}");
    assert!(out.contains("0 failed"), "{out}");
    let done: i64 = sqlx::query_scalar(current)
        .fetch_one(&mut owner)
        .await
        .unwrap();
    assert_eq!(done, 200);
    let again = app.run_msingi(&["tenants", "migrate"]).await.unwrap();
    assert!(
        again.starts_with("200 schemas: 200 current, 0 migrated"),
        "{again}"
    );
}

#[tokio::test]
async fn moves_are_for_platform_admins_to_tiers_this_deployment_has() {
    let (app, admin) = TestApp::with_platform_admin().await;
    let a = app.register("asha@duka-a.example", "Duka A").await;
    let denied = a
        .gql(&app, MOVE, json!({ "t": a.tenant_id, "to": "SCHEMA" }))
        .await;
    assert_eq!(denied.error_code(), "FORBIDDEN");
    let to_database = app
        .graphql_as(
            &admin,
            &[],
            MOVE,
            json!({ "t": a.tenant_id, "to": "DATABASE" }),
        )
        .await;
    assert_eq!(to_database.error_code(), "BAD_USER_INPUT");
    // On PostgreSQL the DATABASE tier needs the database's URL; SQLite has no such tier.
    let field = if postgres_url().is_some() {
        "databaseUrl"
    } else {
        "to"
    };
    assert_eq!(to_database.error()["extensions"]["field"], field);
    let here = app
        .graphql_as(
            &admin,
            &[],
            MOVE,
            json!({ "t": a.tenant_id, "to": "SHARED" }),
        )
        .await;
    assert_eq!(here.error()["extensions"]["field"], "to");
    if postgres_url().is_none() {
        let sqlite = app
            .graphql_as(
                &admin,
                &[],
                MOVE,
                json!({ "t": a.tenant_id, "to": "SCHEMA" }),
            )
            .await;
        assert_eq!(sqlite.error()["extensions"]["field"], "to");
        assert!(
            sqlite.error()["message"]
                .as_str()
                .unwrap()
                .contains("SQLite"),
            "{:?}",
            sqlite.body()
        );
    }
    let unknown = app
        .graphql_as(
            &admin,
            &[],
            MOVED,
            json!({ "id": uuid::Uuid::now_v7().to_string() }),
        )
        .await;
    assert!(unknown.data()["tenantMove"].is_null());
    let peek = a
        .gql(
            &app,
            MOVED,
            json!({ "id": uuid::Uuid::now_v7().to_string() }),
        )
        .await;
    assert_eq!(peek.error_code(), "FORBIDDEN");
}

/// A database of its own for a tenant (BYODB), on the test server: a new role that owns it
/// (a password in the URL, to check it never shows) and the database. Its URL.
async fn own_database() -> String {
    let admin = postgres_url().unwrap();
    let name = format!("byodb_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
    for sql in [
        format!("CREATE ROLE {name} LOGIN PASSWORD 's3cret-{name}'"),
        format!("CREATE DATABASE {name} OWNER {name}"),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut conn)
            .await
            .unwrap();
    }
    let base = url::Url::parse(&admin).unwrap();
    format!(
        "postgres://{name}:s3cret-{name}@{}:{}/{name}",
        base.host_str().unwrap(),
        base.port().unwrap_or(5432)
    )
}

const MOVE_TO_DATABASE: &str = "mutation($t: ID!, $url: String) { moveTenant(tenantId: $t, to: DATABASE, databaseUrl: $url) { id status } }";

#[tokio::test]
async fn a_tenant_on_its_own_database_passes_the_suite_and_a_bad_url_leaves_it_in_place() {
    if postgres_url().is_none() {
        return;
    }
    let (app, admin) = TestApp::with_platform_admin().await;
    let a = app.register("asha@duka-a.example", "Duka A").await;
    let b = app.register("baraka@duka-b.example", "Duka B").await;
    let before = exercise(&app, &a, "SHARED").await;
    exercise(&app, &b, "B").await;
    let url = own_database().await;
    let password = url::Url::parse(&url)
        .unwrap()
        .password()
        .unwrap()
        .to_owned();

    // Bad URLs: refused naming the step, the password never shown, the tenant in place.
    let wrong_port = url.replace(":5432/", ":1/");
    for (bad, step) in [
        ("mysql://x@localhost/db".to_owned(), "url"),
        (wrong_port, "connect"),
    ] {
        let refused = app
            .graphql_as(
                &admin,
                &[],
                MOVE_TO_DATABASE,
                json!({ "t": a.tenant_id, "url": bad }),
            )
            .await;
        assert_eq!(
            refused.error_code(),
            "BAD_USER_INPUT",
            "{:?}",
            refused.body()
        );
        assert_eq!(refused.error()["extensions"]["field"], "databaseUrl");
        let message = refused.error()["message"].as_str().unwrap();
        assert!(message.contains(step), "{message}");
        assert!(!refused.body().to_string().contains(&password));
    }
    let missing = app
        .graphql_as(
            &admin,
            &[],
            MOVE_TO_DATABASE,
            json!({ "t": a.tenant_id, "url": null }),
        )
        .await;
    assert_eq!(missing.error()["extensions"]["field"], "databaseUrl");
    let tenant = a.gql(&app, "{ tenant { isolation } }", json!({})).await;
    assert_eq!(
        tenant.data()["tenant"]["isolation"],
        "SHARED",
        "still in place"
    );
    assert_eq!(skus(&app, &a).await, ["SUKARI-SHARED", "UNGA-SHARED"]);

    // The good one: onboarded, copied, verified, switched.
    let started = app
        .graphql_as(
            &admin,
            &[],
            MOVE_TO_DATABASE,
            json!({ "t": a.tenant_id, "url": url }),
        )
        .await;
    let id = started.data()["moveTenant"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let moved = loop {
        let got = app
            .graphql_as(&admin, &[], MOVED, json!({ "id": id }))
            .await;
        let m = got.data()["tenantMove"].clone();
        if !["COPYING", "VERIFYING"].contains(&m["status"].as_str().unwrap()) {
            assert!(!got.body().to_string().contains(&password));
            break m;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(moved["status"], "SWITCHED", "{moved}");
    assert_eq!(moved["tenant"]["isolation"], "DATABASE");
    assert_eq!(moved["rowsCopied"], 7);
    let got = a
        .gql(&app, PRODUCT, json!({ "id": before[0].1, "store": null }))
        .await;
    assert_eq!(got.data()["product"]["stock"], 12);
    exercise(&app, &a, "DATABASE").await;
    assert_eq!(
        skus(&app, &b).await,
        ["SUKARI-B", "UNGA-B"],
        "B sees only its own"
    );
    // A's rows are in its database, as its own role sees them.
    let mut own = sqlx::PgConnection::connect(&url).await.unwrap();
    let there = in_tenant(
        &mut own,
        &a.tenant_id,
        "SELECT count(*) FROM products WHERE tenant_id = current_setting('app.tenant_id')::uuid",
    )
    .await;
    assert_eq!(there, 4);
    // The address is kept sealed, never in clear (read as the owner, bound to A: row-level
    // security binds the owner too).
    let mut owner = sqlx::PgConnection::connect(&app.owner_database_url)
        .await
        .unwrap();
    let mut tx = owner.begin().await.unwrap();
    sqlx::query("SELECT set_config('app.tenant_id', $1, true)")
        .bind(&a.tenant_id)
        .execute(&mut *tx)
        .await
        .unwrap();
    let sealed: Option<String> =
        sqlx::query_scalar("SELECT data_url_sealed FROM tenants WHERE id = $1::uuid")
            .bind(&a.tenant_id)
            .fetch_one(&mut *tx)
            .await
            .unwrap();
    tx.rollback().await.unwrap();
    let sealed = sealed.expect("a tenant on the DATABASE tier has its sealed address");
    assert!(!sealed.contains(&password) && !sealed.contains("postgres://"));
    assert!(!sealed.contains(url::Url::parse(&url).unwrap().username()));

    // And back to the shared tables, with everything.
    let back = move_to(&app, &admin, &a.tenant_id, "SHARED").await;
    assert_eq!(back["status"], "SWITCHED", "{back}");
    assert_eq!(skus(&app, &a).await.len(), 4);
    exercise(&app, &a, "BACK").await;
    drop(own);
    drop_own_database(&url).await;
}

/// Removes what [`own_database`] made.
async fn drop_own_database(url: &str) {
    let name = url::Url::parse(url).unwrap().username().to_owned();
    let mut conn = sqlx::PgConnection::connect(&postgres_url().unwrap())
        .await
        .unwrap();
    for sql in [
        format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        format!("DROP ROLE IF EXISTS {name}"),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut conn)
            .await
            .ok();
    }
}

const SCHEMA_PLAN: &str =
    "mutation($i: CreatePlanInput!) { createPlan(input: $i) { code isolation } }";

#[tokio::test]
async fn a_plan_that_asks_for_its_own_schema_moves_its_tenants_there_as_they_choose_it() {
    let (app, admin) = TestApp::with_platform_admin().await;
    let plan = app
        .graphql_as(
            &admin,
            &[],
            SCHEMA_PLAN,
            json!({ "i": { "code": "pro-schema", "name": "Pro, own schema", "price": "5000",
                "interval": "MONTH", "modules": ["inventory"], "isolation": "SCHEMA" } }),
        )
        .await;
    assert_eq!(
        plan.data()["createPlan"]["isolation"],
        "SCHEMA",
        "{}",
        plan.body()
    );
    let refused = app
        .graphql_as(
            &admin,
            &[],
            SCHEMA_PLAN,
            json!({ "i": { "code": "pro-db", "name": "Own database", "price": "5000",
                "interval": "MONTH", "modules": [], "isolation": "DATABASE" } }),
        )
        .await;
    assert_eq!(
        refused.error()["extensions"]["field"],
        "input.isolation",
        "{}",
        refused.body()
    );

    let owner = app
        .register("asha@plan-tier.example", "Duka Plan Tier")
        .await;
    let store = owner.main_store(&app).await;
    let id = product(&app, &owner, "UNGA", "210").await;
    adjust(&app, &owner, &id, &store, 7).await;
    let changed = owner
        .gql(
            &app,
            "mutation { changePlan(planCode: \"pro-schema\") { status plan { code isolation } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        changed.data()["changePlan"]["plan"]["isolation"],
        "SCHEMA",
        "{}",
        changed.body()
    );
    let want = if postgres_url().is_some() {
        "SCHEMA"
    } else {
        "SHARED"
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let tenant = owner.gql(&app, "{ tenant { isolation } }", json!({})).await;
        if tenant.data()["tenant"]["isolation"] == want {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the tenant did not reach {want}: {}",
            tenant.body()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Its stock came along.
    let got = owner.gql(&app, PRODUCT, json!({ "id": id })).await;
    assert_eq!(got.data()["product"]["stock"], 7, "{}", got.body());
}
