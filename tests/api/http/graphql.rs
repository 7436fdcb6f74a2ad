//! GraphQL over HTTP: methods, content types, limits, and the error shape.

use serde_json::json;

use crate::common::TestApp;

const PERMISSIONS: &str = include_str!("../graphql/permissions.graphql");

#[tokio::test]
async fn a_query_over_post_returns_the_permission_catalogue() {
    let app = TestApp::spawn().await;
    let response = app.graphql(PERMISSIONS, json!({})).await;
    let permissions = response.data()["permissions"].as_array().unwrap();
    let codes: Vec<&str> = permissions
        .iter()
        .map(|p| p["code"].as_str().unwrap())
        .collect();
    for code in [
        "tenant.manage",
        "store.read",
        "role.manage",
        "billing.manage",
        "inventory.read",
    ] {
        assert!(codes.contains(&code), "{code} missing from {codes:?}");
    }
    let billing = permissions
        .iter()
        .find(|p| p["code"] == "billing.read")
        .unwrap();
    assert_eq!(billing["module"], "billing");
}

#[tokio::test]
async fn a_query_over_get_runs() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .get(format!("{}/graphql", app.address))
        .query(&[("query", "{ permissions { code } }")])
        .send()
        .await
        .unwrap();
    let response = TestApp::read(response).await;
    assert_eq!(response.status, 200);
    assert!(response.data()["permissions"].as_array().unwrap().len() > 10);
}

#[tokio::test]
async fn a_mutation_over_get_is_refused_with_405() {
    let app = TestApp::spawn().await;
    for (query, name) in [
        ("mutation { __typename }", None),
        (
            "query A { permissions { code } } mutation B { __typename }",
            Some("B"),
        ),
    ] {
        let mut params = vec![("query", query)];
        if let Some(name) = name {
            params.push(("operationName", name));
        }
        let response = app
            .client
            .get(format!("{}/graphql", app.address))
            .query(&params)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 405);
        assert_eq!(response.headers()["allow"], "POST");
        let response = TestApp::read(response).await;
        assert_eq!(response.error_code(), "BAD_USER_INPUT");
    }
}

#[tokio::test]
async fn a_post_that_is_not_json_is_refused() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .post(format!("{}/graphql", app.address))
        .header("content-type", "text/plain")
        .body(r#"{"query":"{ permissions { code } }"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415);
    let response = TestApp::read(response).await;
    assert_eq!(response.error_code(), "BAD_USER_INPUT");
    assert_eq!(
        response.error()["extensions"]["requestId"].as_str(),
        response.request_id.as_deref()
    );
}

#[tokio::test]
async fn batches_run_up_to_the_configured_size() {
    let app = TestApp::builder()
        .env("GRAPHQL_MAX_BATCH", "3")
        .spawn()
        .await;
    let op = json!({ "query": "{ permissions { code } }" });
    let ok = app.post_graphql_body(&json!([op, op, op])).await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.body().as_array().map(Vec::len), Some(3));

    let too_many = app.post_graphql_body(&json!([op, op, op, op])).await;
    assert_eq!(too_many.status, 400);
    assert_eq!(too_many.error_code(), "BAD_USER_INPUT");
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_with_413() {
    let app = TestApp::builder()
        .env("MAX_BODY_BYTES", "2048")
        .spawn()
        .await;
    let padding = " ".repeat(4096);
    let response = app
        .client
        .post(format!("{}/graphql", app.address))
        .header("content-type", "application/json")
        .body(format!(
            r#"{{"query":"{{ permissions {{ code }} }}{padding}"}}"#
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
}

#[tokio::test]
async fn queries_deeper_than_the_limit_are_refused() {
    let app = TestApp::builder()
        .env("GRAPHQL_MAX_DEPTH", "4")
        .spawn()
        .await;
    let deep = "{ me { memberships { roles { role { name } } } } }";
    let response = app.graphql(deep, json!({})).await;
    assert_eq!(response.error_code(), "BAD_USER_INPUT");
    assert!(response.body()["data"].is_null());
    let through_a_fragment =
        "fragment R on Membership { roles { role { name } } } { me { memberships { ...R } } }";
    let response = app.graphql(through_a_fragment, json!({})).await;
    assert_eq!(
        response.error_code(),
        "BAD_USER_INPUT",
        "{}",
        response.body()
    );
    let shallow = app.graphql("{ me { user { id } } }", json!({})).await;
    assert_eq!(
        shallow.error_code(),
        "UNAUTHENTICATED",
        "{}",
        shallow.body()
    );
    // Introspection has its own bound: tools' standard query passes even at depth 4.
    let introspection = app
        .graphql(
            "{ __schema { types { fields { type { ofType { name } } } } } }",
            json!({}),
        )
        .await;
    assert!(introspection.data()["__schema"]["types"].is_array());
}

/// Issue 8, item 2: graphql-js's exact introspection query (what GraphiQL, codegen,
/// Altair and Insomnia send) gets the schema at the default limits.
#[tokio::test]
async fn the_standard_introspection_query_is_answered() {
    let app = TestApp::spawn().await;
    let query = include_str!("../graphql/tools/introspection.graphql");
    let response = app.graphql(query, json!({})).await;
    let schema = &response.data()["__schema"];
    assert_eq!(schema["queryType"]["name"], "Query");
    assert_eq!(schema["subscriptionType"]["name"], "Subscription");
    assert!(schema["types"].as_array().unwrap().len() > 30);
}

#[tokio::test]
async fn too_complex_queries_are_refused() {
    let app = TestApp::builder()
        .env("GRAPHQL_MAX_COMPLEXITY", "10")
        .spawn()
        .await;
    let wide = "{ a: permissions { code module description } b: permissions { code module description } c: permissions { code module description } }";
    let response = app.graphql(wide, json!({})).await;
    assert_eq!(response.error_code(), "BAD_USER_INPUT");
    assert!(
        response.error()["message"]
            .as_str()
            .unwrap()
            .contains("complex"),
        "{}",
        response.body()
    );
}

#[tokio::test]
async fn every_error_carries_a_code_and_the_request_id() {
    let app = TestApp::spawn().await;
    let response = app.graphql("{ noSuchField }", json!({})).await;
    assert_eq!(response.error_code(), "BAD_USER_INPUT");
    let request_id = response.error()["extensions"]["requestId"]
        .as_str()
        .unwrap();
    assert_eq!(Some(request_id), response.request_id.as_deref());

    let syntax = app.graphql("{ permissions { code ", json!({})).await;
    assert_eq!(syntax.error_code(), "BAD_USER_INPUT");
    assert!(syntax.error()["extensions"]["requestId"].is_string());
}

#[tokio::test]
async fn graphiql_is_served_with_the_endpoints_wired() {
    let app = TestApp::spawn().await;
    let response = app.get("/graphiql").await;
    assert_eq!(response.status(), 200);
    let html = response.text().await.unwrap();
    assert!(html.contains("graphiql"), "not GraphiQL");
    // Issue 8, item 1: nothing is loaded from elsewhere; every asset is served from the
    // binary with a long immutable cache.
    assert!(
        !html.contains("http://") && !html.contains("https://") && !html.contains("//unpkg"),
        "{html}"
    );
    let assets: Vec<&str> = html
        .split(['"', '\''])
        .filter(|part| part.starts_with("/graphiql/assets/"))
        .collect();
    assert_eq!(assets.len(), 7, "{html}");
    let mut scripts = String::new();
    for asset in assets {
        let response = app.get(asset).await;
        assert_eq!(response.status(), 200, "{asset}");
        assert_eq!(
            response.headers()["cache-control"],
            "public, max-age=31536000, immutable"
        );
        let body = response.text().await.unwrap();
        assert!(body.len() > 1000, "{asset}");
        if asset.ends_with(".js") {
            scripts.push_str(&body);
        }
    }
    assert!(scripts.contains("/graphql/ws"), "no subscription endpoint");
    assert!(scripts.contains("explorerPlugin"), "no Explorer");
    assert!(!scripts.contains("unpkg.com/"), "a script loads from a CDN");
    assert_eq!(
        app.get("/graphiql/assets/4.1.2/nothing.js").await.status(),
        404
    );
}

/// Issue 8, item 5: the media type follows `Accept`, and with
/// `application/graphql-response+json` a document that does not parse or validate is a 400.
#[tokio::test]
async fn the_answer_follows_accept_as_graphql_over_http_requires() {
    let app = TestApp::spawn().await;
    let post = |accept: Option<&'static str>, query: &'static str| {
        let mut request = app
            .client
            .post(format!("{}/graphql", app.address))
            .header("content-type", "application/json")
            .body(serde_json::json!({ "query": query }).to_string());
        if let Some(accept) = accept {
            request = request.header("accept", accept);
        }
        async move { request.send().await.unwrap() }
    };
    let content_type =
        |r: &reqwest::Response| r.headers()["content-type"].to_str().unwrap().to_owned();
    for accept in [
        None,
        Some("application/json"),
        Some("*/*"),
        Some("application/json, application/graphql-response+json"),
    ] {
        let ok = post(accept, "{ __typename }").await;
        assert_eq!(ok.status(), 200);
        assert_eq!(content_type(&ok), "application/json", "{accept:?}");
        let broken = post(accept, "{ __typename").await;
        assert_eq!(
            broken.status(),
            200,
            "{accept:?}: application/json answers 200"
        );
    }
    let wanted = Some("application/graphql-response+json, application/json;q=0.9");
    let ok = post(wanted, "{ __typename }").await;
    assert_eq!(ok.status(), 200);
    assert_eq!(content_type(&ok), "application/graphql-response+json");
    for (query, why) in [
        ("{ __typename", "syntax"),
        ("{ noSuchField }", "validation"),
    ] {
        let refused = post(wanted, query).await;
        assert_eq!(refused.status(), 400, "{why}");
        assert_eq!(content_type(&refused), "application/graphql-response+json");
        let body: serde_json::Value = refused.json().await.unwrap();
        assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    }
    // An execution error (a field that needs a caller) is still a 200.
    let unauthenticated = post(wanted, "{ me { user { id } } }").await;
    assert_eq!(unauthenticated.status(), 200);
}

fn sha256_hex(text: &str) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

/// Issue 8, item 4: Apollo's automatic persisted queries: an unknown hash answers
/// PERSISTED_QUERY_NOT_FOUND, the retry with the text registers it, and the hash alone then
/// runs (over GET too, never for a mutation).
#[tokio::test]
async fn automatic_persisted_queries_work_as_apollo_sends_them() {
    let app = TestApp::spawn().await;
    let query = "query Catalogue { permissions { code } }";
    let hash = sha256_hex(query);
    let extensions = json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } });
    let unknown = app
        .post_graphql_body(&json!({ "extensions": extensions, "operationName": "Catalogue" }))
        .await;
    assert_eq!(
        unknown.error_code(),
        "PERSISTED_QUERY_NOT_FOUND",
        "{}",
        unknown.body()
    );
    assert_eq!(unknown.error()["message"], "PersistedQueryNotFound");
    let registered = app
        .post_graphql_body(&json!({ "query": query, "extensions": extensions }))
        .await;
    assert!(registered.data()["permissions"].as_array().unwrap().len() > 10);
    let by_hash = app
        .post_graphql_body(&json!({ "extensions": extensions, "operationName": "Catalogue" }))
        .await;
    assert!(by_hash.data()["permissions"].as_array().unwrap().len() > 10);
    let get = app
        .client
        .get(format!("{}/graphql", app.address))
        .query(&[
            ("extensions", extensions.to_string()),
            ("operationName", "Catalogue".into()),
        ])
        .send()
        .await
        .unwrap();
    let get = TestApp::read(get).await;
    assert!(get.data()["permissions"].is_array(), "{}", get.body());
    // A wrong hash for the text is refused.
    let mismatch = app
        .post_graphql_body(&json!({
            "query": "{ __typename }",
            "extensions": { "persistedQuery": { "version": 1, "sha256Hash": hash } }
        }))
        .await;
    assert_eq!(mismatch.error_code(), "BAD_USER_INPUT");
    // A registered mutation cannot be run by its hash over GET.
    let mutation = "mutation Out { logout(refreshToken: \"mrt_nothing\") }";
    let mutation_ext =
        json!({ "persistedQuery": { "version": 1, "sha256Hash": sha256_hex(mutation) } });
    app.post_graphql_body(&json!({ "query": mutation, "extensions": mutation_ext }))
        .await
        .data();
    let get = app
        .client
        .get(format!("{}/graphql", app.address))
        .query(&[("extensions", mutation_ext.to_string())])
        .send()
        .await
        .unwrap();
    let get = TestApp::read(get).await;
    assert_eq!(get.error_code(), "BAD_USER_INPUT", "{}", get.body());
}

/// Issue 8, item 4: with GRAPHQL_PERSISTED_ONLY only the allow-list runs.
#[tokio::test]
async fn persisted_only_runs_the_allow_list_alone() {
    let dir = tempfile::tempdir().unwrap();
    let allowed = "query Catalogue { permissions { code } }";
    let manifest = json!({
        "format": "apollo-persisted-query-manifest", "version": 1,
        "operations": [{ "id": sha256_hex(allowed), "name": "Catalogue", "type": "query", "body": allowed }]
    });
    let file = dir.path().join("persisted.json");
    std::fs::write(&file, manifest.to_string()).unwrap();
    let app = TestApp::builder()
        .env("GRAPHQL_PERSISTED_ONLY", "true")
        .env("GRAPHQL_PERSISTED_QUERIES_FILE", file.to_str().unwrap())
        .spawn()
        .await;
    let by_hash = app
        .post_graphql_body(&json!({ "extensions": { "persistedQuery": { "version": 1, "sha256Hash": sha256_hex(allowed) } } }))
        .await;
    assert!(by_hash.data()["permissions"].is_array());
    let by_text = app.graphql(allowed, json!({})).await;
    assert!(by_text.data()["permissions"].is_array());
    let other = app.graphql("{ __typename }", json!({})).await;
    assert_eq!(other.error_code(), "FORBIDDEN", "{}", other.body());
    let register = app
        .post_graphql_body(&json!({
            "query": "{ __typename }",
            "extensions": { "persistedQuery": { "version": 1, "sha256Hash": sha256_hex("{ __typename }") } }
        }))
        .await;
    assert_eq!(register.error_code(), "FORBIDDEN");
}

/// A text over the document limits is refused and never registered, so registrations cannot
/// fill memory or Redis.
#[tokio::test]
async fn an_oversized_persisted_query_is_not_registered() {
    let app = TestApp::spawn().await;
    let huge = format!("{{ {} }}", "__typename ".repeat(5000));
    let extensions = json!({ "persistedQuery": { "version": 1, "sha256Hash": sha256_hex(&huge) } });
    let refused = app
        .post_graphql_body(&json!({ "query": huge, "extensions": extensions }))
        .await;
    assert_eq!(refused.error_code(), "BAD_USER_INPUT");
    let by_hash = app
        .post_graphql_body(&json!({ "extensions": extensions }))
        .await;
    assert_eq!(
        by_hash.error_code(),
        "PERSISTED_QUERY_NOT_FOUND",
        "{}",
        by_hash.body()
    );
}
