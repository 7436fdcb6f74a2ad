//! Inviting people into a tenant, and joining by invitation.

use crate::db::{Access, SystemTask};
use crate::rbac::perm;
use chrono::{DateTime, Duration, Utc};

use crate::audit::AuditEntry;
use crate::auth::{Caller, tokens};
use crate::error::{AppError, AppResult};
use crate::identity::registration::parse_name;
use crate::identity::sessions::{AuthTokens, start_session, tokens_for};
use crate::identity::{Email, NewUser, mail, password};
use crate::ids::{InvitationId, RoleId, StoreId, TenantId, UserId};
use crate::rbac::Role;
use crate::services::Services;

/// How long an invitation can be accepted.
pub const INVITATION_TTL: Duration = Duration::days(7);
/// Invitation links carry `inv_…` tokens.
const INVITATION_PREFIX: &str = "inv_";

/// Invitation arguments, as sent.
#[derive(Debug, Clone)]
pub struct InviteInput {
    /// Who.
    pub email: String,
    /// Role ids.
    pub role_ids: Vec<String>,
    /// Store ids the roles are limited to.
    pub store_ids: Option<Vec<String>>,
}

/// Invites `email` with roles (and stores). The inviter must hold every permission the
/// roles grant; an existing member is a CONFLICT; a pending invitation for the same address
/// is replaced.
pub async fn invite(
    services: &Services,
    caller: &Caller,
    input: InviteInput,
) -> AppResult<(Invitation, Vec<Role>)> {
    let ctx = caller.require(perm::MEMBER_INVITE)?;
    let email = Email::parse(&input.email, "input.email")?;
    if input.role_ids.is_empty() {
        return Err(AppError::bad_input(
            "input.roleIds",
            "give at least one role",
        ));
    }
    let role_ids = input
        .role_ids
        .iter()
        .map(|id| RoleId::parse(id, "input.roleIds"))
        .collect::<AppResult<Vec<_>>>()?;
    let store_ids = input
        .store_ids
        .unwrap_or_default()
        .iter()
        .map(|id| StoreId::parse(id, "input.storeIds"))
        .collect::<AppResult<Vec<_>>>()?;

    let global = services.db.global_read("invite: who is invited").await?;
    let invitee = global.find_user_by_email(&email).await?;
    let inviter = match caller.user() {
        Ok(me) => global.find_user(me.id).await?,
        Err(_) => None,
    };
    drop(global);

    let scope = services.db.write(ctx).await?;
    if let Some(user) = invitee
        && scope
            .get_member(user.id)
            .await?
            .is_some_and(|m| m.status == crate::tenancy::MembershipStatus::Active)
    {
        return Err(AppError::Conflict(format!("{email} is already a member")));
    }
    if ctx.plan_limit("members").is_some() {
        scope.lock_limits().await?;
        let seats = scope.count_seats(Some(email.as_str())).await?;
        ctx.room_for_one_more("members", seats)?;
    }
    let tenant = scope
        .own_tenant()
        .await?
        .ok_or(AppError::NotFound { entity: "tenant" })?;
    let mut roles = Vec::with_capacity(role_ids.len());
    for id in &role_ids {
        let role = scope
            .get_role(*id)
            .await?
            .ok_or(AppError::NotFound { entity: "role" })?;
        if let Some(missing) = ctx.beyond_own(&role.grants()) {
            return Err(AppError::forbidden(format!(
                "the role {} grants {missing}, which you do not hold",
                role.name
            )));
        }
        roles.push(role);
    }
    for id in &store_ids {
        scope
            .get_store(*id)
            .await?
            .ok_or(AppError::NotFound { entity: "store" })?;
    }
    let token = tokens::generate(INVITATION_PREFIX);
    let invitation = scope
        .insert_invitation(NewInvitation {
            email: email.clone(),
            role_ids,
            store_ids,
            token_hash: tokens::hash(&token),
            invited_by: inviter.as_ref().map(|u| u.id),
            expires_at: services.now() + INVITATION_TTL,
        })
        .await?;
    let link = mail::link(&services.config.http.app_url, "accept-invitation", &token);
    let inviter_name = inviter.as_ref().map_or("A colleague", |u| u.name.as_str());
    scope
        .enqueue(&mail::invitation(&tenant, inviter_name, &link)?.to_job(&email, Some(tenant.id)))
        .await?;
    scope
        .commit(caller.audit(
            AuditEntry::new("member.invite", "invitation", invitation.id).with_changes(
                serde_json::json!({
                    "email": email.as_str(),
                    "roles": roles.iter().map(|r| r.name.clone()).collect::<Vec<_>>(),
                }),
            ),
        ))
        .await?;
    Ok((invitation, roles))
}

/// Withdraws a pending invitation.
pub async fn revoke(
    services: &Services,
    caller: &Caller,
    id: InvitationId,
) -> AppResult<(Invitation, Vec<Role>)> {
    let ctx = caller.require(perm::MEMBER_INVITE)?;
    let scope = services.db.write(ctx).await?;
    let invitation = scope
        .revoke_invitation(id)
        .await?
        .ok_or(AppError::NotFound {
            entity: "invitation",
        })?;
    let roles = roles_of(&scope, &invitation).await?;
    scope
        .commit(caller.audit(AuditEntry::new(
            "member.invitation_revoke",
            "invitation",
            id,
        )))
        .await?;
    Ok((invitation, roles))
}

/// The tenant's invitations.
pub async fn list(services: &Services, caller: &Caller) -> AppResult<Vec<(Invitation, Vec<Role>)>> {
    let ctx = caller.require(perm::MEMBER_READ)?;
    let scope = services.db.read(ctx).await?;
    let mut out = Vec::new();
    for invitation in scope.list_invitations().await? {
        let roles = roles_of(&scope, &invitation).await?;
        out.push((invitation, roles));
    }
    Ok(out)
}

async fn roles_of(scope: &crate::db::TenantScope, invitation: &Invitation) -> AppResult<Vec<Role>> {
    let mut roles = Vec::new();
    for id in &invitation.role_ids {
        if let Some(role) = scope.get_role(*id).await? {
            roles.push(role);
        }
    }
    Ok(roles)
}

/// Joins the invitation's tenant: creates the account when the address is new (name and
/// password required), or adds the membership to the existing account, which the caller
/// must prove is theirs (logged in as that user, or its password): the link alone is never
/// a login. A suspended tenant's invitations cannot be accepted. Logs in.
pub async fn accept(
    services: &Services,
    caller: &Caller,
    token: &str,
    name: Option<&str>,
    plain_password: Option<&str>,
) -> AppResult<AuthTokens> {
    let tx = services
        .db
        .platform_write(Access::Task(SystemTask::AcceptInvitation))
        .await?;
    let invitation = tx
        .find_invitation_by_token(&tokens::hash(token.trim()))
        .await?
        .ok_or_else(|| AppError::bad_input("token", "this invitation link is invalid"))?;
    match invitation.status {
        InvitationStatus::Pending => {}
        InvitationStatus::Expired => {
            return Err(AppError::bad_input(
                "token",
                "this invitation has expired: ask for a new one",
            ));
        }
        InvitationStatus::Accepted | InvitationStatus::Revoked => {
            return Err(AppError::bad_input(
                "token",
                "this invitation is no longer valid",
            ));
        }
    }
    let tenant = tx
        .find_tenant(invitation.tenant)
        .await?
        .ok_or(AppError::NotFound { entity: "tenant" })?;
    if tenant.status != crate::tenancy::TenantStatus::Active {
        return Err(AppError::Forbidden {
            message: "this tenant is suspended: its invitations cannot be accepted now".into(),
            reason: Some("TENANT_SUSPENDED"),
        });
    }
    let user = match tx.find_user_by_email(&invitation.email).await? {
        Some(user) => {
            if tx.has_membership(invitation.tenant, user.id).await? {
                return Err(AppError::Conflict(format!(
                    "{} is already a member",
                    user.email
                )));
            }
            let logged_in_as_them = caller.user().is_ok_and(|me| me.id == user.id);
            if !logged_in_as_them {
                let Some(plain) = plain_password.filter(|p| !p.is_empty()) else {
                    return Err(AppError::Unauthenticated);
                };
                let stored = tx
                    .credentials(&invitation.email)
                    .await?
                    .and_then(|c| c.password_hash);
                let matches = match stored {
                    Some(stored) => password::verify(plain, &stored).await?,
                    None => false,
                };
                if !matches {
                    return Err(AppError::InvalidCredentials);
                }
            }
            user
        }
        None => {
            let name = parse_name(name.unwrap_or_default(), "name")?;
            let plain = plain_password.unwrap_or_default();
            password::validate(plain, "password")?;
            let user = tx
                .insert_user(NewUser {
                    email: invitation.email.clone(),
                    name,
                    phone: None,
                    password_hash: Some(password::hash(plain).await?),
                    is_platform_admin: false,
                })
                .await?;
            // The link arrived at this address.
            tx.mark_email_verified(user.id).await?;
            crate::identity::User {
                email_verified: true,
                ..user
            }
        }
    };
    if !tx
        .accept_invitation(invitation.tenant, invitation.id)
        .await?
    {
        return Err(AppError::bad_input(
            "token",
            "this invitation is no longer valid",
        ));
    }
    tx.insert_active_membership(invitation.tenant, user.id)
        .await?;
    let (session, refresh) =
        start_session(services, &tx, &user, Some(&tenant), &caller.client()).await?;

    let scope = tx.into_tenant(&tenant).await?;
    for role in &invitation.role_ids {
        if scope.get_role(*role).await?.is_none() {
            continue; // deleted since the invitation was sent
        }
        if invitation.store_ids.is_empty() {
            scope.assign_role(user.id, *role, None).await?;
        }
        for store in &invitation.store_ids {
            scope.assign_role(user.id, *role, Some(*store)).await?;
        }
    }
    let joined = crate::notify::notifications::NewNotification {
        kind: crate::notify::notifications::kind::INVITATION_ACCEPTED,
        title: format!("{} joined {}", user.name, tenant.name),
        body: format!(
            "{} ({}) accepted the invitation to {} and is now a member.",
            user.name,
            user.email.as_str(),
            tenant.name
        ),
        data: Some(serde_json::json!({ "userId": user.id })),
    };
    crate::notify::notifications::to_owners(&scope, &joined).await?;
    crate::webhooks::emit(
        &scope,
        "member.added",
        &user.id.to_string(),
        serde_json::json!({
            "userId": user.id,
            "name": user.name,
            "email": user.email.as_str(),
            "roleIds": invitation.role_ids,
            "storeIds": invitation.store_ids,
        }),
    )
    .await?;
    let mut actor = caller.actor();
    actor.user = Some(user.id);
    let modules = scope.modules().await?.into_iter().collect();
    scope
        .commit(crate::audit::Audit::by(
            actor,
            AuditEntry::new("member.join", "user", user.id),
        ))
        .await?;
    tokens_for(services, &session, refresh, user, Some((tenant, modules)))
}

/// Where an invitation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvitationStatus {
    /// Waiting for the invitee.
    Pending,
    /// The invitee joined.
    Accepted,
    /// Withdrawn.
    Revoked,
    /// Not accepted in time.
    Expired,
}

impl InvitationStatus {
    /// Stored form.
    pub fn as_stored(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Accepted => "ACCEPTED",
            Self::Revoked => "REVOKED",
            Self::Expired => "EXPIRED",
        }
    }
}

/// An invitation as the services see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    /// Id.
    pub id: InvitationId,
    /// The tenant it invites into.
    pub tenant: TenantId,
    /// Who is invited.
    pub email: Email,
    /// Roles the invitee will hold.
    pub role_ids: Vec<RoleId>,
    /// Stores the roles are limited to; empty is the whole tenant.
    pub store_ids: Vec<StoreId>,
    /// State (expiry already applied).
    pub status: InvitationStatus,
    /// When it stops being acceptable.
    pub expires_at: DateTime<Utc>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
}

/// What inviting needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInvitation {
    /// Who.
    pub email: Email,
    /// Roles.
    pub role_ids: Vec<RoleId>,
    /// Stores.
    pub store_ids: Vec<StoreId>,
    /// Hash of the emailed token.
    pub token_hash: String,
    /// Inviter.
    pub invited_by: Option<UserId>,
    /// Deadline.
    pub expires_at: DateTime<Utc>,
}
