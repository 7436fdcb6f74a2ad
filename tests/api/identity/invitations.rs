//! Invitations: by email, with roles (and stores), for new and existing users.

use serde_json::json;

use crate::common::TestApp;
use crate::personas::{LOGIN, ME};

const SWITCH: &str = include_str!("../graphql/identity/switch_tenant.graphql");
const INVITE: &str = include_str!("../graphql/identity/invite_member.graphql");
const ACCEPT: &str = include_str!("../graphql/identity/accept_invitation.graphql");
const REVOKE: &str = include_str!("../graphql/identity/revoke_invitation.graphql");
const LIST: &str = include_str!("../graphql/identity/invitations.graphql");

#[tokio::test]
async fn a_new_user_joins_by_invitation_with_the_invited_role() {
    let app = TestApp::spawn().await;
    let owner = app.register("asha@duka.example", "Duka").await;
    let employee = owner.role(&app, "EMPLOYEE").await;
    let store = owner.main_store(&app).await;

    let invited = owner
        .gql(
            &app,
            INVITE,
            json!({ "input": { "email": "Juma@Example.com", "roleIds": [employee], "storeIds": [store] } }),
        )
        .await;
    let invitation = &invited.data()["inviteMember"];
    assert_eq!(invitation["email"], "juma@example.com");
    assert_eq!(invitation["status"], "PENDING");
    assert_eq!(invitation["roles"][0]["name"], "EMPLOYEE");

    let mail = app
        .smtp
        .wait_for("juma@example.com", "invited to join Duka")
        .await;
    let token = mail.token("accept-invitation");

    let missing_password = app
        .graphql(ACCEPT, json!({ "token": token, "name": "Juma" }))
        .await;
    assert_eq!(missing_password.error()["extensions"]["field"], "password");
    let accepted = app
        .graphql(
            ACCEPT,
            json!({ "token": token, "name": "Juma", "password": "juma's long secret" }),
        )
        .await;
    let accepted = &accepted.data()["acceptInvitation"];
    assert_eq!(accepted["activeTenant"]["id"], owner.tenant_id.as_str());
    assert_eq!(accepted["user"]["emailVerified"], true);

    // The role applies inside the invited store only.
    let access = accepted["accessToken"].as_str().unwrap();
    let me = app.graphql_as(access, &[], ME, json!({})).await;
    let roles = &me.data()["me"]["memberships"][0]["roles"];
    assert_eq!(roles[0]["role"]["name"], "EMPLOYEE");
    assert_eq!(roles[0]["store"]["id"], store.as_str());
    assert_eq!(me.data()["me"]["permissions"], json!([]));
    let in_store = app
        .graphql_as(access, &[("X-Store-ID", &store)], ME, json!({}))
        .await;
    // EMPLOYEE grants inventory.read too, effective because the default plan (starter)
    // includes the inventory module.
    assert_eq!(
        in_store.data()["me"]["permissions"],
        json!(["inventory.read", "store.read"])
    );

    // The invitation works once.
    let again = app
        .graphql(
            ACCEPT,
            json!({ "token": token, "name": "Juma", "password": "juma's long secret" }),
        )
        .await;
    assert_eq!(again.error_code(), "BAD_USER_INPUT");
    let list = owner.gql(&app, LIST, json!({})).await;
    assert_eq!(list.data()["invitations"][0]["status"], "ACCEPTED");
}

#[tokio::test]
async fn an_existing_user_joins_a_second_tenant_and_can_switch_between_them() {
    let app = TestApp::spawn().await;
    let (a, b) = app.two_tenants().await;
    let admin = a.role(&app, "ADMIN").await;
    a.gql(
        &app,
        INVITE,
        json!({ "input": { "email": b.email, "roleIds": [admin] } }),
    )
    .await
    .data();
    let token = app
        .smtp
        .wait_for(&b.email, "invited to join Duka A")
        .await
        .token("accept-invitation");
    // The link alone is not a login for B's existing account (issue 7, item 6).
    let stolen = app.graphql(ACCEPT, json!({ "token": token })).await;
    assert_eq!(
        stolen.error_code(),
        "UNAUTHENTICATED",
        "{:?}",
        stolen.body()
    );
    let wrong = app
        .graphql(
            ACCEPT,
            json!({ "token": token, "password": "not the password" }),
        )
        .await;
    assert_eq!(wrong.error_code(), "UNAUTHENTICATED", "{:?}", wrong.body());
    // Logged in as B, the same link adds the membership.
    let joined = b.gql(&app, ACCEPT, json!({ "token": token })).await;
    assert_eq!(
        joined.data()["acceptInvitation"]["activeTenant"]["id"],
        a.tenant_id.as_str()
    );

    // B's password is unchanged, and B now belongs to both tenants.
    let login = app
        .graphql(LOGIN, json!({ "input": { "email": b.email, "password": b.password, "tenantSlug": a.tenant_slug } }))
        .await;
    let access = login.data()["login"]["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        login.data()["login"]["activeTenant"]["slug"],
        a.tenant_slug.as_str()
    );
    let me = app.graphql_as(&access, &[], ME, json!({})).await;
    assert_eq!(me.data()["me"]["memberships"].as_array().unwrap().len(), 2);
    let permissions = me.data()["me"]["permissions"].as_array().unwrap().clone();
    assert!(permissions.contains(&json!("member.invite")));
    assert!(
        !permissions.contains(&json!("tenant.manage")),
        "ADMIN lacks tenant.manage"
    );

    // Switching to B's own tenant: the new tokens act there, as its OWNER.
    let switched = app
        .graphql_as(&access, &[], SWITCH, json!({ "tenantId": b.tenant_id }))
        .await;
    let switched = &switched.data()["switchTenant"];
    assert_eq!(switched["activeTenant"]["id"], b.tenant_id.as_str());
    let in_b = switched["accessToken"].as_str().unwrap();
    let me = app.graphql_as(in_b, &[], ME, json!({})).await;
    assert_eq!(me.data()["me"]["activeTenant"]["id"], b.tenant_id.as_str());
    assert!(
        me.data()["me"]["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!("tenant.manage")),
        "B owns its own tenant"
    );
    // And back to A, as its ADMIN.
    let back = app
        .graphql_as(in_b, &[], SWITCH, json!({ "tenantId": a.tenant_id }))
        .await;
    assert_eq!(
        back.data()["switchTenant"]["activeTenant"]["id"],
        a.tenant_id.as_str()
    );
}

#[tokio::test]
async fn inviting_a_member_is_a_conflict_and_roles_beyond_your_own_are_forbidden() {
    let app = TestApp::spawn().await;
    let owner = app.register("asha@duka.example", "Duka").await;
    let owner_role = owner.role(&app, "OWNER").await;
    let admin_role = owner.role(&app, "ADMIN").await;
    let member = owner
        .gql(
            &app,
            INVITE,
            json!({ "input": { "email": owner.email, "roleIds": [admin_role] } }),
        )
        .await;
    assert_eq!(member.error_code(), "CONFLICT");

    // An ADMIN cannot hand out OWNER, which grants tenant.manage.
    owner
        .gql(
            &app,
            INVITE,
            json!({ "input": { "email": "admin@duka.example", "roleIds": [admin_role] } }),
        )
        .await
        .data();
    let token = app
        .smtp
        .wait_for("admin@duka.example", "invited")
        .await
        .token("accept-invitation");
    let admin = app
        .graphql(
            ACCEPT,
            json!({ "token": token, "name": "Admin", "password": "admin long secret" }),
        )
        .await;
    let admin_access = admin.data()["acceptInvitation"]["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let escalation = app
        .graphql_as(
            &admin_access,
            &[],
            INVITE,
            json!({ "input": { "email": "friend@duka.example", "roleIds": [owner_role] } }),
        )
        .await;
    assert_eq!(escalation.error_code(), "FORBIDDEN");
}

#[tokio::test]
async fn a_revoked_or_expired_invitation_cannot_be_accepted() {
    let clock = std::sync::Arc::new(msingi::clock::ManualClock::new(chrono::Utc::now()));
    let app = TestApp::builder().clock(clock.clone()).spawn().await;
    let owner = app.register("asha@duka.example", "Duka").await;
    let employee = owner.role(&app, "EMPLOYEE").await;

    let revoked = owner
        .gql(
            &app,
            INVITE,
            json!({ "input": { "email": "r@duka.example", "roleIds": [employee] } }),
        )
        .await;
    let id = revoked.data()["inviteMember"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let token = app
        .smtp
        .wait_for("r@duka.example", "invited")
        .await
        .token("accept-invitation");
    let withdrawn = owner.gql(&app, REVOKE, json!({ "id": id })).await;
    assert_eq!(withdrawn.data()["revokeInvitation"]["status"], "REVOKED");
    let refused = app
        .graphql(
            ACCEPT,
            json!({ "token": token, "name": "R", "password": "long secret r" }),
        )
        .await;
    assert_eq!(refused.error_code(), "BAD_USER_INPUT");

    owner
        .gql(
            &app,
            INVITE,
            json!({ "input": { "email": "e@duka.example", "roleIds": [employee] } }),
        )
        .await
        .data();
    let token = app
        .smtp
        .wait_for("e@duka.example", "invited")
        .await
        .token("accept-invitation");
    clock.advance(chrono::Duration::days(8));
    let expired = app
        .graphql(
            ACCEPT,
            json!({ "token": token, "name": "E", "password": "long secret e" }),
        )
        .await;
    assert_eq!(expired.error_code(), "BAD_USER_INPUT");
    assert!(
        expired.error()["message"]
            .as_str()
            .unwrap()
            .contains("expired"),
        "{}",
        expired.body()
    );
    // Eight days on, the owner's access token has long expired: log in again.
    let login = app
        .graphql(
            LOGIN,
            json!({ "input": { "email": owner.email, "password": owner.password } }),
        )
        .await;
    let access = login.data()["login"]["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let list = app.graphql_as(&access, &[], LIST, json!({})).await;
    assert_eq!(list.data()["invitations"][0]["status"], "EXPIRED");
}

#[tokio::test]
async fn invitations_stay_inside_their_tenant() {
    let app = TestApp::spawn().await;
    let (a, b) = app.two_tenants().await;
    let a_employee = a.role(&app, "EMPLOYEE").await;
    let a_store = a.main_store(&app).await;
    let invited = a
        .gql(
            &app,
            INVITE,
            json!({ "input": { "email": "x@duka-a.example", "roleIds": [a_employee] } }),
        )
        .await;
    let a_invitation = invited.data()["inviteMember"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // B sees none of A's invitations, cannot revoke them, cannot use A's roles or stores.
    assert_eq!(
        b.gql(&app, LIST, json!({})).await.data()["invitations"],
        json!([])
    );
    assert_eq!(
        b.gql(&app, REVOKE, json!({ "id": a_invitation }))
            .await
            .error_code(),
        "NOT_FOUND"
    );
    let with_a_role = b
        .gql(
            &app,
            INVITE,
            json!({ "input": { "email": "y@duka-b.example", "roleIds": [a_employee] } }),
        )
        .await;
    assert_eq!(with_a_role.error_code(), "NOT_FOUND");
    let b_employee = b.role(&app, "EMPLOYEE").await;
    let with_a_store = b
        .gql(
            &app,
            INVITE,
            json!({ "input": { "email": "y@duka-b.example", "roleIds": [b_employee], "storeIds": [a_store] } }),
        )
        .await;
    assert_eq!(with_a_store.error_code(), "NOT_FOUND");

    // A's invitation is untouched.
    assert_eq!(
        a.gql(&app, LIST, json!({})).await.data()["invitations"][0]["status"],
        "PENDING"
    );
    // Anonymous callers get nothing.
    assert_eq!(
        app.graphql(LIST, json!({})).await.error_code(),
        "UNAUTHENTICATED"
    );
}
