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
#[graphql(complex)]
pub struct Tenant {
    #[graphql(skip)]
    tenant_id: crate::ids::TenantId,
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
    /// Modules enabled for this tenant: its plan's, with the platform's overrides on top
    /// (`core` always).
    modules: Vec<String>,
    /// The M-Pesa number renewals prompt (STK push) when an invoice falls due; null: no
    /// automatic prompt.
    billing_phone: Option<String>,
    /// The tenant's credit balance, applied to its next invoices (e.g. from an
    /// overpayment).
    credit: crate::graphql::billing::Money,
    /// The tenant's own tax (VAT) percent, set by platform admins; null: its plan's, else
    /// the deployment's default.
    tax_rate: Option<crate::graphql::billing::Decimal>,
}

#[async_graphql::ComplexObject]
impl Tenant {
    /// The tenant's subscription: to members with billing.read, and to platform admins.
    async fn subscription(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Option<crate::graphql::billing::plans::PlanSubscription>> {
        Ok(crate::billing::subscriptions::read::of_tenant(
            services(ctx)?,
            caller(ctx)?,
            self.tenant_id,
        )
        .await?
        .map(Into::into))
    }
}

impl From<(TenantRecord, Vec<String>)> for Tenant {
    fn from((t, modules): (TenantRecord, Vec<String>)) -> Self {
        Self {
            tenant_id: t.id,
            id: ID(t.id.to_string()),
            slug: t.slug.as_str().to_owned(),
            name: t.name,
            status: t.status.into(),
            isolation: t.isolation.into(),
            settings: Json(t.settings),
            created_at: t.created_at,
            modules,
            billing_phone: t.billing_phone,
            tax_rate: t.tax_rate_bp.map(|bp| {
                crate::graphql::billing::Decimal(crate::billing::money::decimal(i64::from(bp)))
            }),
            credit: crate::billing::Money::new(t.credit_minor, crate::billing::DEFAULT_CURRENCY)
                .into(),
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
    /// The M-Pesa number renewals prompt (`0712345678`, `+254712345678`, …); an empty
    /// string removes it.
    billing_phone: Option<String>,
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
            input.billing_phone.as_deref(),
        )
        .await?;
        Ok(updated.into())
    }
}
