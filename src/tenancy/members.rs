//! Members of the active tenant: listing and removing.

use crate::audit::AuditEntry;
use crate::auth::Caller;
use crate::db::TenantScope;
use crate::error::{AppError, AppResult};
use crate::identity::me::{HeldRole, held_roles};
use crate::ids::UserId;
use crate::page::{Page, PageRequest};
use crate::rbac::perm;
use crate::services::Services;

/// A member with the roles they hold.
#[derive(Debug, Clone)]
pub struct MemberView {
    /// The member.
    pub member: MemberRecord,
    /// Their roles here.
    pub roles: Vec<HeldRole>,
}

/// A member of the scope's tenant with roles; `None` when not a member.
pub async fn view(scope: &TenantScope, user: UserId) -> AppResult<Option<MemberView>> {
    let Some(member) = scope.get_member(user).await? else {
        return Ok(None);
    };
    let roles = held_roles(scope, user).await?;
    Ok(Some(MemberView { member, roles }))
}

/// A page of members. [P:member.read]
pub async fn list(
    services: &Services,
    caller: &Caller,
    page: PageRequest,
) -> AppResult<Page<MemberView>> {
    let ctx = caller.require(perm::MEMBER_READ)?;
    let scope = services.db.read(ctx).await?;
    let page = scope.list_members(page).await?;
    let mut items = Vec::with_capacity(page.items.len());
    for member in page.items {
        let roles = held_roles(&scope, member.user.id).await?;
        items.push(MemberView { member, roles });
    }
    Ok(Page {
        items,
        has_next: page.has_next,
        has_previous: page.has_previous,
        total: page.total,
    })
}

/// Removes a member (the last OWNER cannot go). [P:member.manage]
pub async fn remove(services: &Services, caller: &Caller, user: UserId) -> AppResult<bool> {
    let ctx = caller.require(perm::MEMBER_MANAGE)?;
    let scope = services.db.write(ctx).await?;
    let member = scope
        .get_member(user)
        .await?
        .ok_or(AppError::NotFound { entity: "member" })?;
    let owners = scope.owner_ids_locked().await?;
    if owners.contains(&user) && !ctx.has(perm::TENANT_MANAGE) {
        return Err(AppError::forbidden("only an OWNER can remove an OWNER"));
    }
    for held in held_roles(&scope, user).await? {
        if let Some(missing) = ctx.beyond_own(&held.role.grants()) {
            return Err(AppError::forbidden(format!(
                "the member holds {missing} (role {}), which you do not hold",
                held.role.name
            )));
        }
    }
    if owners.contains(&user) && owners.len() == 1 {
        return Err(AppError::Conflict(
            "the last OWNER cannot be removed".into(),
        ));
    }
    scope.remove_member(user).await?;
    scope.invalidates_access();
    scope
        .commit(
            caller.audit(
                AuditEntry::new("member.remove", "user", user)
                    .with_changes(serde_json::json!({ "email": member.user.email.as_str() })),
            ),
        )
        .await?;

    Ok(true)
}

/// A membership's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MembershipStatus {
    /// Invited, not yet joined.
    Invited,
    /// A member.
    Active,
    /// Kept for history; no access.
    Disabled,
}

impl MembershipStatus {
    /// Parses the stored form.
    pub fn from_stored(value: &str) -> Self {
        match value {
            "ACTIVE" => Self::Active,
            "INVITED" => Self::Invited,
            _ => Self::Disabled,
        }
    }

    /// Stored form.
    pub fn as_stored(self) -> &'static str {
        match self {
            Self::Active => "ACTIVE",
            Self::Invited => "INVITED",
            Self::Disabled => "DISABLED",
        }
    }
}

/// A user's membership of one tenant.
#[derive(Debug, Clone, PartialEq)]
pub struct Membership {
    /// The tenant.
    pub tenant: crate::tenancy::Tenant,
    /// Its state.
    pub status: MembershipStatus,
    /// When the user joined.
    pub joined_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// A member of a tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRecord {
    /// The user.
    pub user: crate::identity::User,
    /// Membership state.
    pub status: MembershipStatus,
    /// When they joined.
    pub joined_at: Option<chrono::DateTime<chrono::Utc>>,
}
