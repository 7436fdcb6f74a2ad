//! Sessions and refresh tokens: global (a user's logins span tenants).

use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::Set;
use sea_orm::ColumnTrait;
use sea_orm::sea_query::Expr;

use crate::db::entities::{refresh_tokens, sessions, users};
use crate::db::scope::GlobalTx;
use crate::error::AppResult;
use crate::identity::sessions::{ClientInfo, RefreshRecord, Session};
use crate::ids::{SessionId, TenantId, UserId};

fn to_session(row: sessions::Model) -> Session {
    Session {
        id: SessionId::from_uuid(row.id),
        user: UserId::from_uuid(row.user_id),
        tenant: row.tenant_id.map(TenantId::from_uuid),
        expires_at: row.expires_at,
        revoked_at: row.revoked_at,
    }
}

impl GlobalTx {
    /// Starts a session for `user` acting in `tenant`, with its first refresh token.
    pub async fn insert_session(
        &self,
        user: UserId,
        tenant: Option<TenantId>,
        expires_at: DateTime<Utc>,
        refresh_hash: &str,
        client: &ClientInfo,
    ) -> AppResult<Session> {
        let now = self.now();
        let row = self
            .global::<sessions::Entity>()
            .insert(sessions::ActiveModel {
                id: Set(SessionId::new().into_uuid()),
                user_id: Set(user.into_uuid()),
                tenant_id: Set(tenant.map(TenantId::into_uuid)),
                created_at: Set(now),
                expires_at: Set(expires_at),
                revoked_at: Set(None),
                revoked_reason: Set(None),
                ip: Set(client.ip.clone()),
                user_agent: Set(client
                    .user_agent
                    .as_deref()
                    .map(|ua| ua.chars().take(400).collect())),
            })
            .await?;
        let session = to_session(row);
        self.insert_refresh_token(session.id, refresh_hash).await?;
        Ok(session)
    }

    /// Adds a refresh token to a session.
    pub async fn insert_refresh_token(&self, session: SessionId, hash: &str) -> AppResult<()> {
        self.global::<refresh_tokens::Entity>()
            .insert(refresh_tokens::ActiveModel {
                token_hash: Set(hash.to_owned()),
                session_id: Set(session.into_uuid()),
                created_at: Set(self.now()),
                rotated_at: Set(None),
            })
            .await?;
        Ok(())
    }

    /// The refresh token with this hash, and its session.
    pub async fn find_refresh_token(&self, hash: &str) -> AppResult<Option<RefreshRecord>> {
        let Some(token) = self
            .global::<refresh_tokens::Entity>()
            .by_id(hash.to_owned())
            .one()
            .await?
        else {
            return Ok(None);
        };
        let session = self
            .global::<sessions::Entity>()
            .by_id(token.session_id)
            .one()
            .await?;
        Ok(session.map(|s| RefreshRecord {
            session: to_session(s),
            rotated_at: token.rotated_at,
        }))
    }

    /// Marks a refresh token replaced. False when it already was (a concurrent refresh
    /// won, or the token is being reused).
    pub async fn rotate_refresh_token(&self, hash: &str) -> AppResult<bool> {
        let result = self
            .global::<refresh_tokens::Entity>()
            .update()
            .set(refresh_tokens::Column::RotatedAt, Expr::value(self.now()))
            .filter(refresh_tokens::Column::TokenHash.eq(hash))
            .filter(refresh_tokens::Column::RotatedAt.is_null())
            .exec()
            .await?;
        Ok(result == 1)
    }

    /// Revokes one session (idempotent).
    pub async fn revoke_session(&self, id: SessionId, reason: &str) -> AppResult<()> {
        self.global::<sessions::Entity>()
            .update()
            .set(sessions::Column::RevokedAt, Expr::value(self.now()))
            .set(sessions::Column::RevokedReason, Expr::value(reason))
            .filter(sessions::Column::Id.eq(id.into_uuid()))
            .filter(sessions::Column::RevokedAt.is_null())
            .exec()
            .await?;
        Ok(())
    }

    /// Revokes every live session of `user`; returns how many.
    pub async fn revoke_user_sessions(&self, user: UserId, reason: &str) -> AppResult<u64> {
        let result = self
            .global::<sessions::Entity>()
            .update()
            .set(sessions::Column::RevokedAt, Expr::value(self.now()))
            .set(sessions::Column::RevokedReason, Expr::value(reason))
            .filter(sessions::Column::UserId.eq(user.into_uuid()))
            .filter(sessions::Column::RevokedAt.is_null())
            .exec()
            .await?;
        Ok(result)
    }
}

impl crate::db::Db {
    /// The session `id` and its user, on the platform connection (the tenant-facing role
    /// cannot read sessions or password hashes). Read outside any transaction, on purpose:
    /// sessions and users are global, and this runs on every authenticated request, where
    /// a transaction would add three round trips.
    pub async fn session_with_user(
        &self,
        id: SessionId,
    ) -> AppResult<Option<(Session, crate::identity::User)>> {
        let Some(session) = self
            .pools
            .global_now::<sessions::Entity>()
            .by_id(id.into_uuid())
            .one()
            .await?
        else {
            return Ok(None);
        };
        let user = self
            .pools
            .global_now::<users::Entity>()
            .by_id(session.user_id)
            .one()
            .await?;
        Ok(user.map(|u| (to_session(session), super::to_user(u))))
    }
}
