//! Users: the caller's own account (`me`), sign-up, e-mail verification and password
//! recovery.

use async_graphql::{Context, Enum, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use super::super::rbac::roles::RoleAssignment;
use super::super::tenancy::tenants::Tenant;
use super::sessions::AuthPayload;
use crate::graphql::{caller, services};
use crate::identity::User as UserRecord;
use crate::identity::me::{MeView, MembershipView};
use crate::identity::{me, recovery, registration};

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

/// A membership's state.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "crate::tenancy::MembershipStatus")]
pub enum MembershipStatus {
    /// Invited, not yet joined.
    Invited,
    /// A member.
    Active,
    /// No access.
    Disabled,
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
            tenant: (m.membership.tenant, m.modules).into(),
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

/// Sign-up arguments.
#[derive(InputObject)]
pub struct RegisterInput {
    /// Login email.
    email: String,
    /// 8 to 128 characters.
    password: String,
    name: String,
    /// Phone number.
    phone: Option<String>,
    /// The first tenant, created with the user as its owner.
    tenant_name: String,
    /// Subdomain-safe; derived from tenantName when absent.
    tenant_slug: Option<String>,
}

/// Users queries.
#[derive(Default)]
pub struct UsersQuery;

#[Object]
impl UsersQuery {
    /// The caller: user, memberships, active tenant, permissions.
    async fn me(&self, ctx: &Context<'_>) -> Result<Me> {
        Ok(me::me(services(ctx)?, caller(ctx)?).await?.into())
    }
}

/// Users mutations.
#[derive(Default)]
pub struct UsersMutation;

#[Object]
impl UsersMutation {
    /// Creates an account and its first tenant (the user owns it), sends a verification
    /// email, and logs in. [PUBLIC]
    async fn register(&self, ctx: &Context<'_>, input: RegisterInput) -> Result<AuthPayload> {
        let input = registration::RegisterInput {
            email: input.email,
            password: input.password,
            name: input.name,
            phone: input.phone,
            tenant_name: input.tenant_name,
            tenant_slug: input.tenant_slug,
        };
        Ok(registration::register(services(ctx)?, caller(ctx)?, input)
            .await?
            .into())
    }

    /// Mails a reset link; true whether or not the email exists. [PUBLIC]
    async fn request_password_reset(&self, ctx: &Context<'_>, email: String) -> Result<bool> {
        Ok(recovery::request_password_reset(services(ctx)?, caller(ctx)?, &email).await?)
    }

    /// Sets a new password with a reset token and signs out every session. [PUBLIC]
    async fn reset_password(
        &self,
        ctx: &Context<'_>,
        token: String,
        new_password: String,
    ) -> Result<bool> {
        Ok(recovery::reset_password(services(ctx)?, &token, &new_password).await?)
    }

    /// Confirms an email address. [PUBLIC]
    async fn verify_email(&self, ctx: &Context<'_>, token: String) -> Result<bool> {
        Ok(recovery::verify_email(services(ctx)?, &token).await?)
    }
}
