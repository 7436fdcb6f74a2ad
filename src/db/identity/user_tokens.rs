//! Single-use emailed tokens (email verification, password reset): global.

use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::Set;
use sea_orm::ColumnTrait;
use sea_orm::sea_query::Expr;

use crate::db::entities::user_tokens;
use crate::db::scope::GlobalTx;
use crate::error::AppResult;
use crate::identity::recovery::TokenPurpose;
use crate::ids::UserId;

impl GlobalTx {
    /// Stores a token's hash for `user`.
    pub async fn insert_user_token(
        &self,
        user: UserId,
        purpose: TokenPurpose,
        hash: &str,
        expires_at: DateTime<Utc>,
    ) -> AppResult<()> {
        self.global::<user_tokens::Entity>()
            .insert(user_tokens::ActiveModel {
                token_hash: Set(hash.to_owned()),
                user_id: Set(user.into_uuid()),
                purpose: Set(purpose.as_str().to_owned()),
                created_at: Set(self.now()),
                expires_at: Set(expires_at),
                used_at: Set(None),
            })
            .await?;
        Ok(())
    }

    /// Uses a token: returns its user when it exists, has this purpose, is unexpired and
    /// unused, and marks it used in the same statement (so it works once, even under
    /// concurrent use).
    pub async fn consume_user_token(
        &self,
        hash: &str,
        purpose: TokenPurpose,
    ) -> AppResult<Option<UserId>> {
        let now = self.now();
        let Some(row) = self
            .global::<user_tokens::Entity>()
            .by_id(hash.to_owned())
            .filter(user_tokens::Column::Purpose.eq(purpose.as_str()))
            .one()
            .await?
        else {
            return Ok(None);
        };
        let used = self
            .global::<user_tokens::Entity>()
            .update()
            .set(user_tokens::Column::UsedAt, Expr::value(now))
            .filter(user_tokens::Column::TokenHash.eq(hash))
            .filter(user_tokens::Column::UsedAt.is_null())
            .filter(user_tokens::Column::ExpiresAt.gt(now))
            .exec()
            .await?;
        Ok((used == 1).then(|| UserId::from_uuid(row.user_id)))
    }

    /// Marks every unused token of `user` with this purpose used (a newer one replaces
    /// them).
    pub async fn expire_user_tokens(&self, user: UserId, purpose: TokenPurpose) -> AppResult<()> {
        self.global::<user_tokens::Entity>()
            .update()
            .set(user_tokens::Column::UsedAt, Expr::value(self.now()))
            .filter(user_tokens::Column::UserId.eq(user.into_uuid()))
            .filter(user_tokens::Column::Purpose.eq(purpose.as_str()))
            .filter(user_tokens::Column::UsedAt.is_null())
            .exec()
            .await?;
        Ok(())
    }
}
