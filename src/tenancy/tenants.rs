//! Tenants: customer businesses.

use chrono::{DateTime, Utc};

use crate::error::AppError;
use crate::ids::TenantId;

/// A tenant's lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TenantStatus {
    /// In use.
    Active,
    /// Members can read but not write.
    Suspended,
    /// Gone.
    Closed,
}

impl TenantStatus {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "ACTIVE",
            Self::Suspended => "SUSPENDED",
            Self::Closed => "CLOSED",
        }
    }

    /// Parses the stored form; unknown values read as `Closed` (the safe side).
    pub fn from_stored(value: &str) -> Self {
        match value {
            "ACTIVE" => Self::Active,
            "SUSPENDED" => Self::Suspended,
            _ => Self::Closed,
        }
    }
}

/// Where a tenant's data-plane tables live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IsolationTier {
    /// Shared tables keyed by tenant, with row-level security.
    Shared,
    /// Its own PostgreSQL schema.
    Schema,
    /// Its own database.
    Database,
}

impl IsolationTier {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Shared => "SHARED",
            Self::Schema => "SCHEMA",
            Self::Database => "DATABASE",
        }
    }

    /// Parses the stored form.
    pub fn from_stored(value: &str) -> Self {
        match value {
            "SCHEMA" => Self::Schema,
            "DATABASE" => Self::Database,
            _ => Self::Shared,
        }
    }
}

/// A tenant as the services see it.
#[derive(Debug, Clone, PartialEq)]
pub struct Tenant {
    /// Id.
    pub id: TenantId,
    /// Subdomain-safe unique name.
    pub slug: Slug,
    /// Display name.
    pub name: String,
    /// Lifecycle state.
    pub status: TenantStatus,
    /// Isolation tier.
    pub isolation: IsolationTier,
    /// Free-form settings.
    pub settings: serde_json::Value,
    /// The M-Pesa number renewals prompt, if any.
    pub billing_phone: Option<String>,
    /// Credit applied to the next invoices, in minor units.
    pub credit_minor: i64,
    /// Its own tax rate in basis points, set by platform admins (`None`: its plan's, else
    /// the deployment's).
    pub tax_rate_bp: Option<i32>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// What creating a tenant needs.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTenant {
    /// Slug, already validated.
    pub slug: Slug,
    /// Display name.
    pub name: String,
}

/// A tenant slug: `[a-z0-9-]{3,40}`, not starting or ending with `-`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Slug(String);

impl Slug {
    /// Validates a slug; `field` names the argument in the error.
    pub fn parse(value: &str, field: &str) -> Result<Self, AppError> {
        let ok = (3..=40).contains(&value.len())
            && value
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !value.starts_with('-')
            && !value.ends_with('-');
        if ok {
            Ok(Self(value.to_owned()))
        } else {
            Err(AppError::bad_input(
                field,
                "use 3 to 40 lowercase letters, digits and '-', not starting or ending with '-'",
            ))
        }
    }

    /// A slug derived from a display name ("Mama Mboga Ltd." → `mama-mboga-ltd`), or none
    /// when the name has too few usable characters.
    pub fn derive(name: &str) -> Option<Self> {
        let mut slug = String::new();
        for c in name.chars().flat_map(char::to_lowercase) {
            if c.is_ascii_alphanumeric() {
                slug.push(c);
            } else if !slug.is_empty() && !slug.ends_with('-') {
                slug.push('-');
            }
        }
        let slug: String = slug.chars().take(40).collect();
        Self::parse(slug.trim_end_matches('-'), "").ok()
    }

    /// This slug with `-<n>` appended, shortened first so the result stays within 40
    /// characters: the candidates tried when a derived slug is taken.
    pub fn with_suffix(&self, n: u32) -> Self {
        let suffix = format!("-{n}");
        let keep = 40 - suffix.len();
        let base: String = self.0.chars().take(keep).collect();
        Self(format!("{}{suffix}", base.trim_end_matches('-')))
    }

    /// The slug text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Slug {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_validated_and_derived() {
        assert!(Slug::parse("duka-1", "slug").is_ok());
        for bad in ["ab", "-abc", "abc-", "Abc", "a_b_c", &"a".repeat(41)] {
            assert!(Slug::parse(bad, "slug").is_err(), "{bad}");
        }
        assert_eq!(
            Slug::derive("Mama Mboga Ltd.").unwrap().as_str(),
            "mama-mboga-ltd"
        );
        assert_eq!(Slug::derive("!!"), None);
    }
}

/// The active tenant, and what changes it or reaches across tenants.
pub mod manage {
    use super::{Tenant, TenantStatus};
    use crate::audit::AuditEntry;
    use crate::auth::Caller;
    use crate::db::Access;
    use crate::error::{AppError, AppResult};
    use crate::ids::TenantId;
    use crate::page::{Page, PageRequest};
    use crate::rbac::perm;
    use crate::services::Services;

    /// The tenant the request acts in, with its modules.
    pub async fn current(services: &Services, caller: &Caller) -> AppResult<(Tenant, Vec<String>)> {
        let ctx = caller.tenant()?;
        let scope = services.db.read(ctx).await?;
        let tenant = scope
            .own_tenant()
            .await?
            .ok_or(AppError::NotFound { entity: "tenant" })?;
        Ok((tenant, ctx.modules().iter().cloned().collect()))
    }

    /// Renames the tenant and/or replaces its settings (a JSON object). [P:tenant.manage]
    pub async fn update(
        services: &Services,
        caller: &Caller,
        name: Option<&str>,
        settings: Option<serde_json::Value>,
        billing_phone: Option<&str>,
    ) -> AppResult<(Tenant, Vec<String>)> {
        let ctx = caller.require(perm::TENANT_MANAGE)?;
        // Some(None) clears it.
        let billing_phone = billing_phone
            .map(|p| {
                if p.trim().is_empty() {
                    Ok(None)
                } else {
                    crate::billing::phone::normalise_msisdn(p, "input.billingPhone").map(Some)
                }
            })
            .transpose()?;
        let name = name
            .map(|n| crate::identity::registration::parse_name(n, "input.name"))
            .transpose()?;
        if settings.as_ref().is_some_and(|s| !s.is_object()) {
            return Err(AppError::bad_input(
                "input.settings",
                "must be a JSON object",
            ));
        }
        let scope = services.db.write(ctx).await?;
        let before = scope
            .own_tenant()
            .await?
            .ok_or(AppError::NotFound { entity: "tenant" })?;
        let after = scope
            .update_own_tenant(name, settings, billing_phone)
            .await?
            .ok_or(AppError::NotFound { entity: "tenant" })?;
        scope
            .commit(caller.audit(
                AuditEntry::new("tenant.update", "tenant", after.id).with_changes(
                    serde_json::json!({
                        "before": { "name": before.name, "settings": before.settings, "billingPhone": before.billing_phone },
                        "after": { "name": after.name, "settings": after.settings, "billingPhone": after.billing_phone },
                    }),
                ),
            ))
            .await?;
        Ok((after, ctx.modules().iter().cloned().collect()))
    }

    /// Every tenant (platform scope; the read is audited). [PA]
    pub async fn platform_list(
        services: &Services,
        caller: &Caller,
        page: PageRequest,
        search: Option<&str>,
    ) -> AppResult<Page<(Tenant, Vec<String>)>> {
        let admin = caller.platform_admin()?;
        let tx = services
            .db
            .platform_write(Access::Admin(&admin, "list tenants"))
            .await?;
        let page = tx.list_tenants(page, search).await?;
        let mut items = Vec::with_capacity(page.items.len());
        for tenant in page.items {
            let modules = tx.tenant_modules(tenant.id).await?.into_iter().collect();
            items.push((tenant, modules));
        }
        let entry = AuditEntry {
            action: "platform.tenants.read".into(),
            target_type: Some("tenant".into()),
            target_id: None,
            changes: Some(serde_json::json!({ "search": search, "returned": items.len() })),
        };
        tx.audit(None, &caller.actor(), entry).await?;
        tx.commit().await?;
        Ok(Page {
            items,
            has_next: page.has_next,
            has_previous: page.has_previous,
            total: page.total,
        })
    }

    /// Suspends or reactivates a tenant (platform scope, audited in the platform's chain
    /// and the tenant's). [PA]
    pub async fn set_status(
        services: &Services,
        caller: &Caller,
        id: TenantId,
        status: TenantStatus,
        reason: Option<&str>,
    ) -> AppResult<(Tenant, Vec<String>)> {
        let admin = caller.platform_admin()?;
        if status == TenantStatus::Suspended && reason.is_none_or(|r| r.trim().is_empty()) {
            return Err(AppError::bad_input(
                "reason",
                "say why the tenant is suspended",
            ));
        }
        let tx = services
            .db
            .platform_write(Access::Admin(&admin, "tenant status"))
            .await?;
        let before = tx
            .find_tenant(id)
            .await?
            .ok_or(AppError::NotFound { entity: "tenant" })?;
        let after = tx
            .set_tenant_status(id, status)
            .await?
            .ok_or(AppError::NotFound { entity: "tenant" })?;
        let action = match status {
            TenantStatus::Suspended => "platform.tenant.suspend",
            _ => "platform.tenant.reactivate",
        };
        let changes = serde_json::json!({
            "before": before.status.as_str(), "after": after.status.as_str(), "reason": reason,
        });
        for chain in [None, Some(id)] {
            let entry = AuditEntry::new(action, "tenant", id).with_changes(changes.clone());
            tx.audit(chain, &caller.actor(), entry).await?;
        }
        let modules = tx.tenant_modules(id).await?.into_iter().collect();
        tx.invalidates_access_of(id);
        tx.commit().await?;
        Ok((after, modules))
    }

    /// Sets (or with `None` clears) a tenant's own tax rate, in basis points, over its
    /// plan's and the deployment's: its next invoices use it. [PA]
    pub async fn set_tax_rate(
        services: &Services,
        caller: &Caller,
        id: TenantId,
        rate_bp: Option<i32>,
    ) -> AppResult<(Tenant, Vec<String>)> {
        let admin = caller.platform_admin()?;
        let tx = services
            .db
            .platform_write(Access::Admin(&admin, "tenant tax rate"))
            .await?;
        let tenant = tx
            .set_tenant_tax_rate(id, rate_bp)
            .await?
            .ok_or(AppError::NotFound { entity: "tenant" })?;
        let changes = serde_json::json!({
            "taxRate": rate_bp.map(|bp| crate::billing::money::decimal(i64::from(bp))),
        });
        for chain in [None, Some(id)] {
            let entry = AuditEntry::new("platform.tenant.tax_rate", "tenant", id)
                .with_changes(changes.clone());
            tx.audit(chain, &caller.actor(), entry).await?;
        }
        let modules = tx.tenant_modules(id).await?.into_iter().collect();
        tx.commit().await?;
        Ok((tenant, modules))
    }

    /// Switches a module on or off for a tenant over what its plan says.
    /// [PA]
    pub async fn set_module(
        services: &Services,
        caller: &Caller,
        id: TenantId,
        module: &str,
        enabled: bool,
    ) -> AppResult<(Tenant, Vec<String>)> {
        let admin = caller.platform_admin()?;
        if !crate::rbac::CATALOGUE.iter().any(|p| p.module == module) {
            return Err(AppError::bad_input(
                "module",
                format!("unknown module {module:?}"),
            ));
        }
        let tx = services
            .db
            .platform_write(Access::Admin(&admin, "tenant module"))
            .await?;
        let tenant = tx
            .find_tenant(id)
            .await?
            .ok_or(AppError::NotFound { entity: "tenant" })?;
        tx.set_tenant_module(id, module, enabled).await?;
        let changes = serde_json::json!({ "module": module, "enabled": enabled });
        for chain in [None, Some(id)] {
            let entry = AuditEntry::new("platform.tenant.module", "tenant", id)
                .with_changes(changes.clone());
            tx.audit(chain, &caller.actor(), entry).await?;
        }
        let modules = tx.tenant_modules(id).await?.into_iter().collect();
        tx.invalidates_access_of(id);
        tx.commit().await?;
        Ok((tenant, modules))
    }
}
