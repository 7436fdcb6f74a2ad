//! Row-level security on PostgreSQL, on its own: the run-time connection, with no
//! application filter at all, still sees only the current tenant's rows.

use msingi_migrations::{GLOBAL_RLS_TABLES, TENANT_TABLES};
use serde_json::json;
use sqlx::{Connection as _, Row as _};

use crate::common::{TestApp, postgres_url};

#[tokio::test]
async fn without_the_application_filter_only_the_current_tenants_rows_are_visible() {
    if postgres_url().is_none() {
        eprintln!("skipped: row-level security is PostgreSQL's (set TEST_DATABASE_URL)");
        return;
    }
    let app = TestApp::spawn().await;
    let (a, b) = app.two_tenants().await;
    let mut conn = sqlx::PgConnection::connect(&app.database_url)
        .await
        .unwrap();

    let role: (String, bool) = sqlx::query_as(
        "SELECT current_user::text, rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert!(!role.1, "the run-time role {} can bypass RLS", role.0);

    for (tenant, other) in [(&a, &b), (&b, &a)] {
        let mut tx = conn.begin().await.unwrap();
        sqlx::query("SELECT set_config('app.tenant_id', $1, true)")
            .bind(&tenant.tenant_id)
            .execute(&mut *tx)
            .await
            .unwrap();
        for table in [
            "stores",
            "roles",
            "memberships",
            "role_assignments",
            "audit_log",
        ] {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT tenant_id::text AS t FROM {table}"
            )))
            .fetch_all(&mut *tx)
            .await
            .unwrap();
            assert!(
                !rows.is_empty(),
                "{table}: the tenant's own rows are visible"
            );
            for row in rows {
                assert_eq!(
                    row.get::<String, _>("t"),
                    tenant.tenant_id,
                    "{table} leaked {}",
                    other.tenant_id
                );
            }
        }
        // Writing another tenant's row is refused by the policy's check.
        let insert = sqlx::query(
            "INSERT INTO stores (tenant_id, id, name, status, created_at, updated_at) \
             VALUES ($1::uuid, gen_random_uuid(), 'smuggled', 'ACTIVE', now(), now())",
        )
        .bind(&other.tenant_id)
        .execute(&mut *tx)
        .await;
        assert!(insert.is_err(), "a row for another tenant was written");
        tx.rollback().await.unwrap();
    }

    // No tenant set: no rows at all (or no access at all: the platform's own tables,
    // such as tenant_moves, are not granted to the run-time role).
    for table in TENANT_TABLES {
        let count: Result<i64, sqlx::Error> =
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
                .fetch_one(&mut conn)
                .await;
        match count {
            Ok(count) => assert_eq!(count, 0, "{table} is readable without a tenant"),
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42501") => {}
            Err(e) => panic!("{table}: {e}"),
        }
    }
    // The API still works, of course.
    assert!(a.gql(&app, crate::personas::STORES, json!({})).await.body()["errors"].is_null());
}

#[tokio::test]
async fn every_table_with_a_tenant_id_has_forced_row_level_security() {
    if postgres_url().is_none() {
        eprintln!("skipped: row-level security is PostgreSQL's (set TEST_DATABASE_URL)");
        return;
    }
    let app = TestApp::spawn().await;
    let mut conn = sqlx::PgConnection::connect(&app.database_url)
        .await
        .unwrap();
    let rows = sqlx::query(
        "SELECT c.relname::text AS name, c.relrowsecurity AS enabled, c.relforcerowsecurity AS forced \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'public' AND c.relkind = 'r' AND EXISTS ( \
           SELECT 1 FROM pg_attribute a \
           WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped)",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let mut checked = 0;
    for row in rows {
        let name: String = row.get("name");
        assert!(
            row.get::<bool, _>("enabled") && row.get::<bool, _>("forced"),
            "{name} lacks forced RLS"
        );
        assert!(
            TENANT_TABLES.contains(&name.as_str()) || GLOBAL_RLS_TABLES.contains(&name.as_str()),
            "{name} is in neither TENANT_TABLES nor GLOBAL_RLS_TABLES"
        );
        checked += 1;
    }
    assert!(
        checked > TENANT_TABLES.len(),
        "sessions and outbox are checked too"
    );
}

#[tokio::test]
async fn the_server_refuses_a_role_that_bypasses_row_level_security() {
    let Some(admin_url) = postgres_url() else {
        eprintln!("skipped: PostgreSQL only (set TEST_DATABASE_URL)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let env = std::collections::HashMap::from([
        ("DATABASE_URL".to_owned(), admin_url),
        (
            "MSINGI_DATA_DIR".to_owned(),
            dir.path().display().to_string(),
        ),
    ]);
    let config = msingi::config::Config::from_lookup(|k| env.get(k).cloned()).unwrap();
    let clock = std::sync::Arc::new(msingi::clock::SystemClock);
    let refused = match msingi::app::open_stores(&config, clock).await {
        Ok(_) => panic!("a role that bypasses RLS was accepted"),
        Err(e) => e,
    };
    assert!(
        refused.to_string().contains("row-level security"),
        "{refused}"
    );
}

/// Issue 7, item 9: whatever SQL the run-time role sends, it cannot reach across tenants,
/// read password hashes or sessions, promote itself, edit or delete the audit log, or read
/// the migrations.
#[tokio::test]
async fn the_run_time_role_cannot_reach_past_its_tenant_whatever_sql_it_runs() {
    if postgres_url().is_none() {
        eprintln!("skipped: row-level security is PostgreSQL's (set TEST_DATABASE_URL)");
        return;
    }
    let app = TestApp::spawn().await;
    let (a, b) = app.two_tenants().await;
    let mut conn = sqlx::PgConnection::connect(&app.database_url)
        .await
        .unwrap();
    // The old door: a setting anyone can set.
    sqlx::query("SELECT set_config('app.platform', 'on', false)")
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query("SELECT set_config('app.tenant_id', $1, false)")
        .bind(&a.tenant_id)
        .execute(&mut conn)
        .await
        .unwrap();
    let tenants: Vec<String> = sqlx::query_scalar("SELECT DISTINCT tenant_id::text FROM stores")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        tenants,
        vec![a.tenant_id.clone()],
        "app.platform still opens every tenant"
    );
    let names: Vec<String> = sqlx::query_scalar("SELECT id::text FROM tenants")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        names,
        vec![a.tenant_id.clone()],
        "other tenants' records are readable"
    );
    let emails: Vec<String> = sqlx::query_scalar("SELECT email FROM users")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        emails,
        vec![a.email.clone()],
        "other tenants' users are readable"
    );
    let outbox: i64 =
        sqlx::query_scalar("SELECT count(*) FROM outbox WHERE tenant_id IS DISTINCT FROM $1::uuid")
            .bind(&a.tenant_id)
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(
        outbox, 0,
        "other tenants' (or the platform's) outbox rows are readable"
    );
    let _ = &b;
    for refused in [
        "SELECT password_hash FROM users",
        "UPDATE users SET is_platform_admin = true",
        "SELECT count(*) FROM sessions",
        "SELECT count(*) FROM refresh_tokens",
        "DELETE FROM audit_log",
        "UPDATE audit_log SET action = 'x'",
        "SELECT count(*) FROM seaql_migrations",
        "DELETE FROM seaql_migrations",
        "UPDATE audit_heads SET seq = 0",
    ] {
        let result = sqlx::query(sqlx::AssertSqlSafe(refused))
            .execute(&mut conn)
            .await;
        assert!(result.is_err(), "the run-time role may run: {refused}");
    }
}

/// A table made by `create_tenant_table` has `tenant_id` first in its key and, on
/// PostgreSQL, FORCEd row-level security: the run-time role sees only the current tenant's
/// rows of it, and cannot write a row into another tenant.
#[tokio::test]
async fn a_table_made_by_the_tenant_table_helper_is_keyed_and_isolated_by_tenant() {
    use msingi_migrations::{Alias, ColumnDef, SchemaManager};
    use sea_orm::{ConnectionTrait as _, Database, DbBackend, Statement};

    let app = TestApp::spawn().await;
    let (a, b) = app.two_tenants().await;
    let owner = Database::connect(&app.owner_database_url).await.unwrap();
    let manager = SchemaManager::new(&owner);
    msingi_migrations::create_tenant_table(
        &manager,
        "probe_items",
        &["id"],
        vec![
            ColumnDef::new(Alias::new("id"))
                .uuid()
                .not_null()
                .to_owned(),
            ColumnDef::new(Alias::new("name"))
                .string()
                .not_null()
                .to_owned(),
        ],
    )
    .await
    .unwrap();
    let backend = owner.get_database_backend();
    let key_sql = match backend {
        DbBackend::Postgres => {
            "SELECT a.attname AS c FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid \
             AND a.attnum = ANY(i.indkey) WHERE i.indrelid = 'probe_items'::regclass AND i.indisprimary \
             ORDER BY array_position(i.indkey, a.attnum)"
        }
        _ => "SELECT name AS c FROM pragma_table_info('probe_items') WHERE pk > 0 ORDER BY pk",
    };
    let key: Vec<String> = owner
        .query_all_raw(Statement::from_string(backend, key_sql))
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get::<String>("", "c").unwrap())
        .collect();
    assert_eq!(key, ["tenant_id", "id"]);
    if backend != DbBackend::Postgres {
        return;
    }
    let forced: bool = owner
        .query_one_raw(Statement::from_string(
            backend,
            "SELECT relforcerowsecurity AS f FROM pg_class WHERE relname = 'probe_items'",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get("", "f")
        .unwrap();
    assert!(forced, "row-level security is FORCEd");
    owner
        .execute_unprepared(&format!(
            "INSERT INTO probe_items (tenant_id, id, name) VALUES \
             ('{}', gen_random_uuid(), 'a'), ('{}', gen_random_uuid(), 'b'); \
             GRANT SELECT, INSERT ON probe_items TO msingi_app;",
            a.tenant_id, b.tenant_id
        ))
        .await
        .unwrap();
    let mut conn = sqlx::PgConnection::connect(&app.database_url)
        .await
        .unwrap();
    let mut tx = conn.begin().await.unwrap();
    sqlx::query("SELECT set_config('app.tenant_id', $1, true)")
        .bind(&a.tenant_id)
        .execute(&mut *tx)
        .await
        .unwrap();
    let names: Vec<String> = sqlx::query_scalar("SELECT name FROM probe_items")
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    assert_eq!(names, ["a"], "tenant A sees its row only");
    let refused = sqlx::query(
        "INSERT INTO probe_items (tenant_id, id, name) VALUES ($1::uuid, gen_random_uuid(), 'x')",
    )
    .bind(&b.tenant_id)
    .execute(&mut *tx)
    .await;
    assert!(
        refused.is_err(),
        "a row for tenant B cannot be written from A"
    );
}

/// Issue 10: a tenant's read on PostgreSQL sends each statement with its tenant binding in
/// one round trip, no transaction of its own. Under many concurrent reads of two tenants
/// on one pool, every answer holds its own tenant's stores only, with and without the
/// count, and afterwards no pooled connection carries a tenant.
#[tokio::test]
async fn concurrent_tenant_reads_see_only_their_own_stores_and_leave_no_tenant_on_a_pooled_connection()
 {
    if postgres_url().is_none() {
        eprintln!("skipped: row-level security is PostgreSQL's (set TEST_DATABASE_URL)");
        return;
    }
    let app = TestApp::spawn().await;
    let (a, b) = app.two_tenants().await;
    let query = "query($count: Boolean!) { stores(first: 50) { \
                 totalCount @include(if: $count) edges { node { id name } } } }";
    let own_stores = |persona: &crate::personas::Persona| {
        let app = &app;
        let token = persona.access.clone();
        async move {
            let answer = app
                .graphql_as(&token, &[], query, json!({ "count": false }))
                .await;
            store_ids(&answer.data()["stores"])
        }
    };
    let (a_stores, b_stores) = (own_stores(&a).await, own_stores(&b).await);
    assert_eq!(
        (a_stores.len(), b_stores.len()),
        (1, 1),
        "each tenant has its first store"
    );
    assert_ne!(a_stores, b_stores);

    let reads = (0..64).map(|i| {
        let (persona, expected) = if i % 2 == 0 {
            (&a, &a_stores)
        } else {
            (&b, &b_stores)
        };
        let app = &app;
        async move {
            let count = i % 4 < 2;
            let answer = app
                .graphql_as(&persona.access, &[], query, json!({ "count": count }))
                .await;
            let stores = &answer.data()["stores"];
            assert_eq!(
                &store_ids(stores),
                expected,
                "read {i} saw another tenant's stores"
            );
            if count {
                assert_eq!(
                    stores["totalCount"], 1,
                    "read {i} counted another tenant's stores"
                );
            }
        }
    });
    futures::future::join_all(reads).await;

    let left = app.db.bindings_left().await.unwrap();
    assert!(!left.is_empty(), "the pool has connections to check");
    assert!(
        left.iter().all(String::is_empty),
        "pooled connections still carry tenants between units of work: {left:?}"
    );
}

/// The ids of a `stores` connection's nodes, sorted.
fn store_ids(stores: &serde_json::Value) -> Vec<String> {
    let mut ids: Vec<String> = stores["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}
