//! Invitations: inviting people into the tenant, withdrawing and accepting invitations.

use async_graphql::{Context, Enum, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use super::super::rbac::roles::Role;
use super::sessions::AuthPayload;
use crate::graphql::{caller, services};
use crate::identity::invitations::{self, Invitation as InvitationRecord};
use crate::ids::InvitationId;
use crate::rbac;

/// Where an invitation stands.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "crate::identity::invitations::InvitationStatus")]
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
            status: i.status.into(),
            expires_at: i.expires_at,
            created_at: i.created_at,
        }
    }
}

/// Invitation arguments.
#[derive(InputObject)]
pub struct InviteMemberInput {
    /// Who to invite.
    email: String,
    /// Roles the invitee will hold.
    role_ids: Vec<ID>,
    /// Stores the roles are limited to; absent: the whole tenant.
    store_ids: Option<Vec<ID>>,
}

/// Invitations queries.
#[derive(Default)]
pub struct InvitationsQuery;

#[Object]
impl InvitationsQuery {
    /// The tenant's invitations, newest first. [P:member.read]
    async fn invitations(&self, ctx: &Context<'_>) -> Result<Vec<Invitation>> {
        let list = invitations::list(services(ctx)?, caller(ctx)?).await?;
        Ok(list.into_iter().map(Into::into).collect())
    }
}

/// Invitations mutations.
#[derive(Default)]
pub struct InvitationsMutation;

#[Object]
impl InvitationsMutation {
    /// Invites someone with roles (and optionally stores). [P:member.invite]
    async fn invite_member(
        &self,
        ctx: &Context<'_>,
        input: InviteMemberInput,
    ) -> Result<Invitation> {
        let input = invitations::InviteInput {
            email: input.email,
            role_ids: input.role_ids.into_iter().map(|id| id.0).collect(),
            store_ids: input
                .store_ids
                .map(|ids| ids.into_iter().map(|id| id.0).collect()),
        };
        Ok(invitations::invite(services(ctx)?, caller(ctx)?, input)
            .await?
            .into())
    }

    /// Withdraws a pending invitation. [P:member.invite]
    async fn revoke_invitation(&self, ctx: &Context<'_>, id: ID) -> Result<Invitation> {
        Ok(invitations::revoke(
            services(ctx)?,
            caller(ctx)?,
            InvitationId::parse(&id, "id")?,
        )
        .await?
        .into())
    }

    /// Joins a tenant by invitation: name and password are needed when the email has no
    /// account yet. [PUBLIC]
    async fn accept_invitation(
        &self,
        ctx: &Context<'_>,
        token: String,
        name: Option<String>,
        password: Option<String>,
    ) -> Result<AuthPayload> {
        let tokens = invitations::accept(
            services(ctx)?,
            caller(ctx)?,
            &token,
            name.as_deref(),
            password.as_deref(),
        )
        .await?;
        Ok(tokens.into())
    }
}
