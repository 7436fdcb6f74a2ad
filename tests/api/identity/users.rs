//! Registration, login, sessions, email verification, password reset.

use serde_json::json;

use crate::common::TestApp;
use crate::personas::{LOGIN, ME, REGISTER};

const REFRESH: &str = include_str!("../graphql/identity/refresh.graphql");
const LOGOUT: &str = include_str!("../graphql/identity/logout.graphql");
const VERIFY_EMAIL: &str = include_str!("../graphql/identity/verify_email.graphql");
const REQUEST_RESET: &str = include_str!("../graphql/identity/request_password_reset.graphql");
const RESET: &str = include_str!("../graphql/identity/reset_password.graphql");
const SWITCH: &str = include_str!("../graphql/identity/switch_tenant.graphql");

fn login_vars(email: &str, password: &str) -> serde_json::Value {
    json!({ "input": { "email": email, "password": password } })
}

#[tokio::test]
async fn register_verify_login_refresh_reuse_and_logout() {
    let app = TestApp::spawn().await;
    let registered = app
        .graphql(
            REGISTER,
            json!({ "input": {
                "email": "Wanjiru@Example.com", "password": "correct horse battery",
                "name": "Wanjiru", "phone": "+254712345678", "tenantName": "Mama Mboga Ltd."
            } }),
        )
        .await;
    let data = &registered.data()["register"];
    assert_eq!(data["user"]["email"], "wanjiru@example.com");
    assert_eq!(data["user"]["emailVerified"], false);
    assert_eq!(data["activeTenant"]["slug"], "mama-mboga-ltd");
    assert_eq!(data["expiresIn"], 900);
    let access = data["accessToken"].as_str().unwrap();

    // The owner holds OWNER in the new tenant, which has a default store.
    let me = app.graphql_as(access, &[], ME, json!({})).await;
    let me = &me.data()["me"];
    assert_eq!(me["activeTenant"]["slug"], "mama-mboga-ltd");
    let roles = &me["memberships"][0]["roles"];
    assert_eq!(roles[0]["role"]["name"], "OWNER");
    assert!(
        me["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!("tenant.manage"))
    );

    // The verification mail arrives over SMTP; its link verifies the address, once.
    let mail = app
        .smtp
        .wait_for("wanjiru@example.com", "Confirm your email")
        .await;
    assert!(
        mail.data
            .contains("http://spa.test/verify-email?token=mev_"),
        "{}",
        mail.data
    );
    assert!(mail.data.contains("text/html"));
    let token = mail.token("verify-email");
    assert_eq!(
        app.graphql(VERIFY_EMAIL, json!({ "token": token }))
            .await
            .data()["verifyEmail"],
        true
    );
    let again = app.graphql(VERIFY_EMAIL, json!({ "token": token })).await;
    assert_eq!(again.error_code(), "BAD_USER_INPUT");
    assert_eq!(again.error()["extensions"]["field"], "token");

    let login = app
        .graphql(
            LOGIN,
            login_vars("WANJIRU@example.com", "correct horse battery"),
        )
        .await;
    let login = &login.data()["login"];
    assert_eq!(login["user"]["emailVerified"], true);
    assert_eq!(login["activeTenant"]["slug"], "mama-mboga-ltd");
    let first_refresh = login["refreshToken"].as_str().unwrap().to_owned();

    let refreshed = app
        .graphql(REFRESH, json!({ "refreshToken": first_refresh }))
        .await;
    let refreshed = &refreshed.data()["refreshToken"];
    let second_refresh = refreshed["refreshToken"].as_str().unwrap().to_owned();
    let second_access = refreshed["accessToken"].as_str().unwrap().to_owned();
    assert_ne!(second_refresh, first_refresh);
    assert_eq!(refreshed["activeTenant"]["slug"], "mama-mboga-ltd");
    assert!(
        app.graphql_as(&second_access, &[], ME, json!({}))
            .await
            .body()["errors"]
            .is_null()
    );

    // Presenting the already-rotated token again revokes the whole session: the newer
    // refresh token and the access token of that session stop working too.
    let reuse = app
        .graphql(REFRESH, json!({ "refreshToken": first_refresh }))
        .await;
    assert_eq!(reuse.error_code(), "UNAUTHENTICATED");
    let after_reuse = app
        .graphql(REFRESH, json!({ "refreshToken": second_refresh }))
        .await;
    assert_eq!(after_reuse.error_code(), "UNAUTHENTICATED");
    assert_eq!(
        app.graphql_as(&second_access, &[], ME, json!({}))
            .await
            .error_code(),
        "UNAUTHENTICATED"
    );

    // A fresh login, then logout ends that session.
    let login = app
        .graphql(
            LOGIN,
            login_vars("wanjiru@example.com", "correct horse battery"),
        )
        .await;
    let refresh = login.data()["login"]["refreshToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let access = login.data()["login"]["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        app.graphql(LOGOUT, json!({ "refreshToken": refresh }))
            .await
            .data()["logout"],
        true
    );
    assert_eq!(
        app.graphql(REFRESH, json!({ "refreshToken": refresh }))
            .await
            .error_code(),
        "UNAUTHENTICATED"
    );
    assert_eq!(
        app.graphql_as(&access, &[], ME, json!({}))
            .await
            .error_code(),
        "UNAUTHENTICATED"
    );
}

#[tokio::test]
async fn refresh_token_reuse_is_written_to_the_audit_log() {
    let app = TestApp::spawn().await;
    let owner = app.register("asha@duka-a.example", "Duka A").await;
    let rotated = app
        .graphql(REFRESH, json!({ "refreshToken": owner.refresh }))
        .await;
    assert!(rotated.body()["errors"].is_null());
    app.graphql(REFRESH, json!({ "refreshToken": owner.refresh }))
        .await;
    let actions = app.audit_actions(&owner.tenant_id).await;
    assert!(
        actions.contains(&"session.refresh_token_reuse".to_owned()),
        "{actions:?}"
    );
}

#[tokio::test]
async fn registration_input_is_validated_field_by_field() {
    let app = TestApp::spawn().await;
    let base = json!({ "email": "a@b.example", "password": "long enough pw", "name": "A", "tenantName": "Duka" });
    for (field, value, named) in [
        ("email", json!("not-an-email"), "input.email"),
        ("password", json!("short"), "input.password"),
        ("password", json!("x".repeat(129)), "input.password"),
        ("name", json!("   "), "input.name"),
        ("tenantSlug", json!("UPPER"), "input.tenantSlug"),
        ("tenantSlug", json!("ab"), "input.tenantSlug"),
        ("tenantName", json!(""), "input.tenantName"),
        ("phone", json!("call me"), "input.phone"),
    ] {
        let mut input = base.clone();
        input[field] = value;
        let response = app.graphql(REGISTER, json!({ "input": input })).await;
        assert_eq!(
            response.error_code(),
            "BAD_USER_INPUT",
            "{field}: {}",
            response.body()
        );
        assert_eq!(
            response.error()["extensions"]["field"],
            named,
            "{}",
            response.body()
        );
    }
    // Nothing was written by the refused attempts.
    let ok = app.graphql(REGISTER, json!({ "input": base })).await;
    assert_eq!(ok.data()["register"]["activeTenant"]["slug"], "duka");
}

#[tokio::test]
async fn a_taken_slug_or_email_is_a_conflict_and_writes_nothing() {
    let app = TestApp::spawn().await;
    app.register("asha@duka.example", "Duka").await;
    // A slug the caller chose is a CONFLICT when taken (issue 8, item 9)...
    let taken_slug = app
        .graphql(
            REGISTER,
            json!({ "input": { "email": "other@duka.example", "password": "long enough pw", "name": "O", "tenantName": "Duka", "tenantSlug": "duka" } }),
        )
        .await;
    assert_eq!(taken_slug.error_code(), "CONFLICT");
    assert!(
        taken_slug.error()["message"]
            .as_str()
            .unwrap()
            .contains("duka")
    );
    // The refused registration left no user behind: the same email can register now.
    let retry = app
        .graphql(
            REGISTER,
            json!({ "input": { "email": "other@duka.example", "password": "long enough pw", "name": "O", "tenantName": "Duka Two" } }),
        )
        .await;
    assert_eq!(retry.data()["register"]["activeTenant"]["slug"], "duka-two");
    // ...while a second business called "Duka" that chose no slug gets a free one.
    let second = app
        .graphql(
            REGISTER,
            json!({ "input": { "email": "third@duka.example", "password": "long enough pw", "name": "T", "tenantName": "Duka" } }),
        )
        .await;
    assert_eq!(second.data()["register"]["activeTenant"]["slug"], "duka-2");

    let taken_email = app
        .graphql(
            REGISTER,
            json!({ "input": { "email": "ASHA@duka.example", "password": "long enough pw", "name": "A", "tenantName": "Elsewhere" } }),
        )
        .await;
    assert_eq!(taken_email.error_code(), "CONFLICT");
}

#[tokio::test]
async fn unknown_email_and_wrong_password_get_the_same_answer() {
    let app = TestApp::spawn().await;
    app.register("asha@duka.example", "Duka").await;
    let wrong_password = app
        .graphql(LOGIN, login_vars("asha@duka.example", "not the password"))
        .await;
    let unknown = app
        .graphql(LOGIN, login_vars("nobody@duka.example", "not the password"))
        .await;
    assert_eq!(wrong_password.error_code(), "UNAUTHENTICATED");
    assert_eq!(unknown.error_code(), "UNAUTHENTICATED");
    assert_eq!(
        wrong_password.error()["message"],
        unknown.error()["message"]
    );
}

#[tokio::test]
async fn repeated_failures_are_rate_limited_and_a_success_resets_the_count() {
    let app = TestApp::builder()
        .env("LOGIN_MAX_FAILURES", "3")
        .spawn()
        .await;
    app.register("asha@duka.example", "Duka").await;
    for _ in 0..2 {
        let failed = app
            .graphql(LOGIN, login_vars("asha@duka.example", "wrong password"))
            .await;
        assert_eq!(failed.error_code(), "UNAUTHENTICATED");
    }
    // A success before the limit clears the count...
    let ok = app
        .graphql(
            LOGIN,
            login_vars("asha@duka.example", "correct horse battery"),
        )
        .await;
    assert!(ok.body()["errors"].is_null(), "{}", ok.body());
    for _ in 0..3 {
        app.graphql(LOGIN, login_vars("asha@duka.example", "wrong password"))
            .await;
    }
    // ...and three fresh failures lock the account, even for the right password.
    let limited = app
        .graphql(
            LOGIN,
            login_vars("asha@duka.example", "correct horse battery"),
        )
        .await;
    assert_eq!(limited.error_code(), "RATE_LIMITED");
    let retry_after = limited.error()["extensions"]["retryAfter"]
        .as_u64()
        .unwrap();
    assert!((1..=900).contains(&retry_after), "{retry_after}");
}

#[tokio::test]
async fn password_reset_by_mail_signs_out_everywhere() {
    let app = TestApp::spawn().await;
    let owner = app.register("asha@duka.example", "Duka").await;

    let unknown = app
        .graphql(REQUEST_RESET, json!({ "email": "nobody@duka.example" }))
        .await;
    assert_eq!(unknown.data()["requestPasswordReset"], true);
    let known = app
        .graphql(REQUEST_RESET, json!({ "email": "asha@duka.example" }))
        .await;
    assert_eq!(known.data()["requestPasswordReset"], true);

    let mail = app
        .smtp
        .wait_for("asha@duka.example", "Reset your password")
        .await;
    let token = mail.token("reset-password");
    assert!(token.starts_with("mpr_"));
    assert!(
        app.smtp
            .mails()
            .iter()
            .all(|m| !m.to.contains(&"nobody@duka.example".to_owned()))
    );

    let short = app
        .graphql(RESET, json!({ "token": token, "newPassword": "short" }))
        .await;
    assert_eq!(short.error()["extensions"]["field"], "newPassword");
    let reset = app
        .graphql(
            RESET,
            json!({ "token": token, "newPassword": "a brand new secret" }),
        )
        .await;
    assert_eq!(reset.data()["resetPassword"], true);
    let twice = app
        .graphql(
            RESET,
            json!({ "token": token, "newPassword": "another new secret" }),
        )
        .await;
    assert_eq!(twice.error()["extensions"]["field"], "token");

    // Every earlier session is gone; only the new password works.
    assert_eq!(
        owner.gql(&app, ME, json!({})).await.error_code(),
        "UNAUTHENTICATED"
    );
    assert_eq!(
        app.graphql(REFRESH, json!({ "refreshToken": owner.refresh }))
            .await
            .error_code(),
        "UNAUTHENTICATED"
    );
    let old = app
        .graphql(
            LOGIN,
            login_vars("asha@duka.example", "correct horse battery"),
        )
        .await;
    assert_eq!(old.error_code(), "UNAUTHENTICATED");
    let new = app
        .graphql(LOGIN, login_vars("asha@duka.example", "a brand new secret"))
        .await;
    assert_eq!(new.data()["login"]["user"]["emailVerified"], true);
}

#[tokio::test]
async fn an_expired_reset_link_is_refused() {
    let clock = std::sync::Arc::new(msingi::clock::ManualClock::new(chrono::Utc::now()));
    let app = TestApp::builder().clock(clock.clone()).spawn().await;
    app.register("asha@duka.example", "Duka").await;
    app.graphql(REQUEST_RESET, json!({ "email": "asha@duka.example" }))
        .await;
    let token = app
        .smtp
        .wait_for("asha@duka.example", "Reset")
        .await
        .token("reset-password");
    clock.advance(chrono::Duration::minutes(61));
    let late = app
        .graphql(
            RESET,
            json!({ "token": token, "newPassword": "a brand new secret" }),
        )
        .await;
    assert_eq!(late.error_code(), "BAD_USER_INPUT");
}

#[tokio::test]
async fn switching_tenant_needs_a_membership_there() {
    let app = TestApp::spawn().await;
    let (a, b) = app.two_tenants().await;
    let refused = a
        .gql(&app, SWITCH, json!({ "tenantId": b.tenant_id }))
        .await;
    assert_eq!(refused.error_code(), "NOT_FOUND");
    let same = a
        .gql(&app, SWITCH, json!({ "tenantId": a.tenant_id }))
        .await;
    assert_eq!(
        same.data()["switchTenant"]["activeTenant"]["id"],
        a.tenant_id.as_str()
    );
    let anonymous = app
        .graphql(SWITCH, json!({ "tenantId": a.tenant_id }))
        .await;
    assert_eq!(anonymous.error_code(), "UNAUTHENTICATED");
}

#[tokio::test]
async fn x_tenant_id_must_name_a_membership() {
    let app = TestApp::spawn().await;
    let (a, b) = app.two_tenants().await;
    let foreign = app
        .graphql_as(&a.access, &[("X-Tenant-ID", &b.tenant_id)], ME, json!({}))
        .await;
    // `me` still answers, but the foreign tenant is not active and grants nothing.
    let me = &foreign.data()["me"];
    assert!(me["activeTenant"].is_null());
    assert_eq!(me["permissions"], json!([]));
    let own = app
        .graphql_as(&a.access, &[("X-Tenant-ID", &a.tenant_id)], ME, json!({}))
        .await;
    assert_eq!(own.data()["me"]["activeTenant"]["id"], a.tenant_id.as_str());
}

#[tokio::test]
async fn a_platform_admin_from_the_environment_can_log_in() {
    let app = TestApp::builder()
        .env("MSINGI_ADMIN_EMAIL", "root@msingi.example")
        .env("MSINGI_ADMIN_PASSWORD", "platform secret")
        .spawn()
        .await;
    let login = app
        .graphql(LOGIN, login_vars("root@msingi.example", "platform secret"))
        .await;
    let token = login.data()["login"]["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(login.data()["login"]["activeTenant"].is_null());
    let me = app.graphql_as(&token, &[], ME, json!({})).await;
    assert_eq!(me.data()["me"]["user"]["isPlatformAdmin"], true);
}

#[tokio::test]
async fn a_password_hashed_with_old_parameters_is_rehashed_at_login() {
    use argon2::password_hash::PasswordHasher as _;
    let app = TestApp::spawn().await;
    let owner = app.register("asha@duka.example", "Duka").await;
    let weak = argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        argon2::Params::new(4096, 1, 1, None).unwrap(),
    )
    .hash_password(owner.password.as_bytes())
    .unwrap()
    .to_string();
    let email = msingi::identity::Email::parse(&owner.email, "email").unwrap();
    let tx = app
        .db
        .platform_write(msingi::db::Access::Task(
            msingi::db::SystemTask::CreateTenant,
        ))
        .await
        .unwrap();
    let user = tx.find_user_by_email(&email).await.unwrap().unwrap();
    tx.set_password_hash(user.id, &weak).await.unwrap();
    tx.commit().await.unwrap();

    let login = app
        .graphql(LOGIN, login_vars(&owner.email, &owner.password))
        .await;
    assert!(login.body()["errors"].is_null(), "{}", login.body());
    let system = app
        .db
        .platform_read(msingi::db::Access::Task(
            msingi::db::SystemTask::AuditVerify,
        ))
        .await
        .unwrap();
    let stored = system
        .credentials(&email)
        .await
        .unwrap()
        .unwrap()
        .password_hash
        .unwrap();
    assert!(
        stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{stored}"
    );
    // And the password still works.
    let again = app
        .graphql(LOGIN, login_vars(&owner.email, &owner.password))
        .await;
    assert!(again.body()["errors"].is_null());
}

/// Issue 8, item 7: without APP_URL the links in emails open the server's own pages, and
/// their forms finish each flow; with APP_URL those paths belong to the SPA.
#[tokio::test]
async fn email_links_work_on_the_embedded_default() {
    let app = TestApp::builder().env("APP_URL", "").spawn().await;
    let owner = app.register("asha@duka.example", "Duka").await;
    let post_form = |path: &str, fields: Vec<(&str, String)>| {
        let request = app.client.post(format!("{}{path}", app.address)).form(
            &fields
                .into_iter()
                .collect::<std::collections::HashMap<_, _>>(),
        );
        async move { request.send().await.unwrap() }
    };

    let mail = app.smtp.wait_for(&owner.email, "Confirm your email").await;
    assert!(mail.data.contains("/verify-email?token="), "{}", mail.data);
    let token = mail.token("verify-email");
    let page = app.get(&format!("/verify-email?token={token}")).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("<form method=\"post\"") && html.contains(&token),
        "{html}"
    );
    let done = post_form("/verify-email", vec![("token", token.clone())]).await;
    assert_eq!(done.status(), 200);
    assert!(done.text().await.unwrap().contains("confirmed"));
    let me = owner.gql(&app, ME, json!({})).await;
    assert_eq!(me.data()["me"]["user"]["emailVerified"], true);
    let again = post_form("/verify-email", vec![("token", token)]).await;
    assert_eq!(again.status(), 400, "a used link is refused");

    app.graphql(
        "mutation($e: String!) { requestPasswordReset(email: $e) }",
        json!({ "e": owner.email }),
    )
    .await
    .data();
    let token = app
        .smtp
        .wait_for(&owner.email, "Reset your password")
        .await
        .token("reset-password");
    let short = post_form(
        "/reset-password",
        vec![("token", token.clone()), ("newPassword", "short".into())],
    )
    .await;
    assert_eq!(short.status(), 400);
    assert!(short.text().await.unwrap().contains("newPassword"));
    let reset = post_form(
        "/reset-password",
        vec![
            ("token", token),
            ("newPassword", "a brand new password".into()),
        ],
    )
    .await;
    assert_eq!(reset.status(), 200);
    app.graphql(LOGIN, login_vars(&owner.email, "a brand new password"))
        .await
        .data();

    let login = app
        .graphql(LOGIN, login_vars(&owner.email, "a brand new password"))
        .await;
    let token = login.data()["login"]["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let employee = app
        .graphql_as(&token, &[], crate::personas::ROLES, json!({}))
        .await
        .data()["roles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "EMPLOYEE")
        .unwrap()["id"]
        .clone();
    app.graphql_as(
        &token,
        &[],
        crate::personas::INVITE,
        json!({ "input": { "email": "juma@duka.example", "roleIds": [employee] } }),
    )
    .await
    .data();
    let link = app
        .smtp
        .wait_for("juma@duka.example", "invited")
        .await
        .token("accept-invitation");
    let joined = post_form(
        "/accept-invitation",
        vec![
            ("token", link),
            ("name", "Juma".into()),
            ("password", "juma's long password".into()),
        ],
    )
    .await;
    assert_eq!(joined.status(), 200);
    assert!(joined.text().await.unwrap().contains("Welcome to Duka"));
    app.graphql(
        LOGIN,
        login_vars("juma@duka.example", "juma's long password"),
    )
    .await
    .data();

    // With APP_URL set the paths are the SPA's, not the API's.
    let with_spa = TestApp::spawn().await;
    assert_eq!(with_spa.get("/verify-email?token=x").await.status(), 404);
}

/// Sessions are cached per node; ending one must still hold from the next request, on
/// this node and (with Redis at once, over PostgreSQL `NOTIFY` moments later) on another.
#[tokio::test]
async fn an_ended_session_is_refused_although_nodes_cache_sessions() {
    let mut app = TestApp::spawn().await;
    let owner = app.register("asha@duka.example", "Duka").await;
    // Two sessions of the same user, both used (so cached) on both nodes.
    let second = app
        .graphql(
            LOGIN,
            login_vars("asha@duka.example", "correct horse battery"),
        )
        .await;
    let second_access = second.data()["login"]["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let several_nodes = crate::common::postgres_url().is_some();
    let other = if several_nodes {
        Some(app.another_node().await)
    } else {
        None
    };
    for token in [&owner.access, &second_access] {
        app.graphql_as(token, &[], ME, json!({})).await.data();
        if let Some(other) = &other {
            app.graphql_at(other, token, ME, json!({})).await.data();
        }
    }

    let logout = owner
        .gql(&app, LOGOUT, json!({ "refreshToken": owner.refresh }))
        .await;
    assert_eq!(logout.data()["logout"], true);
    assert_eq!(
        app.graphql_as(&owner.access, &[], ME, json!({}))
            .await
            .error_code(),
        "UNAUTHENTICATED",
        "this node kept a cached session after its logout"
    );
    // The other session of the same user is untouched.
    app.graphql_as(&second_access, &[], ME, json!({}))
        .await
        .data();
    let Some(other) = other else { return };
    if crate::common::redis_url().is_some() {
        assert_eq!(
            app.graphql_at(&other, &owner.access, ME, json!({}))
                .await
                .error_code(),
            "UNAUTHENTICATED",
            "the other node kept a cached session after its logout"
        );
    } else {
        let refused = app
            .eventually(std::time::Duration::from_secs(3), || async {
                app.graphql_at(&other, &owner.access, ME, json!({}))
                    .await
                    .body()["errors"][0]["extensions"]["code"]
                    == "UNAUTHENTICATED"
            })
            .await;
        assert!(
            refused,
            "the other node kept a cached session after its logout"
        );
    }
    app.graphql_at(&other, &second_access, ME, json!({}))
        .await
        .data();
}

#[tokio::test]
async fn many_me_requests_at_once_all_answer() {
    // `me` reads the platform's view and then each tenant's; a request that held its first
    // pooled connection while waiting for a second would wait forever once as many such
    // requests as the pool has connections arrived together (then time out as INTERNAL).
    let app = TestApp::spawn().await;
    let owner = app.register("kamau@many.example", "Many").await;
    let answers = futures::future::join_all((0..24).map(|_| owner.gql(&app, ME, json!({})))).await;
    for me in &answers {
        assert_eq!(
            me.data()["me"]["memberships"][0]["roles"][0]["role"]["name"],
            "OWNER",
            "{}",
            me.body()
        );
    }
}
