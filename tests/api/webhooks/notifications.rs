//! In-app notifications: made by what happens in the tenant, each user's own, counted,
//! marked read by their owner only, and pushed live over WebSocket.

use serde_json::{Value, json};

use crate::billing::renewals::issue_now;
use crate::common::TestApp;
use crate::ops::ASSIGN_ROLE;
use crate::personas::Persona;

const NOTIFICATIONS: &str = "query($unread: Boolean) { notifications(unreadOnly: $unread) { \
    totalCount unreadCount edges { node { id kind title body data readAt createdAt } } } }";
const MARK: &str = "mutation($ids: [ID!]!) { markNotificationsRead(ids: $ids) }";

async fn notifications(app: &TestApp, who: &Persona, unread: bool) -> Value {
    who.gql(app, NOTIFICATIONS, json!({ "unread": unread }))
        .await
        .data()["notifications"]
        .clone()
}

fn of_kind<'a>(list: &'a Value, kind: &str) -> Vec<&'a Value> {
    list["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["node"])
        .filter(|n| n["kind"] == kind)
        .collect()
}

#[tokio::test]
async fn what_happens_in_a_tenant_tells_the_right_people_and_only_they_mark_it_read() {
    let app = TestApp::spawn().await;
    let owner = app.register("asha@duka.example", "Duka").await;
    let employee = owner
        .invite_and_join(&app, "juma@duka.example", "EMPLOYEE", None)
        .await;
    // The owner hears that Juma joined; Juma hears nothing of it.
    let list = notifications(&app, &owner, false).await;
    let joined = of_kind(&list, "member.joined");
    assert_eq!(joined.len(), 1, "{list}");
    assert!(
        joined[0]["body"]
            .as_str()
            .unwrap()
            .contains("juma@duka.example")
    );
    assert!(joined[0]["readAt"].is_null());

    // An invoice: the owner is told, with the invoice's id to link to.
    let invoice = issue_now(&app, &owner).await;
    let list = notifications(&app, &owner, false).await;
    let issued = of_kind(&list, "invoice.issued");
    assert_eq!(issued.len(), 1, "{list}");
    assert_eq!(issued[0]["data"]["invoiceId"], invoice.as_str());
    assert_eq!(list["unreadCount"], list["totalCount"]);
    let unread_before = list["unreadCount"].as_i64().unwrap();
    assert!(unread_before >= 2);

    // Juma's role changes: Juma is told, the owner's list does not grow for it.
    let manager = owner.role(&app, "MANAGER").await;
    owner
        .gql(
            &app,
            ASSIGN_ROLE,
            json!({ "userId": employee.user_id, "roleId": manager }),
        )
        .await
        .data();
    let mine = notifications(&app, &employee, false).await;
    assert_eq!(of_kind(&mine, "role.changed").len(), 1, "{mine}");
    assert!(of_kind(&mine, "invoice.issued").is_empty(), "{mine}");
    assert!(of_kind(&notifications(&app, &owner, false).await, "role.changed").is_empty());

    // Juma cannot mark the owner's notifications read.
    let owners_ids: Vec<Value> = list["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["id"].clone())
        .collect();
    let theirs = employee.gql(&app, MARK, json!({ "ids": owners_ids })).await;
    assert_eq!(theirs.data()["markNotificationsRead"], 0);
    assert_eq!(
        notifications(&app, &owner, false).await["unreadCount"],
        unread_before
    );

    // The owner marks one: the count drops by one, unreadOnly leaves it out, and marking
    // it again changes nothing.
    let one = issued[0]["id"].clone();
    let marked = owner.gql(&app, MARK, json!({ "ids": [one.clone()] })).await;
    assert_eq!(marked.data()["markNotificationsRead"], 1);
    let after = notifications(&app, &owner, false).await;
    assert_eq!(after["unreadCount"], unread_before - 1);
    assert!(!of_kind(&after, "invoice.issued")[0]["readAt"].is_null());
    let unread = notifications(&app, &owner, true).await;
    assert_eq!(unread["totalCount"], unread_before - 1);
    assert!(of_kind(&unread, "invoice.issued").is_empty());
    let again = owner.gql(&app, MARK, json!({ "ids": [one] })).await;
    assert_eq!(again.data()["markNotificationsRead"], 0);

    // Bad ids name the argument.
    let bad = owner.gql(&app, MARK, json!({ "ids": ["nope"] })).await;
    assert_eq!(bad.error()["extensions"]["field"], "ids");
    let many: Vec<String> = (0..101).map(|_| uuid::Uuid::now_v7().to_string()).collect();
    let too_many = owner.gql(&app, MARK, json!({ "ids": many })).await;
    assert_eq!(too_many.error()["extensions"]["field"], "ids");

    // An API key is no person: it has no notifications.
    let key = owner
        .gql(
            &app,
            "mutation { createApiKey(input: { name: \"pos\", permissions: [] }) { secret } }",
            json!({}),
        )
        .await
        .data()["createApiKey"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let by_key = app
        .graphql_as(&key, &[], NOTIFICATIONS, json!({ "unread": false }))
        .await;
    assert_eq!(by_key.error_code(), "UNAUTHENTICATED");
}

#[tokio::test]
async fn a_new_notification_arrives_live_over_websocket_once() {
    let app = TestApp::spawn().await;
    let owner = app.register("asha@duka.example", "Duka").await;
    let employee = owner
        .invite_and_join(&app, "juma@duka.example", "EMPLOYEE", None)
        .await;
    let init = |p: &Persona| json!({ "authorization": format!("Bearer {}", p.access) });
    let (mut mine, ack) = app.websocket_init("/graphql/ws", init(&owner)).await;
    assert_eq!(ack["type"], "connection_ack");
    mine.subscribe(
        "1",
        "subscription { notificationReceived { id kind title data } }",
        json!({}),
    )
    .await;
    let (mut theirs, _) = app.websocket_init("/graphql/ws", init(&employee)).await;
    theirs
        .subscribe(
            "2",
            "subscription { notificationReceived { id kind } }",
            json!({}),
        )
        .await;
    // Subscribed before anything happens: what existed (member.joined) is not sent again.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    let invoice = issue_now(&app, &owner).await;
    let first = mine.next_message().await;
    assert_eq!(first["type"], "next", "{first}");
    let n = &first["payload"]["data"]["notificationReceived"];
    assert_eq!(n["kind"], "invoice.issued", "{first}");
    assert_eq!(n["data"]["invoiceId"], invoice.as_str());
    let listed = notifications(&app, &owner, false).await;
    assert_eq!(of_kind(&listed, "invoice.issued")[0]["id"], n["id"]);

    // The employee's subscription hears only the employee's own.
    let manager = owner.role(&app, "MANAGER").await;
    owner
        .gql(
            &app,
            ASSIGN_ROLE,
            json!({ "userId": employee.user_id, "roleId": manager }),
        )
        .await
        .data();
    let told = theirs.next_message().await;
    assert_eq!(
        told["payload"]["data"]["notificationReceived"]["kind"], "role.changed",
        "{told}"
    );
}

const PREFERENCES: &str = "{ notificationPreferences { kind description email } }";
const SET_PREFERENCE: &str = "mutation($kind: String!, $email: Boolean!) { \
    setNotificationPreference(kind: $kind, email: $email) { kind email } }";

#[tokio::test]
async fn a_user_who_turns_a_kind_off_gets_it_in_the_app_but_not_by_email() {
    let app = TestApp::spawn().await;
    let owner = app.register("asha@duka.example", "Duka").await;
    let listed = owner.gql(&app, PREFERENCES, json!({})).await;
    let all = listed.data()["notificationPreferences"]
        .as_array()
        .unwrap()
        .clone();
    assert!(
        all.iter().all(|p| p["email"] == true),
        "email is the default: {all:?}"
    );
    for kind in [
        "invoice.issued",
        "payment.succeeded",
        "subscription.suspended",
    ] {
        assert!(all.iter().any(|p| p["kind"] == kind), "{kind} missing");
    }
    let off = owner
        .gql(
            &app,
            SET_PREFERENCE,
            json!({ "kind": "invoice.issued", "email": false }),
        )
        .await;
    assert_eq!(off.data()["setNotificationPreference"]["email"], false);
    let bad = owner
        .gql(
            &app,
            SET_PREFERENCE,
            json!({ "kind": "role.changed", "email": false }),
        )
        .await;
    assert_eq!(bad.error()["extensions"]["field"], "kind", "{}", bad.body());

    issue_now(&app, &owner).await;
    assert_eq!(
        of_kind(&notifications(&app, &owner, false).await, "invoice.issued").len(),
        1,
        "in-app notifications always arrive"
    );
    // A later mail arrives; the invoice mail, queued before it, never does.
    let role = owner.role(&app, "EMPLOYEE").await;
    owner
        .gql(
            &app,
            crate::personas::INVITE,
            json!({ "input": { "email": "juma@duka.example", "roleIds": [role] } }),
        )
        .await
        .data();
    app.smtp.wait_for("juma@duka.example", "invited").await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let to_owner: Vec<String> = app
        .smtp
        .mails()
        .iter()
        .filter(|m| m.to.iter().any(|t| t == "asha@duka.example"))
        .map(|m| m.subject().to_owned())
        .collect();
    assert!(
        !to_owner.iter().any(|s| s.starts_with("Invoice ")),
        "{to_owner:?}"
    );

    // Back on: the next invoice is mailed, with its number and hosted link.
    owner
        .gql(
            &app,
            SET_PREFERENCE,
            json!({ "kind": "invoice.issued", "email": true }),
        )
        .await
        .data();
    issue_now(&app, &owner).await;
    let mail = app.smtp.wait_for("asha@duka.example", "Invoice ").await;
    assert!(mail.data.contains("/invoices/"), "{}", mail.data);
    let listed = owner.gql(&app, PREFERENCES, json!({})).await;
    assert!(
        listed.data()["notificationPreferences"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["email"] == true)
    );
}

#[tokio::test]
async fn a_notification_made_on_one_node_reaches_a_subscriber_on_another() {
    let mut app = TestApp::spawn().await;
    let owner = app.register("asha@duka.example", "Duka").await;
    let second = app.another_node().await;
    let init = json!({ "authorization": format!("Bearer {}", owner.access) });
    let (mut ws, ack) = app.websocket_init_at(&second, "/graphql/ws", init).await;
    assert_eq!(ack["type"], "connection_ack");
    ws.subscribe(
        "1",
        "subscription { notificationReceived { id kind } }",
        json!({}),
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    // Made on the first node.
    let started = std::time::Instant::now();
    issue_now(&app, &owner).await;
    // Without a shared bus (SQLite), the subscriber's 5 s re-read finds it.
    let message = ws
        .next_message_within(std::time::Duration::from_secs(12))
        .await;
    let took = started.elapsed();
    assert_eq!(
        message["payload"]["data"]["notificationReceived"]["kind"], "invoice.issued",
        "{message}"
    );
    if app.database_url.starts_with("postgres") {
        // PostgreSQL NOTIFY or Redis pub/sub carries it, not the 5 s re-read.
        assert!(took < std::time::Duration::from_secs(3), "took {took:?}");
    }
}
