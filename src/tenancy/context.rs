//! The request's identity and tenant.
//!
//! A [`TenantContext`] exists only after the database has confirmed it: the constructors
//! look up the membership (or, for jobs, the tenant) and refuse otherwise. Repository
//! handles for tenant data are opened from a context, never from an id that came from a
//! client.

use std::collections::BTreeSet;

use crate::db::{Access, SystemTask};
use crate::db::{Db, PlatformTx};
use crate::error::{AppError, AppResult};
use crate::identity::api_keys::ApiKey;
use crate::ids::{ApiKeyId, StoreId, TenantId, UserId};
use crate::rbac::Permission;
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
    /// Effective tenant-wide permissions: everything tenant-level checks.
    permissions: BTreeSet<String>,
    /// Effective permissions held only in `store`: they authorise operations bound to that
    /// store, never tenant-level ones.
    store_permissions: BTreeSet<String>,
    /// Tenant-wide grants whatever the modules: what the caller may pass on.
    granted: BTreeSet<String>,
    modules: BTreeSet<String>,
    /// The plan's name and limits (`None`: no subscription, no limits).
    plan: Option<(String, crate::billing::Limits)>,
    /// Where the tenant's subscription is (`None`: it has none).
    billing: Option<crate::billing::SubscriptionStatus>,
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
        let system = db
            .platform_read(Access::Task(SystemTask::ResolveContext))
            .await?;
        Self::for_member_in(&system, principal, tenant, store).await
    }

    /// [`for_member`](Self::for_member) inside a platform transaction the caller already
    /// holds: a request never waits for a second pooled connection while holding one (eight
    /// such requests on an eight-connection pool would wait on each other until timeout).
    pub(crate) async fn for_member_in(
        system: &PlatformTx,
        principal: Principal,
        tenant: TenantId,
        store: Option<StoreId>,
    ) -> AppResult<Self> {
        let user = principal.user_id().ok_or(AppError::Unauthenticated)?;
        if !system.is_active_member(tenant, user).await? {
            return Err(AppError::NotFound { entity: "tenant" });
        }
        let status = match system.find_tenant(tenant).await? {
            Some(t) if t.status != TenantStatus::Closed => t.status,
            _ => return Err(AppError::NotFound { entity: "tenant" }),
        };
        if let Some(store) = store
            && !system.store_is_active(tenant, store).await?
        {
            return Err(AppError::NotFound { entity: "store" });
        }
        let entitlements = system.tenant_entitlements(tenant).await?;
        let modules = entitlements.modules;
        let grants = system.member_permissions(tenant, user, store).await?;
        Ok(Self {
            tenant,
            status,
            principal,
            store,
            permissions: effective(grants.tenant.clone(), &modules),
            store_permissions: effective(grants.store, &modules),
            granted: grants.tenant,
            modules,
            plan: entitlements.plan,
            billing: entitlements.billing,
        })
    }

    /// The context of a request made with an API key that authentication has just
    /// checked: the key's tenant, the key's (effective) permissions that its creator still
    /// holds tenant-wide (`creator`, the creator's current context; `None` for a key made
    /// by the system).
    pub(crate) async fn for_api_key(
        system: &PlatformTx,
        key: &ApiKey,
        creator: Option<&TenantContext>,
    ) -> AppResult<Self> {
        let status = match system.find_tenant(key.tenant).await? {
            Some(t) if t.status != TenantStatus::Closed => t.status,
            _ => return Err(AppError::NotFound { entity: "tenant" }),
        };
        let entitlements = system.tenant_entitlements(key.tenant).await?;
        let modules = entitlements.modules;
        let granted: BTreeSet<String> = key
            .permissions
            .iter()
            .filter(|p| creator.is_none_or(|c| c.holds_granted(p)))
            .cloned()
            .collect();
        Ok(Self {
            tenant: key.tenant,
            status,
            principal: Principal::ApiKey { key_id: key.id },
            store: None,
            permissions: effective(granted.iter().cloned(), &modules),
            store_permissions: BTreeSet::new(),
            granted,
            modules,
            plan: entitlements.plan,
            billing: entitlements.billing,
        })
    }

    /// The context a job runs in: the server acting for `tenant`, which must exist. Only
    /// the worker holds a [`JobRunner`](crate::worker::JobRunner), so only it builds one.
    pub async fn for_job(
        _runner: &crate::worker::JobRunner,
        db: &Db,
        tenant: TenantId,
        job: &'static str,
    ) -> AppResult<Self> {
        let status = db
            .platform_read(Access::Task(SystemTask::JobContext))
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
            store_permissions: BTreeSet::new(),
            granted: BTreeSet::new(),
            modules: BTreeSet::new(),
            plan: None,
            billing: None,
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

    /// Effective permission codes: tenant-wide ones and, in a request narrowed to a store,
    /// those held in that store (what the caller can do somewhere in this request).
    pub fn permissions(&self) -> BTreeSet<String> {
        self.permissions
            .union(&self.store_permissions)
            .cloned()
            .collect()
    }

    /// Why the tenant's members may read but not write, if they may not: the one rule
    /// linking the tenant's status and its billing state. The platform suspended the
    /// tenant, or its subscription is SUSPENDED (grace ran out unpaid) or CANCELED.
    pub fn write_refusal(&self) -> Option<&'static str> {
        if self.status == TenantStatus::Suspended {
            return Some("this tenant is suspended: it can be read, not changed");
        }
        match self.billing {
            Some(crate::billing::SubscriptionStatus::Suspended) => Some(
                "this tenant is suspended for an unpaid invoice: it can be read and the invoice paid; paying restores it at once",
            ),
            Some(crate::billing::SubscriptionStatus::Canceled) => Some(
                "this tenant's subscription has ended: it can be read; choose a plan (changePlan) to continue",
            ),
            _ => None,
        }
    }

    /// Whether the tenant's members may read, not write ([`Self::write_refusal`]).
    pub fn is_suspended(&self) -> bool {
        self.write_refusal().is_some()
    }

    /// The tenant's modules.
    pub fn modules(&self) -> &BTreeSet<String> {
        &self.modules
    }

    /// Refuses with `PLAN_LIMIT_EXCEEDED` when `used` already reaches the plan's `limit`
    /// (`stores`, `members`, a metric); no limit of that name is no limit.
    pub fn room_for_one_more(&self, limit: &str, used: u64) -> AppResult<()> {
        let Some((plan, limits)) = &self.plan else {
            return Ok(());
        };
        match limits.get(limit) {
            Some(&max) if i64::try_from(used).unwrap_or(i64::MAX) >= max => {
                Err(AppError::PlanLimitExceeded {
                    limit: limit.to_owned(),
                    max,
                    plan: plan.clone(),
                })
            }
            _ => Ok(()),
        }
    }

    /// The plan's limit called `limit`, if it has one.
    pub fn plan_limit(&self, limit: &str) -> Option<i64> {
        self.plan.as_ref().and_then(|(_, l)| l.get(limit).copied())
    }

    /// The first of `permissions` that the caller does not hold tenant-wide: what granting
    /// them would escalate to. Modules do not matter: a permission of a module the tenant
    /// lacks becomes effective the day the module is switched on, so it is compared too.
    pub fn beyond_own<'p>(
        &self,
        permissions: impl IntoIterator<Item = &'p String>,
    ) -> Option<&'p str> {
        permissions
            .into_iter()
            .find(|p| !self.holds_granted(p))
            .map(String::as_str)
    }

    /// Whether the caller holds `permission` tenant-wide, whatever the tenant's modules.
    pub(crate) fn holds_granted(&self, permission: &str) -> bool {
        self.granted.contains(permission)
    }

    /// Whether the context holds `permission` tenant-wide.
    pub fn has(&self, permission: Permission) -> bool {
        self.permissions.contains(permission.code)
    }

    /// Whether the context holds `permission` for work bound to `store`: tenant-wide, or
    /// in that store when the request is narrowed to it.
    pub fn has_in_store(&self, permission: Permission, store: StoreId) -> bool {
        self.has(permission)
            || (self.store == Some(store) && self.store_permissions.contains(permission.code))
    }

    /// `FORBIDDEN` unless the context holds `permission` tenant-wide.
    pub fn require(&self, permission: Permission) -> AppResult<()> {
        if self.has(permission) {
            Ok(())
        } else {
            Err(forbidden(permission))
        }
    }

    /// `FORBIDDEN` unless the context holds `permission` tenant-wide or in the store the
    /// request is narrowed to: the check for operations bound to one store, which must then
    /// also check the store with [`Self::has_in_store`].
    pub fn require_somewhere(&self, permission: Permission) -> AppResult<()> {
        if self.has(permission) || self.store_permissions.contains(permission.code) {
            Ok(())
        } else {
            Err(forbidden(permission))
        }
    }
}

fn forbidden(permission: Permission) -> AppError {
    AppError::forbidden(format!("requires the {} permission", permission.code))
}
