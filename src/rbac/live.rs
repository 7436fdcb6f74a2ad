//! `myPermissionsChanged`: a subscriber's permissions, re-read whenever access in their
//! tenant changes, sent when they differ from the last set sent.

use futures::Stream;
use tokio::sync::broadcast::error::RecvError;

use crate::auth::CallerUser;
use crate::error::AppError;
use crate::services::Services;
use crate::tenancy::access::AccessEvent;
use crate::tenancy::{Principal, TenantContext};

/// The stream of `me`'s permission sets in `ctx`'s tenant (and store), from now on. The
/// set is re-read once as soon as the stream listens, so a change committed between the
/// operation's start (when `ctx` was resolved) and the stream's first poll is not missed.
pub fn permission_changes(
    services: Services,
    me: CallerUser,
    ctx: TenantContext,
) -> impl Stream<Item = Vec<String>> {
    let receiver = services.access.subscribe();
    let last: Vec<String> = ctx.permissions().iter().cloned().collect();
    futures::stream::unfold(
        (services, receiver, last, ctx, true),
        move |(services, mut receiver, last, ctx, mut listening_started)| async move {
            loop {
                if listening_started {
                    listening_started = false;
                } else {
                    match receiver.recv().await {
                        Ok(AccessEvent::Tenant(tenant)) if tenant == ctx.tenant_id() => {}
                        Ok(_) => continue,
                        Err(RecvError::Lagged(_)) => {}
                        Err(RecvError::Closed) => return None,
                    }
                }
                let principal = Principal::User {
                    user_id: me.id,
                    platform_admin: me.platform_admin,
                };
                let now: Vec<String> = match TenantContext::for_member(
                    &services.db,
                    principal,
                    ctx.tenant_id(),
                    ctx.store_id(),
                )
                .await
                {
                    Ok(fresh) => fresh.permissions().iter().cloned().collect(),
                    Err(AppError::NotFound { .. }) => Vec::new(),
                    Err(e) => {
                        tracing::warn!(error = ?e, "could not re-read permissions for a subscriber");
                        continue;
                    }
                };
                if now != last {
                    return Some((now.clone(), (services, receiver, now, ctx, false)));
                }
            }
        },
    )
}
