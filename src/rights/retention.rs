//! Closure and retention. A tenant's owner (tenant.manage) or a platform admin closes it
//! ([`close`]): members lose access at once, its subscription is canceled, its data is
//! kept for `MSINGI_CLOSED_RETENTION_DAYS` (readable by export only: `msingi tenants
//! export`). The sweep (`DataRetention`, hourly, and each `advanceClock`) then erases it
//! ([`purge`]): the data plane and every control-plane table but its invoices and
//! payments, its members who belong nowhere else (pseudonymised, as an erasure does), its
//! name and slug, and the personal fields of its audit chain, which stays whole and
//! verifiable. Its invoices and payments go after `MSINGI_FISCAL_RETENTION_YEARS`. The
//! sweep also deletes the archives of expired exports.

use crate::audit::{Actor, AuditEntry};
use crate::auth::Caller;
use crate::config::RightsConfig;
use crate::db::{Access, Db, SystemTask};
use crate::error::{AppError, AppResult};
use crate::ids::TenantId;
use crate::rbac::perm;
use crate::services::Services;
use crate::tenancy::Tenant;

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    /// Exports whose archive was deleted.
    pub exports: u64,
    /// Closed tenants erased.
    pub tenants: u64,
    /// Closed tenants whose fiscal records went.
    pub fiscal: u64,
}

/// Closes a tenant: `tenant` (a platform admin), or the caller's own (tenant.manage).
/// Audited in the platform's chain and the tenant's. Closing a closed tenant is
/// BAD_USER_INPUT.
pub async fn close(
    services: &Services,
    caller: &Caller,
    tenant: Option<TenantId>,
) -> AppResult<(Tenant, Vec<String>)> {
    let (tx, id) = match tenant {
        Some(id) => {
            let admin = caller.platform_admin()?;
            let tx = services
                .db
                .platform_write(Access::Admin(&admin, "close a tenant"))
                .await?;
            (tx, id)
        }
        None => {
            let ctx = caller.require(perm::TENANT_MANAGE)?;
            let tx = services
                .db
                .platform_write(Access::Task(SystemTask::DataRights))
                .await?;
            (tx, ctx.tenant_id())
        }
    };
    tx.find_tenant(id)
        .await?
        .ok_or(AppError::NotFound { entity: "tenant" })?;
    if !tx.close_tenant(id).await? {
        return Err(AppError::bad_input(
            "tenantId",
            "the tenant is closed already",
        ));
    }
    let retention = services.config.rights.closed_retention.as_secs() / 86_400;
    let changes = serde_json::json!({ "retentionDays": retention });
    for chain in [None, Some(id)] {
        let entry = AuditEntry::new("tenant.close", "tenant", id).with_changes(changes.clone());
        tx.audit(chain, &caller.actor(), entry).await?;
    }
    let after = tx
        .find_tenant(id)
        .await?
        .ok_or(AppError::NotFound { entity: "tenant" })?;
    let modules = tx.tenant_modules(id).await?.into_iter().collect();
    tx.commit().await?;
    Ok((after, modules))
}

/// Runs the sweep once. Safe to run twice, on every node, and after a kill (each tenant's
/// erasure commits whole, and a repeat finds nothing left to do).
pub async fn sweep(db: &Db, config: &RightsConfig) -> AppResult<Swept> {
    let mut swept = Swept {
        exports: super::exports::expire(db, config).await?,
        ..Swept::default()
    };
    let now = db.clock().now();
    let retention =
        chrono::Duration::from_std(config.closed_retention).unwrap_or(chrono::Duration::days(30));
    let tx = db
        .platform_read(Access::Task(SystemTask::DataRights))
        .await?;
    let due = tx.closed_tenants(now - retention, false).await?;
    let fiscal_before = now
        .checked_sub_months(chrono::Months::new(12 * config.fiscal_retention_years))
        .unwrap_or(now);
    let fiscal = tx.closed_tenants(fiscal_before, true).await?;
    drop(tx);
    for tenant in due {
        purge(db, config, tenant.id).await?;
        swept.tenants += 1;
    }
    for tenant in fiscal {
        let tx = db
            .platform_write(Access::Task(SystemTask::DataRights))
            .await?;
        let rows = tx.purge_fiscal(tenant.id).await?;
        if rows > 0 {
            for chain in [None, Some(tenant.id)] {
                let entry = AuditEntry::new("tenant.purge.fiscal", "tenant", tenant.id)
                    .with_changes(serde_json::json!({ "rows": rows }));
                tx.audit(chain, &Actor::default(), entry).await?;
            }
            swept.fiscal += 1;
        }
        tx.commit().await?;
    }
    Ok(swept)
}

/// Erases a closed tenant past its retention (see the module's notes).
async fn purge(db: &Db, config: &RightsConfig, tenant: TenantId) -> AppResult<()> {
    db.purge_data_plane(tenant).await?;
    let tx = db
        .platform_write(Access::Task(SystemTask::DataRights))
        .await?;
    let mut members = 0;
    for user in tx.members_only_of(tenant).await? {
        if tx.erase_user(user).await?.is_some() {
            members += 1;
            tx.audit(
                None,
                &Actor::default(),
                AuditEntry::new("user.erase", "user", user)
                    .with_changes(serde_json::json!({ "closedTenant": tenant })),
            )
            .await?;
        }
    }
    let rows = tx.purge_tenant_rows(tenant, false).await?;
    let entries = tx.pseudonymise_tenant(tenant).await?;
    let changes = serde_json::json!({ "rows": rows, "members": members, "auditEntries": entries });
    for chain in [None, Some(tenant)] {
        let entry = AuditEntry::new("tenant.purge", "tenant", tenant).with_changes(changes.clone());
        tx.audit(chain, &Actor::default(), entry).await?;
    }
    tx.commit().await?;
    let folder = config.exports_dir.join(tenant.into_uuid().to_string());
    match std::fs::remove_dir_all(&folder) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!(%tenant, error = %e, "a purged tenant's exports folder stays"),
    }
    Ok(())
}
