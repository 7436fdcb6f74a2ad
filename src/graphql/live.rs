//! The `Subscription` root (named `Live` in Rust: billing's plan subscriptions take the
//! word): live events over WebSocket.

use async_graphql::{Context, MergedSubscription, Result, Subscription};
use futures::Stream;

use super::{caller, services};
use crate::rbac;

/// Live events, merged from each feature's.
#[derive(MergedSubscription, Default)]
#[graphql(name = "Subscription")]
pub struct Live(
    AccessLive,
    super::payments::PaymentsLive,
    super::notify::NotificationsLive,
);

/// Live changes of access.
#[derive(Default)]
pub struct AccessLive;

#[Subscription]
impl AccessLive {
    /// Fires when the caller's effective permissions change (a role toggled, assigned or
    /// revoked), with the new set.
    async fn my_permissions_changed(
        &self,
        ctx: &Context<'_>,
    ) -> Result<impl Stream<Item = Vec<String>> + use<>> {
        let services = services(ctx)?.clone();
        let caller = caller(ctx)?;
        let me = caller.user()?;
        let tenant = caller.tenant()?.clone();
        Ok(rbac::live::permission_changes(services, me, tenant))
    }
}
