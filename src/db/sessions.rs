//! Sessions and refresh tokens: global (a user's logins span tenants).

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};

use super::entities::{refresh_tokens, sessions};
use super::scope::SystemTx;
use crate::error::AppResult;
use crate::ids::{SessionId, TenantId, UserId};

/// A session as the services see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Id (`sid` in access tokens).
    pub id: SessionId,
    /// Whose.
    pub user: UserId,
    /// The tenant its tokens act in.
    pub tenant: Option<TenantId>,
    /// Absolute end.
    pub expires_at: DateTime<Utc>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl Session {
    /// Whether tokens of this session are accepted at `now`.
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at > now
    }
}

/// Where a login came from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientInfo {
    /// Address.
    pub ip: Option<String>,
    /// `User-Agent`.
    pub user_agent: Option<String>,
}

/// A presented refresh token and its session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshRecord {
    /// The session the token belongs to.
    pub session: Session,
    /// When the token was replaced by a newer one; a replaced token presented again is
    /// reuse.
    pub rotated_at: Option<DateTime<Utc>>,
}

fn to_session(row: sessions::Model) -> Session {
    Session {
        id: SessionId::from_uuid(row.id),
        user: UserId::from_uuid(row.user_id),
        tenant: row.tenant_id.map(TenantId::from_uuid),
        expires_at: row.expires_at,
        revoked_at: row.revoked_at,
    }
}

impl SystemTx {
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
        let row = sessions::ActiveModel {
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
        }
        .insert(self.conn())
        .await?;
        let session = to_session(row);
        self.insert_refresh_token(session.id, refresh_hash).await?;
        Ok(session)
    }

    /// Adds a refresh token to a session.
    pub async fn insert_refresh_token(&self, session: SessionId, hash: &str) -> AppResult<()> {
        refresh_tokens::ActiveModel {
            token_hash: Set(hash.to_owned()),
            session_id: Set(session.into_uuid()),
            created_at: Set(self.now()),
            rotated_at: Set(None),
        }
        .insert(self.conn())
        .await?;
        Ok(())
    }

    /// The refresh token with this hash, and its session.
    pub async fn find_refresh_token(&self, hash: &str) -> AppResult<Option<RefreshRecord>> {
        let Some(token) = refresh_tokens::Entity::find_by_id(hash.to_owned())
            .one(self.conn())
            .await?
        else {
            return Ok(None);
        };
        let session = sessions::Entity::find_by_id(token.session_id)
            .one(self.conn())
            .await?;
        Ok(session.map(|s| RefreshRecord {
            session: to_session(s),
            rotated_at: token.rotated_at,
        }))
    }

    /// Marks a refresh token replaced. False when it already was (a concurrent refresh
    /// won, or the token is being reused).
    pub async fn rotate_refresh_token(&self, hash: &str) -> AppResult<bool> {
        let result = refresh_tokens::Entity::update_many()
            .col_expr(refresh_tokens::Column::RotatedAt, Expr::value(self.now()))
            .filter(refresh_tokens::Column::TokenHash.eq(hash))
            .filter(refresh_tokens::Column::RotatedAt.is_null())
            .exec(self.conn())
            .await?;
        Ok(result.rows_affected == 1)
    }

    /// Revokes one session (idempotent).
    pub async fn revoke_session(&self, id: SessionId, reason: &str) -> AppResult<()> {
        sessions::Entity::update_many()
            .col_expr(sessions::Column::RevokedAt, Expr::value(self.now()))
            .col_expr(sessions::Column::RevokedReason, Expr::value(reason))
            .filter(sessions::Column::Id.eq(id.into_uuid()))
            .filter(sessions::Column::RevokedAt.is_null())
            .exec(self.conn())
            .await?;
        Ok(())
    }

    /// Revokes every live session of `user`; returns how many.
    pub async fn revoke_user_sessions(&self, user: UserId, reason: &str) -> AppResult<u64> {
        let result = sessions::Entity::update_many()
            .col_expr(sessions::Column::RevokedAt, Expr::value(self.now()))
            .col_expr(sessions::Column::RevokedReason, Expr::value(reason))
            .filter(sessions::Column::UserId.eq(user.into_uuid()))
            .filter(sessions::Column::RevokedAt.is_null())
            .exec(self.conn())
            .await?;
        Ok(result.rows_affected)
    }
}

impl super::Db {
    /// The session `id` and its user, on the platform connection (the tenant-facing role
    /// cannot read sessions or password hashes). Read outside any transaction, on purpose:
    /// sessions and users are global, and this runs on every authenticated request, where
    /// a transaction would add three round trips.
    pub async fn session_with_user(
        &self,
        id: SessionId,
    ) -> AppResult<Option<(Session, crate::identity::User)>> {
        let Some(session) = sessions::Entity::find_by_id(id.into_uuid())
            .one(&self.platform)
            .await?
        else {
            return Ok(None);
        };
        let user = super::entities::users::Entity::find_by_id(session.user_id)
            .one(&self.platform)
            .await?;
        Ok(user.map(|u| (to_session(session), super::users::to_user(u))))
    }
}
