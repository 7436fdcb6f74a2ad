//! The request's identity and tenant.
//!
//! A [`TenantContext`] exists only after the database has confirmed it: the constructors
//! look up the membership (or, for jobs, the tenant) and refuse otherwise. Repository
//! handles for tenant data are opened from a context, never from an id that came from a
//! client.

use std::collections::BTreeSet;

use crate::db::Db;
use crate::db::{ApiKey, SystemTx};
use crate::error::{AppError, AppResult};
use crate::ids::{ApiKeyId, StoreId, TenantId, UserId};
use crate::tenancy::TenantStatus;

/// Who is making a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// No credentials.
    Anonymous,
    /// A logged-in user.
    User {
        /// The user.
        user_id: UserId,
        /// Whether the user may use the platform scope.
        platform_admin: bool,
    },
    /// A tenant API key.
    ApiKey {
        /// The key.
        key_id: ApiKeyId,
    },
    /// The server itself, acting for a job or a start-up task.
    System {
        /// What for (logged with every access).
        reason: &'static str,
    },
}

impl Principal {
    /// The user behind the request, if any.
    pub fn user_id(&self) -> Option<UserId> {
        match self {
            Self::User { user_id, .. } => Some(*user_id),
            _ => None,
        }
    }
}

/// A verified tenant (and optionally store) in which a request or job acts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantContext {
    tenant: TenantId,
    status: TenantStatus,
    principal: Principal,
    store: Option<StoreId>,
    permissions: BTreeSet<String>,
    modules: BTreeSet<String>,
}

/// The permissions that are effective: those granted whose module the tenant has.
fn effective(
    granted: impl IntoIterator<Item = String>,
    modules: &BTreeSet<String>,
) -> BTreeSet<String> {
    granted
        .into_iter()
        .filter(|p| crate::rbac::permission(p).is_some_and(|p| modules.contains(p.module)))
        .collect()
}

impl TenantContext {
    /// Confirms that `principal` is an active member of `tenant` (and that `store`, when
    /// given, belongs to it). Anything else is `NOT_FOUND`, so a guessed tenant id reveals
    /// nothing.
    pub async fn for_member(
        db: &Db,
        principal: Principal,
        tenant: TenantId,
        store: Option<StoreId>,
    ) -> AppResult<Self> {
        let user = principal.user_id().ok_or(AppError::Unauthenticated)?;
        let system = db.unscoped_system("resolve tenant context").read().await?;
        if !system.is_active_member(tenant, user).await? {
            return Err(AppError::NotFound { entity: "tenant" });
        }
        let status = match system.find_tenant(tenant).await? {
            Some(t) if t.status != TenantStatus::Closed => t.status,
            _ => return Err(AppError::NotFound { entity: "tenant" }),
        };
        if let Some(store) = store
            && !system.store_exists(tenant, store).await?
        {
            return Err(AppError::NotFound { entity: "store" });
        }
        let modules = system.tenant_modules(tenant).await?;
        let permissions = effective(
            system.member_permissions(tenant, user, store).await?,
            &modules,
        );
        Ok(Self {
            tenant,
            status,
            principal,
            store,
            permissions,
            modules,
        })
    }

    /// The context of a request made with an API key that authentication has just
    /// checked: the key's tenant, exactly the key's (effective) permissions.
    pub(crate) async fn for_api_key(system: &SystemTx, key: &ApiKey) -> AppResult<Self> {
        let status = match system.find_tenant(key.tenant).await? {
            Some(t) if t.status != TenantStatus::Closed => t.status,
            _ => return Err(AppError::NotFound { entity: "tenant" }),
        };
        let modules = system.tenant_modules(key.tenant).await?;
        Ok(Self {
            tenant: key.tenant,
            status,
            principal: Principal::ApiKey { key_id: key.id },
            store: None,
            permissions: effective(key.permissions.iter().cloned(), &modules),
            modules,
        })
    }

    /// The context a job runs in: the server acting for `tenant`, which must exist.
    pub async fn for_job(db: &Db, tenant: TenantId, job: &'static str) -> AppResult<Self> {
        let status = db
            .unscoped_system("job tenant context")
            .read()
            .await?
            .find_tenant(tenant)
            .await?
            .map(|t| t.status)
            .ok_or(AppError::NotFound { entity: "tenant" })?;
        Ok(Self {
            tenant,
            status,
            principal: Principal::System { reason: job },
            store: None,
            permissions: BTreeSet::new(),
            modules: BTreeSet::new(),
        })
    }

    /// The tenant.
    pub fn tenant_id(&self) -> TenantId {
        self.tenant
    }

    /// Who is acting.
    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    /// The store the request is narrowed to (`X-Store-ID`), if any.
    pub fn store_id(&self) -> Option<StoreId> {
        self.store
    }

    /// Effective permission codes.
    pub fn permissions(&self) -> &BTreeSet<String> {
        &self.permissions
    }

    /// Whether the tenant is suspended (its members may read, not write).
    pub fn is_suspended(&self) -> bool {
        self.status == TenantStatus::Suspended
    }

    /// The tenant's modules.
    pub fn modules(&self) -> &BTreeSet<String> {
        &self.modules
    }

    /// The first of `permissions` that would be effective in this tenant but that the
    /// caller does not hold: what granting them would escalate to. Permissions of modules
    /// the tenant lacks are never effective, so they escalate nothing.
    pub fn beyond_own<'p>(
        &self,
        permissions: impl IntoIterator<Item = &'p String>,
    ) -> Option<&'p str> {
        permissions
            .into_iter()
            .find(|p| {
                crate::rbac::permission(p).is_some_and(|c| self.modules.contains(c.module))
                    && !self.has(p)
            })
            .map(String::as_str)
    }

    /// Whether the context holds `permission`.
    pub fn has(&self, permission: &str) -> bool {
        self.permissions.contains(permission)
    }

    /// `FORBIDDEN` unless the context holds `permission`.
    pub fn require(&self, permission: &str) -> AppResult<()> {
        if self.has(permission) {
            Ok(())
        } else {
            Err(AppError::forbidden(format!(
                "requires the {permission} permission"
            )))
        }
    }
}
