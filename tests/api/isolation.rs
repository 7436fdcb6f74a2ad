//! The isolation suite: every operation that takes an id, run against tenant A's objects by
//! people who must not reach them. A test that walks `schema.graphql` fails when an
//! operation is in none of the tables below, so a new operation cannot skip this file.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::access::*;
use crate::common::{GqlResponse, TestApp};
use crate::personas::{INVITE, Persona, ROLES, STORES};

const REVOKE_API_KEY: &str = include_str!("graphql/identity/revoke_api_key.graphql");
const REVOKE_INVITATION: &str = include_str!("graphql/identity/revoke_invitation.graphql");
const SWITCH: &str = include_str!("graphql/identity/switch_tenant.graphql");
const INVITATIONS: &str = include_str!("graphql/identity/invitations.graphql");
const API_KEYS: &str = include_str!("graphql/identity/api_keys.graphql");
const CREATE_API_KEY: &str = include_str!("graphql/identity/create_api_key.graphql");
const SUSPEND: &str = include_str!("graphql/tenancy/suspend_tenant.graphql");
const REACTIVATE: &str = include_str!("graphql/tenancy/reactivate_tenant.graphql");
const SET_MODULE: &str = include_str!("graphql/tenancy/set_tenant_module.graphql");
const PLATFORM_TENANTS: &str = include_str!("graphql/tenancy/platform_tenants.graphql");

/// Operations that take the id of a tenant's object.
const ID_OPERATIONS: &[&str] = &[
    "store",
    "updateStore",
    "archiveStore",
    "removeMember",
    "updateRole",
    "deleteRole",
    "setRolePermission",
    "assignRole",
    "revokeRole",
    "revokeApiKey",
    "revokeInvitation",
    "inviteMember",
    "switchTenant",
    "suspendTenant",
    "reactivateTenant",
    "setTenantModule",
];

/// Operations on the caller's own tenant that take no id: checked below to show nothing of
/// another tenant.
const OWN_TENANT_OPERATIONS: &[&str] = &[
    "tenant",
    "stores",
    "members",
    "roles",
    "auditLog",
    "apiKeys",
    "invitations",
    "me",
    "updateTenant",
    "createStore",
    "createRole",
    "createApiKey",
    "myPermissionsChanged",
    "platformTenants",
];

/// Operations with no tenant data: public, or about the caller's own session.
const NO_TENANT_DATA: &[&str] = &[
    "permissions",
    "register",
    "login",
    "refreshToken",
    "logout",
    "requestPasswordReset",
    "resetPassword",
    "verifyEmail",
    "acceptInvitation",
];

fn root_fields(sdl: &str, root: &str) -> Vec<String> {
    let Some(start) = sdl.find(&format!("type {root} {{")) else {
        return Vec::new();
    };
    let body = &sdl[start..];
    let body = &body[..body.find("\n}").unwrap()];
    body.lines()
        .skip(1)
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('"') && !l.starts_with("\"\"\""))
        .filter_map(|l| l.split(['(', ':']).next())
        .map(|name| name.trim().to_owned())
        .filter(|name| name.chars().all(|c| c.is_ascii_alphanumeric()) && !name.is_empty())
        .collect()
}

#[test]
fn every_operation_in_the_schema_has_an_isolation_row() {
    let sdl =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql")).unwrap();
    let covered: BTreeSet<&str> = ID_OPERATIONS
        .iter()
        .chain(OWN_TENANT_OPERATIONS)
        .chain(NO_TENANT_DATA)
        .copied()
        .collect();
    let mut missing = Vec::new();
    for root in ["Query", "Mutation", "Subscription"] {
        for field in root_fields(&sdl, root) {
            if !covered.contains(field.as_str()) {
                missing.push(format!("{root}.{field}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "operations without an isolation row: {missing:?}"
    );
    assert!(
        root_fields(&sdl, "Mutation").len() > 20,
        "the schema walker found too few mutations"
    );
}

/// A's objects.
struct Victim {
    owner: Persona,
    store: String,
    role: String,
    member: Persona,
    invitation: String,
    api_key: String,
}

async fn victim(app: &TestApp) -> Victim {
    let owner = app.register("asha@duka-a.example", "Duka A").await;
    let store = owner.main_store(app).await;
    let role = owner
        .gql(
            app,
            CREATE_ROLE,
            json!({ "input": { "name": "Cashier", "permissions": ["store.read"] } }),
        )
        .await
        .data()["createRole"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let member = owner
        .invite_and_join(app, "juma@duka-a.example", "EMPLOYEE", None)
        .await;
    let employee = owner.role(app, "EMPLOYEE").await;
    let invitation = owner
        .gql(
            app,
            INVITE,
            json!({ "input": { "email": "pending@duka-a.example", "roleIds": [employee] } }),
        )
        .await
        .data()["inviteMember"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let api_key = owner
        .gql(
            app,
            CREATE_API_KEY,
            json!({ "input": { "name": "pos", "permissions": ["store.read"] } }),
        )
        .await
        .data()["createApiKey"]["apiKey"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    Victim {
        owner,
        store,
        role,
        member,
        invitation,
        api_key,
    }
}

fn id_cases(v: &Victim) -> Vec<(&'static str, &'static str, Value)> {
    vec![
        ("store", STORE, json!({ "id": v.store })),
        (
            "updateStore",
            UPDATE_STORE,
            json!({ "id": v.store, "input": { "name": "Hijacked" } }),
        ),
        ("archiveStore", ARCHIVE_STORE, json!({ "id": v.store })),
        (
            "removeMember",
            REMOVE_MEMBER,
            json!({ "userId": v.member.user_id }),
        ),
        (
            "updateRole",
            UPDATE_ROLE,
            json!({ "id": v.role, "input": { "name": "Hijacked" } }),
        ),
        ("deleteRole", DELETE_ROLE, json!({ "id": v.role })),
        (
            "setRolePermission",
            SET_ROLE_PERMISSION,
            json!({ "roleId": v.role, "permission": "store.read", "granted": false }),
        ),
        (
            "assignRole",
            ASSIGN_ROLE,
            json!({ "userId": v.member.user_id, "roleId": v.role }),
        ),
        (
            "revokeRole",
            REVOKE_ROLE,
            json!({ "userId": v.owner.user_id, "roleId": v.role }),
        ),
        ("revokeApiKey", REVOKE_API_KEY, json!({ "id": v.api_key })),
        (
            "revokeInvitation",
            REVOKE_INVITATION,
            json!({ "id": v.invitation }),
        ),
        (
            "inviteMember",
            INVITE,
            json!({ "input": { "email": "x@evil.example", "roleIds": [v.role], "storeIds": [v.store] } }),
        ),
        (
            "switchTenant",
            SWITCH,
            json!({ "tenantId": v.owner.tenant_id }),
        ),
        (
            "suspendTenant",
            SUSPEND,
            json!({ "tenantId": v.owner.tenant_id, "reason": "evil" }),
        ),
        (
            "reactivateTenant",
            REACTIVATE,
            json!({ "tenantId": v.owner.tenant_id }),
        ),
        (
            "setTenantModule",
            SET_MODULE,
            json!({ "tenantId": v.owner.tenant_id, "module": "billing", "enabled": true }),
        ),
    ]
}

/// Everything of A that an attack could change, as A's owner sees it.
async fn snapshot(app: &TestApp, owner: &Persona) -> Value {
    let mut state = json!({});
    for (name, query) in [
        ("tenant", TENANT),
        ("stores", STORES),
        ("roles", ROLES),
        ("members", MEMBERS),
        ("invitations", INVITATIONS),
        ("apiKeys", API_KEYS),
    ] {
        let mut data = owner.gql(app, query, json!({})).await.data().clone();
        // lastUsedAt moves with the key's own use, not with attacks.
        if let Some(keys) = data["apiKeys"].as_array_mut() {
            for key in keys {
                key["lastUsedAt"] = Value::Null;
            }
        }
        state[name] = data;
    }
    state
}

fn refused(response: &GqlResponse, op: &str, allowed: &[&str]) -> bool {
    match response.body["errors"][0]["extensions"]["code"].as_str() {
        Some(code) => allowed.contains(&code),
        // A nullable lookup may answer null instead of NOT_FOUND.
        None => response.body["data"][op].is_null(),
    }
}

#[tokio::test]
async fn nobody_outside_reaches_a_tenants_objects_and_its_rows_stay_unchanged() {
    let (app, _admin) = TestApp::with_platform_admin().await;
    let v = victim(&app).await;
    let before = snapshot(&app, &v.owner).await;

    // Attackers.
    let other_owner = app.register("baraka@duka-b.example", "Duka B").await;
    let all_permissions: Vec<String> = other_owner
        .gql(&app, crate::personas::ME, json!({}))
        .await
        .data()["me"]["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_owned())
        .collect();
    let other_key = other_owner
        .gql(
            &app,
            CREATE_API_KEY,
            json!({ "input": { "name": "evil", "permissions": all_permissions } }),
        )
        .await
        .data()["createApiKey"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let second_store = v
        .owner
        .gql(&app, CREATE_STORE, json!({ "input": { "name": "Branch" } }))
        .await
        .data()["createStore"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let scoped_employee = v
        .owner
        .invite_and_join(
            &app,
            "scoped@duka-a.example",
            "MANAGER",
            Some(&second_store),
        )
        .await;
    let removed = v
        .owner
        .invite_and_join(&app, "removed@duka-a.example", "ADMIN", None)
        .await;
    v.owner
        .gql(&app, REMOVE_MEMBER, json!({ "userId": removed.user_id }))
        .await
        .data();
    let before = {
        // The set-up above added a store and two people; take the snapshot again.
        let _ = before;
        snapshot(&app, &v.owner).await
    };

    type Attacker<'a> = (&'a str, String, Vec<(&'a str, String)>, &'a [&'a str]);
    let store_header = second_store.clone();
    let attackers: Vec<Attacker> = vec![
        (
            "another tenant's owner",
            other_owner.access.clone(),
            vec![],
            &["NOT_FOUND", "FORBIDDEN"],
        ),
        (
            "another tenant's API key",
            other_key.clone(),
            vec![],
            &["NOT_FOUND", "FORBIDDEN", "UNAUTHENTICATED"],
        ),
        (
            "an employee scoped to another store",
            scoped_employee.access.clone(),
            vec![("X-Store-ID", store_header.clone())],
            &["FORBIDDEN", "NOT_FOUND"],
        ),
        (
            "a removed member",
            removed.access.clone(),
            vec![],
            &["NOT_FOUND", "FORBIDDEN"],
        ),
    ];
    for (who, token, headers, allowed) in &attackers {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        for (op, query, vars) in id_cases(&v) {
            if op == "switchTenant" && *who == "an employee scoped to another store" {
                continue; // entering their own tenant is theirs to do
            }
            let response = app.graphql_as(token, &headers, query, vars).await;
            assert!(
                refused(&response, op, allowed),
                "{who} / {op}: {}",
                response.body
            );
        }
    }
    assert_eq!(
        snapshot(&app, &v.owner).await,
        before,
        "an attack changed tenant A"
    );

    // Another tenant's owner, through the operations that take no id, sees nothing of A.
    let a_ids = [
        &v.store,
        &v.role,
        &v.member.user_id,
        &v.invitation,
        &v.api_key,
        &v.owner.tenant_id,
    ];
    for query in [
        TENANT,
        STORES,
        ROLES,
        MEMBERS,
        INVITATIONS,
        API_KEYS,
        AUDIT_LOG,
    ] {
        let body = other_owner
            .gql(&app, query, json!({}))
            .await
            .body
            .to_string();
        for id in a_ids {
            assert!(!body.contains(id.as_str()), "B's view leaks {id}: {body}");
        }
    }
    let platform = other_owner.gql(&app, PLATFORM_TENANTS, json!({})).await;
    assert_eq!(platform.error_code(), "FORBIDDEN");
}

#[tokio::test]
async fn a_suspended_tenants_members_cannot_write_their_own_objects() {
    let (app, admin) = TestApp::with_platform_admin().await;
    let v = victim(&app).await;
    app.graphql_as(
        &admin,
        &[],
        SUSPEND,
        json!({ "tenantId": v.owner.tenant_id, "reason": "fraud check" }),
    )
    .await
    .data();
    let before = snapshot(&app, &v.owner).await;
    let writes: Vec<_> = id_cases(&v)
        .into_iter()
        .filter(|(op, _, _)| {
            ![
                "store",
                "switchTenant",
                "suspendTenant",
                "reactivateTenant",
                "setTenantModule",
            ]
            .contains(op)
        })
        .collect();
    for (op, query, vars) in writes {
        let response = v.owner.gql(&app, query, vars).await;
        assert_eq!(
            response.error_code(),
            "FORBIDDEN",
            "{op}: {}",
            response.body
        );
        assert_eq!(
            response.error()["extensions"]["reason"],
            "TENANT_SUSPENDED",
            "{op}"
        );
    }
    for (query, vars) in [
        (CREATE_STORE, json!({ "input": { "name": "New" } })),
        (UPDATE_TENANT, json!({ "input": { "name": "New" } })),
        (
            CREATE_ROLE,
            json!({ "input": { "name": "New", "permissions": [] } }),
        ),
        (
            CREATE_API_KEY,
            json!({ "input": { "name": "New", "permissions": [] } }),
        ),
    ] {
        assert_eq!(
            v.owner.gql(&app, query, vars).await.error()["extensions"]["reason"],
            "TENANT_SUSPENDED"
        );
    }
    assert_eq!(snapshot(&app, &v.owner).await, before);
}
