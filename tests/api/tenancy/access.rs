//! Tenancy and access control through the API: the tenant, stores, members, roles and the
//! rules around them, live permission changes.

use crate::ops::*;
use serde_json::json;

use crate::common::TestApp;
use crate::personas::{ME, ROLES, STORES};

const MY_PERMISSIONS_CHANGED: &str =
    include_str!("../graphql/tenancy/my_permissions_changed.graphql");

#[tokio::test]
async fn the_owner_reads_and_changes_the_tenant_with_validation_and_an_audit_trail() {
    let app = TestApp::spawn().await;
    let owner = app.register("asha@duka.example", "Duka").await;
    let tenant = owner.gql(&app, TENANT, json!({})).await;
    assert_eq!(tenant.data()["tenant"]["slug"], "duka");
    // The default plan's modules (starter: inventory besides core and billing).
    assert_eq!(
        tenant.data()["tenant"]["modules"],
        json!(["billing", "core", "inventory"])
    );

    let updated = owner
        .gql(
            &app,
            UPDATE_TENANT,
            json!({ "input": { "name": "Duka Kubwa", "settings": { "currency": "KES" } } }),
        )
        .await;
    assert_eq!(updated.data()["updateTenant"]["name"], "Duka Kubwa");
    assert_eq!(
        updated.data()["updateTenant"]["settings"]["currency"],
        "KES"
    );
    let bad = owner
        .gql(
            &app,
            UPDATE_TENANT,
            json!({ "input": { "settings": [1, 2] } }),
        )
        .await;
    assert_eq!(bad.error()["extensions"]["field"], "input.settings");
    let blank = owner
        .gql(&app, UPDATE_TENANT, json!({ "input": { "name": " " } }))
        .await;
    assert_eq!(blank.error()["extensions"]["field"], "input.name");

    let log = owner
        .gql(&app, AUDIT_LOG, json!({ "action": "tenant.update" }))
        .await;
    let entry = &log.data()["auditLog"]["edges"][0]["node"];
    assert_eq!(entry["changes"]["before"]["name"], "Duka");
    assert_eq!(entry["changes"]["after"]["name"], "Duka Kubwa");
    assert_eq!(entry["actor"]["email"], "asha@duka.example");
    assert_eq!(log.data()["auditLog"]["totalCount"], 1);
}

#[tokio::test]
async fn stores_are_created_renamed_archived_and_paged() {
    let app = TestApp::spawn().await;
    let owner = app.register("asha@duka.example", "Duka").await;
    let created = owner
        .gql(
            &app,
            CREATE_STORE,
            json!({ "input": { "name": "Westlands", "code": "WL" } }),
        )
        .await;
    let id = created.data()["createStore"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let duplicate = owner
        .gql(
            &app,
            CREATE_STORE,
            json!({ "input": { "name": "Again", "code": "WL" } }),
        )
        .await;
    assert_eq!(duplicate.error_code(), "CONFLICT");
    let blank = owner
        .gql(&app, CREATE_STORE, json!({ "input": { "name": "" } }))
        .await;
    assert_eq!(blank.error()["extensions"]["field"], "input.name");

    let renamed = owner
        .gql(
            &app,
            UPDATE_STORE,
            json!({ "id": id, "input": { "name": "Westlands Mall" } }),
        )
        .await;
    assert_eq!(renamed.data()["updateStore"]["name"], "Westlands Mall");
    assert_eq!(renamed.data()["updateStore"]["code"], "WL");
    let archived = owner.gql(&app, ARCHIVE_STORE, json!({ "id": id })).await;
    assert_eq!(archived.data()["archiveStore"]["status"], "ARCHIVED");
    assert_eq!(
        owner.gql(&app, STORE, json!({ "id": id })).await.data()["store"]["status"],
        "ARCHIVED"
    );

    let page = owner.gql(&app, STORES, json!({ "first": 1 })).await;
    let stores = &page.data()["stores"];
    assert_eq!(stores["totalCount"], 2);
    assert_eq!(stores["pageInfo"]["hasNextPage"], true);
    let next = owner
        .gql(
            &app,
            STORES,
            json!({ "first": 1, "after": stores["pageInfo"]["endCursor"] }),
        )
        .await;
    assert_eq!(next.data()["stores"]["edges"][0]["node"]["id"], id.as_str());
    // The count sent with a later page is of the whole list, not of what follows the cursor.
    assert_eq!(next.data()["stores"]["totalCount"], 2);
    assert_eq!(next.data()["stores"]["pageInfo"]["hasNextPage"], false);
    assert_eq!(
        owner
            .gql(&app, STORES, json!({ "first": 500 }))
            .await
            .error()["extensions"]["field"],
        "first"
    );
}

#[tokio::test]
async fn role_rules_hold() {
    let app = TestApp::spawn().await;
    let owner = app.register("asha@duka.example", "Duka").await;
    let owner_role = owner.role(&app, "OWNER").await;
    let employee_role = owner.role(&app, "EMPLOYEE").await;

    let edit_owner = owner
        .gql(
            &app,
            UPDATE_ROLE,
            json!({ "id": owner_role, "input": { "permissions": [] } }),
        )
        .await;
    assert_eq!(edit_owner.error_code(), "FORBIDDEN");
    let toggle_owner = owner
        .gql(
            &app,
            SET_ROLE_PERMISSION,
            json!({ "roleId": owner_role, "permission": "store.read", "granted": false }),
        )
        .await;
    assert_eq!(toggle_owner.error_code(), "FORBIDDEN");
    assert_eq!(
        owner
            .gql(&app, DELETE_ROLE, json!({ "id": employee_role }))
            .await
            .error_code(),
        "FORBIDDEN"
    );

    let cashier = owner
        .gql(
            &app,
            CREATE_ROLE,
            json!({ "input": { "name": "Cashier", "description": "Tills", "permissions": ["store.read", "store.read"] } }),
        )
        .await;
    let cashier_id = cashier.data()["createRole"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        cashier.data()["createRole"]["permissions"],
        json!(["store.read"])
    );
    let unknown = owner
        .gql(
            &app,
            CREATE_ROLE,
            json!({ "input": { "name": "X", "permissions": ["store.fly"] } }),
        )
        .await;
    assert_eq!(unknown.error()["extensions"]["field"], "input.permissions");
    let same_name = owner
        .gql(
            &app,
            CREATE_ROLE,
            json!({ "input": { "name": "Cashier", "permissions": [] } }),
        )
        .await;
    assert_eq!(same_name.error_code(), "CONFLICT");

    // A role in use is deleted only after its assignments go.
    let member = owner
        .invite_and_join(&app, "juma@duka.example", "EMPLOYEE", None)
        .await;
    owner
        .gql(
            &app,
            ASSIGN_ROLE,
            json!({ "userId": member.user_id, "roleId": cashier_id }),
        )
        .await
        .data();
    assert_eq!(
        owner
            .gql(&app, DELETE_ROLE, json!({ "id": cashier_id }))
            .await
            .error_code(),
        "CONFLICT"
    );
    owner
        .gql(
            &app,
            REVOKE_ROLE,
            json!({ "userId": member.user_id, "roleId": cashier_id }),
        )
        .await
        .data();
    assert_eq!(
        owner
            .gql(&app, DELETE_ROLE, json!({ "id": cashier_id }))
            .await
            .data()["deleteRole"],
        true
    );

    // The last OWNER can be neither demoted nor removed.
    let demote = owner
        .gql(
            &app,
            REVOKE_ROLE,
            json!({ "userId": owner.user_id, "roleId": owner_role }),
        )
        .await;
    assert_eq!(demote.error_code(), "CONFLICT");
    assert_eq!(
        owner
            .gql(
                &app,
                crate::ops::REMOVE_MEMBER,
                json!({ "userId": owner.user_id })
            )
            .await
            .error_code(),
        "CONFLICT"
    );
}

#[tokio::test]
async fn nobody_grants_a_permission_they_do_not_hold() {
    let app = TestApp::spawn().await;
    let owner = app.register("asha@duka.example", "Duka").await;
    let admin = owner
        .invite_and_join(&app, "admin@duka.example", "ADMIN", None)
        .await;
    let owner_role = owner.role(&app, "OWNER").await;
    let custom = admin
        .gql(
            &app,
            CREATE_ROLE,
            json!({ "input": { "name": "Settings", "permissions": ["tenant.manage"] } }),
        )
        .await;
    assert_eq!(custom.error_code(), "FORBIDDEN");
    let employee_role = owner.role(&app, "EMPLOYEE").await;
    let toggle = admin
        .gql(
            &app,
            SET_ROLE_PERMISSION,
            json!({ "roleId": employee_role, "permission": "tenant.manage", "granted": true }),
        )
        .await;
    assert_eq!(toggle.error_code(), "FORBIDDEN");
    let assign_owner = admin
        .gql(
            &app,
            ASSIGN_ROLE,
            json!({ "userId": admin.user_id, "roleId": owner_role }),
        )
        .await;
    assert_eq!(assign_owner.error_code(), "FORBIDDEN");
    let demote_owner = admin
        .gql(
            &app,
            REVOKE_ROLE,
            json!({ "userId": owner.user_id, "roleId": owner_role }),
        )
        .await;
    assert_eq!(demote_owner.error_code(), "FORBIDDEN");
}

#[tokio::test]
async fn members_are_listed_and_a_removed_member_loses_access_at_once() {
    let app = TestApp::spawn().await;
    let owner = app.register("asha@duka.example", "Duka").await;
    let member = owner
        .invite_and_join(&app, "juma@duka.example", "MANAGER", None)
        .await;
    assert!(member.gql(&app, STORES, json!({})).await.body()["errors"].is_null());

    let members = owner.gql(&app, MEMBERS, json!({})).await;
    assert_eq!(members.data()["members"]["totalCount"], 2);
    let emails: Vec<_> = members.data()["members"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["user"]["email"].as_str().unwrap().to_owned())
        .collect();
    assert!(emails.contains(&"juma@duka.example".to_owned()));

    let removed = owner
        .gql(&app, REMOVE_MEMBER, json!({ "userId": member.user_id }))
        .await;
    assert_eq!(removed.data()["removeMember"], true);
    assert_eq!(
        member.gql(&app, STORES, json!({})).await.error_code(),
        "NOT_FOUND"
    );
    assert_eq!(
        owner.gql(&app, MEMBERS, json!({})).await.data()["members"]["totalCount"],
        1
    );
}

#[tokio::test]
async fn a_permission_toggle_takes_effect_on_the_next_request_and_is_pushed_over_websocket() {
    let app = TestApp::spawn().await;
    let owner = app.register("asha@duka.example", "Duka").await;
    let member = owner
        .invite_and_join(&app, "juma@duka.example", "EMPLOYEE", None)
        .await;
    let employee_role = owner.role(&app, "EMPLOYEE").await;
    assert!(member.gql(&app, STORES, json!({})).await.body()["errors"].is_null());
    assert_eq!(
        member.gql(&app, ROLES, json!({})).await.error_code(),
        "FORBIDDEN"
    );

    let mut ws = app
        .websocket(
            "/graphql/ws",
            json!({ "authorization": format!("Bearer {}", member.access) }),
        )
        .await;
    ws.subscribe("perm", MY_PERMISSIONS_CHANGED, json!({}))
        .await;
    // A query on the same connection, answered after the subscription above started.
    ws.subscribe("probe", "{ permissions { code } }", json!({}))
        .await;
    assert_eq!(ws.next_message().await["id"], "probe");
    assert_eq!(ws.next_message().await["type"], "complete");

    owner
        .gql(
            &app,
            SET_ROLE_PERMISSION,
            json!({ "roleId": employee_role, "permission": "role.read", "granted": true }),
        )
        .await
        .data();
    assert!(
        member.gql(&app, ROLES, json!({})).await.body()["errors"].is_null(),
        "the grant applies at once"
    );
    let pushed = ws.next_message().await;
    assert_eq!(pushed["type"], "next", "{pushed}");
    assert_eq!(
        pushed["payload"]["data"]["myPermissionsChanged"],
        json!(["inventory.read", "role.read", "store.read"])
    );

    owner
        .gql(
            &app,
            SET_ROLE_PERMISSION,
            json!({ "roleId": employee_role, "permission": "store.read", "granted": false }),
        )
        .await
        .data();
    assert_eq!(
        member.gql(&app, STORES, json!({})).await.error_code(),
        "FORBIDDEN",
        "the revoke applies at once"
    );
    let pushed = ws.next_message().await;
    assert_eq!(
        pushed["payload"]["data"]["myPermissionsChanged"],
        json!(["inventory.read", "role.read"])
    );
    let me = member.gql(&app, ME, json!({})).await;
    assert_eq!(
        me.data()["me"]["permissions"],
        json!(["inventory.read", "role.read"])
    );
}

#[tokio::test]
async fn store_scoped_roles_apply_only_inside_their_store() {
    let app = TestApp::spawn().await;
    let owner = app.register("asha@duka.example", "Duka").await;
    let main = owner.main_store(&app).await;
    let other = owner
        .gql(&app, CREATE_STORE, json!({ "input": { "name": "Other" } }))
        .await
        .data()["createStore"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let member = owner
        .invite_and_join(&app, "juma@duka.example", "MANAGER", Some(&main))
        .await;
    let in_main = app
        .graphql_as(&member.access, &[("X-Store-ID", &main)], STORES, json!({}))
        .await;
    assert!(in_main.body()["errors"].is_null());
    let in_other = app
        .graphql_as(&member.access, &[("X-Store-ID", &other)], STORES, json!({}))
        .await;
    assert_eq!(in_other.error_code(), "FORBIDDEN");
    let nowhere = member.gql(&app, STORES, json!({})).await;
    assert_eq!(nowhere.error_code(), "FORBIDDEN");
}

#[tokio::test]
async fn the_tenant_can_come_from_the_subdomain() {
    let app = TestApp::builder()
        .env("MSINGI_BASE_DOMAIN", "msingi.test")
        .spawn()
        .await;
    let (a, b) = app.two_tenants().await;
    // B's token, sent to A's subdomain: B is not a member there.
    let foreign = app
        .graphql_as(
            &b.access,
            &[("Host", &format!("{}.msingi.test", a.tenant_slug))],
            TENANT,
            json!({}),
        )
        .await;
    assert_eq!(foreign.error_code(), "NOT_FOUND");
    let own = app
        .graphql_as(
            &a.access,
            &[("Host", &format!("{}.msingi.test:8080", a.tenant_slug))],
            TENANT,
            json!({}),
        )
        .await;
    assert_eq!(own.data()["tenant"]["id"], a.tenant_id.as_str());
}

#[tokio::test]
async fn a_revoke_on_one_node_takes_effect_on_the_next_request_to_another() {
    if crate::common::redis_url().is_none() {
        eprintln!("skipped: cross-node invalidation travels over Redis (set TEST_REDIS_URL)");
        return;
    }
    let mut app = TestApp::spawn().await;
    let owner = app.register("asha@duka.example", "Duka").await;
    let member = owner
        .invite_and_join(&app, "juma@duka.example", "EMPLOYEE", None)
        .await;
    let employee_role = owner.role(&app, "EMPLOYEE").await;
    let other = app.another_node().await;

    // The second node caches the member's context...
    let cached = app
        .graphql_at(&other, &member.access, STORES, json!({}))
        .await;
    assert!(cached.body()["errors"].is_null(), "{}", cached.body());
    // ...the first node withdraws store.read...
    owner
        .gql(
            &app,
            SET_ROLE_PERMISSION,
            json!({ "roleId": employee_role, "permission": "store.read", "granted": false }),
        )
        .await
        .data();
    // ...and the second node refuses the very next request.
    let next = app
        .graphql_at(&other, &member.access, STORES, json!({}))
        .await;
    assert_eq!(
        next.error_code(),
        "FORBIDDEN",
        "the second node kept a revoked permission"
    );
}
