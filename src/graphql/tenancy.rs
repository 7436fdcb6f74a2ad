//! Tenancy queries: stores and roles of the active tenant.

use async_graphql::{Context, ID, Object, Result, SimpleObject};

use super::types::{Role, Store};
use super::{caller, services};
use crate::db::{Page, PageRequest, encode_cursor};
use crate::{rbac, tenancy};

/// Relay page information.
#[derive(SimpleObject)]
pub struct PageInfo {
    /// More items follow.
    has_next_page: bool,
    /// Items precede.
    has_previous_page: bool,
    /// Cursor of the first item.
    start_cursor: Option<String>,
    /// Cursor of the last item.
    end_cursor: Option<String>,
}

impl PageInfo {
    /// From a page and its item cursors.
    pub fn new(has_next_page: bool, has_previous_page: bool, cursors: &[String]) -> Self {
        Self {
            has_next_page,
            has_previous_page,
            start_cursor: cursors.first().cloned(),
            end_cursor: cursors.last().cloned(),
        }
    }
}

/// Edges, page info and total of a Relay connection over `page`; `id` gives each item's
/// cursor.
pub(super) fn connection<T, N, E>(
    page: Page<T>,
    id: impl Fn(&T) -> uuid::Uuid,
    edge: impl Fn(N, String) -> E,
) -> (Vec<E>, PageInfo, i32)
where
    N: From<T>,
{
    let cursors: Vec<String> = page.items.iter().map(|i| encode_cursor(id(i))).collect();
    let info = PageInfo::new(page.has_next, page.has_previous, &cursors);
    let edges = page
        .items
        .into_iter()
        .zip(cursors)
        .map(|(item, cursor)| edge(N::from(item), cursor))
        .collect();
    (edges, info, i32::try_from(page.total).unwrap_or(i32::MAX))
}

/// A store in a list.
#[derive(SimpleObject)]
pub struct StoreEdge {
    /// The store.
    node: Store,
    /// Its cursor.
    cursor: String,
}

/// A page of stores.
#[derive(SimpleObject)]
pub struct StoreConnection {
    /// The stores.
    edges: Vec<StoreEdge>,
    /// Paging.
    page_info: PageInfo,
    /// Stores in the whole list.
    total_count: i32,
}

/// Tenancy queries.
#[derive(Default)]
pub struct TenancyQuery;

#[Object]
impl TenancyQuery {
    /// The active tenant's stores, oldest first (at most 100 per page). [P:store.read]
    async fn stores(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<StoreConnection> {
        let page = PageRequest::parse(first, after.as_deref())?;
        let page = tenancy::stores::list(services(ctx)?, caller(ctx)?, page).await?;
        let (edges, page_info, total_count) = connection(
            page,
            |s: &crate::tenancy::Store| s.id.into_uuid(),
            |node, cursor| StoreEdge { node, cursor },
        );
        Ok(StoreConnection {
            edges,
            page_info,
            total_count,
        })
    }

    /// One store of the active tenant; null when there is no such store in it. [P:store.read]
    async fn store(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Store>> {
        Ok(tenancy::stores::get(services(ctx)?, caller(ctx)?, &id)
            .await?
            .map(Into::into))
    }

    /// The active tenant's roles, system roles first. [P:role.read]
    async fn roles(&self, ctx: &Context<'_>) -> Result<Vec<Role>> {
        Ok(rbac::roles::list(services(ctx)?, caller(ctx)?)
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }
}
