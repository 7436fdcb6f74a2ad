//! In-app notifications: what happened that a user should know, in the tenant it happened
//! in. Written in the unit of work that causes them (a rolled-back change tells nobody),
//! listed and marked read by their user only, and pushed live to `notificationReceived`
//! on every API node (through Redis pub/sub when configured, PostgreSQL `NOTIFY`
//! otherwise) once that unit of work commits.

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::Stream;
use tokio::sync::broadcast::error::RecvError;

use crate::auth::Caller;
use crate::db::TenantScope;
use crate::error::{AppError, AppResult};
use crate::ids::{NotificationId, UserId};
use crate::page::{Page, PageRequest};
use crate::services::Services;
use crate::tenancy::TenantContext;
use crate::tenancy::access::AccessEvent;

/// What a notification is about; also its `kind` in the API.
pub mod kind {
    /// An invoice was issued.
    pub const INVOICE_ISSUED: &str = "invoice.issued";
    /// A reminder that an invoice is unpaid.
    pub const PAYMENT_DUE: &str = "invoice.payment_due";
    /// An M-Pesa payment was received.
    pub const PAYMENT_SUCCEEDED: &str = "payment.succeeded";
    /// An M-Pesa payment failed, was cancelled or timed out.
    pub const PAYMENT_FAILED: &str = "payment.failed";
    /// The subscription is past due.
    pub const PAST_DUE: &str = "subscription.past_due";
    /// The tenant is suspended for an unpaid invoice.
    pub const SUSPENDED: &str = "subscription.suspended";
    /// The subscription ended.
    pub const CANCELED: &str = "subscription.canceled";
    /// A soft quota reached a threshold.
    pub const USAGE_THRESHOLD: &str = "usage.threshold";
    /// Someone accepted an invitation.
    pub const INVITATION_ACCEPTED: &str = "member.joined";
    /// The recipient's roles changed.
    pub const ROLE_CHANGED: &str = "role.changed";
    /// A webhook endpoint was disabled.
    pub const WEBHOOK_DISABLED: &str = "webhook.disabled";

    /// The kinds that also go by email (to a tenant's owners), unless the user chose not
    /// to, with what each is; the others are in-app only.
    pub const EMAILED: &[(&str, &str)] = &[
        (INVOICE_ISSUED, "an invoice was issued"),
        (PAYMENT_DUE, "a reminder that an invoice is unpaid"),
        (
            PAYMENT_SUCCEEDED,
            "an M-Pesa payment was received (with its receipt)",
        ),
        (
            PAYMENT_FAILED,
            "an M-Pesa payment failed, was cancelled or timed out",
        ),
        (PAST_DUE, "the subscription is past due"),
        (SUSPENDED, "the tenant is suspended for an unpaid invoice"),
        (CANCELED, "the subscription ended"),
        (USAGE_THRESHOLD, "a usage quota reached a threshold"),
        (WEBHOOK_DISABLED, "a webhook endpoint was disabled"),
    ];
}

/// A user's choice for one kind of notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preference {
    /// The kind, e.g. `invoice.issued`.
    pub kind: &'static str,
    /// What it is.
    pub description: &'static str,
    /// Also by email.
    pub email: bool,
}

/// The caller's email choices in the active tenant, one per kind that can go by email.
pub async fn preferences(services: &Services, caller: &Caller) -> AppResult<Vec<Preference>> {
    let me = caller.user()?.id;
    let scope = services.db.read(caller.tenant()?).await?;
    let chosen = scope.notification_preferences(me).await?;
    Ok(kind::EMAILED
        .iter()
        .map(|(kind, description)| Preference {
            kind,
            description,
            email: chosen
                .iter()
                .find(|(k, _)| k == kind)
                .is_none_or(|(_, email)| *email),
        })
        .collect())
}

/// Sets whether the caller gets notifications of `kind` by email too, in the active
/// tenant (in-app ones always arrive). Works while the tenant is suspended.
pub async fn set_preference(
    services: &Services,
    caller: &Caller,
    kind: &str,
    email: bool,
) -> AppResult<Preference> {
    let Some((kind, description)) = kind::EMAILED.iter().find(|(k, _)| *k == kind.trim()) else {
        let kinds: Vec<&str> = kind::EMAILED.iter().map(|(k, _)| *k).collect();
        return Err(AppError::bad_input(
            "kind",
            format!("not a kind that goes by email; one of {}", kinds.join(", ")),
        ));
    };
    let me = caller.user()?.id;
    let scope = services.db.write_personal(caller.tenant()?).await?;
    scope.set_notification_preference(me, kind, email).await?;
    scope
        .commit_unaudited("notification preference set")
        .await?;
    Ok(Preference {
        kind,
        description,
        email,
    })
}

/// A notification as its user sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    /// Id (UUIDv7: ordered by creation).
    pub id: NotificationId,
    /// Whom it is for.
    pub user: UserId,
    /// What it is about ([`kind`]).
    pub kind: String,
    /// One line.
    pub title: String,
    /// A few sentences.
    pub body: String,
    /// Structured details (ids, links) for the client.
    pub data: Option<serde_json::Value>,
    /// When its user marked it read.
    pub read_at: Option<DateTime<Utc>>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
}

/// A notification to make.
#[derive(Debug, Clone, PartialEq)]
pub struct NewNotification {
    /// What it is about ([`kind`]).
    pub kind: &'static str,
    /// One line.
    pub title: String,
    /// A few sentences.
    pub body: String,
    /// Structured details.
    pub data: Option<serde_json::Value>,
}

/// Tells `user` of `new` in the scope's tenant.
pub async fn to_user(scope: &TenantScope, user: UserId, new: &NewNotification) -> AppResult<()> {
    scope.insert_notification(user, new).await?;
    Ok(())
}

/// Tells every owner of the scope's tenant of `new`.
pub async fn to_owners(scope: &TenantScope, new: &NewNotification) -> AppResult<()> {
    for owner in scope.owner_ids().await? {
        scope.insert_notification(owner, new).await?;
    }
    Ok(())
}

/// The caller's notifications in the active tenant, newest first, and how many are unread.
pub async fn list(
    services: &Services,
    caller: &Caller,
    page: PageRequest,
    unread_only: bool,
) -> AppResult<(Page<Notification>, u64)> {
    let me = caller.user()?.id;
    let scope = services.db.read(caller.tenant()?).await?;
    let page = scope.notifications_of(me, page, unread_only).await?;
    let unread = scope.unread_notifications(me).await?;
    Ok((page, unread))
}

/// Marks those of `ids` that are the caller's as read; returns how many changed (another
/// user's, or an unknown id, changes nothing).
pub async fn mark_read(
    services: &Services,
    caller: &Caller,
    ids: &[NotificationId],
) -> AppResult<u64> {
    if ids.len() > crate::page::MAX_PAGE_SIZE as usize {
        return Err(AppError::bad_input(
            "ids",
            format!("at most {} ids at a time", crate::page::MAX_PAGE_SIZE),
        ));
    }
    let me = caller.user()?.id;
    let scope = services.db.write_personal(caller.tenant()?).await?;
    let changed = scope.mark_notifications_read(me, ids).await?;
    scope.commit_unaudited("notifications marked read").await?;
    Ok(changed)
}

/// How often a subscriber re-reads even when it heard nothing (a missed pub/sub message
/// delays a notification by at most this).
const RECHECK: Duration = Duration::from_secs(5);
/// Notifications sent per re-read at most.
const BATCH: u64 = 50;

/// `me`'s new notifications in `ctx`'s tenant, from now on, each once, in order.
pub fn received(
    services: Services,
    me: UserId,
    ctx: TenantContext,
) -> impl Stream<Item = AppResult<Notification>> {
    let receiver = services.access.subscribe();
    let state = (
        services,
        receiver,
        ctx,
        None::<NotificationId>,
        false,
        std::collections::VecDeque::<Notification>::new(),
    );
    futures::stream::unfold(
        state,
        move |(services, mut receiver, ctx, mut last, mut started, mut queue)| async move {
            loop {
                if let Some(next) = queue.pop_front() {
                    last = Some(next.id);
                    return Some((Ok(next), (services, receiver, ctx, last, started, queue)));
                }
                if !started {
                    // Start after what exists now: a subscriber is told of what comes.
                    match services.db.read(&ctx).await {
                        Ok(scope) => match scope.newest_notification(me).await {
                            Ok(newest) => last = newest,
                            Err(e) => {
                                return Some((
                                    Err(e),
                                    (services, receiver, ctx, last, true, queue),
                                ));
                            }
                        },
                        Err(e) => {
                            return Some((Err(e), (services, receiver, ctx, last, true, queue)));
                        }
                    }
                    started = true;
                } else {
                    let heard = tokio::time::timeout(RECHECK, async {
                        loop {
                            match receiver.recv().await {
                                Ok(AccessEvent::Notified(tenant, user))
                                    if tenant == ctx.tenant_id() && user == me =>
                                {
                                    return true;
                                }
                                Ok(_) => continue,
                                Err(RecvError::Lagged(_)) => return true,
                                Err(RecvError::Closed) => return false,
                            }
                        }
                    })
                    .await;
                    if heard == Ok(false) {
                        return None;
                    }
                }
                let fresh = match services.db.read(&ctx).await {
                    Ok(scope) => scope.notifications_after(me, last, BATCH).await,
                    Err(e) => Err(e),
                };
                match fresh {
                    Ok(items) => queue.extend(items),
                    Err(e) => tracing::warn!(error = %e, "notificationReceived: could not read"),
                }
            }
        },
    )
}
