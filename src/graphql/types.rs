//! Output types, mapped from domain types. GraphQL types are not database models.

use async_graphql::{Enum, ID, Json, Object, SimpleObject};
use chrono::{DateTime, Utc};

use crate::db::{self, ApiKey as ApiKeyRecord, Invitation as InvitationRecord};
use crate::identity::User as UserRecord;
use crate::identity::me::{HeldRole, MeView, MembershipView};
use crate::identity::sessions::AuthTokens;
use crate::rbac;
use crate::tenancy::{self, Store as StoreRecord, Tenant as TenantRecord};

/// A permission a role can grant.
#[derive(SimpleObject)]
#[graphql(name = "Permission")]
pub struct PermissionObject {
    /// Code, e.g. `store.manage`.
    code: String,
    /// The module that must be enabled for the permission to be effective.
    module: String,
    /// What it grants.
    description: String,
}

impl From<&rbac::Permission> for PermissionObject {
    fn from(p: &rbac::Permission) -> Self {
        Self {
            code: p.code.to_owned(),
            module: p.module.to_owned(),
            description: p.description.to_owned(),
        }
    }
}

/// A person who logs in.
#[derive(SimpleObject)]
pub struct User {
    id: ID,
    /// Login email (lower-cased).
    email: String,
    name: String,
    /// Phone number.
    phone: Option<String>,
    /// Whether the address was confirmed.
    email_verified: bool,
    /// Whether the user may use the platform scope.
    is_platform_admin: bool,
    /// When the account was created.
    created_at: DateTime<Utc>,
}

impl User {
    /// How a platform admin who is not a member appears to a tenant's readers (the audit
    /// log): as the platform's support, never by name or address.
    pub fn platform_support(at: DateTime<Utc>) -> Self {
        Self {
            id: ID("platform-support".into()),
            email: "support@platform".into(),
            name: "Platform support".into(),
            phone: None,
            email_verified: true,
            is_platform_admin: true,
            created_at: at,
        }
    }
}

impl From<UserRecord> for User {
    fn from(u: UserRecord) -> Self {
        Self {
            id: ID(u.id.to_string()),
            email: u.email.as_str().to_owned(),
            name: u.name,
            phone: u.phone,
            email_verified: u.email_verified,
            is_platform_admin: u.is_platform_admin,
            created_at: u.created_at,
        }
    }
}

/// A tenant's lifecycle state.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
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
    #[graphql(skip)]
    known_modules: Option<Vec<String>>,
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
}

#[async_graphql::ComplexObject]
impl Tenant {
    /// Modules enabled for this tenant (`core` always; others from platform overrides
    /// until plans exist).
    async fn modules(
        &self,
        ctx: &async_graphql::Context<'_>,
    ) -> async_graphql::Result<Vec<String>> {
        if let Some(modules) = &self.known_modules {
            return Ok(modules.clone());
        }
        let services = super::services(ctx)?;
        let system = services.db.unscoped_system("tenant modules").read().await?;
        Ok(system
            .tenant_modules(self.tenant_id)
            .await?
            .into_iter()
            .collect())
    }
}

/// A tenant whose modules are already known.
impl From<(TenantRecord, Vec<String>)> for Tenant {
    fn from((t, modules): (TenantRecord, Vec<String>)) -> Self {
        Self {
            known_modules: Some(modules),
            ..Self::from(t)
        }
    }
}

impl From<TenantRecord> for Tenant {
    fn from(t: TenantRecord) -> Self {
        Self {
            tenant_id: t.id,
            known_modules: None,
            id: ID(t.id.to_string()),
            slug: t.slug.as_str().to_owned(),
            name: t.name,
            status: match t.status {
                tenancy::TenantStatus::Active => TenantStatus::Active,
                tenancy::TenantStatus::Suspended => TenantStatus::Suspended,
                tenancy::TenantStatus::Closed => TenantStatus::Closed,
            },
            isolation: match t.isolation {
                tenancy::IsolationTier::Shared => IsolationTier::Shared,
                tenancy::IsolationTier::Schema => IsolationTier::Schema,
                tenancy::IsolationTier::Database => IsolationTier::Database,
            },
            settings: Json(t.settings),
            created_at: t.created_at,
        }
    }
}

/// Whether a store is in use.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum StoreStatus {
    /// In use.
    Active,
    /// Kept for history.
    Archived,
}

/// A unit inside a tenant: a shop, a branch, a project.
#[derive(SimpleObject)]
pub struct Store {
    id: ID,
    name: String,
    /// Short code, unique in the tenant.
    code: Option<String>,
    /// In use or archived.
    status: StoreStatus,
    /// When it was created.
    created_at: DateTime<Utc>,
}

impl From<StoreRecord> for Store {
    fn from(s: StoreRecord) -> Self {
        Self {
            id: ID(s.id.to_string()),
            name: s.name,
            code: s.code,
            status: match s.status {
                tenancy::StoreStatus::Active => StoreStatus::Active,
                tenancy::StoreStatus::Archived => StoreStatus::Archived,
            },
            created_at: s.created_at,
        }
    }
}

/// A named set of permissions.
#[derive(SimpleObject)]
pub struct Role {
    id: ID,
    /// Name, unique in the tenant.
    name: String,
    /// What it is for.
    description: Option<String>,
    /// System roles (OWNER, ADMIN, MANAGER, EMPLOYEE) cannot be deleted; OWNER cannot be
    /// edited.
    is_system: bool,
    /// Permission codes it grants.
    permissions: Vec<String>,
}

impl From<rbac::Role> for Role {
    fn from(r: rbac::Role) -> Self {
        Self {
            id: ID(r.id.to_string()),
            name: r.name,
            description: r.description,
            is_system: r.is_system,
            permissions: r.permissions,
        }
    }
}

/// A role held by a member.
#[derive(SimpleObject)]
pub struct RoleAssignment {
    /// The role.
    role: Role,
    /// The store it is limited to; null: the whole tenant.
    store: Option<Store>,
}

impl From<HeldRole> for RoleAssignment {
    fn from(h: HeldRole) -> Self {
        Self {
            role: h.role.into(),
            store: h.store.map(Into::into),
        }
    }
}

/// A membership's state.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum MembershipStatus {
    /// Invited, not yet joined.
    Invited,
    /// A member.
    Active,
    /// No access.
    Disabled,
}

impl From<db::MembershipStatus> for MembershipStatus {
    fn from(s: db::MembershipStatus) -> Self {
        match s {
            db::MembershipStatus::Invited => Self::Invited,
            db::MembershipStatus::Active => Self::Active,
            db::MembershipStatus::Disabled => Self::Disabled,
        }
    }
}

/// The caller's place in one tenant.
#[derive(SimpleObject)]
pub struct Membership {
    /// The tenant.
    tenant: Tenant,
    /// Roles held there.
    roles: Vec<RoleAssignment>,
    /// State.
    status: MembershipStatus,
    /// When the caller joined.
    joined_at: Option<DateTime<Utc>>,
}

impl From<MembershipView> for Membership {
    fn from(m: MembershipView) -> Self {
        Self {
            tenant: m.membership.tenant.into(),
            roles: m.roles.into_iter().map(Into::into).collect(),
            status: m.membership.status.into(),
            joined_at: m.membership.joined_at,
        }
    }
}

/// The caller.
#[derive(SimpleObject)]
pub struct Me {
    /// The user.
    user: User,
    /// Every tenant the user belongs to.
    memberships: Vec<Membership>,
    /// The tenant this request acts in.
    active_tenant: Option<Tenant>,
    /// Effective permission codes in the active tenant (and store, when X-Store-ID is
    /// sent): for UI gates.
    permissions: Vec<String>,
}

impl From<MeView> for Me {
    fn from(m: MeView) -> Self {
        Self {
            user: m.user.into(),
            memberships: m.memberships.into_iter().map(Into::into).collect(),
            active_tenant: m.active_tenant.map(Into::into),
            permissions: m.permissions,
        }
    }
}

/// Tokens after login, refresh, tenant switch or joining.
#[derive(SimpleObject)]
pub struct AuthPayload {
    /// Bearer token for `Authorization`.
    access_token: String,
    /// Single-use token for `refreshToken`; rotates on every use.
    refresh_token: String,
    /// Seconds until accessToken expires.
    expires_in: i32,
    /// Who is logged in.
    user: User,
    /// The tenant the tokens act in.
    active_tenant: Option<Tenant>,
}

impl From<AuthTokens> for AuthPayload {
    fn from(t: AuthTokens) -> Self {
        Self {
            access_token: t.access_token,
            refresh_token: t.refresh_token,
            expires_in: i32::try_from(t.expires_in).unwrap_or(i32::MAX),
            user: t.user.into(),
            active_tenant: t.active_tenant.map(Into::into),
        }
    }
}

/// Where an invitation stands.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum InvitationStatus {
    /// Waiting.
    Pending,
    /// Joined.
    Accepted,
    /// Withdrawn.
    Revoked,
    /// Not accepted in time.
    Expired,
}

/// An invitation to join the tenant.
#[derive(SimpleObject)]
pub struct Invitation {
    id: ID,
    /// Who is invited.
    email: String,
    /// Roles the invitee will hold.
    roles: Vec<Role>,
    /// State.
    status: InvitationStatus,
    /// When it stops being acceptable.
    expires_at: DateTime<Utc>,
    /// When it was sent.
    created_at: DateTime<Utc>,
}

impl From<(InvitationRecord, Vec<rbac::Role>)> for Invitation {
    fn from((i, roles): (InvitationRecord, Vec<rbac::Role>)) -> Self {
        Self {
            id: ID(i.id.to_string()),
            email: i.email.as_str().to_owned(),
            roles: roles.into_iter().map(Into::into).collect(),
            status: match i.status {
                db::InvitationStatus::Pending => InvitationStatus::Pending,
                db::InvitationStatus::Accepted => InvitationStatus::Accepted,
                db::InvitationStatus::Revoked => InvitationStatus::Revoked,
                db::InvitationStatus::Expired => InvitationStatus::Expired,
            },
            expires_at: i.expires_at,
            created_at: i.created_at,
        }
    }
}

/// A tenant API key (never its secret).
#[derive(SimpleObject)]
pub struct ApiKey {
    id: ID,
    name: String,
    /// The public part: `msk_<prefix>_…`.
    prefix: String,
    /// What it may do.
    permissions: Vec<String>,
    /// When it was created.
    created_at: DateTime<Utc>,
    /// The last request made with it (updated at most once a minute).
    last_used_at: Option<DateTime<Utc>>,
    /// When it stops working.
    expires_at: Option<DateTime<Utc>>,
    /// When it was revoked.
    revoked_at: Option<DateTime<Utc>>,
}

impl From<ApiKeyRecord> for ApiKey {
    fn from(k: ApiKeyRecord) -> Self {
        Self {
            id: ID(k.id.to_string()),
            name: k.name,
            prefix: k.prefix,
            permissions: k.permissions,
            created_at: k.created_at,
            last_used_at: k.last_used_at,
            expires_at: k.expires_at,
            revoked_at: k.revoked_at,
        }
    }
}

/// A new key and its secret.
#[derive(SimpleObject)]
pub struct CreatedApiKey {
    /// The key.
    api_key: ApiKey,
    /// Shown once: `msk_<prefix>_<secret>`, for `Authorization: Bearer`.
    secret: String,
}

impl From<(ApiKeyRecord, String)> for CreatedApiKey {
    fn from((key, secret): (ApiKeyRecord, String)) -> Self {
        Self {
            api_key: key.into(),
            secret,
        }
    }
}

/// Queries over the permission catalogue.
#[derive(Default)]
pub struct CatalogueQuery;

#[Object]
impl CatalogueQuery {
    /// The permission catalogue: every permission a role can grant.
    async fn permissions(&self) -> Vec<PermissionObject> {
        rbac::CATALOGUE.iter().map(PermissionObject::from).collect()
    }
}
