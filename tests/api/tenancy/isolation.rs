//! The isolation suite: every operation that takes an id, run against tenant A's objects by
//! people who must not reach them. A test that walks `schema.graphql` fails when an
//! operation is in none of the tables below, so a new operation cannot skip this file.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::common::{GqlResponse, TestApp};
use crate::ops::*;
use crate::personas::{INVITE, Persona, ROLES, STORES};

const REVOKE_API_KEY: &str = include_str!("../graphql/identity/revoke_api_key.graphql");
const REVOKE_INVITATION: &str = include_str!("../graphql/identity/revoke_invitation.graphql");
const SWITCH: &str = include_str!("../graphql/identity/switch_tenant.graphql");
const INVITATIONS: &str = include_str!("../graphql/identity/invitations.graphql");
const API_KEYS: &str = include_str!("../graphql/identity/api_keys.graphql");
const CREATE_API_KEY: &str = include_str!("../graphql/identity/create_api_key.graphql");
const SUSPEND: &str = include_str!("../graphql/tenancy/suspend_tenant.graphql");
const REACTIVATE: &str = include_str!("../graphql/tenancy/reactivate_tenant.graphql");
const SET_MODULE: &str = include_str!("../graphql/tenancy/set_tenant_module.graphql");
const PLATFORM_TENANTS: &str = include_str!("../graphql/tenancy/platform_tenants.graphql");

/// Operations on the caller's own tenant that take no id: checked below to show nothing of
/// another tenant.
const OWN_TENANT_OPERATIONS: &[&str] = &[
    "exportTenant",
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
    "paymentReviews",
    "subscription",
    "invoices",
    "changePlan",
    "cancelSubscription",
    "payments",
    "usage",
    "usageSummary",
    "notifications",
    "notificationReceived",
    "notificationPreferences",
    "setNotificationPreference",
    "webhookEndpoints",
    "createWebhookEndpoint",
    "products",
    "createProduct",
];

/// Operations with no tenant data: public, or about the caller's own session. None may
/// take an id (checked against the schema).
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
    // Billing's public catalogue and clock, and the platform's plan catalogue.
    "plans",
    "clock",
    "createPlan",
    "advanceClock",
    // The metric catalogue (public) and its platform management.
    "metrics",
    "createMetric",
];

/// Lookups that may answer `null` (rather than NOT_FOUND) for an object of another tenant.
const NULLABLE_LOOKUPS: &[&str] = &["store", "invoice", "payment", "product", "tenantExport"];

/// One field of an SDL type: its name and its arguments' (name, type); an input field is
/// kept as one pseudo-argument carrying its type.
#[derive(Debug, Clone)]
struct SdlField {
    name: String,
    args: Vec<(String, String)>,
}

/// What the walker reads from `schema.graphql`: the root type names from the `schema`
/// block, and every object and input type's fields.
#[derive(Debug, Default)]
struct Sdl {
    roots: Vec<String>,
    objects: std::collections::BTreeMap<String, Vec<SdlField>>,
    inputs: std::collections::BTreeMap<String, Vec<SdlField>>,
}

impl Sdl {
    fn read() -> Self {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql"))
            .unwrap();
        Self::parse(&text)
    }

    fn parse(text: &str) -> Self {
        let mut sdl = Self::default();
        let mut lines = text.lines();
        while let Some(line) = lines.next() {
            let words: Vec<&str> = line.split_whitespace().collect();
            let (kind, name) = match words[..] {
                ["schema", "{"] => ("schema", String::new()),
                ["type", name, "{"] | ["type", name, "implements", ..] => ("type", name.to_owned()),
                ["input", name, "{"] => ("input", name.to_owned()),
                _ => continue,
            };
            let mut fields = Vec::new();
            let mut in_description = false;
            for line in lines.by_ref() {
                let line = line.trim();
                if line == "}" && !in_description {
                    break;
                }
                if line.starts_with("\"\"\"") {
                    // `"""` opens or closes a block; `"""text"""` is a whole one.
                    let whole = line.len() > 6 && line.ends_with("\"\"\"");
                    if !whole {
                        in_description = !in_description;
                    }
                    continue;
                }
                if in_description || line.is_empty() || line.starts_with('"') {
                    continue;
                }
                if kind == "schema" {
                    if let Some((_, root)) = line.split_once(':') {
                        sdl.roots.push(root.trim().to_owned());
                    }
                    continue;
                }
                fields.push(parse_field(line, kind == "input"));
            }
            match kind {
                "type" => {
                    sdl.objects.insert(name, fields);
                }
                "input" => {
                    sdl.inputs.insert(name, fields);
                }
                _ => {}
            }
        }
        if sdl.roots.is_empty() {
            sdl.roots = ["Query", "Mutation", "Subscription"]
                .map(String::from)
                .to_vec();
        }
        sdl
    }

    /// Whether a type (`ID!`, `[ID!]`, an input holding ids, at any depth) carries an id.
    fn carries_id(&self, ty: &str, seen: &mut Vec<String>) -> bool {
        let base = ty.trim_matches(|c: char| c == '[' || c == ']' || c == '!' || c == ' ');
        if base == "ID" {
            return true;
        }
        if seen.iter().any(|s| s == base) {
            return false;
        }
        seen.push(base.to_owned());
        self.inputs.get(base).is_some_and(|fields| {
            fields
                .iter()
                .any(|f| f.args.iter().any(|(_, t)| self.carries_id(t, seen)))
        })
    }

    /// Every field, at the root (`name`) or nested (`Type.name`), with an argument that
    /// carries an id.
    fn id_taking_fields(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for (ty, fields) in &self.objects {
            for field in fields {
                if field
                    .args
                    .iter()
                    .any(|(_, t)| self.carries_id(t, &mut Vec::new()))
                {
                    out.insert(if self.roots.contains(ty) {
                        field.name.clone()
                    } else {
                        format!("{ty}.{}", field.name)
                    });
                }
            }
        }
        out
    }
}

/// `name(a: T, b: U): R`, or an input's `name: T`.
fn parse_field(line: &str, input: bool) -> SdlField {
    let name_end = line.find(['(', ':']).unwrap_or(line.len());
    let name = line[..name_end].trim().to_owned();
    let args = if line[name_end..].starts_with('(') {
        let close = line.rfind(')').unwrap_or(line.len());
        line[name_end + 1..close]
            .split(',')
            .filter_map(|arg| {
                let (n, t) = arg.split_once(':')?;
                let t = t.split('=').next().unwrap_or_default();
                Some((n.trim().to_owned(), t.trim().to_owned()))
            })
            .collect()
    } else if !input {
        Vec::new()
    } else {
        let ty = line[name_end..]
            .trim_start_matches(':')
            .split('=')
            .next()
            .unwrap_or_default();
        vec![(name.clone(), ty.trim().to_owned())]
    };
    SdlField { name, args }
}

#[test]
fn the_walker_reads_roots_underscores_and_nested_ids() {
    let sdl = Sdl::parse(
        "type Q {\n\t\"\"\"\n\tDocs.\n\t\"\"\"\n\tsnake_case(id: ID!): Int\n\tplain: Int\n}\n\
         type Live {\n\tticks(input: In!): Int\n}\n\
         type Thing {\n\tchild(childId: ID): Int\n}\n\
         input In {\n\tdeep: [ID!]\n}\n\
         schema {\n\tquery: Q\n\tsubscription: Live\n}\n",
    );
    assert_eq!(sdl.roots, ["Q", "Live"]);
    let fields: Vec<_> = sdl.objects["Q"].iter().map(|f| f.name.clone()).collect();
    assert_eq!(fields, ["snake_case", "plain"]);
    assert_eq!(
        sdl.id_taking_fields().into_iter().collect::<Vec<_>>(),
        ["Thing.child", "snake_case", "ticks"]
    );
}

#[test]
fn every_operation_in_the_schema_has_an_isolation_row() {
    let sdl = Sdl::read();
    let id_taking = sdl.id_taking_fields();
    let cases: BTreeSet<String> = id_cases(&Victim::placeholder())
        .into_iter()
        .map(|(op, _, _)| op.to_owned())
        .collect();
    // Every field that takes an id, at the root or nested, is attacked by a case, and every
    // case attacks such a field.
    assert_eq!(
        id_taking, cases,
        "id-taking fields (left) and the attack cases of id_cases (right) differ"
    );
    let covered: BTreeSet<String> = cases
        .iter()
        .cloned()
        .chain(OWN_TENANT_OPERATIONS.iter().map(|s| (*s).to_owned()))
        .chain(NO_TENANT_DATA.iter().map(|s| (*s).to_owned()))
        .collect();
    let mut missing = Vec::new();
    let mut total = 0;
    for root in &sdl.roots {
        for field in sdl.objects.get(root).into_iter().flatten() {
            total += 1;
            if !covered.contains(&field.name) {
                missing.push(format!("{root}.{}", field.name));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "operations without an isolation row: {missing:?}"
    );
    assert!(
        total >= 39,
        "the schema walker found too few operations ({total})"
    );
    assert!(
        sdl.objects
            .get("Subscription")
            .is_some_and(|f| !f.is_empty()),
        "the walker found no subscription root"
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
    invoice: String,
    payment: String,
    notification: String,
    webhook_endpoint: String,
    webhook_delivery: String,
    product: String,
    export: String,
}

impl Victim {
    /// Ids that are only placeholders: enough to list the attack cases.
    fn placeholder() -> Self {
        let persona = Persona {
            email: String::new(),
            password: String::new(),
            user_id: "u".into(),
            tenant_id: "t".into(),
            tenant_slug: "s".into(),
            access: String::new(),
            refresh: String::new(),
        };
        Self {
            owner: persona.clone(),
            store: "s".into(),
            role: "r".into(),
            member: persona,
            invitation: "i".into(),
            api_key: "k".into(),
            invoice: "v".into(),
            payment: "p".into(),
            notification: "n".into(),
            webhook_endpoint: "w".into(),
            webhook_delivery: "d".into(),
            product: "q".into(),
            export: "e".into(),
        }
    }
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
    // An endpoint nothing listens at (the apps here allow private URLs): its deliveries
    // stay in retry.
    let webhook_endpoint = owner
        .gql(
            app,
            "mutation { createWebhookEndpoint(input: { url: \"http://127.0.0.1:9/hook\", \
             events: [\"invoice.created\"] }) { endpoint { id } } }",
            json!({}),
        )
        .await
        .data()["createWebhookEndpoint"]["endpoint"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let invoice = crate::billing::renewals::issue_now(app, &owner).await;
    let webhook_delivery = owner
        .gql(
            app,
            "query($id: ID!) { webhookDeliveries(endpointId: $id) { edges { node { id } } } }",
            json!({ "id": webhook_endpoint }),
        )
        .await
        .data()["webhookDeliveries"]["edges"][0]["node"]["id"]
        .as_str()
        .expect("the invoice made a delivery")
        .to_owned();
    let notification = owner
        .gql(
            app,
            "{ notifications { edges { node { id } } } }",
            json!({}),
        )
        .await
        .data()["notifications"]["edges"][0]["node"]["id"]
        .as_str()
        .expect("the invoice told the owner")
        .to_owned();
    // A push whose callback never comes (the simulator's 9999): it stays PENDING.
    let payment = owner
        .gql(
            app,
            crate::payments::mpesa::PAY,
            json!({ "invoice": invoice, "phone": "0708379999" }),
        )
        .await
        .data()["payInvoice"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let product = crate::inventory::product(app, &owner, "UNGA", "210").await;
    crate::inventory::adjust(app, &owner, &product, &store, 5).await;
    let export = owner
        .gql(app, "mutation { exportTenant { id status } }", json!({}))
        .await
        .data()["exportTenant"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    Victim {
        export,
        product,
        owner,
        store,
        role,
        member,
        invitation,
        api_key,
        invoice,
        payment,
        notification,
        webhook_endpoint,
        webhook_delivery,
    }
}

fn id_cases(v: &Victim) -> Vec<(&'static str, &'static str, Value)> {
    vec![
        ("store", STORE, json!({ "id": v.store })),
        (
            "product",
            crate::inventory::PRODUCT,
            json!({ "id": v.product, "store": v.store }),
        ),
        (
            "Product.stock",
            "query($id: ID!) { products { edges { node { id stock(storeId: $id) } } } }",
            json!({ "id": v.store }),
        ),
        (
            "adjustStock",
            crate::inventory::ADJUST,
            json!({ "p": v.product, "s": v.store, "q": -5, "r": "theft" }),
        ),
        (
            "invoice",
            "query($id: ID!) { invoice(id: $id) { id number total { amount } } }",
            json!({ "id": v.invoice }),
        ),
        (
            "payment",
            "query($id: ID!) { payment(id: $id) { id status amount { amount } } }",
            json!({ "id": v.payment }),
        ),
        (
            "payInvoice",
            "mutation($id: ID!) { payInvoice(invoiceId: $id, phoneNumber: \"0708374149\") { id } }",
            json!({ "id": v.invoice }),
        ),
        (
            "paymentUpdated",
            "subscription($id: ID!) { paymentUpdated(paymentId: $id) { id status } }",
            json!({ "id": v.payment }),
        ),
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
        (
            "recordUsage",
            "mutation($id: ID!) { recordUsage(events: [{ id: \"evil-1\", metric: \"api_calls\", \
             quantity: 1, storeId: $id }]) { accepted } }",
            json!({ "id": v.store }),
        ),
        (
            "setTenantTaxRate",
            "mutation($id: ID!) { setTenantTaxRate(tenantId: $id, taxRate: \"0\") { id } }",
            json!({ "id": v.owner.tenant_id }),
        ),
        (
            "moveTenant",
            "mutation($id: ID!) { moveTenant(tenantId: $id, to: SCHEMA) { id status } }",
            json!({ "id": v.owner.tenant_id }),
        ),
        (
            "tenantMove",
            "query($id: ID!) { tenantMove(id: $id) { id status tenant { id } } }",
            json!({ "id": v.owner.tenant_id }),
        ),
        (
            "tenantExport",
            "query($id: ID!) { tenantExport(id: $id) { id status url } }",
            json!({ "id": v.export }),
        ),
        (
            "eraseUser",
            "mutation($id: ID!) { eraseUser(userId: $id) }",
            json!({ "id": v.member.user_id }),
        ),
        (
            "closeTenant",
            "mutation($id: ID) { closeTenant(tenantId: $id) { id status } }",
            json!({ "id": v.owner.tenant_id }),
        ),
        (
            "markNotificationsRead",
            "mutation($id: ID!) { markNotificationsRead(ids: [$id]) }",
            json!({ "id": v.notification }),
        ),
        (
            "webhookDeliveries",
            "query($id: ID!) { webhookDeliveries(endpointId: $id) { totalCount edges { node { id eventId } } } }",
            json!({ "id": v.webhook_endpoint }),
        ),
        (
            "deleteWebhookEndpoint",
            "mutation($id: ID!) { deleteWebhookEndpoint(id: $id) }",
            json!({ "id": v.webhook_endpoint }),
        ),
        (
            "redeliverWebhook",
            "mutation($id: ID!) { redeliverWebhook(deliveryId: $id) { id eventId } }",
            json!({ "id": v.webhook_delivery }),
        ),
    ]
}

/// A's subscription and invoices.
const BILLING: &str = "{ subscription { id status cancelAtPeriodEnd plan { code } } \
    invoices { totalCount edges { node { id status amountPaid { amount } } } } \
    payments { totalCount edges { node { id status } } } tenant { credit { amount } } }";

/// A's owner's notifications, read or not.
const NOTIFICATIONS: &str =
    "{ notifications { unreadCount totalCount edges { node { id kind readAt } } } }";

/// A's webhook endpoints.
const WEBHOOKS: &str = "{ webhookEndpoints { id url events enabled } }";

/// A's products and their stock.
const INVENTORY: &str = "{ products { totalCount edges { node { id sku name stock } } } }";

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
        ("billing", BILLING),
        ("notifications", NOTIFICATIONS),
        ("webhooks", WEBHOOKS),
        ("inventory", INVENTORY),
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

/// A refusal is a GraphQL answer (HTTP 200, a JSON object) whose error carries one of the
/// allowed codes; a nullable lookup may instead answer `data.<op> = null`. Anything else (a
/// 408, a 413, a body that is not JSON, data for the attacker) is not a refusal.
fn refused(response: &GqlResponse, op: &str, allowed: &[&str]) -> bool {
    if response.status != 200 || !response.body().is_object() {
        return false;
    }
    match response.body()["errors"][0]["extensions"]["code"].as_str() {
        Some(code) => allowed.contains(&code) && response.body()["data"][op].is_null(),
        None => {
            NULLABLE_LOOKUPS.contains(&op)
                && response.body()["data"].is_object()
                && response.body()["data"][op].is_null()
        }
    }
}

/// A subscription that takes an id, run over `graphql-transport-ws` with `token` (and the
/// headers as `connection_init` fields): refused when the connection is, or when its first
/// message is an error with one of the allowed codes and no data.
async fn live_refused(
    app: &TestApp,
    token: &str,
    headers: &[(&str, &str)],
    query: &str,
    vars: Value,
    allowed: &[&str],
) -> bool {
    let mut init = json!({ "authorization": format!("Bearer {token}") });
    for (name, value) in headers {
        init[*name] = json!(value);
    }
    let (mut ws, ack) = app.websocket_init("/graphql/ws", init).await;
    if ack["type"] != "connection_ack" {
        return true;
    }
    ws.subscribe("1", query, vars).await;
    let first = ws.next_message().await;
    let errors = match first["type"].as_str() {
        Some("error") => first["payload"].clone(),
        Some("next") => first["payload"]["errors"].clone(),
        _ => return false,
    };
    let code = errors[0]["extensions"]["code"].as_str().unwrap_or_default();
    allowed.contains(&code)
        && first["payload"]["data"]
            .as_object()
            .is_none_or(|d| d.values().all(Value::is_null))
}

#[tokio::test]
async fn nobody_outside_reaches_a_tenants_objects_and_its_rows_stay_unchanged() {
    let app = TestApp::builder()
        .env("MSINGI_BASE_DOMAIN", "msingi.test")
        .spawn()
        .await;
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
    // The attacking key authenticates, and holds every permission, in its own tenant.
    let own = app.graphql_as(&other_key, &[], STORES, json!({})).await;
    assert_eq!(
        own.data()["stores"]["totalCount"],
        1,
        "the attacking key must work"
    );
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
    let victim_host = format!("{}.msingi.test", v.owner.tenant_slug);
    let attackers: Vec<Attacker> = vec![
        (
            "another tenant's owner naming A in X-Tenant-ID",
            other_owner.access.clone(),
            vec![("X-Tenant-ID", v.owner.tenant_id.clone())],
            &["NOT_FOUND", "FORBIDDEN"],
        ),
        (
            "another tenant's owner on A's subdomain",
            other_owner.access.clone(),
            vec![("Host", victim_host.clone())],
            &["NOT_FOUND", "FORBIDDEN"],
        ),
        (
            "another tenant's API key naming A in X-Tenant-ID",
            other_key.clone(),
            vec![("X-Tenant-ID", v.owner.tenant_id.clone())],
            &["NOT_FOUND", "FORBIDDEN"],
        ),
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
            &["NOT_FOUND", "FORBIDDEN"],
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
            if query.starts_with("subscription") {
                assert!(
                    live_refused(&app, token, &headers, query, vars, allowed).await,
                    "{who} / {op} over WebSocket"
                );
                continue;
            }
            let response = app.graphql_as(token, &headers, query, vars).await;
            // Switching tenant and platform work are for users: a key is refused as
            // unauthenticated there.
            let user_only = ["UNAUTHENTICATED"];
            let for_users = [
                "switchTenant",
                "suspendTenant",
                "reactivateTenant",
                "setTenantModule",
                "setTenantTaxRate",
                "moveTenant",
                "tenantMove",
                "eraseUser",
                "closeTenant",
                // Notifications are a user's: a key has none.
                "markNotificationsRead",
            ];
            let allowed: Vec<&str> = if for_users.contains(&op) && who.contains("API key") {
                allowed.iter().copied().chain(user_only).collect()
            } else if op == "recordUsage" {
                // Another tenant's store is no store of the caller's: the event is refused
                // naming `events[0].storeId`.
                allowed.iter().copied().chain(["BAD_USER_INPUT"]).collect()
            } else {
                allowed.to_vec()
            };
            if op == "Product.stock" && response.body()["errors"].is_null() {
                // Stock is counted in the caller's own tenant: another's store holds none.
                for edge in response.data()["products"]["edges"].as_array().unwrap() {
                    assert_eq!(
                        edge["node"]["stock"],
                        0,
                        "{who} / {op}: {}",
                        response.body()
                    );
                }
                continue;
            }
            if op == "product" && who.contains("scoped") {
                // The catalogue is the tenant's; the stock of a store outside the request's
                // is refused.
                assert_eq!(response.error_code(), "FORBIDDEN", "{who} / {op}");
                assert!(
                    response.body()["data"]["product"]["here"].is_null(),
                    "{who} / {op}"
                );
                continue;
            }
            if op == "markNotificationsRead" && response.body()["errors"].is_null() {
                // Marking is of one's own notifications only: another's id changes nothing.
                assert_eq!(response.data()[op], 0, "{who} / {op}: {}", response.body());
                continue;
            }
            assert!(
                refused(&response, op, &allowed),
                "{who} / {op}: {}",
                response.body()
            );
        }
    }
    // B's owner changes and cancels B's plan: the operations act on the caller's tenant only.
    for (query, vars) in [
        (
            "mutation { changePlan(planCode: \"pro\") { id } }",
            json!({}),
        ),
        (
            "mutation { cancelSubscription(atPeriodEnd: false) { id } }",
            json!({}),
        ),
    ] {
        let own = other_owner.gql(&app, query, vars).await;
        assert!(own.body()["errors"].is_null(), "{}", own.body());
        let body = own.body().to_string();
        assert!(!body.contains(&v.owner.tenant_id), "{body}");
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
        &v.invoice,
        &v.payment,
        &v.notification,
        &v.webhook_endpoint,
        &v.webhook_delivery,
        &v.product,
    ];
    for query in [
        TENANT,
        STORES,
        ROLES,
        MEMBERS,
        INVITATIONS,
        API_KEYS,
        AUDIT_LOG,
        BILLING,
        NOTIFICATIONS,
        WEBHOOKS,
        INVENTORY,
    ] {
        let body = other_owner
            .gql(&app, query, json!({}))
            .await
            .body()
            .to_string();
        for id in a_ids {
            assert!(!body.contains(id.as_str()), "B's view leaks {id}: {body}");
        }
    }
    let platform = other_owner.gql(&app, PLATFORM_TENANTS, json!({})).await;
    assert_eq!(platform.error_code(), "FORBIDDEN");
    // The reconciliation report spans every tenant: platform admins only.
    let reviews = other_owner
        .gql(&app, "{ paymentReviews { id tenantId } }", json!({}))
        .await;
    assert_eq!(reviews.error_code(), "FORBIDDEN", "{}", reviews.body());
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
                "invoice",
                "payment",
                "paymentUpdated",
                "product",
                "Product.stock",
                // Paying is what a suspended tenant may always do.
                "payInvoice",
                "switchTenant",
                "suspendTenant",
                "reactivateTenant",
                "setTenantModule",
                "setTenantTaxRate",
                "moveTenant",
                "tenantMove",
                // Reading an export; platform work on users and tenants.
                "tenantExport",
                "eraseUser",
                "closeTenant",
                // The victim's plan has no metering: refused for that, whatever its status.
                "recordUsage",
                // Reading one's notifications is personal, not a write of the tenant's.
                "markNotificationsRead",
                "webhookDeliveries",
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
            response.body()
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
        (
            crate::inventory::CREATE_PRODUCT,
            json!({ "input": { "sku": "NEW", "name": "New", "price": "1" } }),
        ),
    ] {
        assert_eq!(
            v.owner.gql(&app, query, vars).await.error()["extensions"]["reason"],
            "TENANT_SUSPENDED"
        );
    }
    assert_eq!(snapshot(&app, &v.owner).await, before);
}
