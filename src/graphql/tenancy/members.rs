//! Members of the active tenant.

use async_graphql::{Context, ID, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use super::super::identity::users::{MembershipStatus, User};
use super::super::rbac::roles::RoleAssignment;
use crate::graphql::connection::Connection;
use crate::graphql::{caller, services};
use crate::ids::UserId;
use crate::page::PageRequest;
use crate::tenancy::{self, members::MemberView};

/// A member of the tenant.
#[derive(SimpleObject)]
pub struct Member {
    /// The person.
    user: User,
    /// Membership state.
    status: MembershipStatus,
    /// Roles held here.
    roles: Vec<RoleAssignment>,
    /// When they joined.
    joined_at: Option<DateTime<Utc>>,
}

impl From<MemberView> for Member {
    fn from(m: MemberView) -> Self {
        Self {
            user: m.member.user.into(),
            status: m.member.status.into(),
            roles: m.roles.into_iter().map(Into::into).collect(),
            joined_at: m.member.joined_at,
        }
    }
}

/// Members queries.
#[derive(Default)]
pub struct MembersQuery;

#[Object]
impl MembersQuery {
    /// The active tenant's members. [P:member.read]
    async fn members(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<Member>> {
        let page = PageRequest::parse(first, after.as_deref())?
            .counting(ctx.look_ahead().field("totalCount").exists());
        let page = tenancy::members::list(services(ctx)?, caller(ctx)?, page).await?;
        Ok(Connection::of(page, |m: &MemberView| {
            m.member.user.id.into_uuid()
        }))
    }
}

/// Members mutations.
#[derive(Default)]
pub struct MembersMutation;

#[Object]
impl MembersMutation {
    /// Removes a member; the last OWNER cannot be removed. [P:member.manage]
    async fn remove_member(&self, ctx: &Context<'_>, user_id: ID) -> Result<bool> {
        Ok(tenancy::members::remove(
            services(ctx)?,
            caller(ctx)?,
            UserId::parse(&user_id, "userId")?,
        )
        .await?)
    }
}

crate::graphql::connection::node!(Member, "MemberConnection", "MemberEdge");
