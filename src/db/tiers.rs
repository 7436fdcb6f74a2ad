//! The record of tenant moves between isolation tiers (`tenant_moves`): platform door only.

use sea_orm::ActiveValue::Set;
use sea_orm::ColumnTrait;

use crate::db::entities::{tenant_moves, tenants};
use crate::db::scope::PlatformTx;
use crate::error::{AppError, AppResult};
use crate::ids::{TenantId, UserId};
use crate::tiers::{IsolationTier, MoveStatus, TenantMove};

impl PlatformTx {
    /// Records a move of `tenant` from `from` to `to`, COPYING; a move of the tenant
    /// already under way is `CONFLICT`.
    pub async fn start_move(
        &self,
        tenant: TenantId,
        from: IsolationTier,
        to: IsolationTier,
        by: Option<UserId>,
        sealed_url: Option<String>,
    ) -> AppResult<TenantMove> {
        let row = self
            .across_tenants::<tenant_moves::Entity>()
            .insert(tenant_moves::ActiveModel {
                tenant_id: Set(tenant.into_uuid()),
                id: Set(uuid::Uuid::now_v7()),
                from_tier: Set(from.as_str().to_owned()),
                to_tier: Set(to.as_str().to_owned()),
                status: Set(MoveStatus::Copying.as_str().to_owned()),
                rows_copied: Set(0),
                freeze_ms: Set(None),
                error: Set(None),
                requested_by: Set(by.map(UserId::into_uuid)),
                started_at: Set(self.now()),
                finished_at: Set(None),
                confirmed_at: Set(None),
                sealed_url: Set(sealed_url),
            })
            .await
            .map_err(|e| AppError::conflict_on_unique(e, "a move of this tenant is under way"))?;
        Ok(to_move(row))
    }

    /// A move by id.
    pub async fn find_move(&self, id: uuid::Uuid) -> AppResult<Option<TenantMove>> {
        let row = self
            .across_tenants::<tenant_moves::Entity>()
            .find()
            .filter(tenant_moves::Column::Id.eq(id))
            .one()
            .await?;
        Ok(row.map(to_move))
    }

    /// `tenant`'s newest move.
    pub async fn latest_move(&self, tenant: TenantId) -> AppResult<Option<TenantMove>> {
        let row = self
            .across_tenants::<tenant_moves::Entity>()
            .find()
            .filter(tenant_moves::Column::TenantId.eq(tenant.into_uuid()))
            .order_by_desc(tenant_moves::Column::Id)
            .one()
            .await?;
        Ok(row.map(to_move))
    }

    /// The sealed URL of `tenant`'s own database (DATABASE tier).
    pub async fn tenant_database(&self, tenant: TenantId) -> AppResult<Option<String>> {
        let row = self
            .across_tenants::<tenants::Entity>()
            .find()
            .filter(tenants::Column::Id.eq(tenant.into_uuid()))
            .one()
            .await?;
        Ok(row.and_then(|t| t.data_url_sealed))
    }

    /// Every tenant with its tier: (id, slug, tier), by slug.
    pub async fn tenant_tiers(&self) -> AppResult<Vec<(TenantId, String, IsolationTier)>> {
        let rows = self
            .across_tenants::<tenants::Entity>()
            .find()
            .order_by_asc(tenants::Column::Slug)
            .all()
            .await?;
        Ok(rows
            .into_iter()
            .map(|t| {
                (
                    TenantId::from_uuid(t.id),
                    t.slug,
                    IsolationTier::from_stored(&t.isolation),
                )
            })
            .collect())
    }
}

fn to_move(row: tenant_moves::Model) -> TenantMove {
    TenantMove {
        id: row.id,
        tenant: TenantId::from_uuid(row.tenant_id),
        from: IsolationTier::from_stored(&row.from_tier),
        to: IsolationTier::from_stored(&row.to_tier),
        status: MoveStatus::from_stored(&row.status),
        rows_copied: u64::try_from(row.rows_copied).unwrap_or(0),
        freeze_ms: row.freeze_ms.and_then(|f| u64::try_from(f).ok()),
        error: row.error,
        started_at: row.started_at,
        finished_at: row.finished_at,
        confirmed_at: row.confirmed_at,
        sealed_url: row.sealed_url,
    }
}
