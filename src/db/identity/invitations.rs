//! Invitations: tenant-owned; found by token hash before the tenant is known.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait};

use crate::db::entities::invitations;
use crate::db::scope::{PlatformTx, TenantScope};
use crate::error::{AppError, AppResult};
use crate::identity::Email;
use crate::identity::invitations::{Invitation, InvitationStatus, NewInvitation};
use crate::ids::{InvitationId, RoleId, StoreId, TenantId, UserId};

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
        self.table::<invitations::Entity>()
            .update()
            .set(
                invitations::Column::Status,
                Expr::value(InvitationStatus::Revoked.as_stored()),
            )
            .filter(invitations::Column::Email.eq(new.email.as_str()))
            .filter(invitations::Column::Status.eq(InvitationStatus::Pending.as_stored()))
            .exec()
            .await?;
        let uuids = |ids: Vec<uuid::Uuid>| serde_json::to_value(ids).unwrap_or_default();
        let row = self
            .table::<invitations::Entity>()
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
            .table::<invitations::Entity>()
            .find()
            .order_by_desc(invitations::Column::Id)
            .all()
            .await?
            .into_iter()
            .map(|r| to_invitation(r, now))
            .collect())
    }

    /// Withdraws a pending invitation of this tenant; `None` when it is not in this tenant.
    pub async fn revoke_invitation(&self, id: InvitationId) -> AppResult<Option<Invitation>> {
        let Some(row) = self
            .table::<invitations::Entity>()
            .by_id(id.into_uuid())
            .one()
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
        self.table::<invitations::Entity>()
            .update()
            .set(
                invitations::Column::Status,
                Expr::value(InvitationStatus::Revoked.as_stored()),
            )
            .filter(invitations::Column::Id.eq(id.into_uuid()))
            .exec()
            .await?;
        Ok(Some(Invitation {
            status: InvitationStatus::Revoked,
            ..current
        }))
    }
}

impl PlatformTx {
    /// The invitation whose token hashes to `hash`, in whichever tenant it is.
    pub async fn find_invitation_by_token(&self, hash: &str) -> AppResult<Option<Invitation>> {
        let now = self.now();
        Ok(self
            .across_tenants::<invitations::Entity>()
            .find()
            .filter(invitations::Column::TokenHash.eq(hash))
            .one()
            .await?
            .map(|r| to_invitation(r, now)))
    }

    /// Marks a pending invitation accepted; false when it no longer was pending.
    pub async fn accept_invitation(&self, tenant: TenantId, id: InvitationId) -> AppResult<bool> {
        let now = self.now();
        let result = self
            .across_tenants::<invitations::Entity>()
            .update()
            .set(
                invitations::Column::Status,
                Expr::value(InvitationStatus::Accepted.as_stored()),
            )
            .set(invitations::Column::AcceptedAt, Expr::value(now))
            .filter(invitations::Column::TenantId.eq(tenant.into_uuid()))
            .filter(invitations::Column::Id.eq(id.into_uuid()))
            .filter(invitations::Column::Status.eq(InvitationStatus::Pending.as_stored()))
            .filter(invitations::Column::ExpiresAt.gt(now))
            .exec()
            .await?;
        Ok(result == 1)
    }
}
