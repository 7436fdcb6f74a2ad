//! Tenant exports: `exportTenant` records one and queues its job ([`request`]); the job
//! writes the archive ([`build`], `crate::db` has the format) under the tenant's own folder
//! of `MSINGI_EXPORTS_DIR`; `tenantExport` reports it with a signed link valid until the
//! export expires ([`url`]); `GET /exports/{id}?token=…` serves the file to whoever holds
//! the link ([`by_link`]); past the expiry the retention sweep deletes the file.

use std::path::PathBuf;

use chrono::{DateTime, Utc};

use crate::audit::AuditEntry;
use crate::auth::Caller;
use crate::config::RightsConfig;
use crate::db::{Access, Db, SystemTask};
use crate::error::{AppError, AppResult};
use crate::ids::{TenantId, UserId};
use crate::rbac::perm;
use crate::services::Services;

/// A link token's type for export downloads.
const LINK: &str = "export";

/// Where an export stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportStatus {
    /// Its job has not finished.
    Pending,
    /// The archive can be downloaded until the export expires.
    Ready,
    /// The job failed; the reason is recorded.
    Failed,
    /// Past its expiry: the archive is deleted.
    Expired,
}

impl ExportStatus {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Ready => "READY",
            Self::Failed => "FAILED",
            Self::Expired => "EXPIRED",
        }
    }

    /// Parses the stored form.
    pub fn from_stored(value: &str) -> Self {
        match value {
            "PENDING" => Self::Pending,
            "READY" => Self::Ready,
            "EXPIRED" => Self::Expired,
            _ => Self::Failed,
        }
    }
}

/// One export of a tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantExport {
    /// Id.
    pub id: uuid::Uuid,
    /// The tenant exported.
    pub tenant: TenantId,
    /// Where it stands, as stored (see [`TenantExport::status_at`]).
    pub status: ExportStatus,
    /// Who asked for it.
    pub requested_by: Option<UserId>,
    /// The archive, relative to `MSINGI_EXPORTS_DIR`.
    pub file: Option<String>,
    /// Its size.
    pub size_bytes: Option<u64>,
    /// Rows in it, all tables.
    pub rows: Option<u64>,
    /// SHA-256 of the archive file.
    pub sha256: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
    /// When it was asked for.
    pub created_at: DateTime<Utc>,
    /// When its job ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// When its link stops working.
    pub expires_at: Option<DateTime<Utc>>,
}

impl TenantExport {
    /// Its status at `now`: a READY export past its expiry is EXPIRED even before the
    /// sweep deletes its file.
    pub fn status_at(&self, now: DateTime<Utc>) -> ExportStatus {
        match (self.status, self.expires_at) {
            (ExportStatus::Ready, Some(at)) if at <= now => ExportStatus::Expired,
            (status, _) => status,
        }
    }
}

/// How an export's job ended.
#[derive(Debug, Clone)]
pub enum Finished {
    /// The archive is written.
    Ready {
        /// Relative to `MSINGI_EXPORTS_DIR`.
        file: String,
        /// Its size.
        size_bytes: u64,
        /// Its rows.
        rows: u64,
        /// Its SHA-256.
        sha256: String,
        /// When its link stops working.
        expires_at: DateTime<Utc>,
    },
    /// It could not be.
    Failed(String),
}

/// Asks for an export of the caller's tenant: recorded PENDING, its job queued, audited,
/// in one unit of work. Allowed to a suspended or closed tenant (its data is its own).
/// [P:tenant.manage]
pub async fn request(services: &Services, caller: &Caller) -> AppResult<TenantExport> {
    let ctx = caller.require(perm::TENANT_MANAGE)?;
    let scope = services.db.write_rights(ctx).await?;
    let export = scope.insert_export(caller.user_id()).await?;
    scope
        .enqueue(&msingi_jobs::ExportTenant {
            export_id: export.id,
            tenant_id: export.tenant.into_uuid(),
        })
        .await?;
    scope
        .commit(caller.audit(AuditEntry::new(
            "tenant.export.request",
            "tenant_export",
            export.id,
        )))
        .await?;
    Ok(export)
}

/// One export of the caller's tenant; none for another tenant's. [P:tenant.manage]
pub async fn get(
    services: &Services,
    caller: &Caller,
    id: uuid::Uuid,
) -> AppResult<Option<TenantExport>> {
    let ctx = caller.require(perm::TENANT_MANAGE)?;
    services.db.read(ctx).await?.find_export(id).await
}

/// The signed download link of a READY export, valid until it expires.
pub fn url(services: &Services, export: &TenantExport) -> AppResult<Option<String>> {
    let now = services.now();
    let (ExportStatus::Ready, Some(expires)) = (export.status_at(now), export.expires_at) else {
        return Ok(None);
    };
    let ttl = (expires - now).max(chrono::Duration::seconds(1));
    let token = services
        .keys
        .issue_link(LINK, export.id, export.tenant.into_uuid(), now, ttl)
        .map_err(AppError::internal)?;
    Ok(Some(format!(
        "{}/exports/{}?token={token}",
        services.config.http.public_url, export.id
    )))
}

/// The archive of export `id`, for whoever holds its link: the token must be one signed
/// for this export, unexpired, and the export READY with its file still there. Each
/// download is audited in the tenant's chain. Anything else is NOT_FOUND.
pub async fn by_link(
    services: &Services,
    id: uuid::Uuid,
    token: &str,
    actor: &crate::audit::Actor,
) -> AppResult<(TenantExport, PathBuf)> {
    let not_found = AppError::NotFound { entity: "export" };
    let claims = services
        .keys
        .verify_link(token, LINK, services.now())
        .map_err(|_| AppError::NotFound { entity: "export" })?;
    let (Some(tenant), true) = (claims.tid.map(TenantId::from_uuid), claims.sub == id) else {
        return Err(not_found);
    };
    let tx = services
        .db
        .platform_write(Access::Task(SystemTask::DataRights))
        .await?;
    let export = tx.export_of(tenant, id).await?.ok_or(not_found)?;
    let now = services.now();
    let (ExportStatus::Ready, Some(file)) = (export.status_at(now), export.file.clone()) else {
        return Err(AppError::NotFound { entity: "export" });
    };
    let path = services.config.rights.exports_dir.join(file);
    if !path.is_file() {
        return Err(AppError::NotFound { entity: "export" });
    }
    tx.audit(
        Some(tenant),
        actor,
        AuditEntry::new("tenant.export.download", "tenant_export", id),
    )
    .await?;
    tx.commit().await?;
    Ok((export, path))
}

/// The export job: writes the archive of a PENDING export into the tenant's folder and
/// records it READY (or FAILED, with why). Safe to run twice: a finished export is left
/// alone, and a half-written archive is never taken for whole (it is renamed when done).
pub async fn build(
    db: &Db,
    config: &RightsConfig,
    tenant: TenantId,
    id: uuid::Uuid,
) -> anyhow::Result<()> {
    let tx = db
        .platform_read(Access::Task(SystemTask::DataRights))
        .await?;
    let Some(export) = tx.export_of(tenant, id).await? else {
        return Ok(());
    };
    drop(tx);
    if export.status != ExportStatus::Pending {
        return Ok(());
    }
    let relative = format!("{}/{}.tar.gz", tenant.into_uuid(), id);
    let path = config.exports_dir.join(&relative);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let finished = match db.export_tenant(tenant, &path, &|_, _| {}).await {
        Ok(manifest) => {
            let (size_bytes, sha256) = file_digest(&path)?;
            Finished::Ready {
                file: relative,
                size_bytes,
                rows: manifest.rows(),
                sha256,
                expires_at: db.clock().now()
                    + chrono::Duration::from_std(config.export_ttl)
                        .unwrap_or(chrono::Duration::hours(24)),
            }
        }
        Err(e) => {
            tracing::error!(%tenant, export = %id, error = ?e, "tenant export failed");
            Finished::Failed(
                "the archive could not be written; ask again, or contact support".into(),
            )
        }
    };
    let tx = db
        .platform_write(Access::Task(SystemTask::DataRights))
        .await?;
    let ready = matches!(finished, Finished::Ready { .. });
    if tx.finish_export(tenant, id, finished).await? {
        let action = if ready {
            "tenant.export.ready"
        } else {
            "tenant.export.failed"
        };
        tx.audit(
            Some(tenant),
            &crate::audit::Actor::default(),
            AuditEntry::new(action, "tenant_export", id),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The size and SHA-256 of a file, read in blocks.
fn file_digest(path: &std::path::Path) -> std::io::Result<(u64, String)> {
    use sha2::Digest as _;
    use std::io::Read as _;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = sha2::Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    let mut size = 0;
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        size += n as u64;
        hasher.update(&buffer[..n]);
    }
    Ok((size, hex::encode(hasher.finalize())))
}

/// Deletes the archives of exports past their expiry and marks them EXPIRED; returns
/// how many. Safe to run twice, on every node.
pub async fn expire(db: &Db, config: &RightsConfig) -> AppResult<u64> {
    let tx = db
        .platform_write(Access::Task(SystemTask::DataRights))
        .await?;
    let due = tx.expired_exports(db.clock().now()).await?;
    for export in &due {
        if let Some(file) = &export.file {
            match std::fs::remove_file(config.exports_dir.join(file)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(AppError::internal(e)),
            }
        }
        tx.expire_export(export.tenant, export.id).await?;
    }
    tx.commit().await?;
    Ok(due.len() as u64)
}
