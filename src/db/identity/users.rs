//! Users: global rows (one login, many tenants).

use sea_orm::ActiveValue::Set;
use sea_orm::ColumnTrait;

use crate::db::entities::{member_profiles, users};
use crate::db::scope::GlobalTx;
use crate::error::{AppError, AppResult};
use crate::identity::{Credentials, Email, NewUser, User};
use crate::ids::UserId;

impl GlobalTx {
    /// A user by id.
    pub async fn find_user(&self, id: UserId) -> AppResult<Option<User>> {
        Ok(self
            .global::<users::Entity>()
            .by_id(id.into_uuid())
            .one()
            .await?
            .map(to_user))
    }

    /// The users with these ids (unknown ids are left out).
    pub async fn find_users(&self, ids: &[UserId]) -> AppResult<Vec<User>> {
        Ok(self
            .global::<users::Entity>()
            .find()
            .filter(users::Column::Id.is_in(ids.iter().map(|id| id.into_uuid())))
            .all()
            .await?
            .into_iter()
            .map(to_user)
            .collect())
    }

    /// Every platform admin (the people told of what needs one, e.g. a payment to review).
    pub async fn platform_admins(&self) -> AppResult<Vec<User>> {
        Ok(self
            .global::<users::Entity>()
            .find()
            .filter(users::Column::IsPlatformAdmin.eq(true))
            .order_by_asc(users::Column::Id)
            .all()
            .await?
            .into_iter()
            .map(to_user)
            .collect())
    }

    /// A user and their password hash, by (lower-cased) email.
    pub async fn credentials(&self, email: &Email) -> AppResult<Option<Credentials>> {
        let row = self
            .global::<users::Entity>()
            .find()
            .filter(users::Column::Email.eq(email.as_str()))
            .one()
            .await?;
        Ok(row.map(|row| {
            let password_hash = row.password_hash.clone();
            Credentials {
                user: to_user(row),
                password_hash,
            }
        }))
    }

    /// A user by (lower-cased) email.
    pub async fn find_user_by_email(&self, email: &Email) -> AppResult<Option<User>> {
        let row = self
            .global::<users::Entity>()
            .find()
            .filter(users::Column::Email.eq(email.as_str()))
            .one()
            .await?;
        Ok(row.map(to_user))
    }
}

impl GlobalTx {
    /// Sets a new password hash.
    pub async fn set_password_hash(&self, id: UserId, hash: &str) -> AppResult<()> {
        self.global::<users::Entity>()
            .save(users::ActiveModel {
                id: Set(id.into_uuid()),
                password_hash: Set(Some(hash.to_owned())),
                updated_at: Set(self.now()),
                ..Default::default()
            })
            .await?;
        Ok(())
    }

    /// Records that the user proved they read mail at their address (idempotent).
    pub async fn mark_email_verified(&self, id: UserId) -> AppResult<()> {
        use sea_orm::sea_query::Expr;
        self.global::<users::Entity>()
            .update()
            .set(users::Column::EmailVerifiedAt, Expr::value(self.now()))
            .set(users::Column::UpdatedAt, Expr::value(self.now()))
            .filter(users::Column::Id.eq(id.into_uuid()))
            .filter(users::Column::EmailVerifiedAt.is_null())
            .exec()
            .await?;
        Ok(())
    }

    /// Creates a user; a taken email is `CONFLICT`.
    pub async fn insert_user(&self, new: NewUser) -> AppResult<User> {
        let now = self.now();
        let row = self
            .global::<users::Entity>()
            .insert(users::ActiveModel {
                id: Set(UserId::new().into_uuid()),
                email: Set(new.email.as_str().to_owned()),
                name: Set(new.name),
                phone: Set(new.phone),
                password_hash: Set(new.password_hash),
                email_verified_at: Set(None),
                is_platform_admin: Set(new.is_platform_admin),
                created_at: Set(now),
                updated_at: Set(now),
                erased_at: Set(None),
            })
            .await
            .map_err(|e| AppError::conflict_on_unique(e, "an account with this email exists"))?;
        Ok(to_user(row))
    }

    /// Grants the platform-admin flag and sets the password hash.
    pub async fn make_platform_admin(&self, id: UserId, password_hash: &str) -> AppResult<User> {
        let row = self
            .global::<users::Entity>()
            .save(users::ActiveModel {
                id: Set(id.into_uuid()),
                is_platform_admin: Set(true),
                password_hash: Set(Some(password_hash.to_owned())),
                updated_at: Set(self.now()),
                ..Default::default()
            })
            .await?;
        self.changes_sessions_of(id);
        Ok(to_user(row))
    }
}

/// A user as a tenant may read them (from the `member_profiles` view, which has the same
/// columns as `users` but the password hash and `updated_at`).
pub(in crate::db) fn profile_to_user(row: member_profiles::Model) -> User {
    to_user(users::Model {
        id: row.id,
        email: row.email,
        name: row.name,
        phone: row.phone,
        password_hash: None,
        email_verified_at: row.email_verified_at,
        is_platform_admin: row.is_platform_admin,
        created_at: row.created_at,
        updated_at: row.created_at,
        erased_at: None,
    })
}

pub(in crate::db) fn to_user(row: users::Model) -> User {
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
