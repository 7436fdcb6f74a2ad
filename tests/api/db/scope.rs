//! The tenant-scoped repository handle: every read and write stays inside its tenant.

use msingi::db::Db;
use msingi::error::AppError;
use msingi::identity::{Email, NewUser, User};
use msingi::page::PageRequest;
use msingi::tenancy::{
    NewStore, NewTenant, Principal, Slug, StorePatch, Tenant, TenantContext, TenantId,
};

use crate::common::TestApp;

/// A tenant with one active owner, and the owner's context in it.
async fn tenant_with_member(db: &Db, slug: &str) -> (Tenant, User, TenantContext) {
    let tx = db
        .platform_write(msingi::db::Access::Task(
            msingi::db::SystemTask::CreateTenant,
        ))
        .await
        .unwrap();
    let tenant = tx
        .insert_tenant(NewTenant {
            slug: Slug::parse(slug, "slug").unwrap(),
            name: slug.to_uppercase(),
        })
        .await
        .unwrap();
    let user = tx
        .insert_user(NewUser {
            email: Email::parse(&format!("owner@{slug}.example"), "email").unwrap(),
            name: "Owner".into(),
            phone: None,
            password_hash: None,
            is_platform_admin: false,
        })
        .await
        .unwrap();
    tx.insert_active_membership(tenant.id, user.id)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let principal = Principal::User {
        user_id: user.id,
        platform_admin: false,
    };
    let ctx = TenantContext::for_member(db, principal, tenant.id, None)
        .await
        .unwrap();
    (tenant, user, ctx)
}

#[tokio::test]
async fn another_tenants_scope_cannot_read_or_change_a_store() {
    let app = TestApp::spawn().await;
    let db = &app.db;
    let (_, _, ctx_a) = tenant_with_member(db, "duka-a").await;
    let (_, _, ctx_b) = tenant_with_member(db, "duka-b").await;

    let scope = db.write(&ctx_a).await.unwrap();
    let store = scope
        .insert_store(NewStore::parse("Westlands", Some("WL")).unwrap())
        .await
        .unwrap();
    scope.commit_unaudited("test arrangement").await.unwrap();

    let b = db.write(&ctx_b).await.unwrap();
    assert_eq!(b.get_store(store.id).await.unwrap(), None);
    assert_eq!(
        b.list_stores(PageRequest::parse(None, None).unwrap())
            .await
            .unwrap()
            .total,
        0
    );
    let patch = StorePatch::parse(Some("Hijacked"), None).unwrap();
    assert_eq!(b.update_store(store.id, patch).await.unwrap(), None);
    b.commit_unaudited("test arrangement").await.unwrap();

    let a = db.read(&ctx_a).await.unwrap();
    let unchanged = a
        .get_store(store.id)
        .await
        .unwrap()
        .expect("A still sees its store");
    assert_eq!(unchanged.name, "Westlands");
    assert_eq!(unchanged, store);
}

#[tokio::test]
async fn the_same_store_code_may_exist_in_two_tenants_but_not_twice_in_one() {
    let app = TestApp::spawn().await;
    let db = &app.db;
    let (_, _, ctx_a) = tenant_with_member(db, "duka-a").await;
    let (_, _, ctx_b) = tenant_with_member(db, "duka-b").await;
    for ctx in [&ctx_a, &ctx_b] {
        let scope = db.write(ctx).await.unwrap();
        scope
            .insert_store(NewStore::parse("Main", Some("MAIN")).unwrap())
            .await
            .unwrap();
        scope.commit_unaudited("test arrangement").await.unwrap();
    }
    let scope = db.write(&ctx_a).await.unwrap();
    let err = scope
        .insert_store(NewStore::parse("Main again", Some("MAIN")).unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::Conflict(_)), "{err:?}");
}

#[tokio::test]
async fn stores_page_in_creation_order_with_opaque_cursors() {
    let app = TestApp::spawn().await;
    let db = &app.db;
    let (_, _, ctx) = tenant_with_member(db, "duka-a").await;
    let scope = db.write(&ctx).await.unwrap();
    for name in ["One", "Two", "Three"] {
        scope
            .insert_store(NewStore::parse(name, None).unwrap())
            .await
            .unwrap();
    }
    scope.commit_unaudited("test arrangement").await.unwrap();

    let scope = db.read(&ctx).await.unwrap();
    let first = scope
        .list_stores(PageRequest::parse(Some(2), None).unwrap())
        .await
        .unwrap();
    assert_eq!(
        first
            .items
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>(),
        ["One", "Two"]
    );
    assert!(first.has_next && !first.has_previous);
    assert_eq!(first.total, 3);
    let cursor = msingi::page::encode_cursor(first.items[1].id.into_uuid());
    let rest = scope
        .list_stores(PageRequest::parse(Some(2), Some(&cursor)).unwrap())
        .await
        .unwrap();
    assert_eq!(
        rest.items
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>(),
        ["Three"]
    );
    assert!(!rest.has_next && rest.has_previous);

    // Without `totalCount` the list is not counted; the page itself is the same.
    let uncounted = scope
        .list_stores(PageRequest::parse(Some(2), None).unwrap().counting(false))
        .await
        .unwrap();
    assert_eq!(uncounted.items, first.items);
    assert!(uncounted.has_next);
    assert_eq!(uncounted.total, 0, "not counted");
}

#[tokio::test]
async fn a_context_is_refused_to_non_members_and_foreign_stores() {
    let app = TestApp::spawn().await;
    let db = &app.db;
    let (tenant_a, user_a, ctx_a) = tenant_with_member(db, "duka-a").await;
    let (tenant_b, _, ctx_b) = tenant_with_member(db, "duka-b").await;
    let member_of_a = Principal::User {
        user_id: user_a.id,
        platform_admin: false,
    };

    let err = TenantContext::for_member(db, member_of_a.clone(), tenant_b.id, None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, AppError::NotFound { entity: "tenant" }),
        "{err:?}"
    );

    let scope = db.write(&ctx_b).await.unwrap();
    let store_b = scope
        .insert_store(NewStore::parse("B's", None).unwrap())
        .await
        .unwrap();
    scope.commit_unaudited("test arrangement").await.unwrap();
    let err = TenantContext::for_member(db, member_of_a.clone(), tenant_a.id, Some(store_b.id))
        .await
        .unwrap_err();
    assert!(
        matches!(err, AppError::NotFound { entity: "store" }),
        "{err:?}"
    );

    let scope = db.write(&ctx_a).await.unwrap();
    let store_a = scope
        .insert_store(NewStore::parse("A's", None).unwrap())
        .await
        .unwrap();
    scope.commit_unaudited("test arrangement").await.unwrap();
    let narrowed = TenantContext::for_member(db, member_of_a, tenant_a.id, Some(store_a.id))
        .await
        .unwrap();
    assert_eq!(narrowed.store_id(), Some(store_a.id));

    let err = TenantContext::for_member(db, Principal::Anonymous, tenant_a.id, None)
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::Unauthenticated), "{err:?}");
}

#[tokio::test]
async fn a_job_context_needs_an_existing_tenant() {
    let app = TestApp::spawn().await;
    let (tenant, _, _) = tenant_with_member(&app.db, "duka-a").await;
    let ctx = msingi::worker::context_for(&app.db, tenant.id, "test job")
        .await
        .unwrap();
    assert_eq!(ctx.tenant_id(), tenant.id);
    let err = msingi::worker::context_for(&app.db, TenantId::new(), "test job")
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::NotFound { .. }), "{err:?}");
}

#[tokio::test]
async fn a_taken_tenant_slug_is_a_conflict() {
    let app = TestApp::spawn().await;
    tenant_with_member(&app.db, "duka-a").await;
    let tx = app
        .db
        .platform_write(msingi::db::Access::Task(
            msingi::db::SystemTask::CreateTenant,
        ))
        .await
        .unwrap();
    let err = tx
        .insert_tenant(NewTenant {
            slug: Slug::parse("duka-a", "slug").unwrap(),
            name: "Another".into(),
        })
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::Conflict(_)), "{err:?}");
}

/// On PostgreSQL every read unit of work is a read-only transaction (the tenant's, and the
/// platform door's), so a write slipped into a read fails instead of landing. SQLite has no
/// read-only transactions; there the scope's type is the guard.
#[tokio::test]
async fn a_read_unit_of_work_cannot_write_on_postgresql() {
    if crate::common::postgres_url().is_none() {
        eprintln!("skipped: read-only transactions are PostgreSQL's (set TEST_DATABASE_URL)");
        return;
    }
    let app = TestApp::spawn().await;
    let db = &app.db;
    let (_, _, ctx) = tenant_with_member(db, "duka-ro").await;
    let write = db.write(&ctx).await.unwrap();
    write
        .insert_store(NewStore::parse("Fine", None).unwrap())
        .await
        .unwrap();
    write.commit_unaudited("test arrangement").await.unwrap();
    let read = db.read(&ctx).await.unwrap();
    assert_eq!(
        read.list_stores(PageRequest::parse(None, None).unwrap())
            .await
            .unwrap()
            .total,
        1,
        "the read scope is bound to its tenant"
    );
    let err = read
        .insert_store(NewStore::parse("Sneaky", None).unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::Internal(_)), "{err:?}");
    drop(read);
    let platform = db
        .platform_read(msingi::db::Access::Task(
            msingi::db::SystemTask::AuditVerify,
        ))
        .await
        .unwrap();
    let err = platform
        .insert_tenant(NewTenant {
            slug: Slug::parse("sneaky", "slug").unwrap(),
            name: "Sneaky".into(),
        })
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::Internal(_)), "{err:?}");
}
