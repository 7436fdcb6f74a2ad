//! In-app notifications: the caller's own, in the active tenant.

use async_graphql::{Context, ID, Json, Object, Result, SimpleObject, Subscription};
use chrono::{DateTime, Utc};
use futures::{Stream, StreamExt as _};

use crate::graphql::connection::{Connection, Edge, PageInfo};
use crate::graphql::{caller, services};
use crate::ids::NotificationId;
use crate::notify::notifications::{self, Notification as NotificationRecord};
use crate::page::PageRequest;

/// Something the caller was told (an invoice issued, a payment received, a role changed).
#[derive(SimpleObject)]
pub struct Notification {
    id: ID,
    /// What it is about, e.g. `invoice.issued`, `payment.succeeded`, `role.changed`.
    kind: String,
    /// One line.
    title: String,
    /// A sentence or two.
    body: String,
    /// Ids and figures for a client to link from (e.g. `invoiceId`).
    data: Option<Json<serde_json::Value>>,
    /// When the caller marked it read (null: unread).
    read_at: Option<DateTime<Utc>>,
    /// When it was made.
    created_at: DateTime<Utc>,
}

impl From<NotificationRecord> for Notification {
    fn from(n: NotificationRecord) -> Self {
        Self {
            id: ID(n.id.to_string()),
            kind: n.kind,
            title: n.title,
            body: n.body,
            data: n.data.map(Json),
            read_at: n.read_at,
            created_at: n.created_at,
        }
    }
}

crate::graphql::connection::node!(Notification, "NotificationConnection", "NotificationEdge");

/// One page of the caller's notifications, and how many are unread in all.
#[derive(SimpleObject)]
pub struct NotificationConnection {
    /// The items of this page, newest first.
    edges: Vec<Edge<Notification>>,
    /// Paging.
    page_info: PageInfo,
    /// Items in the whole list (after `unreadOnly`).
    total_count: i32,
    /// The caller's unread notifications in the active tenant (whatever the filter).
    unread_count: i32,
}

/// Whether one kind of notification also goes by email to the caller.
#[derive(SimpleObject)]
pub struct NotificationPreference {
    /// The kind, e.g. `invoice.issued`.
    kind: String,
    /// What it is.
    description: String,
    /// Also by email (the default); in-app notifications always arrive.
    email: bool,
}

impl From<notifications::Preference> for NotificationPreference {
    fn from(p: notifications::Preference) -> Self {
        Self {
            kind: p.kind.to_owned(),
            description: p.description.to_owned(),
            email: p.email,
        }
    }
}

/// Notification queries.
#[derive(Default)]
pub struct NotificationsQuery;

#[Object]
impl NotificationsQuery {
    /// The caller's notifications in the active tenant, newest first (at most 100 per
    /// page); `unreadOnly` keeps the unread ones.
    async fn notifications(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        unread_only: Option<bool>,
    ) -> Result<NotificationConnection> {
        let page = PageRequest::parse(first, after.as_deref())?
            .counting(ctx.look_ahead().field("totalCount").exists());
        let (page, unread) = notifications::list(
            services(ctx)?,
            caller(ctx)?,
            page,
            unread_only.unwrap_or(false),
        )
        .await?;
        let (edges, page_info, total_count) =
            Connection::<Notification>::of(page, |n: &NotificationRecord| n.id.into_uuid())
                .into_parts();
        Ok(NotificationConnection {
            edges,
            page_info,
            total_count,
            unread_count: i32::try_from(unread).unwrap_or(i32::MAX),
        })
    }

    /// The caller's email choices in the active tenant: one per kind of notification that
    /// can also go by email.
    async fn notification_preferences(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Vec<NotificationPreference>> {
        let list = notifications::preferences(services(ctx)?, caller(ctx)?).await?;
        Ok(list.into_iter().map(Into::into).collect())
    }
}

/// Notification mutations.
#[derive(Default)]
pub struct NotificationsMutation;

#[Object]
impl NotificationsMutation {
    /// Marks the caller's notifications among `ids` read (at most 100); returns how many
    /// changed. Another user's notifications, and ones already read, are left as they are.
    async fn mark_notifications_read(&self, ctx: &Context<'_>, ids: Vec<ID>) -> Result<i32> {
        let ids = ids
            .iter()
            .map(|id| NotificationId::parse(id, "ids"))
            .collect::<Result<Vec<_>, _>>()?;
        let changed = notifications::mark_read(services(ctx)?, caller(ctx)?, &ids).await?;
        Ok(i32::try_from(changed).unwrap_or(i32::MAX))
    }

    /// Whether notifications of `kind` also reach the caller by email in the active tenant
    /// (BAD_USER_INPUT naming `kind` for one that never goes by email).
    async fn set_notification_preference(
        &self,
        ctx: &Context<'_>,
        kind: String,
        email: bool,
    ) -> Result<NotificationPreference> {
        let set = notifications::set_preference(services(ctx)?, caller(ctx)?, &kind, email).await?;
        Ok(set.into())
    }
}

/// Live notifications.
#[derive(Default)]
pub struct NotificationsLive;

#[Subscription]
impl NotificationsLive {
    /// Each notification the caller receives in the active tenant from now on, once, in
    /// order (across API nodes when Redis or PostgreSQL carries the events).
    async fn notification_received(
        &self,
        ctx: &Context<'_>,
    ) -> Result<impl Stream<Item = Result<Notification>> + use<>> {
        let services = services(ctx)?.clone();
        let caller = caller(ctx)?;
        let me = caller.user()?.id;
        let tenant = caller.tenant()?.clone();
        Ok(notifications::received(services, me, tenant)
            .map(|n| n.map(Notification::from).map_err(Into::into)))
    }
}
