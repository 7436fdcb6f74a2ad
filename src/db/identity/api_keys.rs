//! API keys: tenant-owned; found by prefix before the tenant is known.

use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait};

use crate::db::entities::api_keys;
use crate::db::scope::{PlatformTx, TenantScope};
use crate::error::AppResult;
use crate::identity::api_keys::{ApiKey, NewApiKey};
use crate::ids::{ApiKeyId, TenantId, UserId};

fn to_key(row: api_keys::Model) -> (ApiKey, String) {
    let key = ApiKey {
        id: ApiKeyId::from_uuid(row.id),
        tenant: TenantId::from_uuid(row.tenant_id),
        name: row.name,
        prefix: row.prefix,
        permissions: serde_json::from_value(row.permissions).unwrap_or_default(),
        created_by: row.created_by.map(UserId::from_uuid),
        created_at: row.created_at,
        last_used_at: row.last_used_at,
        expires_at: row.expires_at,
        revoked_at: row.revoked_at,
    };
    (key, row.secret_hash)
}

impl TenantScope {
    /// Stores a new key.
    pub async fn insert_api_key(&self, new: NewApiKey) -> AppResult<ApiKey> {
        let row = self
            .table::<api_keys::Entity>()
            .insert(api_keys::ActiveModel {
                id: Set(ApiKeyId::new().into_uuid()),
                name: Set(new.name),
                prefix: Set(new.prefix),
                secret_hash: Set(new.secret_hash),
                permissions: Set(serde_json::to_value(new.permissions).unwrap_or_default()),
                created_by: Set(new.created_by.map(UserId::into_uuid)),
                created_at: Set(self.now()),
                last_used_at: Set(None),
                expires_at: Set(new.expires_at),
                revoked_at: Set(None),
                ..Default::default()
            })
            .await?;
        Ok(to_key(row).0)
    }

    /// This tenant's keys, newest first.
    pub async fn list_api_keys(&self) -> AppResult<Vec<ApiKey>> {
        Ok(self
            .table::<api_keys::Entity>()
            .find()
            .order_by_desc(api_keys::Column::Id)
            .all()
            .await?
            .into_iter()
            .map(|r| to_key(r).0)
            .collect())
    }

    /// Revokes a key of this tenant (idempotent); `None` when it is not in this tenant.
    pub async fn revoke_api_key(&self, id: ApiKeyId) -> AppResult<Option<ApiKey>> {
        self.table::<api_keys::Entity>()
            .update()
            .set(api_keys::Column::RevokedAt, Expr::value(self.now()))
            .filter(api_keys::Column::Id.eq(id.into_uuid()))
            .filter(api_keys::Column::RevokedAt.is_null())
            .exec()
            .await?;
        Ok(self
            .table::<api_keys::Entity>()
            .by_id(id.into_uuid())
            .one()
            .await?
            .map(|r| to_key(r).0))
    }
}

impl PlatformTx {
    /// Keys with this prefix, with their stored hashes (for authentication).
    pub async fn api_keys_by_prefix(&self, prefix: &str) -> AppResult<Vec<(ApiKey, String)>> {
        Ok(self
            .across_tenants::<api_keys::Entity>()
            .find()
            .filter(api_keys::Column::Prefix.eq(prefix))
            .all()
            .await?
            .into_iter()
            .map(to_key)
            .collect())
    }

    /// Records use of a key, at most once a minute; true when it wrote.
    pub async fn touch_api_key(&self, key: &ApiKey) -> AppResult<bool> {
        let now = self.now();
        if key
            .last_used_at
            .is_some_and(|t| now - t < chrono::Duration::minutes(1))
        {
            return Ok(false);
        }
        self.across_tenants::<api_keys::Entity>()
            .update()
            .set(api_keys::Column::LastUsedAt, Expr::value(now))
            .filter(api_keys::Column::TenantId.eq(key.tenant.into_uuid()))
            .filter(api_keys::Column::Id.eq(key.id.into_uuid()))
            .exec()
            .await?;
        Ok(true)
    }
}
