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
