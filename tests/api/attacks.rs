//! The attack run of issue 7, one test per hole: each reproduces the attack as a caller
//! would send it and asserts the refusal.

use serde_json::json;

use crate::common::TestApp;
use crate::ops::{
    ASSIGN_ROLE, CREATE_ROLE, CREATE_STORE, MEMBERS, REMOVE_MEMBER, REVOKE_ROLE,
    SET_ROLE_PERMISSION, UPDATE_ROLE, UPDATE_STORE,
};
use crate::personas::{ACCEPT, INVITE, ME, STORES};

const CREATE_API_KEY: &str = include_str!("graphql/identity/create_api_key.graphql");
const SUSPEND: &str = include_str!("graphql/tenancy/suspend_tenant.graphql");

/// Item 1: a role held in one store acts in that store only, never tenant-wide.
#[tokio::test]
async fn a_store_owner_cannot_act_tenant_wide() {
    let app = TestApp::spawn().await;
    let owner = app.register("asha@duka.example", "Duka").await;
    let main = owner.main_store(&app).await;
    let store_owner = owner
        .invite_and_join(&app, "juma@duka.example", "OWNER", Some(&main))
        .await;
    let owner_role = owner.role(&app, "OWNER").await;
    let in_store = [("X-Store-ID", main.as_str())];
    let as_store_owner = |query: &'static str, variables: serde_json::Value| {
        app.graphql_as(&store_owner.access, &in_store, query, variables)
    };

    // Inside its store it works: the store is visible and can be renamed.
    let stores = as_store_owner(STORES, json!({})).await;
    assert_eq!(stores.data()["stores"]["totalCount"], 1);
    let renamed = as_store_owner(
        UPDATE_STORE,
        json!({ "id": main, "input": { "name": "Main, renamed" } }),
    )
    .await;
    assert_eq!(renamed.data()["updateStore"]["name"], "Main, renamed");

    // Tenant-level work is refused, although the store grant includes every permission.
    let promote = as_store_owner(
        ASSIGN_ROLE,
        json!({ "userId": store_owner.user_id, "roleId": owner_role }),
    )
    .await;
    assert_eq!(promote.error_code(), "FORBIDDEN", "{}", promote.body());
    let role = as_store_owner(
        CREATE_ROLE,
        json!({ "input": { "name": "Mine", "permissions": ["role.manage"] } }),
    )
    .await;
    assert_eq!(role.error_code(), "FORBIDDEN", "{}", role.body());
    let key = as_store_owner(
        CREATE_API_KEY,
        json!({ "input": { "name": "k", "permissions": ["store.read"] } }),
    )
    .await;
    assert_eq!(key.error_code(), "FORBIDDEN", "{}", key.body());
    let store = as_store_owner(CREATE_STORE, json!({ "input": { "name": "New" } })).await;
    assert_eq!(store.error_code(), "FORBIDDEN", "{}", store.body());
    let demote = as_store_owner(
        REVOKE_ROLE,
        json!({ "userId": owner.user_id, "roleId": owner_role }),
    )
    .await;
    assert_eq!(demote.error_code(), "FORBIDDEN", "{}", demote.body());
    let remove = as_store_owner(REMOVE_MEMBER, json!({ "userId": owner.user_id })).await;
    assert_eq!(remove.error_code(), "FORBIDDEN", "{}", remove.body());
    let members = as_store_owner(MEMBERS, json!({})).await;
    assert_eq!(members.error_code(), "FORBIDDEN", "{}", members.body());

    // The real owner is still the only tenant-wide OWNER.
    let members = owner.gql(&app, MEMBERS, json!({})).await;
    let edges = members.data()["members"]["edges"]
        .as_array()
        .unwrap()
        .clone();
    let tenant_owners: Vec<_> = edges
        .iter()
        .filter(|e| {
            e["node"]["roles"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["role"]["name"] == "OWNER" && r["store"].is_null())
        })
        .map(|e| e["node"]["user"]["id"].clone())
        .collect();
    assert_eq!(tenant_owners, vec![json!(owner.user_id)]);
}

/// A member who holds only a custom role with role.manage and role.read.
async fn role_manager(app: &TestApp, owner: &crate::personas::Persona) -> crate::personas::Persona {
    let managers = owner
        .gql(
            app,
            CREATE_ROLE,
            json!({ "input": { "name": "Role managers", "permissions": ["role.manage", "role.read"] } }),
        )
        .await;
    let managers = managers.data()["createRole"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let manager = owner
        .invite_and_join(app, "rm@duka.example", "EMPLOYEE", None)
        .await;
    owner
        .gql(
            app,
            ASSIGN_ROLE,
            json!({ "userId": manager.user_id, "roleId": managers }),
        )
        .await
        .data();
    manager
}

/// Item 8: role.manage cannot take away what the caller does not hold, and only an OWNER
/// removes or demotes an OWNER.
#[tokio::test]
async fn a_role_manager_cannot_take_away_what_it_does_not_hold() {
    let app = TestApp::spawn().await;
    let owner = app.register("asha@duka.example", "Duka").await;
    let admin = owner
        .invite_and_join(&app, "admin@duka.example", "ADMIN", None)
        .await;
    let other_admin = owner
        .invite_and_join(&app, "admin2@duka.example", "ADMIN", None)
        .await;
    // A role manager with role.manage and role.read only.
    let manager = role_manager(&app, &owner).await;
    let admin_role = owner.role(&app, "ADMIN").await;
    let owner_role = owner.role(&app, "OWNER").await;

    let rewrite = manager
        .gql(
            &app,
            UPDATE_ROLE,
            json!({ "id": admin_role, "input": { "permissions": ["role.read"] } }),
        )
        .await;
    assert_eq!(rewrite.error_code(), "FORBIDDEN", "{}", rewrite.body());
    let withdraw = manager
        .gql(
            &app,
            SET_ROLE_PERMISSION,
            json!({ "roleId": admin_role, "permission": "member.manage", "granted": false }),
        )
        .await;
    assert_eq!(withdraw.error_code(), "FORBIDDEN", "{}", withdraw.body());
    let revoke = manager
        .gql(
            &app,
            REVOKE_ROLE,
            json!({ "userId": admin.user_id, "roleId": admin_role }),
        )
        .await;
    assert_eq!(revoke.error_code(), "FORBIDDEN", "{}", revoke.body());

    // An ADMIN can neither remove nor demote the OWNER...
    let remove = admin
        .gql(&app, REMOVE_MEMBER, json!({ "userId": owner.user_id }))
        .await;
    assert_eq!(remove.error_code(), "FORBIDDEN", "{}", remove.body());
    let demote = admin
        .gql(
            &app,
            REVOKE_ROLE,
            json!({ "userId": owner.user_id, "roleId": owner_role }),
        )
        .await;
    assert_eq!(demote.error_code(), "FORBIDDEN", "{}", demote.body());
    // ...but may still manage what it holds: revoke ADMIN from another admin.
    let fine = admin
        .gql(
            &app,
            REVOKE_ROLE,
            json!({ "userId": other_admin.user_id, "roleId": admin_role }),
        )
        .await;
    fine.data();

    // The ADMIN role is unchanged.
    let me = admin.gql(&app, ME, json!({})).await;
    assert!(
        me.data()["me"]["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!("member.manage"))
    );
}

/// Item 10: a permission of a module the tenant lacks cannot be granted by someone who does
/// not hold it either.
#[tokio::test]
async fn permissions_of_a_missing_module_cannot_be_granted_by_non_holders() {
    let app = TestApp::spawn().await;
    let owner = app.register("asha@duka.example", "Duka").await;
    let manager = role_manager(&app, &owner).await;
    // inventory is not one of the tenant's modules, and the manager does not hold it.
    let sleeper = manager
        .gql(
            &app,
            CREATE_ROLE,
            json!({ "input": { "name": "Sleeper", "permissions": ["inventory.manage"] } }),
        )
        .await;
    assert_eq!(sleeper.error_code(), "FORBIDDEN", "{}", sleeper.body());
    // The owner holds every permission, so may prepare the role before the module is on.
    owner
        .gql(
            &app,
            CREATE_ROLE,
            json!({ "input": { "name": "Stock", "permissions": ["inventory.manage"] } }),
        )
        .await
        .data();
}

/// Item 7: an API key acts with at most what its creator still holds.
#[tokio::test]
async fn an_api_key_dies_with_its_creators_membership() {
    let app = TestApp::spawn().await;
    let owner = app.register("asha@duka.example", "Duka").await;
    let admin = owner
        .invite_and_join(&app, "admin@duka.example", "ADMIN", None)
        .await;
    let created = admin
        .gql(
            &app,
            CREATE_API_KEY,
            json!({ "input": { "name": "ci", "permissions": ["store.read", "member.read"] } }),
        )
        .await;
    let secret = created.data()["createApiKey"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let works = app.graphql_as(&secret, &[], STORES, json!({})).await;
    assert_eq!(works.data()["stores"]["totalCount"], 1);

    // The creator loses member.read: so does the key.
    let admin_role = owner.role(&app, "ADMIN").await;
    owner
        .gql(
            &app,
            SET_ROLE_PERMISSION,
            json!({ "roleId": admin_role, "permission": "member.read", "granted": false }),
        )
        .await
        .data();
    let members = app.graphql_as(&secret, &[], MEMBERS, json!({})).await;
    assert_eq!(members.error_code(), "FORBIDDEN", "{}", members.body());
    app.graphql_as(&secret, &[], STORES, json!({})).await.data();

    // The creator is removed: the key stops authenticating.
    owner
        .gql(&app, REMOVE_MEMBER, json!({ "userId": admin.user_id }))
        .await
        .data();
    let after = app.graphql_as(&secret, &[], STORES, json!({})).await;
    assert_eq!(after.error_code(), "UNAUTHENTICATED", "{}", after.body());
}

/// Item 14: a suspended tenant's pending invitation cannot be accepted.
#[tokio::test]
async fn a_suspended_tenants_invitation_cannot_be_accepted() {
    let (app, admin_token) = TestApp::with_platform_admin().await;
    let owner = app.register("asha@duka.example", "Duka").await;
    let employee = owner.role(&app, "EMPLOYEE").await;
    owner
        .gql(
            &app,
            INVITE,
            json!({ "input": { "email": "juma@duka.example", "roleIds": [employee] } }),
        )
        .await
        .data();
    let token = app
        .smtp
        .wait_for("juma@duka.example", "invited")
        .await
        .token("accept-invitation");
    app.graphql_as(
        &admin_token,
        &[],
        SUSPEND,
        json!({ "tenantId": owner.tenant_id, "reason": "unpaid" }),
    )
    .await
    .data();
    let accepted = app
        .graphql(
            ACCEPT,
            json!({ "token": token, "name": "Juma", "password": "member long secret" }),
        )
        .await;
    assert_eq!(accepted.error_code(), "FORBIDDEN", "{}", accepted.body());
    assert_eq!(accepted.error()["extensions"]["reason"], "TENANT_SUSPENDED");
}

/// Item 5: two owners demoting each other at once leave one OWNER, never none.
#[tokio::test]
async fn two_owners_demoting_each_other_at_once_leave_one_owner() {
    let app = TestApp::spawn().await;
    let first = app.register("asha@duka.example", "Duka").await;
    let owner_role = first.role(&app, "OWNER").await;
    for round in 0..5 {
        let second = first
            .invite_and_join(&app, &format!("co{round}@duka.example"), "OWNER", None)
            .await;
        let (a, b) = tokio::join!(
            first.gql(
                &app,
                REVOKE_ROLE,
                json!({ "userId": second.user_id, "roleId": owner_role })
            ),
            second.gql(
                &app,
                REVOKE_ROLE,
                json!({ "userId": first.user_id, "roleId": owner_role })
            ),
        );
        let succeeded = [&a, &b]
            .iter()
            .filter(|r| r.body().get("errors").is_none())
            .count();
        assert_eq!(succeeded, 1, "round {round}: {} / {}", a.body(), b.body());
        // Whoever won stays OWNER; put the tenant back with `first` as the only owner.
        let members = first.gql(&app, MEMBERS, json!({})).await;
        let owners = members.body()["data"]["members"]["edges"]
            .as_array()
            .map(|edges| {
                edges
                    .iter()
                    .filter(|e| {
                        e["node"]["roles"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .any(|r| r["role"]["name"] == "OWNER")
                    })
                    .count()
            })
            .unwrap_or(0);
        if a.body().get("errors").is_none() {
            assert_eq!(owners, 1, "round {round}");
        } else {
            // `first` was demoted: check through the survivor.
            let members = second.gql(&app, MEMBERS, json!({})).await;
            let owners = members.data()["members"]["edges"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|e| {
                    e["node"]["roles"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|r| r["role"]["name"] == "OWNER")
                })
                .count();
            assert_eq!(owners, 1, "round {round}");
            return;
        }
        first
            .gql(&app, REMOVE_MEMBER, json!({ "userId": second.user_id }))
            .await
            .data();
    }
}

use crate::personas::LOGIN;

fn login_vars(email: &str, password: &str) -> serde_json::Value {
    json!({ "input": { "email": email, "password": password } })
}

/// Item 4: a batch of wrong logins, or a burst of parallel ones, gets no more guesses than
/// the limit.
#[tokio::test]
async fn login_throttling_holds_under_batches_and_concurrency() {
    let app = TestApp::spawn().await;
    app.register("asha@duka.example", "Duka").await;
    let batch: Vec<_> = (0..10)
        .map(|_| json!({ "query": LOGIN, "variables": login_vars("asha@duka.example", "wrong password") }))
        .collect();
    let answered = app.post_graphql_body(&json!(batch)).await;
    let codes: Vec<String> = answered
        .body()
        .as_array()
        .unwrap_or_else(|| panic!("a batch answer: {}", answered.body()))
        .iter()
        .map(|r| {
            r["errors"][0]["extensions"]["code"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        codes.iter().filter(|c| *c == "UNAUTHENTICATED").count(),
        5,
        "{codes:?}"
    );
    assert_eq!(
        codes.iter().filter(|c| *c == "RATE_LIMITED").count(),
        5,
        "{codes:?}"
    );

    app.register("baraka@duka.example", "Duka B").await;
    let parallel = (0..12).map(|_| app.graphql(LOGIN, login_vars("baraka@duka.example", "wrong")));
    let codes: Vec<String> = futures::future::join_all(parallel)
        .await
        .iter()
        .map(|r| r.error_code().to_owned())
        .collect();
    assert_eq!(
        codes.iter().filter(|c| *c == "UNAUTHENTICATED").count(),
        5,
        "{codes:?}"
    );
    assert_eq!(
        codes.iter().filter(|c| *c == "RATE_LIMITED").count(),
        7,
        "{codes:?}"
    );
}

/// Item 11: failures from one address against unknown emails lock out nobody, a lockout
/// holds per (address, account), and `X-Forwarded-For` counts only from a trusted proxy.
#[tokio::test]
async fn lockout_is_per_address_and_account_and_forwarded_for_needs_a_trusted_proxy() {
    let app = TestApp::builder()
        .env("TRUSTED_PROXIES", "127.0.0.1")
        .spawn()
        .await;
    app.register("asha@duka.example", "Duka").await;
    let from = |ip: &'static str, email: &'static str, password: &'static str| {
        let request = app
            .client
            .post(format!("{}/graphql", app.address))
            .header("X-Forwarded-For", ip)
            .json(&json!({ "query": LOGIN, "variables": login_vars(email, password) }));
        async move { TestApp::read(request.send().await.unwrap()).await }
    };
    // 50 failures from one address, most against unknown emails.
    for i in 0..50 {
        let email: &'static str = if i % 10 == 0 {
            "asha@duka.example"
        } else {
            Box::leak(format!("nobody{i}@duka.example").into_boxed_str())
        };
        from("203.0.113.7", email, "wrong password").await;
    }
    // A bystander behind the same proxy logs in fine, and so does the real owner elsewhere.
    from("203.0.113.8", "asha@duka.example", "correct horse battery")
        .await
        .data();
    // The guessing address is locked out of that account...
    for _ in 0..5 {
        from("198.51.100.1", "asha@duka.example", "wrong password").await;
    }
    let locked = from("198.51.100.1", "asha@duka.example", "correct horse battery").await;
    assert_eq!(locked.error_code(), "RATE_LIMITED", "{}", locked.body());
    // ...but not another address.
    from("198.51.100.2", "asha@duka.example", "correct horse battery")
        .await
        .data();

    // Without a trusted proxy, X-Forwarded-For is the client's own claim and is ignored.
    let direct = TestApp::spawn().await;
    direct.register("asha@duka.example", "Duka").await;
    for i in 0..5 {
        let request = direct
            .client
            .post(format!("{}/graphql", direct.address))
            .header("X-Forwarded-For", format!("203.0.113.{i}"))
            .json(
                &json!({ "query": LOGIN, "variables": login_vars("asha@duka.example", "wrong") }),
            );
        TestApp::read(request.send().await.unwrap()).await;
    }
    let spoofed = direct
        .client
        .post(format!("{}/graphql", direct.address))
        .header("X-Forwarded-For", "203.0.113.99")
        .json(&json!({ "query": LOGIN, "variables": login_vars("asha@duka.example", "correct horse battery") }));
    let spoofed = TestApp::read(spoofed.send().await.unwrap()).await;
    assert_eq!(spoofed.error_code(), "RATE_LIMITED", "{}", spoofed.body());
}

const LOGOUT: &str = include_str!("graphql/identity/logout.graphql");

/// Item 2: an open WebSocket re-resolves its caller for every operation, and closes with
/// 4403 when the session or membership it opened with is gone.
#[tokio::test]
async fn an_open_websocket_does_not_keep_its_connection_init_caller() {
    let (app, admin_token) = TestApp::with_platform_admin().await;
    let owner = app.register("asha@duka.example", "Duka").await;
    let admin_role = owner.role(&app, "ADMIN").await;
    let member = owner
        .invite_and_join(&app, "juma@duka.example", "ADMIN", None)
        .await;
    let mut ws = app
        .websocket(
            "/graphql/ws",
            json!({ "authorization": format!("Bearer {}", member.access) }),
        )
        .await;
    let create = "mutation { createStore(input: { name: \"Over the socket\" }) { id } }";
    ws.subscribe("1", create, json!({})).await;
    let first = ws.next_message().await;
    assert!(
        first["payload"]["data"]["createStore"]["id"].is_string(),
        "{first}"
    );
    ws.next_message().await; // complete

    // A withdrawn permission holds on the very next operation over the same socket.
    owner
        .gql(
            &app,
            SET_ROLE_PERMISSION,
            json!({ "roleId": admin_role, "permission": "store.manage", "granted": false }),
        )
        .await
        .data();
    ws.subscribe("2", create, json!({})).await;
    let refused = ws.next_message().await;
    assert_eq!(
        refused["payload"]["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{refused}"
    );
    ws.next_message().await; // complete

    // A suspended tenant cannot be written to over the socket either.
    app.graphql_as(
        &admin_token,
        &[],
        SUSPEND,
        json!({ "tenantId": owner.tenant_id, "reason": "audit" }),
    )
    .await
    .data();
    ws.subscribe(
        "3",
        "mutation { createRole(input: { name: \"Late\", permissions: [] }) { id } }",
        json!({}),
    )
    .await;
    let suspended = ws.next_message().await;
    assert_eq!(
        suspended["payload"]["errors"][0]["extensions"]["reason"], "TENANT_SUSPENDED",
        "{suspended}"
    );

    // Removal closes the socket with 4403.
    let mut owner_ws = app
        .websocket(
            "/graphql/ws",
            json!({ "authorization": format!("Bearer {}", owner.access) }),
        )
        .await;
    let mut member_ws = app
        .websocket(
            "/graphql/ws",
            json!({ "authorization": format!("Bearer {}", member.access) }),
        )
        .await;
    let reactivate = include_str!("graphql/tenancy/reactivate_tenant.graphql");
    app.graphql_as(
        &admin_token,
        &[],
        reactivate,
        json!({ "tenantId": owner.tenant_id }),
    )
    .await
    .data();
    owner
        .gql(&app, REMOVE_MEMBER, json!({ "userId": member.user_id }))
        .await
        .data();
    let closed = loop {
        let message = member_ws.next_message().await;
        if message["type"] == "closed" {
            break message;
        }
    };
    assert!(
        closed["frame"].as_str().unwrap().contains("4403"),
        "{closed}"
    );

    // Logout closes the owner's socket.
    owner_ws
        .subscribe("1", "{ me { user { email } } }", json!({}))
        .await;
    assert_eq!(owner_ws.next_message().await["type"], "next");
    owner_ws.next_message().await; // complete
    app.graphql(LOGOUT, json!({ "refreshToken": owner.refresh }))
        .await
        .data();
    let closed = loop {
        let message = owner_ws.next_message().await;
        if message["type"] == "closed" {
            break message;
        }
    };
    assert!(
        closed["frame"].as_str().unwrap().contains("4403"),
        "{closed}"
    );
}

/// `fragment F1 on Query { ...F0 a1: __typename ...F0 }` … `{ ...F<n> }`: 1 KB that
/// doubles at every step.
fn doubling_fragments(n: usize) -> String {
    let mut query = String::from("fragment F0 on Query { __typename }\n");
    for i in 1..=n {
        query.push_str(&format!(
            "fragment F{i} on Query {{ ...F{p} a{i}: __typename ...F{p} }}\n",
            p = i - 1
        ));
    }
    query.push_str(&format!("{{ ...F{n} }}"));
    query
}

/// Item 3: an anonymous 1 KB document cannot stall the server.
#[tokio::test]
async fn hostile_documents_are_refused_fast_and_healthz_answers_meanwhile() {
    let app = TestApp::spawn().await;
    let doubling = doubling_fragments(20);
    assert!(doubling.len() < 1500);
    let aliases: String = (0..10_000).map(|i| format!("a{i}: __typename ")).collect();
    let aliases = format!("{{ {aliases} }}");
    let wide: String = (0..3000).map(|_| "__typename ").collect();
    let wide = format!("{{ {wide} }}");

    let started = std::time::Instant::now();
    let attacks = futures::future::join_all(
        [&doubling, &doubling, &doubling, &aliases, &wide]
            .into_iter()
            .map(|q| app.graphql(q, json!({}))),
    );
    let health = async {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let t = std::time::Instant::now();
        let ok = app.get("/healthz").await.status().is_success();
        (ok, t.elapsed())
    };
    let (answers, (healthy, health_took)) = tokio::join!(attacks, health);
    let elapsed = started.elapsed();
    for answer in &answers {
        assert_eq!(answer.error_code(), "BAD_USER_INPUT", "{}", answer.body());
        assert!(answer.body()["data"].is_null(), "{}", answer.body());
    }
    assert!(
        answers[0].error()["message"]
            .as_str()
            .unwrap()
            .contains("GRAPHQL_MAX_SELECTIONS")
    );
    assert!(
        answers[3].error()["message"]
            .as_str()
            .unwrap()
            .contains("GRAPHQL_MAX_TOKENS")
    );
    assert!(
        answers[4].error()["message"]
            .as_str()
            .unwrap()
            .contains("GRAPHQL_MAX_TOKENS")
    );
    assert!(healthy);
    assert!(
        health_took < std::time::Duration::from_secs(1),
        "{health_took:?}"
    );
    assert!(elapsed < std::time::Duration::from_secs(2), "{elapsed:?}");

    // Sixteen aliases are refused; fifteen are answered.
    let sixteen: String = (0..16).map(|i| format!("a{i}: __typename ")).collect();
    let refused = app.graphql(&format!("{{ {sixteen} }}"), json!({})).await;
    assert_eq!(refused.error_code(), "BAD_USER_INPUT");
    let fifteen: String = (0..15).map(|i| format!("a{i}: __typename ")).collect();
    let answered = app.graphql(&format!("{{ {fifteen} }}"), json!({})).await;
    assert_eq!(answered.data()["a14"], "Query");
}

/// Item 15: a NUL or other control character in any text input is BAD_USER_INPUT naming
/// the field, on PostgreSQL too (where it used to be INTERNAL).
#[tokio::test]
async fn control_characters_in_text_inputs_name_the_field() {
    let app = TestApp::spawn().await;
    let owner = app.register("asha@duka.example", "Duka").await;
    let store = owner
        .gql(
            &app,
            CREATE_STORE,
            json!({ "input": { "name": "Nul\u{0}store" } }),
        )
        .await;
    assert_eq!(store.error_code(), "BAD_USER_INPUT", "{}", store.body());
    assert_eq!(store.error()["extensions"]["field"], "input.name");
    let literal = owner
        .gql(
            &app,
            "mutation { createStore(input: { name: \"bell\\u0007\" }) { id } }",
            json!({}),
        )
        .await;
    assert_eq!(literal.error_code(), "BAD_USER_INPUT", "{}", literal.body());
    assert_eq!(literal.error()["extensions"]["field"], "input.name");
    let register = app
        .graphql(
            crate::personas::REGISTER,
            json!({ "input": { "email": "x@y.example", "password": "long enough pw", "name": "A\u{0}", "tenantName": "T" } }),
        )
        .await;
    assert_eq!(
        register.error()["extensions"]["field"],
        "input.name",
        "{}",
        register.body()
    );
    // Nothing was written.
    let stores = owner.gql(&app, STORES, json!({})).await;
    assert_eq!(stores.data()["stores"]["totalCount"], 1);
    // Tabs and newlines are text.
    owner
        .gql(
            &app,
            CREATE_STORE,
            json!({ "input": { "name": "Two\tparts" } }),
        )
        .await
        .data();
}

const ARCHIVE_STORE: &str = include_str!("graphql/tenancy/archive_store.graphql");

/// Item 16: `X-Store-ID` cannot enter an archived store.
#[tokio::test]
async fn an_archived_store_cannot_be_entered() {
    let app = TestApp::spawn().await;
    let owner = app.register("asha@duka.example", "Duka").await;
    let other = owner
        .gql(&app, CREATE_STORE, json!({ "input": { "name": "Other" } }))
        .await;
    let other = other.data()["createStore"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let manager = owner
        .invite_and_join(&app, "juma@duka.example", "MANAGER", Some(&other))
        .await;
    let inside = app
        .graphql_as(
            &manager.access,
            &[("X-Store-ID", &other)],
            STORES,
            json!({}),
        )
        .await;
    assert_eq!(inside.data()["stores"]["totalCount"], 1);
    owner
        .gql(&app, ARCHIVE_STORE, json!({ "id": other }))
        .await
        .data();
    let archived = app
        .graphql_as(
            &manager.access,
            &[("X-Store-ID", &other)],
            STORES,
            json!({}),
        )
        .await;
    assert_eq!(archived.error_code(), "NOT_FOUND", "{}", archived.body());
}

/// Item 17: production hides the schema unless asked, `/metrics` can need a token, the
/// JSON content type is matched exactly and body errors do not show the parser's internals.
#[tokio::test]
async fn production_hardening() {
    let production = TestApp::builder()
        .env("MSINGI_ENV", "production")
        .env("METRICS_TOKEN", "scrape-secret")
        .spawn()
        .await;
    let hidden = production
        .graphql("{ __schema { queryType { name } } }", json!({}))
        .await;
    assert!(hidden.body()["errors"].is_array(), "{}", hidden.body());
    assert!(hidden.body()["data"].is_null() || hidden.body()["data"]["__schema"].is_null());
    let open = production.get("/metrics").await;
    assert_eq!(open.status(), 401);
    let scraped = production
        .client
        .get(format!("{}/metrics", production.address))
        .bearer_auth("scrape-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(scraped.status(), 200);
    assert!(scraped.text().await.unwrap().contains("msingi_"));

    let opted_in = TestApp::builder()
        .env("MSINGI_ENV", "production")
        .env("GRAPHQL_INTROSPECTION", "true")
        .spawn()
        .await;
    let schema = opted_in
        .graphql("{ __schema { queryType { name } } }", json!({}))
        .await;
    assert_eq!(schema.data()["__schema"]["queryType"]["name"], "Query");

    let app = TestApp::spawn().await;
    let jsonp = app
        .client
        .post(format!("{}/graphql", app.address))
        .header("content-type", "application/jsonp")
        .body(r#"{"query":"{ __typename }"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(jsonp.status(), 415);
    let with_charset = app
        .client
        .post(format!("{}/graphql", app.address))
        .header("content-type", "application/json; charset=utf-8")
        .body(r#"{"query":"{ __typename }"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(with_charset.status(), 200);
    let broken = app
        .client
        .post(format!("{}/graphql", app.address))
        .header("content-type", "application/json")
        .body(r#"{"query": 5}"#)
        .send()
        .await
        .unwrap();
    let broken = TestApp::read(broken).await;
    assert_eq!(broken.status, 400);
    let message = broken.error()["message"].as_str().unwrap();
    assert!(!message.contains("invalid type"), "{message}");
    assert!(message.contains("\"query\" string"), "{message}");
}

/// Item 12: on PostgreSQL without Redis, a revoke reaches every node (LISTEN/NOTIFY) and
/// login counters are shared (one table), so a second node is no way around either.
#[tokio::test]
async fn without_redis_revocations_and_login_counters_reach_every_node() {
    if crate::common::postgres_url().is_none() {
        eprintln!("skipped: several nodes share PostgreSQL (SQLite is one process)");
        return;
    }
    let mut app = TestApp::builder().env("REDIS_URL", "").spawn().await;
    let owner = app.register("asha@duka.example", "Duka").await;
    let member = owner
        .invite_and_join(&app, "juma@duka.example", "EMPLOYEE", None)
        .await;
    let employee = owner.role(&app, "EMPLOYEE").await;
    let other = app.another_node().await;
    let cached = app
        .graphql_at(&other, &member.access, STORES, json!({}))
        .await;
    cached.data();
    owner
        .gql(
            &app,
            SET_ROLE_PERMISSION,
            json!({ "roleId": employee, "permission": "store.read", "granted": false }),
        )
        .await
        .data();
    let refused = app
        .eventually(std::time::Duration::from_secs(3), || async {
            app.graphql_at(&other, &member.access, STORES, json!({}))
                .await
                .body()["errors"][0]["extensions"]["code"]
                == "FORBIDDEN"
        })
        .await;
    assert!(refused, "the second node kept a revoked permission");

    // Three wrong passwords on each node: the sixth attempt is refused (limit 5).
    let wrong = login_vars("asha@duka.example", "wrong password");
    let at = |address: String| {
        let request = app
            .client
            .post(format!("{address}/graphql"))
            .json(&json!({ "query": LOGIN, "variables": wrong }));
        async move { TestApp::read(request.send().await.unwrap()).await }
    };
    let mut codes = Vec::new();
    for address in [app.address.clone(), other.clone()] {
        for _ in 0..3 {
            codes.push(at(address.clone()).await.error_code().to_owned());
        }
    }
    assert_eq!(
        codes,
        [
            "UNAUTHENTICATED",
            "UNAUTHENTICATED",
            "UNAUTHENTICATED",
            "UNAUTHENTICATED",
            "UNAUTHENTICATED",
            "RATE_LIMITED"
        ]
    );
}

/// Item 18: a taken email on register tells the owner; the audit log shows a platform
/// admin as "Platform support"; a client-chosen X-Request-ID is echoed but recorded as the
/// client's, next to the server's own id.
#[tokio::test]
async fn registration_audit_actors_and_request_ids_reveal_nothing_they_should_not() {
    let (app, admin_token) = TestApp::with_platform_admin().await;
    let owner = app.register("asha@duka.example", "Duka").await;
    let again = app
        .graphql(
            crate::personas::REGISTER,
            json!({ "input": { "email": "asha@duka.example", "password": "another password", "name": "Eve", "tenantName": "Evil" } }),
        )
        .await;
    assert_eq!(again.error_code(), "CONFLICT", "{}", again.body());
    let told = app
        .smtp
        .wait_for("asha@duka.example", "Someone tried to sign up")
        .await;
    assert!(told.data.contains("/reset-password"), "{}", told.data);

    // A platform admin acts in the tenant: its readers see "Platform support".
    app.graphql_as(
        &admin_token,
        &[],
        SUSPEND,
        json!({ "tenantId": owner.tenant_id, "reason": "check" }),
    )
    .await
    .data();
    let log = owner
        .gql(
            &app,
            "{ auditLog(first: 50) { edges { node { action actor { name email } } } } }",
            json!({}),
        )
        .await;
    let text = log.data().to_string();
    assert!(!text.contains(crate::personas::ADMIN_EMAIL), "{text}");
    assert!(text.contains("Platform support"), "{text}");
    let reactivate = include_str!("graphql/tenancy/reactivate_tenant.graphql");
    app.graphql_as(
        &admin_token,
        &[],
        reactivate,
        json!({ "tenantId": owner.tenant_id }),
    )
    .await
    .data();

    // A client-chosen request id.
    let response = app
        .client
        .post(format!("{}/graphql", app.address))
        .bearer_auth(&owner.access)
        .header("X-Request-ID", "client-chosen-42")
        .json(&json!({ "query": CREATE_STORE, "variables": { "input": { "name": "Tagged" } } }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "client-chosen-42");
    TestApp::read(response).await.data();
    let tenant = msingi::tenancy::TenantId::parse(&owner.tenant_id, "tenant").unwrap();
    let ctx = msingi::worker::context_for(&app.db, tenant, "test: read audit")
        .await
        .unwrap();
    let page = msingi::page::PageRequest::parse(Some(1), None).unwrap();
    let newest = app
        .db
        .read(&ctx)
        .await
        .unwrap()
        .list_audit(Some("store.create"), page)
        .await
        .unwrap()
        .items
        .remove(0);
    assert_eq!(
        newest.client_request_id.as_deref(),
        Some("client-chosen-42")
    );
    let server_id = newest.request_id.unwrap();
    assert_ne!(server_id, "client-chosen-42");
    assert!(uuid::Uuid::parse_str(&server_id).is_ok(), "{server_id}");
}
