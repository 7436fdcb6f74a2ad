//! The platform scope: only platform admins, every reach audited; suspension; modules.

use serde_json::json;

use crate::common::TestApp;
use crate::ops::{CREATE_STORE, TENANT};
use crate::personas::{ME, STORES};

const PLATFORM_TENANTS: &str = include_str!("../graphql/tenancy/platform_tenants.graphql");
const SUSPEND: &str = include_str!("../graphql/tenancy/suspend_tenant.graphql");
const REACTIVATE: &str = include_str!("../graphql/tenancy/reactivate_tenant.graphql");
const SET_MODULE: &str = include_str!("../graphql/tenancy/set_tenant_module.graphql");

#[tokio::test]
async fn only_platform_admins_reach_the_platform_scope_and_each_reach_is_audited() {
    let (app, admin) = TestApp::with_platform_admin().await;
    let (a, b) = app.two_tenants().await;
    for (query, vars) in [
        (PLATFORM_TENANTS, json!({})),
        (SUSPEND, json!({ "tenantId": b.tenant_id, "reason": "x" })),
        (REACTIVATE, json!({ "tenantId": b.tenant_id })),
        (
            SET_MODULE,
            json!({ "tenantId": b.tenant_id, "module": "billing", "enabled": true }),
        ),
    ] {
        assert_eq!(
            a.gql(&app, query, vars).await.error_code(),
            "FORBIDDEN",
            "{query}"
        );
    }
    assert_eq!(
        app.graphql(PLATFORM_TENANTS, json!({})).await.error_code(),
        "UNAUTHENTICATED"
    );

    let all = app
        .graphql_as(&admin, &[], PLATFORM_TENANTS, json!({}))
        .await;
    assert_eq!(all.data()["platformTenants"]["totalCount"], 2);
    let found = app
        .graphql_as(&admin, &[], PLATFORM_TENANTS, json!({ "search": "DUKA B" }))
        .await;
    assert_eq!(found.data()["platformTenants"]["totalCount"], 1);
    assert_eq!(
        found.data()["platformTenants"]["edges"][0]["node"]["id"],
        b.tenant_id.as_str()
    );

    let platform_chain = app.platform_audit_actions().await;
    assert_eq!(
        platform_chain
            .iter()
            .filter(|a| *a == "platform.tenants.read")
            .count(),
        2,
        "{platform_chain:?}"
    );
}

#[tokio::test]
async fn a_suspended_tenant_reads_but_cannot_write_until_reactivated() {
    let (app, admin) = TestApp::with_platform_admin().await;
    let owner = app.register("asha@duka.example", "Duka").await;
    let no_reason = app
        .graphql_as(
            &admin,
            &[],
            SUSPEND,
            json!({ "tenantId": owner.tenant_id, "reason": " " }),
        )
        .await;
    assert_eq!(no_reason.error()["extensions"]["field"], "reason");
    let suspended = app
        .graphql_as(
            &admin,
            &[],
            SUSPEND,
            json!({ "tenantId": owner.tenant_id, "reason": "unpaid" }),
        )
        .await;
    assert_eq!(suspended.data()["suspendTenant"]["status"], "SUSPENDED");

    assert_eq!(
        owner.gql(&app, TENANT, json!({})).await.data()["tenant"]["status"],
        "SUSPENDED"
    );
    assert!(owner.gql(&app, STORES, json!({})).await.body()["errors"].is_null());
    let write = owner
        .gql(&app, CREATE_STORE, json!({ "input": { "name": "New" } }))
        .await;
    assert_eq!(write.error_code(), "FORBIDDEN");
    assert_eq!(write.error()["extensions"]["reason"], "TENANT_SUSPENDED");

    app.graphql_as(
        &admin,
        &[],
        REACTIVATE,
        json!({ "tenantId": owner.tenant_id }),
    )
    .await
    .data();
    let write = owner
        .gql(&app, CREATE_STORE, json!({ "input": { "name": "New" } }))
        .await;
    assert_eq!(write.data()["createStore"]["name"], "New");

    let actions = app.audit_actions(&owner.tenant_id).await;
    assert!(
        actions.contains(&"platform.tenant.suspend".to_owned()),
        "{actions:?}"
    );
    assert!(
        actions.contains(&"platform.tenant.reactivate".to_owned()),
        "{actions:?}"
    );
}

#[tokio::test]
async fn a_permission_is_effective_only_when_its_module_is_on() {
    let (app, admin) = TestApp::with_platform_admin().await;
    let owner = app.register("asha@duka.example", "Duka").await;
    let holds = |me: &crate::common::GqlResponse, permission: &str| {
        me.data()["me"]["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!(permission))
    };
    // The default plan (starter) has no metering: usage.read is granted but not effective.
    let before = owner.gql(&app, ME, json!({})).await;
    assert!(!holds(&before, "usage.read"));
    assert!(holds(&before, "inventory.read"), "the plan's module is on");

    // A platform override switches it on over the plan...
    let on = app
        .graphql_as(
            &admin,
            &[],
            SET_MODULE,
            json!({ "tenantId": owner.tenant_id, "module": "metering", "enabled": true }),
        )
        .await;
    assert_eq!(
        on.data()["setTenantModule"]["modules"],
        json!(["billing", "core", "inventory", "metering"])
    );
    let after = owner.gql(&app, ME, json!({})).await;
    assert!(holds(&after, "usage.read"));
    // ...and another switches one of the plan's off.
    let off = app
        .graphql_as(
            &admin,
            &[],
            SET_MODULE,
            json!({ "tenantId": owner.tenant_id, "module": "inventory", "enabled": false }),
        )
        .await;
    assert_eq!(
        off.data()["setTenantModule"]["modules"],
        json!(["billing", "core", "metering"])
    );
    let without = owner.gql(&app, ME, json!({})).await;
    assert!(!holds(&without, "inventory.read"));
    let unknown = app
        .graphql_as(
            &admin,
            &[],
            SET_MODULE,
            json!({ "tenantId": owner.tenant_id, "module": "warp", "enabled": true }),
        )
        .await;
    assert_eq!(unknown.error()["extensions"]["field"], "module");
}
