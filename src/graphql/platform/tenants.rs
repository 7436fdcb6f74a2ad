//! The platform scope: every tenant, for platform administrators.

use async_graphql::{Context, ID, Object, Result};

use super::super::tenancy::tenants::Tenant;
use crate::graphql::connection::Connection;
use crate::graphql::{caller, services};
use crate::page::PageRequest;
use crate::tenancy::{self, TenantId, TenantStatus};

/// PlatformTenants queries.
#[derive(Default)]
pub struct PlatformTenantsQuery;

#[Object]
impl PlatformTenantsQuery {
    /// Every tenant, for platform administrators; each read is audited. [PA]
    async fn platform_tenants(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        search: Option<String>,
    ) -> Result<Connection<Tenant>> {
        let page = PageRequest::parse(first, after.as_deref())?
            .counting(ctx.look_ahead().field("totalCount").exists());
        let page = tenancy::tenants::manage::platform_list(
            services(ctx)?,
            caller(ctx)?,
            page,
            search.as_deref(),
        )
        .await?;
        Ok(Connection::of(
            page,
            |(t, _): &(crate::tenancy::Tenant, Vec<String>)| t.id.into_uuid(),
        ))
    }
}

/// PlatformTenants mutations.
#[derive(Default)]
pub struct PlatformTenantsMutation;

#[Object]
impl PlatformTenantsMutation {
    /// Suspends a tenant: its members can read, not write. [PA]
    async fn suspend_tenant(
        &self,
        ctx: &Context<'_>,
        tenant_id: ID,
        reason: String,
    ) -> Result<Tenant> {
        let tenant = tenancy::tenants::manage::set_status(
            services(ctx)?,
            caller(ctx)?,
            TenantId::parse(&tenant_id, "tenantId")?,
            TenantStatus::Suspended,
            Some(&reason),
        )
        .await?;
        Ok(tenant.into())
    }

    /// Lifts a suspension. [PA]
    async fn reactivate_tenant(&self, ctx: &Context<'_>, tenant_id: ID) -> Result<Tenant> {
        let tenant = tenancy::tenants::manage::set_status(
            services(ctx)?,
            caller(ctx)?,
            TenantId::parse(&tenant_id, "tenantId")?,
            TenantStatus::Active,
            None,
        )
        .await?;
        Ok(tenant.into())
    }

    /// Sets a tenant's own tax (VAT) percent, e.g. `"0"` for a zero-rated customer, over
    /// its plan's and the deployment's; null clears it. Its next invoices use it. [PA]
    async fn set_tenant_tax_rate(
        &self,
        ctx: &Context<'_>,
        tenant_id: ID,
        tax_rate: Option<crate::graphql::billing::Decimal>,
    ) -> Result<Tenant> {
        caller(ctx)?.platform_admin()?;
        let rate = match tax_rate {
            Some(rate) => Some(
                crate::billing::money::parse_percent(&rate.0).ok_or_else(|| {
                    crate::error::AppError::bad_input(
                        "taxRate",
                        "a percentage from 0 to 100 with at most two decimals",
                    )
                })?,
            ),
            None => None,
        };
        let tenant = tenancy::tenants::manage::set_tax_rate(
            services(ctx)?,
            caller(ctx)?,
            TenantId::parse(&tenant_id, "tenantId")?,
            rate,
        )
        .await?;
        Ok(tenant.into())
    }

    /// Switches a module on or off for a tenant, over what its plan says. [PA]
    async fn set_tenant_module(
        &self,
        ctx: &Context<'_>,
        tenant_id: ID,
        module: String,
        enabled: bool,
    ) -> Result<Tenant> {
        let tenant = tenancy::tenants::manage::set_module(
            services(ctx)?,
            caller(ctx)?,
            TenantId::parse(&tenant_id, "tenantId")?,
            &module,
            enabled,
        )
        .await?;
        Ok(tenant.into())
    }
}

crate::graphql::connection::node!(Tenant, "TenantConnection", "TenantEdge");

/// Where a tenant move stands.
#[derive(async_graphql::Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "crate::tiers::MoveStatus")]
pub enum TenantMoveStatus {
    /// Copying rows while the tenant works.
    Copying,
    /// Under the write freeze: the last rows, then every table compared.
    Verifying,
    /// Served from the new place; the old copy is kept until confirmed.
    Switched,
    /// Failed, and what it left could not all be cleared.
    Failed,
    /// Failed; the tenant stayed where it was.
    RolledBack,
}

/// One move of a tenant's data plane between isolation tiers.
#[derive(async_graphql::SimpleObject)]
pub struct TenantMove {
    id: ID,
    tenant: Tenant,
    from: super::super::tenancy::tenants::IsolationTier,
    to: super::super::tenancy::tenants::IsolationTier,
    status: TenantMoveStatus,
    /// rows copied so far, over every table
    rows_copied: i32,
    /// Why it failed.
    error: Option<String>,
    started_at: chrono::DateTime<chrono::Utc>,
    finished_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<crate::tiers::moves::MoveView> for TenantMove {
    fn from((m, tenant, modules): crate::tiers::moves::MoveView) -> Self {
        Self {
            id: ID(m.id.to_string()),
            tenant: (tenant, modules).into(),
            from: m.from.into(),
            to: m.to.into(),
            status: m.status.into(),
            rows_copied: i32::try_from(m.rows_copied).unwrap_or(i32::MAX),
            error: m.error,
            started_at: m.started_at,
            finished_at: m.finished_at,
        }
    }
}

/// Isolation tier queries.
#[derive(Default)]
pub struct TiersQuery;

#[Object]
impl TiersQuery {
    /// A move of a tenant between isolation tiers: its status and rows copied. [PA]
    async fn tenant_move(&self, ctx: &Context<'_>, id: ID) -> Result<Option<TenantMove>> {
        let id = uuid::Uuid::parse_str(id.trim())
            .map_err(|_| crate::error::AppError::bad_input("id", "not a valid id"))?;
        Ok(crate::tiers::moves::get(services(ctx)?, caller(ctx)?, id)
            .await?
            .map(Into::into))
    }
}

/// Isolation tier mutations.
#[derive(Default)]
pub struct TiersMutation;

#[Object]
impl TiersMutation {
    /// Moves a tenant's data plane to another isolation tier while it runs: copy, verify,
    /// switch under a short write freeze of that tenant only; `tenantMove` follows it.
    /// SHARED and SCHEMA need PostgreSQL; databaseUrl is for the DATABASE tier. [PA]
    async fn move_tenant(
        &self,
        ctx: &Context<'_>,
        tenant_id: ID,
        to: super::super::tenancy::tenants::IsolationTier,
        database_url: Option<String>,
    ) -> Result<TenantMove> {
        let moved = crate::tiers::moves::start(
            services(ctx)?,
            caller(ctx)?,
            TenantId::parse(&tenant_id, "tenantId")?,
            to.into(),
            database_url.as_deref(),
        )
        .await?;
        Ok(moved.into())
    }
}
