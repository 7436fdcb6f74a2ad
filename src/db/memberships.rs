//! Memberships: a user's place in a tenant.

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter,
};

use super::entities::memberships;
use super::scope::{SystemScope, SystemTx};
use crate::error::{AppError, AppResult};
use crate::ids::{TenantId, UserId};

const ACTIVE: &str = "ACTIVE";

impl SystemScope<'_> {
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
