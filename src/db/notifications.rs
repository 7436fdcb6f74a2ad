//! In-app notifications: a tenant's rows, each for one user; a user reads and marks only
//! their own (the repository takes the user in every call).

use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ActiveValue::Set, ColumnTrait};

use super::entities::{notification_preferences, notifications};
use super::scope::TenantScope;
use crate::error::AppResult;
use crate::ids::{NotificationId, UserId};
use crate::notify::notifications::{NewNotification, Notification};
use crate::page::{Page, PageRequest};

fn to_notification(row: notifications::Model) -> Notification {
    Notification {
        id: NotificationId::from_uuid(row.id),
        user: UserId::from_uuid(row.user_id),
        kind: row.kind,
        title: row.title,
        body: row.body,
        data: row.data,
        read_at: row.read_at,
        created_at: row.created_at,
    }
}

impl TenantScope {
    /// Stores a notification for `user`; its live subscribers hear of it once this unit of
    /// work commits.
    pub async fn insert_notification(
        &self,
        user: UserId,
        new: &NewNotification,
    ) -> AppResult<Notification> {
        let row = self
            .table::<notifications::Entity>()
            .insert(notifications::ActiveModel {
                id: Set(NotificationId::new().into_uuid()),
                user_id: Set(user.into_uuid()),
                kind: Set(new.kind.to_owned()),
                title: Set(new.title.clone()),
                body: Set(new.body.clone()),
                data: Set(new.data.clone()),
                read_at: Set(None),
                created_at: Set(self.now()),
                ..Default::default()
            })
            .await?;
        self.notifies(user);
        Ok(to_notification(row))
    }

    /// `user`'s notifications, newest first (only the unread ones with `unread_only`).
    pub async fn notifications_of(
        &self,
        user: UserId,
        page: PageRequest,
        unread_only: bool,
    ) -> AppResult<Page<Notification>> {
        let mut query = self
            .table::<notifications::Entity>()
            .find()
            .filter(notifications::Column::UserId.eq(user.into_uuid()));
        if unread_only {
            query = query.filter(notifications::Column::ReadAt.is_null());
        }
        Ok(query
            .page(notifications::Column::Id, page, true)
            .await?
            .map(to_notification))
    }

    /// How many of `user`'s notifications are unread.
    pub async fn unread_notifications(&self, user: UserId) -> AppResult<u64> {
        Ok(self
            .table::<notifications::Entity>()
            .find()
            .filter(notifications::Column::UserId.eq(user.into_uuid()))
            .filter(notifications::Column::ReadAt.is_null())
            .count()
            .await?)
    }

    /// `user`'s notifications made after `after` (all of them without), oldest first, at
    /// most `limit`.
    pub async fn notifications_after(
        &self,
        user: UserId,
        after: Option<NotificationId>,
        limit: u64,
    ) -> AppResult<Vec<Notification>> {
        let mut query = self
            .table::<notifications::Entity>()
            .find()
            .filter(notifications::Column::UserId.eq(user.into_uuid()));
        if let Some(after) = after {
            query = query.filter(notifications::Column::Id.gt(after.into_uuid()));
        }
        Ok(query
            .order_by_asc(notifications::Column::Id)
            .limit(limit)
            .all()
            .await?
            .into_iter()
            .map(to_notification)
            .collect())
    }

    /// The newest of `user`'s notifications, if any.
    pub async fn newest_notification(&self, user: UserId) -> AppResult<Option<NotificationId>> {
        Ok(self
            .table::<notifications::Entity>()
            .find()
            .filter(notifications::Column::UserId.eq(user.into_uuid()))
            .order_by_desc(notifications::Column::Id)
            .one()
            .await?
            .map(|r| NotificationId::from_uuid(r.id)))
    }

    /// Marks those of `ids` that are `user`'s and unread as read; returns how many changed.
    pub async fn mark_notifications_read(
        &self,
        user: UserId,
        ids: &[NotificationId],
    ) -> AppResult<u64> {
        if ids.is_empty() {
            return Ok(0);
        }
        Ok(self
            .table::<notifications::Entity>()
            .update()
            .set(notifications::Column::ReadAt, Expr::value(self.now()))
            .filter(notifications::Column::UserId.eq(user.into_uuid()))
            .filter(notifications::Column::ReadAt.is_null())
            .filter(notifications::Column::Id.is_in(ids.iter().map(|i| i.into_uuid())))
            .exec()
            .await?)
    }
}

impl TenantScope {
    /// `user`'s email choices in this tenant: (kind, by email) for each kind they chose.
    pub async fn notification_preferences(&self, user: UserId) -> AppResult<Vec<(String, bool)>> {
        Ok(self
            .table::<notification_preferences::Entity>()
            .find()
            .filter(notification_preferences::Column::UserId.eq(user.into_uuid()))
            .all()
            .await?
            .into_iter()
            .map(|r| (r.kind, r.email))
            .collect())
    }

    /// Whether `user` wants notifications of `kind` by email too (yes unless they said no).
    pub async fn wants_email(&self, user: UserId, kind: &str) -> AppResult<bool> {
        Ok(self
            .table::<notification_preferences::Entity>()
            .by_id((user.into_uuid(), kind.to_owned()))
            .one()
            .await?
            .is_none_or(|r| r.email))
    }

    /// Records `user`'s choice for `kind`.
    pub async fn set_notification_preference(
        &self,
        user: UserId,
        kind: &str,
        email: bool,
    ) -> AppResult<()> {
        let on_conflict = OnConflict::columns([
            notification_preferences::Column::TenantId,
            notification_preferences::Column::UserId,
            notification_preferences::Column::Kind,
        ])
        .update_columns([
            notification_preferences::Column::Email,
            notification_preferences::Column::UpdatedAt,
        ])
        .to_owned();
        self.table::<notification_preferences::Entity>()
            .upsert(
                vec![notification_preferences::ActiveModel {
                    tenant_id: Set(uuid::Uuid::nil()),
                    user_id: Set(user.into_uuid()),
                    kind: Set(kind.to_owned()),
                    email: Set(email),
                    updated_at: Set(self.now()),
                }],
                on_conflict,
            )
            .await?;
        Ok(())
    }
}
