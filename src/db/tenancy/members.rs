//! Memberships: a user's place in a tenant.

use sea_orm::{ActiveValue::Set, ColumnTrait};

use crate::db::entities::{memberships, tenants};
use crate::db::scope::PlatformTx;
use crate::error::{AppError, AppResult};
use crate::ids::{TenantId, UserId};
use crate::tenancy::{Membership, MembershipStatus};

impl PlatformTx {
    /// Every membership of `user`, oldest first.
    pub async fn memberships_of(&self, user: UserId) -> AppResult<Vec<Membership>> {
        let rows = self
            .across_tenants::<memberships::Entity>()
            .find()
            .filter(memberships::Column::UserId.eq(user.into_uuid()))
            .order_by_asc(memberships::Column::CreatedAt)
            .all()
            .await?;
        let ids: Vec<_> = rows.iter().map(|m| m.tenant_id).collect();
        let tenants: std::collections::HashMap<_, _> = self
            .across_tenants::<tenants::Entity>()
            .find()
            .filter(tenants::Column::Id.is_in(ids))
            .all()
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
        let count = self
            .across_tenants::<memberships::Entity>()
            .find()
            .filter(memberships::Column::TenantId.eq(tenant.into_uuid()))
            .filter(memberships::Column::UserId.eq(user.into_uuid()))
            .filter(memberships::Column::Status.eq(MembershipStatus::Active.as_stored()))
            .count()
            .await?;
        Ok(count > 0)
    }
}

impl PlatformTx {
    /// Makes `user` an active member of `tenant`; an existing membership is `CONFLICT`.
    pub async fn insert_active_membership(&self, tenant: TenantId, user: UserId) -> AppResult<()> {
        let now = self.now();
        self.across_tenants::<memberships::Entity>()
            .insert(memberships::ActiveModel {
                tenant_id: Set(tenant.into_uuid()),
                user_id: Set(user.into_uuid()),
                status: Set(MembershipStatus::Active.as_stored().to_owned()),
                joined_at: Set(Some(now)),
                created_at: Set(now),
                updated_at: Set(now),
            })
            .await
            .map_err(|e| AppError::conflict_on_unique(e, "already a member"))?;
        Ok(())
    }
}

impl PlatformTx {
    /// Whether `user` has any membership (whatever its state) in `tenant`.
    pub async fn has_membership(&self, tenant: TenantId, user: UserId) -> AppResult<bool> {
        let count = self
            .across_tenants::<memberships::Entity>()
            .find()
            .filter(memberships::Column::TenantId.eq(tenant.into_uuid()))
            .filter(memberships::Column::UserId.eq(user.into_uuid()))
            .count()
            .await?;
        Ok(count > 0)
    }
}
