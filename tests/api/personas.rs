//! People the tests act as: registered owners of their own tenants.

use serde_json::{Value, json};

use crate::common::{GqlResponse, TestApp};

pub const REGISTER: &str = include_str!("graphql/identity/register.graphql");
pub const LOGIN: &str = include_str!("graphql/identity/login.graphql");
pub const ME: &str = include_str!("graphql/identity/me.graphql");

/// A logged-in user and the tenant their tokens act in.
#[allow(dead_code)] // every field is for some test
#[derive(Debug, Clone)]
pub struct Persona {
    pub email: String,
    pub password: String,
    pub user_id: String,
    pub tenant_id: String,
    pub tenant_slug: String,
    pub access: String,
    pub refresh: String,
}

impl Persona {
    /// Runs an operation as this persona.
    pub async fn gql(&self, app: &TestApp, query: &str, variables: Value) -> GqlResponse {
        app.graphql_as(&self.access, &[], query, variables).await
    }
}

impl TestApp {
    /// Registers `email` with a tenant named `tenant` and returns the logged-in owner.
    pub async fn register(&self, email: &str, tenant: &str) -> Persona {
        let password = "correct horse battery".to_owned();
        let response = self
            .graphql(
                REGISTER,
                json!({ "input": { "email": email, "password": password, "name": "Owner", "tenantName": tenant } }),
            )
            .await;
        let data = &response.data()["register"];
        Persona {
            email: email.to_owned(),
            password,
            user_id: data["user"]["id"].as_str().unwrap().to_owned(),
            tenant_id: data["activeTenant"]["id"].as_str().unwrap().to_owned(),
            tenant_slug: data["activeTenant"]["slug"].as_str().unwrap().to_owned(),
            access: data["accessToken"].as_str().unwrap().to_owned(),
            refresh: data["refreshToken"].as_str().unwrap().to_owned(),
        }
    }

    /// Two owners of two different tenants.
    pub async fn two_tenants(&self) -> (Persona, Persona) {
        (
            self.register("asha@duka-a.example", "Duka A").await,
            self.register("baraka@duka-b.example", "Duka B").await,
        )
    }
}

impl TestApp {
    /// The actions in a tenant's audit log, newest first.
    pub async fn audit_actions(&self, tenant_id: &str) -> Vec<String> {
        let tenant = msingi::tenancy::TenantId::parse(tenant_id, "tenant").unwrap();
        let ctx = msingi::worker::context_for(&self.db, tenant, "test: read audit")
            .await
            .unwrap();
        let page = msingi::page::PageRequest::parse(Some(100), None).unwrap();
        let scope = self.db.read(&ctx).await.unwrap();
        scope
            .list_audit(None, page)
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|e| e.action)
            .collect()
    }
}

pub const ROLES: &str = include_str!("graphql/tenancy_roles.graphql");
pub const STORES: &str = include_str!("graphql/tenancy_stores.graphql");

impl Persona {
    /// The id of this tenant's role named `name`.
    pub async fn role(&self, app: &TestApp, name: &str) -> String {
        let roles = self.gql(app, ROLES, json!({})).await;
        roles.data()["roles"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .map(|r| r["id"].as_str().unwrap().to_owned())
            .unwrap_or_else(|| panic!("no role {name}"))
    }

    /// The id of this tenant's default store.
    pub async fn main_store(&self, app: &TestApp) -> String {
        let stores = self.gql(app, STORES, json!({})).await;
        stores.data()["stores"]["edges"][0]["node"]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}

pub const INVITE: &str = include_str!("graphql/identity/invite_member.graphql");
pub const ACCEPT: &str = include_str!("graphql/identity/accept_invitation.graphql");

impl Persona {
    /// Invites `email` with the role `role` (in `store`, if given), accepts the invitation
    /// as a new user, and returns them logged in to this persona's tenant.
    pub async fn invite_and_join(
        &self,
        app: &TestApp,
        email: &str,
        role: &str,
        store: Option<&str>,
    ) -> Persona {
        let role_id = self.role(app, role).await;
        let mut input = json!({ "email": email, "roleIds": [role_id] });
        if let Some(store) = store {
            input["storeIds"] = json!([store]);
        }
        self.gql(app, INVITE, json!({ "input": input }))
            .await
            .data();
        let token = app
            .smtp
            .wait_for(email, "invited")
            .await
            .token("accept-invitation");
        let password = "member long secret".to_owned();
        let joined = app
            .graphql(
                ACCEPT,
                json!({ "token": token, "name": "Member", "password": password }),
            )
            .await;
        let data = &joined.data()["acceptInvitation"];
        Persona {
            email: email.to_owned(),
            password,
            user_id: data["user"]["id"].as_str().unwrap().to_owned(),
            tenant_id: data["activeTenant"]["id"].as_str().unwrap().to_owned(),
            tenant_slug: data["activeTenant"]["slug"].as_str().unwrap().to_owned(),
            access: data["accessToken"].as_str().unwrap().to_owned(),
            refresh: data["refreshToken"].as_str().unwrap().to_owned(),
        }
    }
}

/// The platform admin every `TestApp::with_platform_admin` starts with.
pub const ADMIN_EMAIL: &str = "root@msingi.example";
const ADMIN_PASSWORD: &str = "platform secret";

impl crate::common::TestAppBuilder {
    /// The server starts with the platform admin [`ADMIN_EMAIL`].
    pub fn with_platform_admin(self) -> Self {
        self.env("MSINGI_ADMIN_EMAIL", ADMIN_EMAIL)
            .env("MSINGI_ADMIN_PASSWORD", ADMIN_PASSWORD)
    }
}

impl TestApp {
    /// A server with a platform admin; returns the admin's access token too.
    pub async fn with_platform_admin() -> (TestApp, String) {
        let app = TestApp::builder().with_platform_admin().spawn().await;
        let token = app.admin_token().await;
        (app, token)
    }

    /// A fresh access token of `email` (a login).
    pub async fn access_token(&self, email: &str, password: &str) -> String {
        let login = self
            .graphql(
                LOGIN,
                json!({ "input": { "email": email, "password": password } }),
            )
            .await;
        login.data()["login"]["accessToken"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// A fresh access token of the platform admin (of a server built
    /// [`with_platform_admin`](crate::common::TestAppBuilder::with_platform_admin)).
    pub async fn admin_token(&self) -> String {
        self.access_token(ADMIN_EMAIL, ADMIN_PASSWORD).await
    }
}

impl TestApp {
    /// The actions in the platform's audit chain, oldest first.
    pub async fn platform_audit_actions(&self) -> Vec<String> {
        let system = self
            .db
            .platform_read(msingi::db::Access::Task(
                msingi::db::SystemTask::AuditVerify,
            ))
            .await
            .unwrap();
        system
            .audit_chain(None)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.action)
            .collect()
    }
}
