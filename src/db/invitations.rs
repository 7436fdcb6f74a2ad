//! Invitations: tenant-owned; found by token hash before the tenant is known.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use super::entities::invitations;
use super::scope::{SystemTx, TenantScope};
use crate::error::{AppError, AppResult};
use crate::identity::Email;
use crate::ids::{InvitationId, RoleId, StoreId, TenantId, UserId};

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
    fn as_stored(self) -> &'static str {
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

fn to_invitation(row: invitations::Model, now: DateTime<Utc>) -> Invitation {
    let ids =
        |v: serde_json::Value| -> Vec<uuid::Uuid> { serde_json::from_value(v).unwrap_or_default() };
    let mut status = match row.status.as_str() {
        "ACCEPTED" => InvitationStatus::Accepted,
        "REVOKED" => InvitationStatus::Revoked,
        "EXPIRED" => InvitationStatus::Expired,
        _ => InvitationStatus::Pending,
    };
    if status == InvitationStatus::Pending && row.expires_at <= now {
        status = InvitationStatus::Expired;
    }
    Invitation {
        id: InvitationId::from_uuid(row.id),
        tenant: TenantId::from_uuid(row.tenant_id),
        email: Email::from_stored(row.email),
        role_ids: ids(row.role_ids)
            .into_iter()
            .map(RoleId::from_uuid)
            .collect(),
        store_ids: ids(row.store_ids)
            .into_iter()
            .map(StoreId::from_uuid)
            .collect(),
        status,
        expires_at: row.expires_at,
        created_at: row.created_at,
    }
}

impl TenantScope {
    /// Records an invitation, withdrawing any pending one for the same address (the new
    /// mail replaces the old).
    pub async fn insert_invitation(&self, new: NewInvitation) -> AppResult<Invitation> {
        let now = self.now();
        self.update_many::<invitations::Entity>()
            .col_expr(
                invitations::Column::Status,
                Expr::value(InvitationStatus::Revoked.as_stored()),
            )
            .filter(invitations::Column::Email.eq(new.email.as_str()))
            .filter(invitations::Column::Status.eq(InvitationStatus::Pending.as_stored()))
            .exec(self.conn())
            .await?;
        let uuids = |ids: Vec<uuid::Uuid>| serde_json::to_value(ids).unwrap_or_default();
        let row = self
            .insert(invitations::ActiveModel {
                id: Set(InvitationId::new().into_uuid()),
                email: Set(new.email.as_str().to_owned()),
                role_ids: Set(uuids(
                    new.role_ids.into_iter().map(RoleId::into_uuid).collect(),
                )),
                store_ids: Set(uuids(
                    new.store_ids.into_iter().map(StoreId::into_uuid).collect(),
                )),
                token_hash: Set(new.token_hash),
                status: Set(InvitationStatus::Pending.as_stored().to_owned()),
                invited_by: Set(new.invited_by.map(UserId::into_uuid)),
                created_at: Set(now),
                expires_at: Set(new.expires_at),
                accepted_at: Set(None),
                ..Default::default()
            })
            .await?;
        Ok(to_invitation(row, now))
    }

    /// This tenant's invitations, newest first.
    pub async fn list_invitations(&self) -> AppResult<Vec<Invitation>> {
        let now = self.now();
        Ok(self
            .select::<invitations::Entity>()
            .order_by_desc(invitations::Column::Id)
            .all(self.conn())
            .await?
            .into_iter()
            .map(|r| to_invitation(r, now))
            .collect())
    }

    /// Withdraws a pending invitation of this tenant; `None` when it is not in this tenant.
    pub async fn revoke_invitation(&self, id: InvitationId) -> AppResult<Option<Invitation>> {
        let Some(row) = self
            .select_by_id::<invitations::Entity, _>(id.into_uuid())
            .one(self.conn())
            .await?
        else {
            return Ok(None);
        };
        let current = to_invitation(row, self.now());
        if current.status != InvitationStatus::Pending {
            return Err(AppError::Conflict(format!(
                "the invitation is {}",
                current.status.as_stored().to_lowercase()
            )));
        }
        self.update_many::<invitations::Entity>()
            .col_expr(
                invitations::Column::Status,
                Expr::value(InvitationStatus::Revoked.as_stored()),
            )
            .filter(invitations::Column::Id.eq(id.into_uuid()))
            .exec(self.conn())
            .await?;
        Ok(Some(Invitation {
            status: InvitationStatus::Revoked,
            ..current
        }))
    }
}

impl SystemTx {
    /// The invitation whose token hashes to `hash`, in whichever tenant it is.
    pub async fn find_invitation_by_token(&self, hash: &str) -> AppResult<Option<Invitation>> {
        let now = self.now();
        Ok(invitations::Entity::find()
            .filter(invitations::Column::TokenHash.eq(hash))
            .one(self.conn())
            .await?
            .map(|r| to_invitation(r, now)))
    }

    /// Marks a pending invitation accepted; false when it no longer was pending.
    pub async fn accept_invitation(&self, tenant: TenantId, id: InvitationId) -> AppResult<bool> {
        let now = self.now();
        let result = invitations::Entity::update_many()
            .col_expr(
                invitations::Column::Status,
                Expr::value(InvitationStatus::Accepted.as_stored()),
            )
            .col_expr(invitations::Column::AcceptedAt, Expr::value(now))
            .filter(invitations::Column::TenantId.eq(tenant.into_uuid()))
            .filter(invitations::Column::Id.eq(id.into_uuid()))
            .filter(invitations::Column::Status.eq(InvitationStatus::Pending.as_stored()))
            .filter(invitations::Column::ExpiresAt.gt(now))
            .exec(self.conn())
            .await?;
        Ok(result.rows_affected == 1)
    }
}
