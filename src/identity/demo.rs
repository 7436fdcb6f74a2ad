//! `msingi demo`: a demo tenant to try the API with: "Demo Duka" (slug `demo-duka`) with
//! three stores and four people, an owner, an admin, a manager and an employee who works
//! in one store only. Safe to run again: whatever exists is kept, whatever is missing is
//! added, and the same credentials are printed.

use crate::audit::{Actor, Audit, AuditEntry};
use crate::db::Db;
use crate::db::{Access, SystemTask};
use crate::error::AppResult;
use crate::identity::{Email, NewUser, password};
use crate::page::PageRequest;
use crate::rbac::roles::{ADMIN, EMPLOYEE, MANAGER, OWNER, system_roles};
use crate::tenancy::{NewStore, NewTenant, Slug, Tenant};

/// The demo tenant's slug.
pub const SLUG: &str = "demo-duka";

/// One demo login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoAccount {
    /// The role it holds.
    pub role: &'static str,
    /// Login email.
    pub email: &'static str,
    /// Password (a demo's: printed on purpose).
    pub password: &'static str,
    /// The store the role is limited to, if any.
    pub store: Option<&'static str>,
}

/// The four people of the demo.
pub const ACCOUNTS: &[DemoAccount] = &[
    DemoAccount {
        role: OWNER,
        email: "owner@demo-duka.example",
        password: "demo owner password",
        store: None,
    },
    DemoAccount {
        role: ADMIN,
        email: "admin@demo-duka.example",
        password: "demo admin password",
        store: None,
    },
    DemoAccount {
        role: MANAGER,
        email: "manager@demo-duka.example",
        password: "demo manager password",
        store: None,
    },
    DemoAccount {
        role: EMPLOYEE,
        email: "employee@demo-duka.example",
        password: "demo employee password",
        store: Some("Westlands"),
    },
];

/// The demo's stores (the first is the one every tenant starts with).
pub const STORES: &[(&str, &str)] = &[
    ("Main store", "MAIN"),
    ("Westlands", "WL"),
    ("Kilimani", "KL"),
];

/// What `ensure` found or made.
#[derive(Debug, Clone)]
pub struct Demo {
    /// The tenant.
    pub tenant: Tenant,
    /// Whether this run created it.
    pub created: bool,
}

/// Creates the demo tenant, its stores, people and roles, and its subscription on `plan`
/// (`BILLING_DEFAULT_PLAN`), or completes what is missing.
pub async fn ensure(db: &Db, plan: &str) -> AppResult<Demo> {
    let tx = db
        .platform_write(Access::Task(SystemTask::CreateTenant))
        .await?;
    let (tenant, created) = match tx.find_tenant_by_slug(SLUG).await? {
        Some(tenant) => (tenant, false),
        None => {
            let tenant = tx
                .insert_tenant(NewTenant {
                    slug: Slug::parse(SLUG, "slug")?,
                    name: "Demo Duka".into(),
                })
                .await?;
            (tenant, true)
        }
    };
    let mut people = Vec::new();
    for account in ACCOUNTS {
        let email = Email::parse(account.email, "email")?;
        let user = match tx.find_user_by_email(&email).await? {
            Some(user) => user,
            None => {
                tx.insert_user(NewUser {
                    email,
                    name: format!("Demo {}", account.role.to_lowercase()),
                    phone: None,
                    password_hash: Some(password::hash(account.password).await?),
                    is_platform_admin: false,
                })
                .await?
            }
        };
        if !tx.has_membership(tenant.id, user.id).await? {
            tx.insert_active_membership(tenant.id, user.id).await?;
        }
        people.push((account, user.id));
    }
    let scope = tx.into_tenant(&tenant).await?;
    let mut roles = scope.list_roles().await?;
    if roles.is_empty() {
        for role in system_roles() {
            scope.insert_role(role).await?;
        }
        roles = scope.list_roles().await?;
    }
    let mut stores = scope
        .list_stores(PageRequest::parse(Some(100), None)?)
        .await?
        .items;
    for (name, code) in STORES {
        if !stores.iter().any(|s| s.name == *name) {
            stores.push(
                scope
                    .insert_store(NewStore::parse(name, Some(code))?)
                    .await?,
            );
        }
    }
    if scope.subscription().await?.is_none() {
        let plan = scope.offered_plan(plan).await?.ok_or_else(|| {
            crate::error::AppError::internal(anyhow::anyhow!("no offered plan {plan:?}"))
        })?;
        scope.start_subscription(plan).await?;
    }
    for (account, user) in people {
        let Some(role) = roles.iter().find(|r| r.is_system && r.name == account.role) else {
            continue;
        };
        let store = account
            .store
            .and_then(|name| stores.iter().find(|s| s.name == name))
            .map(|s| s.id);
        scope.assign_role(user, role.id, store).await?;
    }
    if created {
        let entry = AuditEntry::new("tenant.demo", "tenant", tenant.id);
        scope.commit(Audit::by(Actor::default(), entry)).await?;
    } else {
        scope
            .commit_unaudited("demo: completing an existing demo tenant")
            .await?;
    }
    Ok(Demo { tenant, created })
}
