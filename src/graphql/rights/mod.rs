//! Data rights: the tenant's exports, user erasure, tenant closure.

use async_graphql::{Context, ID, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use crate::graphql::tenancy::tenants::Tenant;
use crate::graphql::{caller, services};
use crate::ids::{TenantId, UserId};
use crate::rights::{erasure, exports, retention};

/// Where an export stands.
#[derive(async_graphql::Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "crate::rights::exports::ExportStatus")]
pub enum ExportStatus {
    /// Its job has not finished.
    Pending,
    /// The archive can be downloaded (`url`) until `expiresAt`.
    Ready,
    /// It could not be built; ask again.
    Failed,
    /// Past `expiresAt`: the archive is deleted.
    Expired,
}

/// One export of the tenant: an archive (JSON Lines per table and a manifest with counts
/// and SHA-256 checksums) of everything it owns, built by a job.
#[derive(SimpleObject)]
pub struct TenantExport {
    id: ID,
    status: ExportStatus,
    /// signed, expiring download link once READY
    url: Option<String>,
    expires_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    /// Rows in the archive, over every table, once READY.
    rows: Option<i32>,
    /// SHA-256 of the archive file, once READY: compare it with the download.
    sha256: Option<String>,
    /// Why it failed.
    error: Option<String>,
}

impl TenantExport {
    fn of(services: &crate::services::Services, export: exports::TenantExport) -> Result<Self> {
        let url = exports::url(services, &export)?;
        Ok(Self {
            id: ID(export.id.to_string()),
            status: export.status_at(services.now()).into(),
            url,
            expires_at: export.expires_at,
            created_at: export.created_at,
            rows: export.rows.map(|n| i32::try_from(n).unwrap_or(i32::MAX)),
            sha256: export.sha256,
            error: export.error,
        })
    }
}

/// Data-rights queries.
#[derive(Default)]
pub struct RightsQuery;

#[Object]
impl RightsQuery {
    /// One export of the tenant; null when there is no such export in it.
    /// [P:tenant.manage]
    async fn tenant_export(&self, ctx: &Context<'_>, id: ID) -> Result<Option<TenantExport>> {
        let id = uuid::Uuid::parse_str(&id)
            .map_err(|_| crate::error::AppError::bad_input("id", "not an export id"))?;
        let services = services(ctx)?;
        exports::get(services, caller(ctx)?, id)
            .await?
            .map(|e| TenantExport::of(services, e))
            .transpose()
    }
}

/// Data-rights mutations.
#[derive(Default)]
pub struct RightsMutation;

#[Object]
impl RightsMutation {
    /// Asks for an export of the tenant: a job builds it (poll `tenantExport`); audited.
    /// [P:tenant.manage]
    async fn export_tenant(&self, ctx: &Context<'_>) -> Result<TenantExport> {
        let services = services(ctx)?;
        let export = exports::request(services, caller(ctx)?).await?;
        TenantExport::of(services, export)
    }

    /// pseudonymises the user's personal data; invoices, payments and the audit chain stay intact and verifiable
    async fn erase_user(&self, ctx: &Context<'_>, user_id: ID) -> Result<bool> {
        let user = UserId::parse(&user_id, "userId")?;
        erasure::erase(services(ctx)?, caller(ctx)?, user).await?;
        Ok(true)
    }

    /// Closes a tenant: the caller's own (tenantId omitted, [P:tenant.manage]) or any
    /// (tenantId, [PA]). Members lose access at once and its subscription ends; its data
    /// is kept for the retention period (MSINGI_CLOSED_RETENTION_DAYS), readable by export
    /// only, then erased but for its invoices and payments.
    async fn close_tenant(&self, ctx: &Context<'_>, tenant_id: Option<ID>) -> Result<Tenant> {
        let tenant = tenant_id
            .map(|id| TenantId::parse(&id, "tenantId"))
            .transpose()?;
        Ok(retention::close(services(ctx)?, caller(ctx)?, tenant)
            .await?
            .into())
    }
}
