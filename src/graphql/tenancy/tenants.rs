//! The active tenant: reading and changing it.

use async_graphql::{Context, Enum, ID, InputObject, Json, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use crate::graphql::{caller, services};
use crate::tenancy::{self, Tenant as TenantRecord};

/// A tenant's lifecycle state.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "crate::tenancy::TenantStatus")]
pub enum TenantStatus {
    /// In use.
    Active,
    /// Members can read but not write.
    Suspended,
    /// Closed.
    Closed,
}

/// Where a tenant's data-plane tables live.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "crate::tenancy::IsolationTier")]
pub enum IsolationTier {
    /// Shared tables, row-level security.
    Shared,
    /// Its own PostgreSQL schema.
    Schema,
    /// Its own database.
    Database,
}

/// A customer business.
#[derive(SimpleObject)]
pub struct Tenant {
    id: ID,
    /// Subdomain-safe unique name.
    slug: String,
    name: String,
    /// Lifecycle state.
    status: TenantStatus,
    /// Isolation tier.
    isolation: IsolationTier,
    /// Free-form settings.
    settings: Json<serde_json::Value>,
    /// When it was created.
    created_at: DateTime<Utc>,
    /// Modules enabled for this tenant (`core` always; others from platform overrides
    /// until plans exist).
    modules: Vec<String>,
}

impl From<(TenantRecord, Vec<String>)> for Tenant {
    fn from((t, modules): (TenantRecord, Vec<String>)) -> Self {
        Self {
            id: ID(t.id.to_string()),
            slug: t.slug.as_str().to_owned(),
            name: t.name,
            status: t.status.into(),
            isolation: t.isolation.into(),
            settings: Json(t.settings),
            created_at: t.created_at,
            modules,
        }
    }
}

/// Tenant changes.
#[derive(InputObject)]
pub struct UpdateTenantInput {
    /// New name.
    name: Option<String>,
    /// New settings (a JSON object; replaces the old).
    settings: Option<Json<serde_json::Value>>,
}

/// Tenants queries.
#[derive(Default)]
pub struct TenantsQuery;

#[Object]
impl TenantsQuery {
    /// The active tenant.
    async fn tenant(&self, ctx: &Context<'_>) -> Result<Tenant> {
        Ok(
            tenancy::tenants::manage::current(services(ctx)?, caller(ctx)?)
                .await?
                .into(),
        )
    }
}

/// Tenants mutations.
#[derive(Default)]
pub struct TenantsMutation;

#[Object]
impl TenantsMutation {
    /// Renames the tenant or replaces its settings. [P:tenant.manage]
    async fn update_tenant(&self, ctx: &Context<'_>, input: UpdateTenantInput) -> Result<Tenant> {
        let updated = tenancy::tenants::manage::update(
            services(ctx)?,
            caller(ctx)?,
            input.name.as_deref(),
            input.settings.map(|j| j.0),
        )
        .await?;
        Ok(updated.into())
    }
}
