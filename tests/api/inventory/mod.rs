//! The inventory module (the data plane's example): products, stock per store, movements,
//! store scoping, never below zero. [`exercise`] is the suite the isolation tiers rerun for
//! a tenant in each tier.

use serde_json::{Value, json};

use crate::common::TestApp;
use crate::ops::CREATE_STORE;
use crate::personas::Persona;

pub const CREATE_PRODUCT: &str = "mutation($input: CreateProductInput!) { createProduct(input: $input) { id sku name price { amount currency } stock } }";
pub const ADJUST: &str = "mutation($p: ID!, $s: ID!, $q: Int!, $r: String!) { adjustStock(productId: $p, storeId: $s, quantity: $q, reason: $r) { id quantity reason product { id stock } store { id } } }";
pub const PRODUCTS: &str = "query($search: String, $first: Int, $after: String) { products(search: $search, first: $first, after: $after) { totalCount pageInfo { hasNextPage endCursor } edges { node { id sku name stock } } } }";
pub const PRODUCT: &str = "query($id: ID!, $store: ID) { product(id: $id) { id sku stock here: stock(storeId: $store) } }";

/// Creates a product as `who`; its id.
pub async fn product(app: &TestApp, who: &Persona, sku: &str, price: &str) -> String {
    who.gql(
        app,
        CREATE_PRODUCT,
        json!({ "input": { "sku": sku, "name": format!("Product {sku}"), "price": price } }),
    )
    .await
    .data()["createProduct"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// `adjustStock` as `who`; the answer's body.
pub async fn adjust(
    app: &TestApp,
    who: &Persona,
    product: &str,
    store: &str,
    quantity: i64,
) -> Value {
    who.gql(
        app,
        ADJUST,
        json!({ "p": product, "s": store, "q": quantity, "r": "count" }),
    )
    .await
    .body()
    .clone()
}

async fn stock(app: &TestApp, who: &Persona, product: &str, store: &str) -> (i64, i64) {
    let got = who
        .gql(app, PRODUCT, json!({ "id": product, "store": store }))
        .await;
    let p = &got.data()["product"];
    (p["stock"].as_i64().unwrap(), p["here"].as_i64().unwrap())
}

/// The inventory suite for `owner`'s tenant, wherever its data plane lives: products,
/// duplicate SKUs, stock in two stores, a refusal below zero that changes nothing,
/// search and paging. Returns the product ids it made (sku → id).
pub async fn exercise(app: &TestApp, owner: &Persona, tag: &str) -> Vec<(String, String)> {
    let main = owner.main_store(app).await;
    // A second store: the one an earlier run made, or a new one (plans limit stores).
    let stores = owner.gql(app, crate::personas::STORES, json!({})).await;
    let other = match stores.data()["stores"]["edges"][1]["node"]["id"].as_str() {
        Some(id) => id.to_owned(),
        None => owner
            .gql(
                app,
                CREATE_STORE,
                json!({ "input": { "name": format!("Annex {tag}") } }),
            )
            .await
            .data()["createStore"]["id"]
            .as_str()
            .unwrap()
            .to_owned(),
    };
    let created = owner
        .gql(
            app,
            CREATE_PRODUCT,
            json!({ "input": { "sku": format!("UNGA-{tag}"), "name": "Unga 2kg", "price": "210.50" } }),
        )
        .await;
    let unga = &created.data()["createProduct"];
    assert_eq!(
        unga["price"],
        json!({ "amount": "210.50", "currency": "KES" })
    );
    assert_eq!(unga["stock"], 0);
    let unga = unga["id"].as_str().unwrap().to_owned();
    let again = owner
        .gql(
            app,
            CREATE_PRODUCT,
            json!({ "input": { "sku": format!("UNGA-{tag}"), "name": "Twice", "price": "1" } }),
        )
        .await;
    assert_eq!(again.error_code(), "CONFLICT");
    let bad = owner
        .gql(
            app,
            CREATE_PRODUCT,
            json!({ "input": { "sku": "OK", "name": "x", "price": "-3" } }),
        )
        .await;
    assert_eq!(bad.error_code(), "BAD_USER_INPUT");
    assert_eq!(bad.error()["extensions"]["field"], "input.price");
    let sukari = product(app, owner, &format!("SUKARI-{tag}"), "180").await;

    let moved = adjust(app, owner, &unga, &main, 10).await;
    assert_eq!(
        moved["data"]["adjustStock"]["product"]["stock"], 10,
        "{moved}"
    );
    assert_eq!(moved["data"]["adjustStock"]["store"]["id"], json!(main));
    adjust(app, owner, &unga, &other, 5).await;
    let sold = adjust(app, owner, &unga, &main, -3).await;
    assert_eq!(sold["data"]["adjustStock"]["quantity"], -3);
    assert_eq!(stock(app, owner, &unga, &main).await, (12, 7));
    assert_eq!(stock(app, owner, &unga, &other).await, (12, 5));

    let oversell = adjust(app, owner, &unga, &main, -8).await;
    assert_eq!(
        oversell["errors"][0]["extensions"]["code"],
        "BAD_USER_INPUT"
    );
    assert_eq!(oversell["errors"][0]["extensions"]["field"], "quantity");
    assert!(
        oversell["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("7 on hand"),
        "{oversell}"
    );
    assert_eq!(
        stock(app, owner, &unga, &main).await,
        (12, 7),
        "nothing moved"
    );
    let nothing_yet = adjust(app, owner, &sukari, &main, -1).await;
    assert_eq!(nothing_yet["errors"][0]["extensions"]["field"], "quantity");
    let zero = adjust(app, owner, &sukari, &main, 0).await;
    assert_eq!(zero["errors"][0]["extensions"]["field"], "quantity");
    let nowhere = adjust(app, owner, &sukari, &uuid::Uuid::now_v7().to_string(), 1).await;
    assert_eq!(nowhere["errors"][0]["extensions"]["code"], "NOT_FOUND");
    let no_product = adjust(app, owner, &uuid::Uuid::now_v7().to_string(), &main, 1).await;
    assert_eq!(no_product["errors"][0]["extensions"]["code"], "NOT_FOUND");

    let found = owner
        .gql(
            app,
            PRODUCTS,
            json!({ "search": format!("unga-{}", tag.to_lowercase()) }),
        )
        .await;
    let found = &found.data()["products"];
    assert_eq!(found["totalCount"], 1);
    assert_eq!(found["edges"][0]["node"]["id"], json!(unga));
    assert_eq!(found["edges"][0]["node"]["stock"], 12);
    // Without stock selected the page is the same (stock is read only when asked for).
    let bare = owner
        .gql(
            app,
            "query($s: String) { products(search: $s) { edges { node { id sku } } } }",
            json!({ "s": format!("unga-{}", tag.to_lowercase()) }),
        )
        .await;
    assert_eq!(
        bare.data()["products"]["edges"][0]["node"]["id"],
        json!(unga)
    );
    let wild = owner.gql(app, PRODUCTS, json!({ "search": "%" })).await;
    assert_eq!(
        wild.data()["products"]["totalCount"],
        0,
        "% is matched literally"
    );
    let first = owner.gql(app, PRODUCTS, json!({ "first": 1 })).await;
    let first = &first.data()["products"];
    assert_eq!(first["pageInfo"]["hasNextPage"], true);
    let rest = owner
        .gql(
            app,
            PRODUCTS,
            json!({ "first": 10, "after": first["pageInfo"]["endCursor"] }),
        )
        .await;
    let rest = rest.data()["products"]["edges"].as_array().unwrap().len();
    assert!(rest >= 1);
    assert!(
        app.audit_actions(&owner.tenant_id)
            .await
            .contains(&"stock.adjust".to_owned())
    );
    vec![
        (format!("UNGA-{tag}"), unga),
        (format!("SUKARI-{tag}"), sukari),
    ]
}

#[tokio::test]
async fn products_and_stock_per_store_work_end_to_end() {
    let app = TestApp::spawn().await;
    let owner = app.register("asha@duka.example", "Duka").await;
    exercise(&app, &owner, "A").await;
}

#[tokio::test]
async fn store_scoped_members_see_and_move_their_store_only() {
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
    let unga = product(&app, &owner, "UNGA", "210").await;
    adjust(&app, &owner, &unga, &main, 4).await;
    adjust(&app, &owner, &unga, &other, 6).await;

    let manager = owner
        .invite_and_join(&app, "juma@duka.example", "MANAGER", Some(&main))
        .await;
    let in_main = [("X-Store-ID", main.as_str())];
    let seen = app
        .graphql_as(&manager.access, &in_main, PRODUCTS, json!({}))
        .await;
    assert_eq!(
        seen.data()["products"]["edges"][0]["node"]["stock"],
        4,
        "only the main store's stock"
    );
    let peek = app
        .graphql_as(
            &manager.access,
            &in_main,
            PRODUCT,
            json!({ "id": unga, "store": other }),
        )
        .await;
    assert_eq!(peek.error_code(), "FORBIDDEN");
    let sell = app
        .graphql_as(
            &manager.access,
            &in_main,
            ADJUST,
            json!({ "p": unga, "s": main, "q": -1, "r": "sale" }),
        )
        .await;
    assert_eq!(sell.data()["adjustStock"]["product"]["stock"], 3);
    let elsewhere = app
        .graphql_as(
            &manager.access,
            &in_main,
            ADJUST,
            json!({ "p": unga, "s": other, "q": -1, "r": "sale" }),
        )
        .await;
    assert!(
        ["FORBIDDEN", "NOT_FOUND"].contains(&elsewhere.error_code()),
        "{:?}",
        elsewhere.body()
    );
    // Without X-Store-ID the store-scoped role grants nothing.
    let unscoped = manager.gql(&app, PRODUCTS, json!({})).await;
    assert_eq!(unscoped.error_code(), "FORBIDDEN");

    // An employee (tenant-wide inventory.read) sees every store but moves nothing.
    let employee = owner
        .invite_and_join(&app, "wanjiru@duka.example", "EMPLOYEE", None)
        .await;
    let all = employee
        .gql(&app, PRODUCT, json!({ "id": unga, "store": other }))
        .await;
    assert_eq!(all.data()["product"]["stock"], 9);
    assert_eq!(all.data()["product"]["here"], 6);
    let refused = adjust(&app, &employee, &unga, &main, 1).await;
    assert_eq!(refused["errors"][0]["extensions"]["code"], "FORBIDDEN");
    let create = employee
        .gql(
            &app,
            CREATE_PRODUCT,
            json!({ "input": { "sku": "X", "name": "X", "price": "1" } }),
        )
        .await;
    assert_eq!(create.error_code(), "FORBIDDEN");
    assert_eq!(
        stock(&app, &owner, &unga, &other).await,
        (9, 6),
        "unchanged"
    );
}

#[tokio::test]
async fn concurrent_sales_never_take_stock_below_zero() {
    let app = TestApp::spawn().await;
    let owner = app.register("asha@duka.example", "Duka").await;
    let main = owner.main_store(&app).await;
    let unga = product(&app, &owner, "UNGA", "210").await;
    adjust(&app, &owner, &unga, &main, 10).await;
    let sales = (0..25).map(|_| adjust(&app, &owner, &unga, &main, -1));
    let answers = futures::future::join_all(sales).await;
    let sold = answers
        .iter()
        .filter(|a| a["data"]["adjustStock"].is_object())
        .count();
    let refused = answers
        .iter()
        .filter(|a| a["errors"][0]["extensions"]["field"] == "quantity")
        .count();
    assert_eq!((sold, refused), (10, 15), "{answers:?}");
    assert_eq!(stock(&app, &owner, &unga, &main).await, (0, 0));
}

#[tokio::test]
async fn a_tenant_without_the_inventory_module_cannot_reach_it() {
    let app = TestApp::builder().with_platform_admin().spawn().await;
    let owner = app.register("asha@duka.example", "Duka").await;
    product(&app, &owner, "UNGA", "210").await;
    let admin = app.admin_token().await;
    app.graphql_as(
        &admin,
        &[],
        "mutation($t: ID!) { setTenantModule(tenantId: $t, module: \"inventory\", enabled: false) { id } }",
        json!({ "t": owner.tenant_id }),
    )
    .await
    .data();
    let off = owner.gql(&app, PRODUCTS, json!({})).await;
    assert_eq!(off.error_code(), "FORBIDDEN");
    let create = owner
        .gql(
            &app,
            CREATE_PRODUCT,
            json!({ "input": { "sku": "X", "name": "X", "price": "1" } }),
        )
        .await;
    assert_eq!(create.error_code(), "FORBIDDEN");
}
