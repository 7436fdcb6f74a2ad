//! The tenant's audit log.

use async_graphql::{Context, ID, Json, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use super::super::identity::users::User;
use crate::audit;
use crate::graphql::connection::Connection;
use crate::graphql::{caller, services};
use crate::page::PageRequest;

/// One entry of the audit log.
#[derive(SimpleObject)]
pub struct AuditLogEntry {
    id: ID,
    /// What happened, e.g. `role.permission`.
    action: String,
    /// Who acted (null for API keys and the system). A platform admin who is not a member
    /// of the tenant shows as "Platform support".
    actor: Option<User>,
    /// Kind of object acted on.
    target_type: Option<String>,
    /// Its id.
    target_id: Option<String>,
    /// Before/after, secrets redacted.
    changes: Option<Json<serde_json::Value>>,
    /// Client address.
    ip: Option<String>,
    /// When the action happened.
    created_at: DateTime<Utc>,
}

impl From<audit::AuditView> for AuditLogEntry {
    fn from(view: audit::AuditView) -> Self {
        let r = view.record;
        Self {
            id: ID(r.id.to_string()),
            action: r.action,
            actor: view.actor.map(|actor| match actor {
                audit::ActingUser::User(user) => user.into(),
                audit::ActingUser::PlatformSupport => User::platform_support(r.created_at),
            }),
            target_type: r.target_type,
            target_id: r.target_id,
            changes: r.changes.map(Json),
            ip: r.ip,
            created_at: r.created_at,
        }
    }
}

/// AuditLog queries.
#[derive(Default)]
pub struct AuditLogQuery;

#[Object]
impl AuditLogQuery {
    /// The active tenant's audit log, newest first. [P:audit.read]
    async fn audit_log(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        action: Option<String>,
    ) -> Result<Connection<AuditLogEntry>> {
        let page = PageRequest::parse(first, after.as_deref())?
            .counting(ctx.look_ahead().field("totalCount").exists());
        let page = audit::list(services(ctx)?, caller(ctx)?, action.as_deref(), page).await?;
        Ok(Connection::of(page, |e: &audit::AuditView| e.record.id))
    }
}

crate::graphql::connection::node!(AuditLogEntry, "AuditLogConnection", "AuditLogEdge");
