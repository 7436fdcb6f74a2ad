//! Memberships: a user's place in a tenant.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder,
};

use super::entities::{memberships, tenants};
use super::scope::SystemTx;
use crate::error::{AppError, AppResult};
use crate::ids::{TenantId, UserId};
use crate::tenancy::Tenant;

const ACTIVE: &str = "ACTIVE";

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
    pub(super) fn from_stored(value: &str) -> Self {
        match value {
            "ACTIVE" => Self::Active,
            "INVITED" => Self::Invited,
            _ => Self::Disabled,
        }
    }
}

/// A user's membership of one tenant.
#[derive(Debug, Clone, PartialEq)]
pub struct Membership {
    /// The tenant.
    pub tenant: Tenant,
    /// Its state.
    pub status: MembershipStatus,
    /// When the user joined.
    pub joined_at: Option<DateTime<Utc>>,
}

impl SystemTx {
    /// Every membership of `user`, oldest first.
    pub async fn memberships_of(&self, user: UserId) -> AppResult<Vec<Membership>> {
        let rows = memberships::Entity::find()
            .filter(memberships::Column::UserId.eq(user.into_uuid()))
            .order_by_asc(memberships::Column::CreatedAt)
            .all(self.conn())
            .await?;
        let ids: Vec<_> = rows.iter().map(|m| m.tenant_id).collect();
        let tenants: std::collections::HashMap<_, _> = tenants::Entity::find()
            .filter(tenants::Column::Id.is_in(ids))
            .all(self.conn())
            .await?
            .into_iter()
            .map(|t| (t.id, super::tenants::to_tenant(t)))
            .collect();
        Ok(rows
            .into_iter()
            .filter_map(|m| {
                tenants.get(&m.tenant_id).map(|tenant| Membership {
                    tenant: tenant.clone(),
                    status: MembershipStatus::from_stored(&m.status),
                    joined_at: m.joined_at,
                })
            })
            .collect())
    }

    /// Whether `user` is an active member of `tenant`.
    pub async fn is_active_member(&self, tenant: TenantId, user: UserId) -> AppResult<bool> {
        let count = memberships::Entity::find()
            .filter(memberships::Column::TenantId.eq(tenant.into_uuid()))
            .filter(memberships::Column::UserId.eq(user.into_uuid()))
            .filter(memberships::Column::Status.eq(ACTIVE))
            .count(self.conn())
            .await?;
        Ok(count > 0)
    }
}

impl SystemTx {
    /// Makes `user` an active member of `tenant`; an existing membership is `CONFLICT`.
    pub async fn insert_active_membership(&self, tenant: TenantId, user: UserId) -> AppResult<()> {
        let now = self.now();
        memberships::ActiveModel {
            tenant_id: Set(tenant.into_uuid()),
            user_id: Set(user.into_uuid()),
            status: Set(ACTIVE.to_owned()),
            joined_at: Set(Some(now)),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(self.conn())
        .await
        .map_err(|e| AppError::conflict_on_unique(e, "already a member"))?;
        Ok(())
    }
}

impl SystemTx {
    /// Whether `user` has any membership (whatever its state) in `tenant`.
    pub async fn has_membership(&self, tenant: TenantId, user: UserId) -> AppResult<bool> {
        let count = memberships::Entity::find()
            .filter(memberships::Column::TenantId.eq(tenant.into_uuid()))
            .filter(memberships::Column::UserId.eq(user.into_uuid()))
            .count(self.conn())
            .await?;
        Ok(count > 0)
    }
}
