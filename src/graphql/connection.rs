//! The one Relay connection: `edges { cursor node }`, `pageInfo`, `totalCount`, for any
//! listed type, named after it (`StoreConnection`, `StoreEdge`).

use std::borrow::Cow;

use async_graphql::{OutputType, SimpleObject, TypeName};

use crate::page::{Page, encode_cursor};

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

/// A type that is listed through a connection: the names of its connection and edge types.
pub trait Node: OutputType {
    /// e.g. `StoreConnection`.
    const CONNECTION: &'static str;
    /// e.g. `StoreEdge`.
    const EDGE: &'static str;
}

/// One page of a list (Relay cursor connection).
#[derive(SimpleObject)]
#[graphql(name_type)]
pub struct Connection<T: Node> {
    /// The items of this page, in list order.
    edges: Vec<Edge<T>>,
    /// Paging.
    page_info: PageInfo,
    /// Items in the whole list (after any filter).
    total_count: i32,
}

/// One item of a page and its cursor.
#[derive(SimpleObject)]
#[graphql(name_type)]
pub struct Edge<T: Node> {
    /// The item.
    node: T,
    /// Its cursor, for `after`.
    cursor: String,
}

impl<T: Node> TypeName for Connection<T> {
    fn type_name() -> Cow<'static, str> {
        Cow::Borrowed(T::CONNECTION)
    }
}

impl<T: Node> TypeName for Edge<T> {
    fn type_name() -> Cow<'static, str> {
        Cow::Borrowed(T::EDGE)
    }
}

impl<T: Node> Connection<T> {
    /// The connection over `page`; `key` gives the id each item's cursor encodes.
    pub fn of<D>(page: Page<D>, key: impl Fn(&D) -> uuid::Uuid) -> Self
    where
        T: From<D>,
    {
        let cursors: Vec<String> = page.items.iter().map(|i| encode_cursor(key(i))).collect();
        let page_info = PageInfo {
            has_next_page: page.has_next,
            has_previous_page: page.has_previous,
            start_cursor: cursors.first().cloned(),
            end_cursor: cursors.last().cloned(),
        };
        Self {
            edges: page
                .items
                .into_iter()
                .zip(cursors)
                .map(|(item, cursor)| Edge {
                    node: T::from(item),
                    cursor,
                })
                .collect(),
            page_info,
            total_count: i32::try_from(page.total).unwrap_or(i32::MAX),
        }
    }
}

impl<T: Node> Connection<T> {
    /// Its parts, for a connection type with fields of its own (e.g. `unreadCount`).
    pub fn into_parts(self) -> (Vec<Edge<T>>, PageInfo, i32) {
        (self.edges, self.page_info, self.total_count)
    }
}

/// Names the connection and edge types of a listed type.
macro_rules! node {
    ($ty:ty, $connection:literal, $edge:literal) => {
        impl $crate::graphql::connection::Node for $ty {
            const CONNECTION: &'static str = $connection;
            const EDGE: &'static str = $edge;
        }
    };
}
pub(crate) use node;
