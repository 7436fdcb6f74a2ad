//! Users: global rows (one login, many tenants).

use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};

use super::entities::users;
use super::scope::SystemTx;
use crate::error::{AppError, AppResult};
use crate::identity::{Email, NewUser, User};
use crate::ids::UserId;

impl SystemTx {
    /// A user by (lower-cased) email.
    pub async fn find_user_by_email(&self, email: &Email) -> AppResult<Option<User>> {
        let row = users::Entity::find()
            .filter(users::Column::Email.eq(email.as_str()))
            .one(self.conn())
            .await?;
        Ok(row.map(to_user))
    }

    /// Creates a user; a taken email is `CONFLICT`.
    pub async fn insert_user(&self, new: NewUser) -> AppResult<User> {
        let now = self.now();
        let row = users::ActiveModel {
            id: Set(UserId::new().into_uuid()),
            email: Set(new.email.as_str().to_owned()),
            name: Set(new.name),
            phone: Set(new.phone),
            password_hash: Set(new.password_hash),
            email_verified_at: Set(None),
            is_platform_admin: Set(new.is_platform_admin),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(self.conn())
        .await
        .map_err(|e| AppError::conflict_on_unique(e, "an account with this email exists"))?;
        Ok(to_user(row))
    }

    /// Grants the platform-admin flag and sets the password hash.
    pub async fn make_platform_admin(&self, id: UserId, password_hash: &str) -> AppResult<User> {
        let row = users::ActiveModel {
            id: Set(id.into_uuid()),
            is_platform_admin: Set(true),
            password_hash: Set(Some(password_hash.to_owned())),
            updated_at: Set(self.now()),
            ..Default::default()
        }
        .update(self.conn())
        .await?;
        Ok(to_user(row))
    }
}

fn to_user(row: users::Model) -> User {
    User {
        id: UserId::from_uuid(row.id),
        email: Email::from_stored(row.email),
        name: row.name,
        phone: row.phone,
        email_verified: row.email_verified_at.is_some(),
        is_platform_admin: row.is_platform_admin,
        created_at: row.created_at,
    }
}
