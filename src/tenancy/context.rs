//! The request's identity and tenant.
//!
//! A [`TenantContext`] exists only after the database has confirmed it: the constructors
//! look up the membership (or, for jobs, the tenant) and refuse otherwise. Repository
//! handles for tenant data are opened from a context, never from an id that came from a
//! client.

use std::collections::BTreeSet;

use crate::db::ApiKey;
use crate::db::Db;
use crate::error::{AppError, AppResult};
use crate::ids::{ApiKeyId, StoreId, TenantId, UserId};

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
    principal: Principal,
    store: Option<StoreId>,
    permissions: BTreeSet<String>,
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
        if let Some(store) = store
            && !system.store_exists(tenant, store).await?
        {
            return Err(AppError::NotFound { entity: "store" });
        }
        let permissions = system.member_permissions(tenant, user, store).await?;
        Ok(Self {
            tenant,
            principal,
            store,
            permissions,
        })
    }

    /// The context of a request made with an API key that authentication has just
    /// checked: the key's tenant, exactly the key's permissions.
    pub(crate) fn for_api_key(key: &ApiKey) -> Self {
        Self {
            tenant: key.tenant,
            principal: Principal::ApiKey { key_id: key.id },
            store: None,
            permissions: key.permissions.iter().cloned().collect(),
        }
    }

    /// The context a job runs in: the server acting for `tenant`, which must exist.
    pub async fn for_job(db: &Db, tenant: TenantId, job: &'static str) -> AppResult<Self> {
        if db
            .unscoped_system("job tenant context")
            .read()
            .await?
            .find_tenant(tenant)
            .await?
            .is_none()
        {
            return Err(AppError::NotFound { entity: "tenant" });
        }
        Ok(Self {
            tenant,
            principal: Principal::System { reason: job },
            store: None,
            permissions: BTreeSet::new(),
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
